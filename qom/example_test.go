package qom_test

import (
	"encoding/json"
	"fmt"
	"strings"

	"qmem.dev/qmem/qom"
)

// A Go type for a QOM type embeds its parent type's struct.
type uart struct {
	qom.Device
	baud uint64
}

func (u *uart) Realize() error {
	fmt.Println("realize", u.CanonicalPath())
	return nil
}

func (u *uart) Unrealize() { fmt.Println("unrealize", u.CanonicalPath()) }

func registerUART(r *qom.Registry) {
	err := qom.Register[uart](r, qom.TypeInfo{
		Name:   "demo-uart",
		Parent: qom.TypeDevice,
		ClassInit: func(c *qom.Class, _ any) {
			c.MustAddProperty(qom.UintProperty("baud", 32,
				func(o *qom.Object) uint64 { return qom.MustCast[*uart](o.Instance()).baud },
				func(o *qom.Object, v uint64) error {
					qom.MustCast[*uart](o.Instance()).baud = v
					return nil
				}).WithDefault(uint64(115200)))
		},
	})
	if err != nil {
		panic(err)
	}
}

// Registering a type and creating an object: the class is built on first
// use, class defaults are applied, and the creator holds one reference.
func ExampleRegistry_New() {
	r := qom.NewRegistry()
	registerUART(r)
	inst, err := r.New("demo-uart")
	if err != nil {
		panic(err)
	}
	u := qom.MustCast[*uart](inst)
	fmt.Println(u.TypeName(), u.baud, u.RefCount())
	u.Unref() // the last reference: u is finalized now
	fmt.Println(u.Finalized())
	// Output:
	// demo-uart 115200 1
	// true
}

// Properties are read and written as JSON-compatible values, the way QMP's
// qom-get and qom-set use them, or parsed from strings like -device options.
func ExampleObject_SetProperty() {
	r := qom.NewRegistry()
	registerUART(r)
	o := r.MustNew("demo-uart").QOM()
	defer o.Unref()

	var v any
	d := json.NewDecoder(strings.NewReader(`9600`))
	d.UseNumber()
	_ = d.Decode(&v)
	if err := o.SetProperty("baud", v); err != nil {
		panic(err)
	}
	got, _ := o.GetProperty("baud")
	fmt.Println(got)

	fmt.Println(o.SetProperty("baud", "fast"))
	fmt.Println(o.ParseProperty("baud", "0x10000000000"))
	_ = o.ParseProperty("baud", "0x2580")
	s, _ := o.PrintProperty("baud")
	fmt.Println(s)
	// Output:
	// 9600
	// Parameter 'baud' expects uint64
	// Parameter 'baud' expects uint32_t
	// 9600
}

// Children are held by their parent; paths follow child properties from
// the root, and partial paths are searched across the whole tree.
func ExampleObject_AddChild() {
	r := qom.NewRegistry()
	cont, _ := r.Container("/objects/board")
	inst, _ := r.NewChild(cont, "bank[*]", qom.TypeContainer)
	inst2, _ := r.NewChild(cont, "bank[*]", qom.TypeContainer)
	fmt.Println(inst.QOM().CanonicalPath(), inst.QOM().RefCount())
	fmt.Println(inst2.QOM().CanonicalPath())
	o, ambiguous := r.ResolvePath("bank[1]")
	fmt.Println(o == inst2.QOM(), ambiguous)
	_, ambiguous = r.ResolvePathType("", qom.TypeContainer)
	fmt.Println(ambiguous)
	cont.Unparent()
	fmt.Println(inst.QOM().Finalized())
	// Output:
	// /objects/board/bank[0] 1
	// /objects/board/bank[1]
	// true false
	// true
	// true
}

// A strong link holds a reference on its target and reads as the target's
// path.
func ExampleObject_SetLink() {
	r := qom.NewRegistry()
	type holder struct {
		qom.Object
		target qom.Link
	}
	_ = qom.Register[holder](r, qom.TypeInfo{Name: "holder", Parent: qom.TypeObject,
		ClassInit: func(c *qom.Class, _ any) {
			c.MustAddProperty(qom.LinkProperty("target", qom.TypeContainer,
				func(o *qom.Object) *qom.Link { return &qom.MustCast[*holder](o.Instance()).target },
				qom.AllowSetLink, true))
		}})
	objects := r.Root().Child("objects")
	h, _ := r.NewChild(objects, "h", "holder")
	t, _ := r.NewChild(objects, "t", qom.TypeContainer)
	fmt.Println(t.QOM().RefCount())
	_ = h.QOM().SetLink("target", t.QOM())
	path, _ := h.QOM().GetString("target")
	fmt.Println(path, t.QOM().RefCount())
	fmt.Println(h.QOM().SetProperty("target", "/nowhere"))
	h.QOM().Unparent()
	fmt.Println(t.QOM().RefCount())
	// Output:
	// 1
	// /objects/t 2
	// Device '/nowhere' not found
	// 1
}

// Devices live under /machine; hot-unplug unrealizes, unparents and (when
// nothing else holds the device) finalizes.
func ExampleRegistry_Unplug() {
	r := qom.NewRegistry()
	registerUART(r)
	_ = r.Register(qom.TypeInfo{Name: "demo-machine", Parent: qom.TypeMachine})
	if _, err := r.NewMachine("demo-machine"); err != nil {
		panic(err)
	}
	u := qom.MustCast[*uart](r.MustNew("demo-uart"))
	_ = r.AddDevice(u, "serial0")
	_ = u.SetRealized(true)
	u.Unref() // the tree holds it now
	_ = r.Unplug(&u.Device)
	fmt.Println(u.Finalized())
	// Output:
	// realize /machine/peripheral/serial0
	// unrealize /machine/peripheral/serial0
	// true
}

// Cleanups bound to an object's lifetime run once, newest first, when it is
// finalized.
func ExampleObject_OnFinalize() {
	r := qom.NewRegistry()
	o := r.MustNew(qom.TypeContainer).QOM()
	_ = o.OnFinalize(func() { fmt.Println("close fd") })
	_ = o.OnFinalize(func() { fmt.Println("unmap memory") })
	o.Unref()
	// Output:
	// unmap memory
	// close fd
}

// The leak report lists objects that are alive but unreachable from the
// root, with who holds them; here a reference cycle between two containers
// linked by named holds.
func ExampleRegistry_Leaks() {
	r := qom.NewRegistry()
	a, _ := r.NewChild(r.Root().Child("objects"), "a", qom.TypeContainer)
	b, _ := r.NewChild(r.Root().Child("objects"), "b", qom.TypeContainer)
	a.QOM().RefHold(qom.Hold{By: b.QOM(), Via: "b's cache"})
	b.QOM().RefHold(qom.Hold{By: a.QOM(), Via: "a's cache"})
	a.QOM().Unparent()
	b.QOM().Unparent()
	for _, l := range r.Leaks() {
		fmt.Println(l.LastPath, "held via", l.RetainedBy[0].Via, "on a cycle of", len(l.Cycle)-1)
	}
	// Output:
	// /objects/a held via b's cache on a cycle of 2
	// /objects/b held via a's cache on a cycle of 2
}

// ParseSize reads sizes the way QEMU's command line does.
func ExampleParseSize() {
	for _, s := range []string{"4096", "4k", "1.5M", "0x1000", "16E", "1.5"} {
		n, err := qom.ParseSize(s)
		fmt.Println(s, n, err != nil)
	}
	// Output:
	// 4096 4096 false
	// 4k 4096 false
	// 1.5M 1572864 false
	// 0x1000 4096 false
	// 16E 0 true
	// 1.5 0 true
}
