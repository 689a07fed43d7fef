package qom_test

// The scenarios of QEMU's tests/unit/check-qom-proplist.c, re-expressed
// against qom's API: creating objects with string properties, object-add
// from command-line style options, bad and read-back enums, property
// iteration, a device whose children delete each other's properties while
// being unparented, and partial path resolution.

import (
	"sort"
	"strings"
	"testing"

	"qmem.dev/qmem/qom"
)

const (
	typeAnimalObj = "animal-object" // QEMU's "qemu-dummy"
	typeAnimalDev = "animal-dev"
	typeAnimalBus = "animal-bus"
	typeAnimalEnd = "animal-backend"
)

var animals = []string{"frog", "alligator", "platypus"}

const platypus = 2

// animalObj has an instance bool property and class string and enum
// properties; it is user-creatable.
type animalObj struct {
	qom.Object
	flag   bool
	motto  string
	animal int
}

func ao(o *qom.Object) *animalObj { return qom.MustCast[*animalObj](o.Instance()) }

// The device / bus / backend trio: the device has a child bus, the bus a
// child backend, and the device a read-only link to the backend stored in
// the bus. Unparenting the device unparents the bus, whose unparent hook
// deletes the device's link and unparents the backend: properties vanish
// while their owner is being unparented.
type (
	animalDev struct {
		qom.Object
		bus *animalBus
	}
	animalBus struct {
		qom.Object
		backend qom.Link
	}
	animalEnd struct{ qom.Object }
)

func (d *animalDev) OnUnparent() { d.bus.Unparent() }

func (b *animalBus) OnUnparent() {
	if err := b.Parent().DelProperty("backend"); err != nil {
		panic(err)
	}
	b.backend.Target().Unparent()
}

func registerAnimals(t *testing.T, r *qom.Registry, fins *recorder) {
	t.Helper()
	must(t, qom.Register[animalObj](r, qom.TypeInfo{Name: typeAnimalObj, Parent: qom.TypeObject,
		Interfaces: []string{qom.TypeUserCreatable},
		InstanceInit: func(i qom.Instance) {
			_, err := i.QOM().AddProperty(qom.BoolProperty("bv",
				func(o *qom.Object) bool { return ao(o).flag },
				func(o *qom.Object, v bool) error { ao(o).flag = v; return nil }))
			must(t, err)
		},
		ClassInit: func(c *qom.Class, _ any) {
			c.MustAddProperty(qom.StringProperty("sv",
				func(o *qom.Object) string { return ao(o).motto },
				func(o *qom.Object, v string) error { ao(o).motto = v; return nil }))
			c.MustAddProperty(qom.EnumProperty("av", "DummyAnimal", animals,
				func(o *qom.Object) int { return ao(o).animal },
				func(o *qom.Object, v int) error { ao(o).animal = v; return nil }))
		},
	}))
	must(t, qom.Register[animalDev](r, qom.TypeInfo{Name: typeAnimalDev, Parent: qom.TypeObject,
		InstanceInit: func(i qom.Instance) {
			d := i.(*animalDev)
			d.bus = qom.MustCast[*animalBus](r.MustNew(typeAnimalBus))
			end := r.MustNew(typeAnimalEnd).QOM()
			_, err := d.AddChild("bus", d.bus)
			must(t, err)
			_, err = d.bus.AddChild("backend", end)
			must(t, err)
			d.bus.backend.Init(end)
			// A read-only, weak link whose slot lives in the bus.
			_, err = d.AddLink("backend", typeAnimalEnd, &d.bus.backend, nil, false)
			must(t, err)
		},
		// The device and the bus keep their creation references on the
		// bus and the backend until they are finalized.
		InstanceFinalize: func(i qom.Instance) { fins.add("dev"); i.(*animalDev).bus.Unref() },
	}))
	must(t, qom.Register[animalBus](r, qom.TypeInfo{Name: typeAnimalBus, Parent: qom.TypeObject,
		InstanceFinalize: func(i qom.Instance) { fins.add("bus"); i.(*animalBus).backend.Target().Unref() },
	}))
	must(t, qom.Register[animalEnd](r, qom.TypeInfo{Name: typeAnimalEnd, Parent: qom.TypeObject,
		InstanceFinalize: func(qom.Instance) { fins.add("backend") },
	}))
}

func animalEnv(t *testing.T) (*qom.Registry, *recorder, *qom.Object) {
	t.Helper()
	r := newReg(t)
	fins := &recorder{}
	registerAnimals(t, r, fins)
	return r, fins, r.Root().Child("objects")
}

// check-qom-proplist createlist, createv (R-INST-5): object_new_with_props
// with string values, placed under /objects.
func TestProplistCreate(t *testing.T) {
	r, _, objects := animalEnv(t)
	inst, err := r.NewWithProps(typeAnimalObj, objects, "dummy0",
		"bv", "yes", "sv", "Hiss hiss hiss", "av", "platypus")
	must(t, err)
	a := qom.MustCast[*animalObj](inst)
	if a.motto != "Hiss hiss hiss" || !a.flag || a.animal != platypus {
		t.Fatalf("created %+v", a)
	}
	if objects.ResolvePathAt("dummy0") != &a.Object || a.RefCount() != 1 {
		t.Fatalf("not at /objects/dummy0 (refs %d)", a.RefCount())
	}
	a.Unparent()
	if !a.Finalized() {
		t.Fatal("not finalized by unparent")
	}
	_, err = r.NewWithProps(typeAnimalObj, objects, "dummy0", "bv")
	wantErr(t, err, "property 'bv' has no value")
	_, err = r.NewWithProps("no-such", objects, "x")
	wantErr(t, err, "invalid object type: no-such")
	_, err = r.NewWithProps(qom.TypeObject, objects, "x")
	wantErr(t, err, "object type 'object' is abstract")
	// Without a parent the caller owns the object.
	inst, err = r.NewWithProps(typeAnimalObj, nil, "", "sv", "loose")
	must(t, err)
	if inst.QOM().RefCount() != 1 || inst.QOM().Parent() != nil {
		t.Fatal("parentless NewWithProps")
	}
	inst.QOM().Unref()
}

// check-qom-proplist createcmdline (R-INST-6): object-add from -object
// style options; a duplicate id fails and leaves the first object; after
// object-del the id can be used again.
func TestProplistCreateCmdline(t *testing.T) {
	r, _, objects := animalEnv(t)
	opts := map[string]string{"bv": "yes", "sv": "Hiss hiss hiss", "av": "platypus"}
	inst, err := r.AddUserObjectFromStrings(typeAnimalObj, "dev0", opts)
	must(t, err)
	first := qom.MustCast[*animalObj](inst)
	if objects.ResolvePathAt("dev0") != &first.Object || first.motto != "Hiss hiss hiss" || !first.flag || first.animal != platypus {
		t.Fatalf("first: %+v", first)
	}
	live := r.LiveObjects()
	_, err = r.AddUserObjectFromStrings(typeAnimalObj, "dev0", opts)
	wantErr(t, err, "attempt to add duplicate property 'dev0' to object (type 'container')")
	if objects.ResolvePathAt("dev0") != &first.Object || r.LiveObjects() != live {
		t.Fatal("the failed duplicate changed /objects or left an object behind")
	}
	must(t, r.DelUserObject("dev0"))
	if objects.ResolvePathAt("dev0") != nil || !first.Finalized() {
		t.Fatal("object-del left dev0")
	}
	inst, err = r.AddUserObjectFromStrings(typeAnimalObj, "dev0", opts)
	must(t, err)
	second := qom.MustCast[*animalObj](inst)
	if objects.ResolvePathAt("dev0") != &second.Object || second.motto != "Hiss hiss hiss" || !second.flag || second.animal != platypus {
		t.Fatalf("second: %+v", second)
	}
	second.Unparent()
}

// check-qom-proplist badenum: a bad enum value fails creation with QEMU's
// message and leaves nothing behind.
func TestProplistBadEnum(t *testing.T) {
	r, _, objects := animalEnv(t)
	live := r.LiveObjects()
	_, err := r.NewWithProps(typeAnimalObj, objects, "dummy0",
		"bv", "yes", "sv", "Hiss hiss hiss", "av", "yeti")
	wantErr(t, err, "Parameter 'av' does not accept value 'yeti'")
	if objects.ResolvePathAt("dummy0") != nil || r.LiveObjects() != live {
		t.Fatal("a failed creation left an object")
	}
}

// check-qom-proplist getenum: reading an enum back as its index; a wrong
// enum type name and a property that does not exist are errors.
func TestProplistGetEnum(t *testing.T) {
	r, _, objects := animalEnv(t)
	inst, err := r.NewWithProps(typeAnimalObj, objects, "dummy0", "av", "platypus")
	must(t, err)
	o := inst.QOM()
	defer o.Unparent()
	if ao(o).animal != platypus {
		t.Fatal("av not set")
	}
	idx, err := o.GetEnum("av", "DummyAnimal")
	must(t, err)
	if idx != platypus {
		t.Fatalf("index %d", idx)
	}
	idx, err = o.GetEnum("av", "BadAnimal")
	wantErr(t, err, "Property av on animal-object is not 'BadAnimal' enum type")
	if idx != -1 {
		t.Fatalf("index on error %d", idx)
	}
	idx, err = o.GetEnum("iv", "DummyAnimal")
	wantErr(t, err, "Property 'animal-object.iv' not found")
	if idx != -1 {
		t.Fatalf("index on error %d", idx)
	}
	_, err = o.GetEnum("sv", "string")
	wantErr(t, err, "Property sv on animal-object is not 'string' enum type")
}

func propNames(ps []*qom.Property) string {
	var names []string
	for _, p := range ps {
		names = append(names, p.Name)
	}
	sort.Strings(names)
	return strings.Join(names, " ")
}

// check-qom-proplist iterator, class_iterator (R-PROP-4): an object lists its
// instance property, its class's and the inherited "type"; the class lists
// only class properties.
func TestProplistIterators(t *testing.T) {
	r, _, objects := animalEnv(t)
	inst, err := r.NewWithProps(typeAnimalObj, objects, "dummy0",
		"bv", "yes", "sv", "Hiss hiss hiss", "av", "platypus")
	must(t, err)
	defer inst.QOM().Unparent()
	if got := propNames(inst.QOM().Properties()); got != "av bv sv type" {
		t.Fatalf("object properties: %s", got)
	}
	c, err := r.Class(typeAnimalObj)
	must(t, err)
	if got := propNames(c.Properties()); got != "av sv type" {
		t.Fatalf("class properties: %s", got)
	}
}

// check-qom-proplist delchild (R-UNP-1, R-FIN-2): unparenting a device whose
// unparent hooks delete properties and unparent children of each other
// finalizes everything once.
func TestProplistDelChild(t *testing.T) {
	r, fins, objects := animalEnv(t)
	live := r.LiveObjects()
	inst, err := r.NewWithProps(typeAnimalDev, objects, "dev0")
	must(t, err)
	d := qom.MustCast[*animalDev](inst)
	if got, _ := d.GetLink("backend"); got == nil || got != d.bus.backend.Target() {
		t.Fatalf("backend link = %v", got)
	}
	if v, _ := d.GetString("backend"); v != "/objects/dev0/bus/backend" {
		t.Fatalf("backend link reads %q", v)
	}
	d.Unparent()
	if fins.String() != "dev bus backend" {
		t.Fatalf("finalized: %s", fins.String())
	}
	if r.LiveObjects() != live {
		t.Fatalf("live objects %d, want %d", r.LiveObjects(), live)
	}
}

// check-qom-proplist resolve/partial (R-PATH-3, R-PATH-4): with obj1 and obj2
// under /objects/cont1 and another obj2 under /objects, "obj2" and the empty
// path are ambiguous, "obj1" is found.
func TestProplistPartialPath(t *testing.T) {
	r, _, objects := animalEnv(t)
	cont1, err := r.Container("/objects/cont1")
	must(t, err)
	mk := func(parent *qom.Object, name string) *qom.Object {
		inst, err := r.NewChild(parent, name, typeAnimalObj)
		must(t, err)
		return inst.QOM()
	}
	obj1 := mk(cont1, "obj1")
	mk(cont1, "obj2")
	obj2b := mk(objects, "obj2")

	if o, amb := r.ResolvePathType("", typeAnimalObj); o != nil || !amb {
		t.Fatalf("empty path: %v ambiguous=%v", o, amb)
	}
	if o, amb := r.ResolvePath("obj2"); o != nil || !amb {
		t.Fatalf("obj2: %v ambiguous=%v", o, amb)
	}
	if o, amb := r.ResolvePath("obj1"); o != obj1 || amb {
		t.Fatalf("obj1: %v ambiguous=%v", o, amb)
	}
	obj2b.Unparent()
	cont1.Unparent()
}
