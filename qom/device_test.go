package qom_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"qmem.dev/qmem/qom"
)

// gadget is a test device that records its realize/unrealize/unparent steps.
type gadget struct {
	qom.Device
	rec        *recorder
	failReal   bool
	peer, part qom.Link // strong link to another device / to one of its own children
	back       qom.Link // weak link
}

func (g *gadget) Realize() error {
	g.rec.add("realize(" + g.PathComponent() + ")")
	if g.failReal {
		return errors.New("realize failed")
	}
	return nil
}

func (g *gadget) Unrealize() {
	g.rec.add("unrealize(" + g.PathComponent() + ")")
}

func (g *gadget) OnUnparent() {
	g.rec.add(fmt.Sprintf("unparent(%s,realized=%v,parent=%v)", g.PathComponent(), g.Realized(), g.Parent() != nil))
}

func gd(o *qom.Object) *gadget { return qom.MustCast[*gadget](o.Instance()) }

const (
	typeGadget = "gadget"
	typeFixed  = "fixed-gadget" // not hot-pluggable
	typeBus    = "test-bus"
)

type machineEnv struct {
	r   *qom.Registry
	rec *recorder
}

// newMachine makes a registry with a machine, the gadget types and a bus
// type.
func newMachine(t *testing.T) *machineEnv {
	t.Helper()
	r := newReg(t)
	rec := &recorder{}
	register(t, r, qom.TypeInfo{Name: "test-machine", Parent: qom.TypeMachine})
	must(t, qom.Register[gadget](r, qom.TypeInfo{Name: typeGadget, Parent: qom.TypeDevice,
		ClassInit: func(c *qom.Class, _ any) {
			c.MustAddProperty(qom.LinkProperty("peer", typeGadget, func(o *qom.Object) *qom.Link { return &gd(o).peer },
				qom.AllowSetLink, true))
			c.MustAddProperty(qom.LinkProperty("part", qom.TypeObject, func(o *qom.Object) *qom.Link { return &gd(o).part },
				qom.AllowSetLink, true))
			c.MustAddProperty(qom.LinkProperty("back", typeGadget, func(o *qom.Object) *qom.Link { return &gd(o).back },
				qom.AllowSetLink, false))
		},
		InstanceFinalize: func(i qom.Instance) { i.(*gadget).rec.add("finalize(" + i.(*gadget).ID() + ")") },
	}))
	register(t, r, qom.TypeInfo{Name: typeFixed, Parent: typeGadget,
		ClassInit: func(c *qom.Class, _ any) { qom.SetHotpluggable(c, false) }})
	register(t, r, qom.TypeInfo{Name: typeBus, Parent: qom.TypeBus})
	registerPlain(t, r)
	m, err := r.NewMachine("test-machine")
	must(t, err)
	t.Cleanup(m.QOM().Unparent) // runs before the leak check
	return &machineEnv{r: r, rec: rec}
}

// newGadget creates a gadget (caller owns the creation reference).
func (e *machineEnv) newGadget(t *testing.T, typ string) *gadget {
	t.Helper()
	g := qom.MustCast[*gadget](e.r.MustNew(typ))
	g.rec = e.rec
	return g
}

// plug creates a gadget, adds it with id (anonymous when ""), realizes it
// and drops the creation reference: the tree holds it.
func (e *machineEnv) plug(t *testing.T, typ, id string) *gadget {
	t.Helper()
	g := e.newGadget(t, typ)
	must(t, e.r.AddDevice(g, id))
	must(t, g.SetRealized(true))
	g.Unref()
	return g
}

// R-TREE-3: device placement: /machine/peripheral/<id>, otherwise
// /machine/peripheral-anon/device[N]; realizing a parentless device puts it
// at /machine/unattached/device[N]; the two counters are separate.
func TestDevicePlacement(t *testing.T) {
	e := newMachine(t)
	r := e.r
	named := e.plug(t, typeGadget, "net0")
	a0 := e.plug(t, typeGadget, "")
	a1 := e.plug(t, typeGadget, "")
	u0 := e.newGadget(t, typeGadget)
	must(t, u0.SetRealized(true))
	u0.Unref()
	a2 := e.plug(t, typeGadget, "")
	for _, tc := range []struct {
		g    *gadget
		path string
	}{
		{named, "/machine/peripheral/net0"},
		{a0, "/machine/peripheral-anon/device[0]"},
		{a1, "/machine/peripheral-anon/device[1]"},
		{u0, "/machine/unattached/device[0]"},
		{a2, "/machine/peripheral-anon/device[2]"},
	} {
		if tc.g.CanonicalPath() != tc.path || tc.g.RefCount() != 1 || !tc.g.Realized() {
			t.Errorf("%s: at %s, refs %d, realized %v", tc.path, tc.g.CanonicalPath(), tc.g.RefCount(), tc.g.Realized())
		}
	}
	if named.ID() != "net0" || a0.ID() != "" {
		t.Errorf("ids %q %q", named.ID(), a0.ID())
	}
	// Unplugging does not reuse numbers.
	must(t, r.Unplug(&a1.Device))
	a3 := e.plug(t, typeGadget, "")
	if a3.CanonicalPath() != "/machine/peripheral-anon/device[3]" {
		t.Errorf("after unplug: %s", a3.CanonicalPath())
	}

	dup := e.newGadget(t, typeGadget)
	defer dup.Unref()
	wantErr(t, r.AddDevice(dup, "net0"), "Duplicate device ID 'net0'")
	wantErr(t, r.AddDevice(dup, "0bad"), "Parameter 'id' expects an identifier")
	plainObj := newObj(t, r, plain)
	defer plainObj.Unref()
	if err := r.AddDevice(plainObj, "p"); err == nil {
		t.Error("a non-device was added as a device")
	}
	if dup.Parent() != nil {
		t.Error("failed AddDevice left the device in the tree")
	}
}

// Devices need a machine to be placed or realized.
func TestDeviceWithoutMachine(t *testing.T) {
	r := newReg(t)
	must(t, qom.Register[gadget](r, qom.TypeInfo{Name: typeGadget, Parent: qom.TypeDevice}))
	g := qom.MustCast[*gadget](r.MustNew(typeGadget))
	g.rec = &recorder{}
	defer g.Unref()
	if err := g.SetRealized(true); err == nil || g.Realized() {
		t.Fatal("realized without a machine")
	}
	if err := r.AddDevice(g, "x"); err == nil {
		t.Fatal("added without a machine")
	}
	if err := r.AddDevice(g, ""); err == nil {
		t.Fatal("added without a machine")
	}
}

// Device base type: the realized property, Realize/Unrealize hooks, a
// failed realize leaving the device unrealized, and the read-only
// hotpluggable and hotplugged properties.
func TestRealizeUnrealize(t *testing.T) {
	e := newMachine(t)
	var detached []string
	e.r.AddDetachHook(func(o *qom.Object) { detached = append(detached, o.PathComponent()) })
	g := e.newGadget(t, typeGadget)
	must(t, e.r.AddDevice(g, "g"))
	g.Unref()
	if v, _ := g.GetBool("realized"); v {
		t.Fatal("new device is realized")
	}
	must(t, g.SetProperty("realized", true))
	must(t, g.SetProperty("realized", true)) // no-op
	if v, _ := g.GetBool("realized"); !v || !g.Realized() {
		t.Fatal("not realized")
	}
	must(t, g.ParseProperty("realized", "off"))
	if g.Realized() {
		t.Fatal("still realized")
	}
	if e.rec.String() != "realize(g) unrealize(g)" {
		t.Fatalf("hooks: %s", e.rec.String())
	}
	if strings.Join(detached, ",") != "g" {
		t.Fatalf("detach hooks after unrealize: %v", detached)
	}
	g.failReal = true
	wantErr(t, g.SetProperty("realized", true), "realize failed")
	if g.Realized() {
		t.Fatal("a failed realize left the device realized")
	}
	if v, _ := g.GetBool("hotpluggable"); !v {
		t.Fatal("gadget not hotpluggable")
	}
	wantErr(t, g.SetProperty("hotpluggable", false), "Property 'gadget.hotpluggable' is not writable")
	if v, _ := g.GetBool("hotplugged"); v {
		t.Fatal("hotplugged before MarkHotplugged")
	}
	g.MarkHotplugged()
	if v, _ := g.GetBool("hotplugged"); !v {
		t.Fatal("MarkHotplugged did not show")
	}
	if qom.AsDevice(&g.Object) != &g.Device || qom.AsDevice(e.r.Root()) != nil {
		t.Fatal("AsDevice")
	}
}

// R-UNP-2: unparenting a realized device unrealizes it first (its unparent
// hook then sees it unrealized but still attached), and unparents its child
// buses.
func TestUnparentUnrealizesFirst(t *testing.T) {
	e := newMachine(t)
	g := e.plug(t, typeGadget, "g")
	bus, err := e.r.NewChild(&g.Object, "bus.0", typeBus)
	must(t, err)
	var busUnparented bool
	e.r.AddDetachHook(func(o *qom.Object) {
		if o == bus.QOM() {
			busUnparented = o.Parent() == &g.Object
			e.rec.add("bus-detached")
		}
	})
	e.rec.reset()
	g.Unparent()
	want := "unrealize(g) bus-detached unparent(g,realized=false,parent=true) finalize(g)"
	if e.rec.String() != want {
		t.Fatalf("unparent:\n got %s\nwant %s", e.rec.String(), want)
	}
	if !busUnparented || !bus.QOM().Finalized() || !g.Finalized() {
		t.Fatal("the child bus was not unparented first")
	}
}

// Hot-unplug: only hot-pluggable devices; the device is unrealized and
// unparented, and finalized once nothing else holds it.
func TestUnplug(t *testing.T) {
	e := newMachine(t)
	r := e.r
	fixed := e.plug(t, typeFixed, "fixed")
	wantErr(t, r.Unplug(&fixed.Device), "Device 'fixed-gadget' does not support hotplugging")
	if fixed.Parent() == nil || !fixed.Realized() {
		t.Fatal("refused unplug changed the device")
	}
	g := e.plug(t, typeGadget, "g")
	g.MarkHotplugged()
	d, err := r.FindDevice("g")
	must(t, err)
	if d != &g.Device {
		t.Fatal("FindDevice by id")
	}
	d, err = r.FindDevice("/machine/peripheral/g")
	must(t, err)
	if d != &g.Device {
		t.Fatal("FindDevice by path")
	}
	_, err = r.FindDevice("nope")
	wantErr(t, err, "Device 'nope' not found")
	if qom.ClassOf(err) != qom.DeviceNotFound {
		t.Fatalf("class %s", qom.ClassOf(err))
	}
	_, err = r.FindDevice("/machine/peripheral")
	if err == nil {
		t.Fatal("a container was found as a device")
	}
	e.rec.reset()
	must(t, r.Unplug(&g.Device))
	if e.rec.String() != "unrealize(g) unparent(g,realized=false,parent=true) finalize(g)" {
		t.Fatalf("unplug: %s", e.rec.String())
	}
	if err := r.Unplug(&g.Device); !isFinalizedError(err) {
		t.Fatalf("second unplug: %v", err)
	}
	if _, err := r.FindDevice("g"); err == nil {
		t.Fatal("unplugged device still found")
	}
	if err := g.SetRealized(true); !isFinalizedError(err) {
		t.Fatalf("realize a dead device: %v", err)
	}
}

// Lifecycle: a device that nests its own children and links among them (and
// a weak link back to itself) is finalized when the last outside reference
// goes, with all its parts, each exactly once.
func TestDeviceNestingFinalizedWithLastOutsideRef(t *testing.T) {
	e := newMachine(t)
	r := e.r
	d := e.plug(t, typeGadget, "d")
	// Children: a sub-device and a plain part; links: d -> part (strong),
	// sub -> d (weak back link), sub's part -> part (strong, sibling).
	sub := e.newGadget(t, typeGadget)
	_, err := d.AddChild("sub", sub)
	must(t, err)
	sub.Unref()
	must(t, sub.SetRealized(true))
	part, err := r.NewChild(&d.Object, "piece", plain)
	must(t, err)
	must(t, d.SetLink("part", part.QOM()))
	must(t, sub.SetLink("part", part.QOM()))
	must(t, sub.SetLink("back", &d.Object))
	if d.RefCount() != 1 {
		t.Fatalf("internal links hold the device: refs %d", d.RefCount())
	}
	// An outside holder (say, a DMA mapping).
	holder := e.plug(t, typeGadget, "holder")
	d.RefHold(qom.Hold{By: &holder.Object, Via: "dma mapping"})

	fins := map[*qom.Object]int{}
	for _, o := range []*qom.Object{&d.Object, &sub.Object, part.QOM()} {
		must(t, o.OnFinalize(func() { fins[o]++ }))
	}
	must(t, r.Unplug(&d.Device))
	if d.Finalized() || d.Realized() || d.Parent() != nil {
		t.Fatalf("unplugged device: finalized %v realized %v", d.Finalized(), d.Realized())
	}
	// Still alive only because of the outside hold: the leak report says
	// so, for the device and (each in its own entry) its parts.
	leaks := r.Leaks()
	if len(leaks) != 3 || leaks[0].Object != &d.Object || leaks[1].Object != &sub.Object || leaks[2].Object != part.QOM() {
		t.Fatalf("leaks while held:\n%s", qom.FormatLeaks(leaks))
	}
	rb := leaks[0].RetainedBy
	if len(rb) != 1 || rb[0].Via != "dma mapping" || rb[0].Holder != "/machine/peripheral/holder" || !rb[0].Reachable {
		t.Fatalf("retainers: %+v", rb)
	}
	d.UnrefHold(qom.Hold{By: &holder.Object, Via: "dma mapping"})
	for _, o := range []*qom.Object{&d.Object, &sub.Object, part.QOM()} {
		if !o.Finalized() || fins[o] != 1 {
			t.Fatalf("%s: finalized %v, cleanups ran %d times", o, o.Finalized(), fins[o])
		}
	}
	if sub.Realized() {
		t.Fatal("the sub-device was finalized realized")
	}
}

// Lifecycle, DESIGN §6: random plug, unplug, realize and link sequences;
// after every step the leak report is empty, and at the end every finalizer
// has run exactly once.
func TestRandomPlugUnplug(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			e := newMachine(t)
			r := e.r
			rng := rand.New(rand.NewPCG(seed, 99))
			base := r.LiveObjects()
			fins := map[*qom.Object]int{}
			var plugged []*gadget
			created := 0
			for step := 0; step < 60; step++ {
				switch op := rng.IntN(6); {
				case op <= 1 || len(plugged) == 0: // plug
					id := ""
					if rng.IntN(2) == 0 {
						id = fmt.Sprintf("dev%d", created)
					}
					g := e.newGadget(t, typeGadget)
					created++
					o := &g.Object
					must(t, o.OnFinalize(func() { fins[o]++ }))
					if rng.IntN(2) == 0 { // an internal part with a strong link
						p, err := r.NewChild(o, "piece", plain)
						must(t, err)
						// Not in the tree yet: SetLink would refuse.
						must(t, g.SetLinkTarget("part", p.QOM()))
					}
					if rng.IntN(3) == 0 { // realized without being added
						must(t, g.SetRealized(true))
					} else {
						must(t, r.AddDevice(g, id))
						if rng.IntN(2) == 0 {
							must(t, g.SetRealized(true))
						}
					}
					g.Unref()
					plugged = append(plugged, g)
				case op == 2: // weak link between two plugged devices
					a, b := plugged[rng.IntN(len(plugged))], plugged[rng.IntN(len(plugged))]
					must(t, a.SetLink("back", &b.Object))
				case op == 3: // toggle realized
					g := plugged[rng.IntN(len(plugged))]
					must(t, g.SetRealized(!g.Realized()))
				default: // unplug
					i := rng.IntN(len(plugged))
					must(t, r.Unplug(&plugged[i].Device))
					plugged = append(plugged[:i], plugged[i+1:]...)
				}
				if leaks := r.Leaks(); len(leaks) > 0 {
					t.Fatalf("step %d:\n%s", step, qom.FormatLeaks(leaks))
				}
			}
			for _, g := range plugged {
				must(t, r.Unplug(&g.Device))
			}
			if r.LiveObjects() != base {
				t.Fatalf("live objects %d, want %d", r.LiveObjects(), base)
			}
			if len(fins) != created {
				t.Fatalf("%d of %d devices finalized", len(fins), created)
			}
			for o, n := range fins {
				if n != 1 {
					t.Fatalf("%s finalized %d times", o, n)
				}
			}
		})
	}
}
