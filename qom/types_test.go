package qom_test

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"qmem.dev/qmem/qom"
)

// Go types used by the type tests: each embeds its parent's struct.
type (
	vehicle struct {
		qom.Object
		wheels int
	}
	car struct {
		vehicle
		doors int
	}
	notAVehicle struct{ qom.Object }
)

// R-TYPE-1: registration records the description only; no hook runs until
// the class is first needed (R-CLASS-1).
func TestRegisterRecordsOnly(t *testing.T) {
	r := newReg(t)
	calls := 0
	register(t, r, qom.TypeInfo{
		Name: "lazy", Parent: qom.TypeObject,
		ClassInit: func(*qom.Class, any) { calls++ },
	})
	if !r.HasType("lazy") {
		t.Fatal("HasType(lazy) = false after Register")
	}
	if calls != 0 {
		t.Fatalf("class_init ran %d times at registration", calls)
	}
}

// R-TYPE-2: type name syntax and duplicate names.
func TestTypeNames(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"ab", true},
		{"pc-q35-10.2", true},
		{"x86_64-cpu", true},
		{"A.b_c-d", true},
		{"1ab", true}, // a digit other than 0 may start a name
		{"a", false},  // too short
		{"", false},
		{"0ab", false}, // may not start with '0'
		{"-ab", false},
		{"_ab", false},
		{".ab", false},
		{"a b", false},
		{"a/b", false},
		{"a:b", false},
		{"a::b", false},
		{"é1", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := qom.ValidTypeName(tc.name); got != tc.ok {
				t.Fatalf("ValidTypeName(%q) = %v, want %v", tc.name, got, tc.ok)
			}
			err := qom.NewRegistry().Register(qom.TypeInfo{Name: tc.name, Parent: qom.TypeObject})
			if tc.ok {
				must(t, err)
			} else {
				wantErr(t, err, "Registering '"+tc.name+"' with illegal type name")
			}
		})
	}
	r := newReg(t)
	registerPlain(t, r)
	wantErr(t, r.Register(qom.TypeInfo{Name: plain, Parent: qom.TypeObject}),
		"Registering `test-plain' which already exists")
	wantErr(t, r.Register(qom.TypeInfo{Name: qom.TypeObject}),
		"Registering `object' which already exists")
}

// R-TYPE-3: the built-in roots, the parent requirement and the class
// property "type".
func TestBuiltinRoots(t *testing.T) {
	r := newReg(t)
	for _, tc := range []struct {
		name     string
		abstract bool
		parent   *string
	}{
		{qom.TypeObject, true, nil},
		{qom.TypeInterface, true, nil},
		{qom.TypeContainer, false, ptr(qom.TypeObject)},
	} {
		c, err := r.Class(tc.name)
		must(t, err)
		if c.Abstract() != tc.abstract {
			t.Errorf("%s: Abstract() = %v", tc.name, c.Abstract())
		}
		if tc.parent == nil && c.Parent() != nil {
			t.Errorf("%s: has parent %s", tc.name, c.Parent().Name())
		}
		if tc.parent != nil && (c.Parent() == nil || c.Parent().Name() != *tc.parent) {
			t.Errorf("%s: parent is not %s", tc.name, *tc.parent)
		}
	}
	wantErr(t, r.Register(qom.TypeInfo{Name: "orphan"}), "type 'orphan' names no parent")

	o := newObj(t, r, qom.TypeContainer)
	defer o.Unref()
	p := o.FindProperty("type")
	if p == nil || p.Type != "string" || p.Set != nil {
		t.Fatalf("class property type = %+v, want a read-only string", p)
	}
	v, err := o.GetProperty("type")
	must(t, err)
	if v != qom.TypeContainer {
		t.Fatalf("type = %v", v)
	}
	wantErr(t, o.SetProperty("type", "x"), "Property 'container.type' is not writable")
}

func ptr[T any](v T) *T { return &v }

// R-TYPE-4: parents are looked up lazily, so registration order does not
// matter; a missing parent is reported when the class is needed.
func TestParentLookedUpLazily(t *testing.T) {
	r := newReg(t)
	register(t, r, qom.TypeInfo{Name: "kid", Parent: "later-parent"})
	register(t, r, qom.TypeInfo{Name: "later-parent", Parent: qom.TypeObject})
	c, err := r.Class("kid")
	must(t, err)
	if c.Parent().Name() != "later-parent" {
		t.Fatalf("parent = %s", c.Parent().Name())
	}

	register(t, r, qom.TypeInfo{Name: "lost", Parent: "nowhere"})
	_, err = r.Class("lost")
	wantErr(t, err, "Type 'lost' is missing its parent 'nowhere'")
	_, err = r.New("lost")
	wantErr(t, err, "invalid object type: lost")

	register(t, r, qom.TypeInfo{Name: "loop-a", Parent: "loop-b"})
	register(t, r, qom.TypeInfo{Name: "loop-b", Parent: "loop-a"})
	if _, err := r.Class("loop-a"); err == nil {
		t.Fatal("a parent cycle was accepted")
	}
}

// R-TYPE-5: the instance layout is inherited; a child's Go type must embed
// its parent's.
func TestInstanceLayoutInherits(t *testing.T) {
	r := newReg(t)
	must(t, qom.Register[vehicle](r, qom.TypeInfo{Name: "vehicle", Parent: qom.TypeObject}))
	must(t, qom.Register[car](r, qom.TypeInfo{Name: "car", Parent: "vehicle"}))
	register(t, r, qom.TypeInfo{Name: "same-as-car", Parent: "car"}) // New nil: same as parent
	must(t, qom.Register[notAVehicle](r, qom.TypeInfo{Name: "bad-vehicle", Parent: "vehicle"}))

	inst, err := r.New("same-as-car")
	must(t, err)
	c, ok := qom.Cast[*car](inst)
	if !ok {
		t.Fatalf("same-as-car instance is %T, want *car", inst)
	}
	if c.TypeName() != "same-as-car" {
		t.Fatalf("TypeName = %s", c.TypeName())
	}
	if v, ok := qom.Cast[*vehicle](inst); ok || v != nil {
		// Cast is by Go type: the outer value is a *car, not a *vehicle.
		t.Fatalf("Cast[*vehicle] of a *car succeeded")
	}
	c.QOM().Unref()

	_, err = r.Class("bad-vehicle")
	if err == nil || !strings.Contains(err.Error(), "does not embed") {
		t.Fatalf("a child smaller than its parent was accepted: %v", err)
	}
}

// R-TYPE-6: interfaces have no instances, no instance hooks and no
// interfaces of their own; they are abstract without saying so.
func TestInterfaceTypeRules(t *testing.T) {
	r := newReg(t)
	register(t, r, qom.TypeInfo{Name: "iface-ok", Parent: qom.TypeInterface})
	c, err := r.Class("iface-ok")
	must(t, err)
	if !c.Abstract() {
		t.Fatal("an interface is not abstract")
	}
	_, err = r.New("iface-ok")
	wantErr(t, err, "object type 'iface-ok' is abstract")

	bad := []qom.TypeInfo{
		{Name: "iface-new", Parent: qom.TypeInterface, New: func() qom.Instance { return new(qom.Object) }},
		{Name: "iface-init", Parent: qom.TypeInterface, InstanceInit: func(qom.Instance) {}},
		{Name: "iface-post", Parent: qom.TypeInterface, InstancePostInit: func(qom.Instance) {}},
		{Name: "iface-fin", Parent: qom.TypeInterface, InstanceFinalize: func(qom.Instance) {}},
		{Name: "iface-ifaces", Parent: qom.TypeInterface, Interfaces: []string{"iface-ok"}},
	}
	for _, info := range bad {
		register(t, r, info)
		if _, err := r.Class(info.Name); err == nil {
			t.Errorf("%s: accepted", info.Name)
		}
	}
}

// R-TYPE-7, R-INST-1: abstract types cannot be instantiated; enumeration
// filters by implemented type and abstractness and sorts without case.
func TestAbstractAndEnumeration(t *testing.T) {
	r := newReg(t)
	register(t, r, qom.TypeInfo{Name: "shape", Parent: qom.TypeObject, Abstract: true})
	register(t, r, qom.TypeInfo{Name: "Square", Parent: "shape"})
	register(t, r, qom.TypeInfo{Name: "circle", Parent: "shape"})
	register(t, r, qom.TypeInfo{Name: "drawable", Parent: qom.TypeInterface})
	register(t, r, qom.TypeInfo{Name: "blob", Parent: qom.TypeObject, Interfaces: []string{"drawable"}})

	_, err := r.New("shape")
	wantErr(t, err, "object type 'shape' is abstract")
	_, err = r.New("no-such-type")
	wantErr(t, err, "invalid object type: no-such-type")
	wantPanic(t, func() { r.MustNew("shape") })

	names := func(ds []qom.TypeDesc) string {
		var s []string
		for _, d := range ds {
			s = append(s, d.Name)
		}
		return strings.Join(s, ",")
	}
	got, err := r.ListTypes("shape", false)
	must(t, err)
	if names(got) != "circle,Square" {
		t.Errorf("concrete shapes = %s", names(got))
	}
	got, err = r.ListTypes("shape", true)
	must(t, err)
	if names(got) != "circle,shape,Square" {
		t.Errorf("all shapes = %s", names(got))
	}
	got, err = r.ListTypes("drawable", true)
	must(t, err)
	if names(got) != "blob,drawable" {
		t.Errorf("drawables = %s", names(got))
	}
	got, err = r.ListTypes("", false)
	must(t, err)
	for i := 1; i < len(got); i++ {
		if strings.ToLower(got[i-1].Name) > strings.ToLower(got[i].Name) {
			t.Errorf("not sorted: %s before %s", got[i-1].Name, got[i].Name)
		}
		if got[i].Abstract {
			t.Errorf("abstract %s listed", got[i].Name)
		}
	}
	for _, d := range got {
		if d.Name == "Square" && d.Parent != "shape" {
			t.Errorf("Square parent = %q", d.Parent)
		}
	}
}

// R-CLASS-1: a class is initialized once, lazily, on first need: lookup,
// instantiation, a descendant's initialization or enumeration.
func TestClassInitOnceLazily(t *testing.T) {
	for _, trigger := range []struct {
		name string
		fn   func(r *qom.Registry) error
	}{
		{"lookup", func(r *qom.Registry) error { _, err := r.Class("counted"); return err }},
		{"new", func(r *qom.Registry) error {
			inst, err := r.New("counted")
			if err == nil {
				inst.QOM().Unref()
			}
			return err
		}},
		{"descendant", func(r *qom.Registry) error { _, err := r.Class("counted-kid"); return err }},
		{"enumeration", func(r *qom.Registry) error { _, err := r.ListTypes("", true); return err }},
	} {
		t.Run(trigger.name, func(t *testing.T) {
			r := newReg(t)
			calls := 0
			register(t, r, qom.TypeInfo{Name: "counted", Parent: qom.TypeObject,
				ClassInit: func(*qom.Class, any) { calls++ }})
			register(t, r, qom.TypeInfo{Name: "counted-kid", Parent: "counted"})
			must(t, trigger.fn(r))
			must(t, trigger.fn(r))
			if _, err := r.Class("counted"); err != nil {
				t.Fatal(err)
			}
			if calls != 1 {
				t.Fatalf("class_init ran %d times", calls)
			}
		})
	}
}

// R-CLASS-2: parent first, methods inherited by copy, interface classes per
// class, class_base_init of ancestors nearest first, then class_init, each
// with the class's own class_data.
func TestClassInitOrder(t *testing.T) {
	r := newReg(t)
	var rec recorder
	base := func(who string) func(*qom.Class, any) {
		return func(c *qom.Class, data any) { rec.add(who + ".base(" + c.Name() + "," + data.(string) + ")") }
	}
	init := func(who string) func(*qom.Class, any) {
		return func(c *qom.Class, data any) { rec.add(who + ".init(" + data.(string) + ")") }
	}
	register(t, r, qom.TypeInfo{Name: "gen0", Parent: qom.TypeObject, ClassData: "d0",
		ClassBaseInit: base("gen0"), ClassInit: func(c *qom.Class, d any) {
			init("gen0")(c, d)
			c.SetMethod("speak", "gen0")
			c.SetMethod("walk", "gen0")
		}})
	register(t, r, qom.TypeInfo{Name: "gen1", Parent: "gen0", ClassData: "d1",
		ClassBaseInit: base("gen1"), ClassInit: func(c *qom.Class, d any) {
			init("gen1")(c, d)
			if c.Method("speak") != "gen0" {
				rec.add("gen1 did not inherit speak")
			}
			c.SetMethod("speak", "gen1")
		}})
	register(t, r, qom.TypeInfo{Name: "gen2", Parent: "gen1", ClassData: "d2", ClassInit: init("gen2")})

	c2, err := r.Class("gen2")
	must(t, err)
	want := "gen0.init(d0) gen0.base(gen1,d1) gen1.init(d1) gen1.base(gen2,d2) gen0.base(gen2,d2) gen2.init(d2)"
	if rec.String() != want {
		t.Fatalf("order:\n got %s\nwant %s", rec.String(), want)
	}
	c0, _ := r.Class("gen0")
	if c0.Method("speak") != "gen0" || c2.Method("speak") != "gen1" || c2.Method("walk") != "gen0" {
		t.Fatalf("methods: gen0.speak=%v gen2.speak=%v gen2.walk=%v",
			c0.Method("speak"), c2.Method("speak"), c2.Method("walk"))
	}
	if c2.Method("fly") != nil {
		t.Fatal("unknown method is not nil")
	}

	register(t, r, qom.TypeInfo{Name: "needs-ghost", Parent: qom.TypeObject, Interfaces: []string{"ghost-iface"}})
	_, err = r.Class("needs-ghost")
	wantErr(t, err, "missing interface 'ghost-iface' for object 'needs-ghost'")
	register(t, r, qom.TypeInfo{Name: "not-iface", Parent: qom.TypeObject, Interfaces: []string{"gen0"}})
	if _, err := r.Class("not-iface"); err == nil {
		t.Fatal("a non-interface was accepted as interface")
	}
}

// R-CLASS-2 step 3, R-CAST-1, R-CAST-2: interface classes are per class,
// named "<T>::<iface>", inherited by copy; an interface declared through a
// descendant is not added twice; an ambiguous interface cast fails.
func TestInterfaceClasses(t *testing.T) {
	r := newReg(t)
	register(t, r, qom.TypeInfo{Name: "if-base", Parent: qom.TypeInterface})
	register(t, r, qom.TypeInfo{Name: "if-derived", Parent: "if-base"})
	register(t, r, qom.TypeInfo{Name: "impl", Parent: qom.TypeObject, Interfaces: []string{"if-base"},
		ClassInit: func(c *qom.Class, _ any) { c.Interface("if-base").SetMethod("op", "impl") }})
	register(t, r, qom.TypeInfo{Name: "impl-kid", Parent: "impl"})
	register(t, r, qom.TypeInfo{Name: "impl-override", Parent: "impl",
		ClassInit: func(c *qom.Class, _ any) { c.Interface("if-base").SetMethod("op", "override") }})
	// Derived first: the base is then already covered and not added again.
	register(t, r, qom.TypeInfo{Name: "derived-first", Parent: qom.TypeObject, Interfaces: []string{"if-derived", "if-base"}})
	// Base first: both are added, so a cast to the base is ambiguous.
	register(t, r, qom.TypeInfo{Name: "base-first", Parent: qom.TypeObject, Interfaces: []string{"if-base", "if-derived"}})

	impl, _ := r.Class("impl")
	kid, _ := r.Class("impl-kid")
	over, _ := r.Class("impl-override")
	ic := impl.Interface("if-base")
	if ic == nil || ic.Name() != "impl::if-base" || ic.TypeName() != "if-base" || !ic.Abstract() {
		t.Fatalf("impl's interface class = %v", ic)
	}
	kic := kid.Interface("if-base")
	if kic == nil || kic == ic || kic.Name() != "impl-kid::if-base" {
		t.Fatalf("impl-kid's interface class = %v, want its own", kic)
	}
	if kic.Method("op") != "impl" || over.Interface("if-base").Method("op") != "override" || ic.Method("op") != "impl" {
		t.Fatal("interface class methods are not inherited by copy")
	}
	if impl.Cast("impl") != impl || impl.Cast(qom.TypeObject) != impl || kid.Cast("impl") != kid {
		t.Fatal("class cast to a normal type does not return the class itself")
	}
	if impl.Cast("if-base") != ic {
		t.Fatal("class cast to an interface does not return the interface class")
	}
	if impl.Cast("if-derived") != nil || impl.Cast("nope") != nil || impl.Interface("impl") != nil {
		t.Fatal("bad class casts succeeded")
	}

	df, _ := r.Class("derived-first")
	if df.Interface("if-base") == nil || df.Interface("if-base") != df.Interface("if-derived") {
		t.Fatal("derived-first: the base interface should resolve to the derived interface class")
	}
	bf, _ := r.Class("base-first")
	if bf.Cast("if-base") != nil {
		t.Fatal("base-first: ambiguous interface cast succeeded")
	}
	if bf.Cast("if-derived") == nil {
		t.Fatal("base-first: unambiguous interface cast failed")
	}

	o := newObj(t, r, "base-first")
	defer o.Unref()
	if o.IsA("if-base") || o.DynamicCast("if-base") != nil {
		t.Fatal("ambiguous object cast succeeded")
	}
	if !o.IsA("if-derived") || o.DynamicCast("if-derived") != o {
		t.Fatal("unambiguous object cast failed")
	}
}

// R-CAST-1, R-CAST-3: dynamic casts by type name and checked casts.
func TestObjectCasts(t *testing.T) {
	r := newReg(t)
	must(t, qom.Register[vehicle](r, qom.TypeInfo{Name: "vehicle", Parent: qom.TypeObject}))
	must(t, qom.Register[car](r, qom.TypeInfo{Name: "car", Parent: "vehicle", Interfaces: []string{qom.TypeUserCreatable}}))
	inst, err := r.New("car")
	must(t, err)
	o := inst.QOM()
	defer o.Unref()
	for _, tc := range []struct {
		typ string
		ok  bool
	}{
		{"car", true}, {"vehicle", true}, {qom.TypeObject, true}, {qom.TypeUserCreatable, true},
		// As in QEMU, "interface" matches the one interface class car
		// has (it would be ambiguous with two).
		{qom.TypeInterface, true},
		{qom.TypeContainer, false}, {"unknown-type", false},
	} {
		if o.IsA(tc.typ) != tc.ok || (o.DynamicCast(tc.typ) == o) != tc.ok {
			t.Errorf("cast of car to %s: got %v, want %v", tc.typ, o.IsA(tc.typ), tc.ok)
		}
	}
	var nilObj *qom.Object
	if nilObj.IsA(qom.TypeObject) || nilObj.DynamicCast(qom.TypeObject) != nil {
		t.Error("nil casts to object")
	}
	if o.CheckCast("vehicle") != o {
		t.Error("CheckCast to an ancestor failed")
	}
	v := wantPanic(t, func() { o.CheckCast(qom.TypeContainer) })
	if s, _ := v.(string); !strings.HasPrefix(s, "Object car#") || !strings.HasSuffix(s, " is not an instance of type container") {
		t.Errorf("CheckCast panic = %v", v)
	}
	if c := qom.MustCast[*car](inst); c.QOM() != o {
		t.Error("MustCast returned another object")
	}
	wantPanic(t, func() { qom.MustCast[*qom.Device](inst) })
	if _, ok := qom.Cast[*car](nil); ok {
		t.Error("Cast of nil succeeded")
	}
}

// R-INST-2, R-INST-3: class defaults (leaf class first), then instance_init
// root to leaf, then instance_post_init root to leaf (the v10.1 order; 7.2
// ran post_init leaf first). The new object holds one reference.
func TestInstanceInitOrder(t *testing.T) {
	r := newReg(t)
	var rec recorder
	prop := func(name string) *qom.Property {
		return qom.StringProperty(name, nil, func(_ *qom.Object, s string) error {
			rec.add("default(" + s + ")")
			return nil
		})
	}
	register(t, r, qom.TypeInfo{Name: "lvl0", Parent: qom.TypeObject,
		ClassInit:        func(c *qom.Class, _ any) { c.MustAddProperty(prop("p0").WithDefault("lvl0")) },
		InstanceInit:     rec.hook("init0"),
		InstancePostInit: rec.hook("post0"),
		InstanceFinalize: rec.hook("fin0"),
	})
	register(t, r, qom.TypeInfo{Name: "lvl1", Parent: "lvl0",
		ClassInit:        func(c *qom.Class, _ any) { c.MustAddProperty(prop("p1").WithDefault("lvl1")) },
		InstanceInit:     rec.hook("init1"),
		InstancePostInit: rec.hook("post1"),
		InstanceFinalize: rec.hook("fin1"),
	})
	register(t, r, qom.TypeInfo{Name: "lvl2", Parent: "lvl1",
		InstanceInit:     rec.hook("init2"),
		InstancePostInit: rec.hook("post2"),
		InstanceFinalize: rec.hook("fin2"),
	})
	o := newObj(t, r, "lvl2")
	want := "default(lvl1) default(lvl0) init0 init1 init2 post0 post1 post2"
	if rec.String() != want {
		t.Fatalf("init order:\n got %s\nwant %s", rec.String(), want)
	}
	if o.RefCount() != 1 || !o.Alive() || o.Finalized() {
		t.Fatalf("new object: refs=%d alive=%v", o.RefCount(), o.Alive())
	}
	rec.reset()
	o.Unref()
	if rec.String() != "fin2 fin1 fin0" {
		t.Fatalf("finalize order = %s", rec.String())
	}
}

// R-INST-1, R-INST-2: Initialize works on caller memory of the right Go
// type only, once.
func TestInitializeInPlace(t *testing.T) {
	r := newReg(t)
	must(t, qom.Register[vehicle](r, qom.TypeInfo{Name: "vehicle", Parent: qom.TypeObject}))
	must(t, qom.Register[car](r, qom.TypeInfo{Name: "car", Parent: "vehicle"}))
	var c car
	must(t, r.Initialize(&c, "car"))
	if c.TypeName() != "car" || c.RefCount() != 1 || c.Instance() != qom.Instance(&c) {
		t.Fatalf("initialized car: type=%s refs=%d", c.TypeName(), c.RefCount())
	}
	if err := r.Initialize(&c, "car"); err == nil {
		t.Fatal("second Initialize accepted")
	}
	c.Unref()

	var v vehicle
	if err := r.Initialize(&v, "car"); err == nil {
		t.Fatal("a vehicle was initialized as a car")
	}
	var o qom.Object
	wantErr(t, r.Initialize(&o, "nope"), "invalid object type: nope")
}

// Concurrency (Registry doc): the type table is safe for concurrent use;
// each class is still initialized exactly once (R-CLASS-1).
func TestConcurrentTypeTable(t *testing.T) {
	r := newReg(t)
	var inits atomic.Int32
	for i := 0; i < 8; i++ {
		register(t, r, qom.TypeInfo{Name: fmt.Sprintf("conc%d", i), Parent: qom.TypeObject,
			ClassInit: func(*qom.Class, any) { inits.Add(1) }})
	}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 8; i++ {
				o := r.MustNew(fmt.Sprintf("conc%d", i)).QOM()
				if !o.IsA(qom.TypeObject) {
					t.Error("bad object")
				}
				o.Unref()
				if _, err := r.ListTypes("", false); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if inits.Load() != 8 {
		t.Fatalf("%d class inits, want 8", inits.Load())
	}
}
