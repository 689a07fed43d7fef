package qom_test

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"qmem.dev/qmem/qom"
)

// R-REF-1: Ref and Unref of nil do nothing.
func TestRefNil(t *testing.T) {
	var o *qom.Object
	o.Ref()
	o.Unref()
	if err := o.TryRef(); err != nil {
		t.Fatal(err)
	}
}

// R-REF-1, R-FIN-1: the Unref that drops the last reference finalizes the
// object before it returns; a dead object refuses Ref (R-FIN-4 deviation)
// and Unref (QEMU asserts).
func TestUnrefLastFinalizes(t *testing.T) {
	r := newReg(t)
	fins := 0
	register(t, r, qom.TypeInfo{Name: "mortal", Parent: qom.TypeObject,
		InstanceFinalize: func(qom.Instance) { fins++ }})
	o := newObj(t, r, "mortal")
	live := r.LiveObjects()
	o.Ref()
	o.Unref()
	if fins != 0 || o.RefCount() != 1 {
		t.Fatalf("after Ref+Unref: fins=%d refs=%d", fins, o.RefCount())
	}
	o.Unref()
	if fins != 1 || !o.Finalized() || o.Alive() || o.RefCount() != 0 {
		t.Fatalf("after last Unref: fins=%d finalized=%v refs=%d", fins, o.Finalized(), o.RefCount())
	}
	if r.LiveObjects() != live-1 {
		t.Fatalf("live objects %d -> %d", live, r.LiveObjects())
	}
	for _, op := range []struct {
		name string
		fn   func()
	}{{"Ref", o.Ref}, {"Unref", o.Unref}} {
		v := wantPanic(t, op.fn)
		if !isFinalizedError(v) || !strings.Contains(v.(error).Error(), op.name+" of finalized object mortal#") {
			t.Errorf("%s of a dead object panicked with %v", op.name, v)
		}
	}
	err := o.TryRef()
	var fe *qom.FinalizedError
	if !errors.As(err, &fe) || fe.Op != "Ref" {
		t.Fatalf("TryRef of a dead object = %v", err)
	}
	if fins != 1 || o.RefCount() != 0 {
		t.Fatalf("refused operations changed the object: fins=%d refs=%d", fins, o.RefCount())
	}
}

// R-REF-2, R-CHILD-1, R-CHILD-3, R-LINK-1, R-ALIAS-1: who holds a reference.
// Each row adds one kind of holder and says how many references it takes.
func TestWhoHoldsReferences(t *testing.T) {
	tests := []struct {
		name  string
		hold  func(t *testing.T, holder, target *qom.Object)
		delta int64
	}{
		{"child property", func(t *testing.T, h, o *qom.Object) {
			_, err := h.AddChild("kid", o)
			must(t, err)
		}, 1},
		{"strong link", func(t *testing.T, h, o *qom.Object) {
			var slot qom.Link
			_, err := h.AddLink("strong", plain, &slot, qom.AllowSetLink, true)
			must(t, err)
			must(t, h.SetLink("strong", o))
		}, 1},
		{"weak link", func(t *testing.T, h, o *qom.Object) {
			var slot qom.Link
			_, err := h.AddLink("weak", plain, &slot, qom.AllowSetLink, false)
			must(t, err)
			must(t, h.SetLink("weak", o))
		}, 0},
		{"constant link", func(t *testing.T, h, o *qom.Object) {
			_, err := h.AddConstLink("const", o)
			must(t, err)
		}, 0},
		{"alias", func(t *testing.T, h, o *qom.Object) {
			_, err := h.AddAlias("alias", o, "type")
			must(t, err)
		}, 0},
		{"named hold", func(t *testing.T, h, o *qom.Object) {
			o.RefHold(qom.Hold{By: h, Via: "test hold"})
			t.Cleanup(func() { o.UnrefHold(qom.Hold{By: h, Via: "test hold"}) })
		}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newReg(t)
			registerPlain(t, r)
			holder := child(t, r, r.Root(), "holder")
			// The target is outside the tree (links need it inside).
			target := newObj(t, r, plain)
			if tc.name != "child property" {
				_, err := r.Root().AddChild("target", target)
				must(t, err)
				t.Cleanup(target.Unparent)
			}
			t.Cleanup(target.Unref)
			t.Cleanup(holder.Unparent) // runs first: holder, then target
			before := target.RefCount()
			tc.hold(t, holder, target)
			if got := target.RefCount() - before; got != tc.delta {
				t.Fatalf("%s took %d references, want %d", tc.name, got, tc.delta)
			}
		})
	}
}

// hooked is an object whose finalization steps are recorded.
type hooked struct {
	qom.Object
	rec  *recorder
	name string
}

func registerHooked(t *testing.T, r *qom.Registry, rec *recorder) {
	t.Helper()
	must(t, qom.Register[hooked](r, qom.TypeInfo{Name: "hooked", Parent: qom.TypeObject,
		InstanceFinalize: func(i qom.Instance) {
			h := i.(*hooked)
			h.rec.add("finalize(" + h.name + ")")
		}}))
}

func newHooked(t *testing.T, r *qom.Registry, rec *recorder, name string) *hooked {
	t.Helper()
	h := qom.MustCast[*hooked](r.MustNew("hooked"))
	h.rec, h.name = rec, name
	return h
}

// R-FIN-1, R-FIN-3: properties are released first (children unparented and
// finalized depth first, strong links dropped), then the finalize hooks run
// from the leaf type up, then the managed cleanups (DESIGN L7).
func TestFinalizeOrder(t *testing.T) {
	r := newReg(t)
	var rec recorder
	registerHooked(t, r, &rec)
	register(t, r, qom.TypeInfo{Name: "hooked-kid", Parent: "hooked",
		InstanceFinalize: func(i qom.Instance) {
			h := i.(*hooked)
			h.rec.add("kid-finalize(" + h.name + ")")
			// R-FIN-3: by now the children are gone and the link dropped.
			if len(h.Children()) != 0 {
				h.rec.add("children-still-listed")
			}
		}})
	registerPlain(t, r)

	parent := qom.MustCast[*hooked](r.MustNew("hooked-kid"))
	parent.rec, parent.name = &rec, "P"
	a := newHooked(t, r, &rec, "A")
	b := newHooked(t, r, &rec, "B")
	grand := newHooked(t, r, &rec, "A1")
	for _, c := range []struct {
		p    *qom.Object
		name string
		c    *hooked
	}{{&parent.Object, "a", a}, {&parent.Object, "b", b}, {&a.Object, "a1", grand}} {
		_, err := c.p.AddChild(c.name, c.c)
		must(t, err)
		c.c.Unref()
	}
	ext := child(t, r, r.Root(), "external")
	var slot qom.Link
	_, err := parent.AddLink("peer", plain, &slot, qom.AllowSetLink, true)
	must(t, err)
	_, err = r.Root().AddChild("p", parent)
	must(t, err)
	parent.Unref()
	must(t, parent.SetLink("peer", ext))
	if ext.RefCount() != 2 {
		t.Fatalf("external refs = %d, want 2", ext.RefCount())
	}
	must(t, parent.OnFinalize(func() {
		rec.add("cleanup1")
		if ext.RefCount() != 1 {
			rec.add("link-not-dropped")
		}
	}))
	must(t, parent.OnFinalize(func() { rec.add("cleanup2") }))

	parent.Unparent()
	want := "finalize(A1) finalize(A) finalize(B) kid-finalize(P) finalize(P) cleanup2 cleanup1"
	if rec.String() != want {
		t.Fatalf("finalization:\n got %s\nwant %s", rec.String(), want)
	}
	for _, h := range []*hooked{parent, a, b, grand} {
		if !h.Finalized() || h.Parent() != nil {
			t.Errorf("%s: finalized=%v parent=%v", h.name, h.Finalized(), h.Parent())
		}
	}
	ext.Unparent()
}

// R-FIN-2: during finalization every property with a release hook is
// released exactly once, instance properties first, then class properties
// from the leaf class up, even when a release deletes other properties.
// Deviations: within a table the order is insertion order (QEMU: hash
// order), and adding properties to a dying object is refused (QEMU allows it
// and rescans).
func TestFinalizeReleasesOnce(t *testing.T) {
	r := newReg(t)
	var rec recorder
	released := map[string]int{}
	releasing := func(name string, extra func(o *qom.Object)) *qom.Property {
		return &qom.Property{Name: name, Type: "test", Release: func(o *qom.Object, p *qom.Property) {
			released[p.Name]++
			rec.add(p.Name)
			if extra != nil {
				extra(o)
			}
		}}
	}
	register(t, r, qom.TypeInfo{Name: "rel-base", Parent: qom.TypeObject,
		ClassInit: func(c *qom.Class, _ any) { c.MustAddProperty(releasing("class-base", nil)) }})
	register(t, r, qom.TypeInfo{Name: "rel-leaf", Parent: "rel-base",
		ClassInit: func(c *qom.Class, _ any) {
			c.MustAddProperty(releasing("class-leaf", func(o *qom.Object) {
				// A class release may delete an instance property without
				// a release hook.
				if err := o.DelProperty("plain"); err != nil {
					rec.add("del-plain-failed")
				}
			}))
		}})
	o := newObj(t, r, "rel-leaf")
	_, err := o.AddProperty(releasing("first", func(o *qom.Object) {
		// Deleting a later property releases it now, and only now.
		must(t, o.DelProperty("third"))
		if _, err := o.AddProperty(&qom.Property{Name: "late", Type: "test"}); !isFinalizedError(err) {
			rec.add("late-add-accepted")
		}
	}))
	must(t, err)
	_, err = o.AddProperty(releasing("second", nil))
	must(t, err)
	_, err = o.AddProperty(releasing("third", nil))
	must(t, err)
	_, err = o.AddProperty(&qom.Property{Name: "plain", Type: "test"})
	must(t, err)
	o.Unref()
	if rec.String() != "first third second class-leaf class-base" {
		t.Fatalf("release order = %s", rec.String())
	}
	for name, n := range released {
		if n != 1 {
			t.Errorf("%s released %d times", name, n)
		}
	}
}

// R-FIN-4 (deviation), DESIGN L6: a finalize hook cannot resurrect its
// object; the object is finalized exactly once and stays dead.
func TestResurrectionRefused(t *testing.T) {
	r := newReg(t)
	fins := 0
	var tryErr error
	var refPanic, unrefPanic any
	register(t, r, qom.TypeInfo{Name: "zombie", Parent: qom.TypeObject,
		InstanceFinalize: func(i qom.Instance) {
			o := i.QOM()
			fins++
			tryErr = o.TryRef()
			func() {
				defer func() { refPanic = recover() }()
				o.Ref()
			}()
			func() {
				defer func() { unrefPanic = recover() }()
				o.Unref()
			}()
		}})
	registerPlain(t, r)
	o := newObj(t, r, "zombie")
	o.Unref()
	if fins != 1 {
		t.Fatalf("finalized %d times", fins)
	}
	if !isFinalizedError(tryErr) || !isFinalizedError(refPanic) || !isFinalizedError(unrefPanic) {
		t.Fatalf("resurrection not refused: TryRef=%v Ref=%v Unref=%v", tryErr, refPanic, unrefPanic)
	}
	if o.RefCount() != 0 || !o.Finalized() {
		t.Fatalf("after refused resurrection: refs=%d finalized=%v", o.RefCount(), o.Finalized())
	}
	// Every other use of the dead object is refused too.
	other := newObj(t, r, plain)
	defer other.Unref()
	for name, err := range map[string]error{
		"OnFinalize":     o.OnFinalize(func() {}),
		"SetProperty":    o.SetProperty("type", "x"),
		"ParseProperty":  o.ParseProperty("type", "x"),
		"AddProperty":    second(o.AddProperty(&qom.Property{Name: "x"})),
		"AddChild":       second(other.AddChild("dead", o)),
		"AddChild(into)": second(o.AddChild("x", other)),
	} {
		if !isFinalizedError(err) {
			t.Errorf("%s on a dead object: %v", name, err)
		}
	}
	if _, err := o.GetProperty("type"); !isFinalizedError(err) {
		t.Errorf("GetProperty on a dead object: %v", err)
	}
}

func second[T any](_ T, err error) error { return err }

// DESIGN L7: OnFinalize cleanups run once, newest first, after the finalize
// hooks; they cannot be added to a dying object.
func TestOnFinalize(t *testing.T) {
	r := newReg(t)
	var rec recorder
	var lateErr error
	register(t, r, qom.TypeInfo{Name: "managed", Parent: qom.TypeObject,
		InstanceFinalize: func(i qom.Instance) {
			rec.add("finalize")
			lateErr = i.QOM().OnFinalize(func() { rec.add("late") })
		}})
	o := newObj(t, r, "managed")
	for _, n := range []string{"fd", "mmap", "slot"} {
		must(t, o.OnFinalize(func() { rec.add("close-" + n) }))
	}
	o.Ref()
	o.Unref()
	if len(rec.events) != 0 {
		t.Fatalf("cleanups ran early: %s", rec.String())
	}
	o.Unref()
	if rec.String() != "finalize close-slot close-mmap close-fd" {
		t.Fatalf("cleanups = %s", rec.String())
	}
	if !isFinalizedError(lateErr) {
		t.Fatalf("OnFinalize during finalization = %v", lateErr)
	}
}

// unparentWatcher records what it sees from its unparent hook.
type unparentWatcher struct {
	qom.Object
	seen      string
	unparents int
	again     bool // unparent itself again from the hook
}

func (w *unparentWatcher) OnUnparent() {
	w.unparents++
	p := w.Parent()
	listed := p != nil && p.Child(w.PathComponent()) == &w.Object
	w.seen = w.CanonicalPath()
	if !listed {
		w.seen += " (not listed)"
	}
	if w.again {
		w.Unparent()
	}
}

// R-UNP-1: Unparent without a parent does nothing; otherwise the unparent
// hook runs while the object is still listed, then the parent's reference
// goes and the property disappears.
func TestUnparent(t *testing.T) {
	r := newReg(t)
	must(t, qom.Register[unparentWatcher](r, qom.TypeInfo{Name: "watcher", Parent: qom.TypeObject}))
	lone := newObj(t, r, "watcher")
	lone.Unparent() // no parent: nothing happens
	if lone.RefCount() != 1 || qom.MustCast[*unparentWatcher](lone.Instance()).unparents != 0 {
		t.Fatal("Unparent without a parent did something")
	}
	lone.Unref()

	for _, tc := range []struct {
		name      string
		extraRef  bool
		again     bool
		finalized bool
	}{
		{"last reference", false, false, true},
		{"kept alive elsewhere", true, false, false},
		{"hook unparents again", false, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inst, err := r.NewChild(r.Root(), "w", "watcher")
			must(t, err)
			w := qom.MustCast[*unparentWatcher](inst)
			w.again = tc.again
			if tc.extraRef {
				w.Ref()
			}
			w.Unparent()
			if w.seen != "/w" || w.unparents != 1 {
				t.Fatalf("hook saw %q, ran %d times", w.seen, w.unparents)
			}
			if r.Root().FindProperty("w") != nil || w.Parent() != nil || w.PathComponent() != "" {
				t.Fatal("still attached after Unparent")
			}
			if w.Finalized() != tc.finalized {
				t.Fatalf("finalized = %v", w.Finalized())
			}
			if tc.extraRef {
				if w.RefCount() != 1 || w.CanonicalPath() != "" {
					t.Fatalf("survivor: refs=%d path=%q", w.RefCount(), w.CanonicalPath())
				}
				w.Unparent() // again: no parent, no-op
				w.Unref()
			}
		})
	}
}

// completer is a user-creatable type whose completion can fail.
type completer struct {
	qom.Object
	fail      bool
	completed int
}

func (c *completer) Complete() error {
	c.completed++
	if c.fail {
		return errors.New("completion failed")
	}
	return nil
}

// R-INST-4, R-CHILD-3: InitializeChild leaves the parent as the only holder;
// a failed completion unparents and finalizes the child.
func TestInitializeChild(t *testing.T) {
	r := newReg(t)
	must(t, qom.Register[completer](r, qom.TypeInfo{Name: "completer", Parent: qom.TypeObject,
		Interfaces: []string{qom.TypeUserCreatable}}))
	type owner struct {
		qom.Object
		good, bad completer
	}
	must(t, qom.Register[owner](r, qom.TypeInfo{Name: "owner", Parent: qom.TypeObject}))
	o := qom.MustCast[*owner](r.MustNew("owner"))
	defer o.Unref()
	must(t, r.InitializeChild(&o.Object, "good", &o.good, "completer"))
	if o.good.RefCount() != 1 || o.good.Parent() != &o.Object || o.good.completed != 1 {
		t.Fatalf("good: refs=%d parent=%v completed=%d", o.good.RefCount(), o.good.Parent(), o.good.completed)
	}
	o.bad.fail = true
	wantErr(t, r.InitializeChild(&o.Object, "bad", &o.bad, "completer"), "completion failed")
	if !o.bad.Finalized() || o.Child("bad") != nil {
		t.Fatal("a child whose completion failed was left behind")
	}
	// NewChild behaves the same for objects qom allocates.
	inst, err := r.NewChild(&o.Object, "extra[*]", "completer")
	must(t, err)
	if inst.QOM().PathComponent() != "extra[0]" || inst.QOM().RefCount() != 1 {
		t.Fatalf("NewChild: %s refs=%d", inst.QOM().PathComponent(), inst.QOM().RefCount())
	}
	_, err = r.NewChild(&o.Object, "x", "no-such-type")
	wantErr(t, err, "invalid object type: no-such-type")
}

// Concurrency (doc.go): Ref and Unref are safe from any goroutine; the last
// Unref finalizes exactly once, on whichever goroutine makes it.
func TestConcurrentRefUnref(t *testing.T) {
	r := newReg(t)
	var fins atomic.Int32
	register(t, r, qom.TypeInfo{Name: "shared", Parent: qom.TypeObject,
		InstanceFinalize: func(qom.Instance) { fins.Add(1) }})
	for round := 0; round < 50; round++ {
		o := newObj(t, r, "shared")
		const workers = 4
		var wg sync.WaitGroup
		for w := 0; w < workers; w++ {
			o.Ref() // each worker owns one reference
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 200; i++ {
					o.Ref()
					o.Unref()
				}
				o.Unref()
			}()
		}
		o.Unref() // the creator's reference: one of the workers finalizes
		wg.Wait()
		if !o.Finalized() {
			t.Fatalf("round %d: not finalized", round)
		}
	}
	if fins.Load() != 50 {
		t.Fatalf("finalized %d times, want 50", fins.Load())
	}
}

// Concurrency, DESIGN L6: TryRef racing with the last Unref either gets a
// reference (and then owns the object's last Unref) or an error; the object
// is finalized exactly once either way.
func TestConcurrentTryRefRace(t *testing.T) {
	r := newReg(t)
	var fins atomic.Int32
	register(t, r, qom.TypeInfo{Name: "racy", Parent: qom.TypeObject,
		InstanceFinalize: func(qom.Instance) { fins.Add(1) }})
	const rounds = 200
	for round := 0; round < rounds; round++ {
		o := newObj(t, r, "racy")
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				if o.TryRef() == nil {
					o.Unref()
				}
			}
		}()
		go func() {
			defer wg.Done()
			o.Unref()
		}()
		wg.Wait()
	}
	if fins.Load() != rounds {
		t.Fatalf("finalized %d times, want %d", fins.Load(), rounds)
	}
}

// inUse is a user-creatable type that can refuse deletion.
type inUse struct {
	qom.Object
	busy bool
	size uint64
}

func (u *inUse) CanBeDeleted() bool { return !u.busy }

// failer cannot be completed.
type failer struct{ qom.Object }

func (*failer) Complete() error { return errors.New("cannot complete") }

// R-INST-6: object-add checks the id, the type (known, user-creatable, not
// abstract) and the properties, places the object at /objects/<id>, and
// leaves nothing behind on failure; object-del honours can_be_deleted.
func TestObjectAdd(t *testing.T) {
	r := newReg(t)
	must(t, qom.Register[inUse](r, qom.TypeInfo{Name: "in-use", Parent: qom.TypeObject,
		Interfaces: []string{qom.TypeUserCreatable},
		ClassInit: func(c *qom.Class, _ any) {
			c.MustAddProperty(qom.SizeProperty("size",
				func(o *qom.Object) uint64 { return qom.MustCast[*inUse](o.Instance()).size },
				func(o *qom.Object, v uint64) error { qom.MustCast[*inUse](o.Instance()).size = v; return nil }))
		}}))
	register(t, r, qom.TypeInfo{Name: "abstract-uc", Parent: qom.TypeObject, Abstract: true,
		Interfaces: []string{qom.TypeUserCreatable}})
	must(t, qom.Register[completer](r, qom.TypeInfo{Name: "completer", Parent: qom.TypeObject,
		Interfaces: []string{qom.TypeUserCreatable}}))
	must(t, qom.Register[failer](r, qom.TypeInfo{Name: "failer", Parent: qom.TypeObject,
		Interfaces: []string{qom.TypeUserCreatable}}))
	registerPlain(t, r)
	r.Root()
	live := r.LiveObjects()
	for _, tc := range []struct {
		typ, id string
		props   map[string]any
		err     string
	}{
		{"in-use", "1st", nil, "Parameter 'id' expects an identifier"},
		{"in-use", "", nil, "Parameter 'id' expects an identifier"},
		{"in-use", "a b", nil, "Parameter 'id' expects an identifier"},
		{"nope", "x", nil, "invalid object type: nope"},
		{plain, "x", nil, "object type 'test-plain' isn't supported by object-add"},
		{"abstract-uc", "x", nil, "object type 'abstract-uc' is abstract"},
		{"in-use", "x", map[string]any{"size": "4k"}, "Parameter 'size' expects uint64"},
		{"in-use", "x", map[string]any{"bogus": 1}, "Property 'in-use.bogus' not found"},
		{"in-use", "objects", map[string]any{}, ""}, // /objects/objects is fine
	} {
		inst, err := r.AddUserObject(tc.typ, tc.id, tc.props)
		if tc.err == "" {
			must(t, err)
			inst.QOM().Unparent()
			continue
		}
		wantErr(t, err, tc.err)
	}
	if r.LiveObjects() != live {
		t.Fatalf("failed object-adds left %d objects", r.LiveObjects()-live)
	}
	inst, err := r.AddUserObject("in-use", "mem0", map[string]any{"size": jsonValue(t, "1048576")})
	must(t, err)
	u := qom.MustCast[*inUse](inst)
	if u.CanonicalPath() != "/objects/mem0" || u.size != 1<<20 || u.RefCount() != 1 {
		t.Fatalf("object-add: %s size %d refs %d", u.CanonicalPath(), u.size, u.RefCount())
	}
	inst, err = r.AddUserObjectFromStrings("in-use", "mem1", map[string]string{"size": "2M"})
	must(t, err)
	if qom.MustCast[*inUse](inst).size != 2<<20 {
		t.Fatal("-object size=2M")
	}
	must(t, r.DelUserObject("mem1"))
	u.busy = true
	wantErr(t, r.DelUserObject("mem0"), "object 'mem0' is in use, can not be deleted")
	wantErr(t, r.DelUserObject("nope"), "object 'nope' not found")
	u.busy = false
	must(t, r.DelUserObject("mem0"))
	if !u.Finalized() {
		t.Fatal("object-del did not finalize")
	}
	_, err = r.AddUserObject("completer", "c", nil)
	must(t, err)
	must(t, r.DelUserObject("c"))
	// A failing completion unparents the new object.
	_, err = r.AddUserObject("failer", "f", nil)
	wantErr(t, err, "cannot complete")
	if r.Root().Child("objects").Child("f") != nil {
		t.Fatal("a failed completion left /objects/f")
	}
	if r.LiveObjects() != live {
		t.Fatalf("%d objects left", r.LiveObjects()-live)
	}
}
