package memory

import (
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"pgregory.net/rapid"
	"qmem.dev/qmem/qom"
)

// A random plug/unplug test of the lifetime rules (DESIGN §6 "Lifecycle"):
// devices with families of regions mapped into system memory, aliases
// across devices, owned bus-master spaces, moves, explicit unparents and
// unplugs, while a reader goroutine keeps reading the RAM it finds in the
// published view. After every step the plugged devices must be alive,
// every unplugged one finalized exactly once with its regions, and the leak
// report empty.

type lcDevice struct {
	d         *testDevice
	id        string
	c, ram    *Region
	aliases   []*Region
	regions   []*Region // every region, for explicit unparents and toggles
	plugged   bool
	space     *AddressSpace
	finalized *int
}

type lcModel struct {
	rt      *rapid.T
	reg     *qom.Registry
	s       *System
	sysmem  *Region
	as      *AddressSpace
	devs    []*lcDevice
	aliasOf map[*Region]*lcDevice // alias -> owner of its target
}

func (lm *lcModel) fatalIf(err error) {
	if err != nil {
		lm.rt.Helper()
		lm.rt.Fatal(err)
	}
}

func (lm *lcModel) plug() {
	s := lm.s
	id := fmt.Sprintf("dev%d", len(lm.devs))
	d := qom.MustCast[*testDevice](lm.reg.MustNew("test-device"))
	lm.fatalIf(lm.reg.AddDevice(d, id))
	d.QOM().Unref()
	lm.fatalIf(d.SetRealized(true))
	ld := &lcDevice{d: d, id: id, plugged: true, finalized: &d.finalized}
	var err error
	ld.c, err = s.NewContainer(d, "c", 0x10000)
	lm.fatalIf(err)
	ld.ram, err = s.NewRAM(d, "ram", 0x1000)
	lm.fatalIf(err)
	io, err := s.NewIO(d, "io", 0x1000, nil)
	lm.fatalIf(err)
	ld.regions = []*Region{ld.c, ld.ram, io}
	s.Begin()
	lm.fatalIf(ld.c.AddSubregion(0, ld.ram))
	lm.fatalIf(ld.c.AddSubregion(0x1000, io))
	lm.fatalIf(lm.sysmem.AddSubregion(uint64(len(lm.devs))*0x100000, ld.c))
	lm.fatalIf(s.Commit())
	if rapid.Bool().Draw(lm.rt, "bus master") {
		ld.space, err = s.NewOwnedAddressSpace(d, ld.c, id+"-dma")
		lm.fatalIf(err)
	}
	lm.devs = append(lm.devs, ld)
}

func (lm *lcModel) pickDev(label string, ok func(*lcDevice) bool) *lcDevice {
	var c []*lcDevice
	for _, d := range lm.devs {
		if ok(d) {
			c = append(c, d)
		}
	}
	if len(c) == 0 {
		return nil
	}
	return c[rapid.IntRange(0, len(c)-1).Draw(lm.rt, label)]
}

func plugged(d *lcDevice) bool { return d.plugged }

func (lm *lcModel) step() {
	rt := lm.rt
	switch rapid.IntRange(0, 6).Draw(rt, "op") {
	case 0:
		lm.plug()
	case 1:
		if d := lm.pickDev("unplug", plugged); d != nil {
			lm.fatalIf(lm.reg.Unplug(&d.d.Device))
			d.plugged = false
		}
	case 2: // an alias owned by one device of another's (or its own) RAM
		from, to := lm.pickDev("from", plugged), lm.pickDev("to", plugged)
		if from == nil || to == nil || !to.ram.Alive() || !from.c.Alive() {
			return
		}
		a, err := lm.s.NewAlias(from.d, fmt.Sprintf("alias of %s", to.id), to.ram, 0x800, 0x800)
		lm.fatalIf(err)
		lm.fatalIf(from.c.AddSubregionOverlap(0x8000+uint64(len(from.aliases))*0x800, a, 1))
		from.aliases = append(from.aliases, a)
		from.regions = append(from.regions, a)
		lm.aliasOf[a] = to
	case 3: // explicit unparent of one of a plugged device's regions
		d := lm.pickDev("device", plugged)
		if d == nil {
			return
		}
		r := d.regions[rapid.IntRange(0, len(d.regions)-1).Draw(rt, "region")]
		r.Unparent()
	case 4: // move a device's container
		d := lm.pickDev("device", plugged)
		if d == nil || !d.c.Alive() {
			return
		}
		lm.fatalIf(d.c.SetAddress(uint64(rapid.IntRange(0, 64).Draw(rt, "slot")) * 0x100000))
	case 5:
		d := lm.pickDev("device", plugged)
		if d == nil {
			return
		}
		r := d.regions[rapid.IntRange(0, len(d.regions)-1).Draw(rt, "region")]
		if r.Alive() {
			lm.fatalIf(r.SetEnabled(!r.Enabled()))
		}
	case 6: // retarget an alias to its owner's own RAM
		d := lm.pickDev("device", func(d *lcDevice) bool { return d.plugged && len(d.aliases) > 0 })
		if d == nil || !d.ram.Alive() {
			return
		}
		a := d.aliases[rapid.IntRange(0, len(d.aliases)-1).Draw(rt, "alias")]
		if a.Alive() {
			lm.fatalIf(a.SetAlias(d.ram, 0))
			lm.aliasOf[a] = d
		}
	}
}

// alive returns the devices that must be alive: the plugged ones. An
// unplugged device is held by nothing (DESIGN L4): not by system memory,
// not by aliases of other devices, not by its own bus-master space.
func (lm *lcModel) alive() map[*lcDevice]bool {
	alive := map[*lcDevice]bool{}
	for _, d := range lm.devs {
		if d.plugged {
			alive[d] = true
		}
	}
	return alive
}

func (lm *lcModel) verify(step int) {
	rt := lm.rt
	// Releases can cascade: a finalization during Synchronize's reclaim
	// queues releases of its own behind a newer epoch, which a reader that
	// entered earlier still blocks. Loop until nothing is pending.
	for i := 0; ; i++ {
		lm.s.Synchronize() // the test holds the lock
		if lm.s.Pending() == 0 {
			break
		}
		if i == 100 {
			rt.Fatalf("step %d: %d releases still pending", step, lm.s.Pending())
		}
	}
	alive := lm.alive()
	for _, d := range lm.devs {
		switch {
		case alive[d] && *d.finalized != 0:
			rt.Fatalf("step %d: %s finalized while it must be alive", step, d.id)
		case !alive[d] && *d.finalized != 1:
			rt.Fatalf("step %d: %s finalized %d times, want once\n%s", step, d.id, *d.finalized, qom.FormatLeaks(lm.reg.Leaks()))
		case !alive[d]:
			for _, r := range d.regions {
				if !r.Finalized() {
					rt.Fatalf("step %d: region %s of finalized %s is alive", step, r, d.id)
				}
			}
			if d.space != nil && !d.space.Destroyed() {
				rt.Fatalf("step %d: space of finalized %s not destroyed", step, d.id)
			}
		}
	}
	if leaks := lm.reg.Leaks(); len(leaks) != 0 {
		rt.Fatalf("step %d: leaks:\n%s", step, qom.FormatLeaks(leaks))
	}
	for _, as := range append([]*AddressSpace{lm.as}, lm.spaces()...) {
		if err := compareWithReference(as, refPoints(as), nil); err != nil {
			rt.Fatalf("step %d: %s: %v", step, as.Name(), err)
		}
	}
}

func (lm *lcModel) spaces() []*AddressSpace {
	var out []*AddressSpace
	for _, d := range lm.devs {
		if d.space != nil && !d.space.Destroyed() {
			out = append(out, d.space)
		}
	}
	return out
}

// reader reads the first byte of every RAM range of the view until stop
// is closed: a region freed too early would fault or race.
func reader(s *System, as *AddressSpace, stop chan struct{}, reads *atomic.Int64) {
	rd := s.NewReader()
	defer rd.Close()
	var sink byte
	for {
		select {
		case <-stop:
			_ = sink
			return
		default:
		}
		rd.Enter()
		v := as.View()
		for i := range v.Ranges() {
			if h := v.Ranges()[i].Region.Host(); len(h) > 0 {
				sink += h[0]
				reads.Add(1)
			}
		}
		rd.Exit()
		runtime.Gosched() // let a waiting writer see us outside
	}
}

// TestLifecycleRandomPlugUnplug: C-13..C-15, R-LIFE-3/4/5, R-MRQOM-5,
// DESIGN L2..L6, L8.
func TestLifecycleRandomPlugUnplug(t *testing.T) {
	var reads atomic.Int64
	checks := 0
	rapid.Check(t, func(rt *rapid.T) {
		reg, s := newTestSystem(rt)
		if err := qom.Register[testDevice](reg, qom.TypeInfo{
			Name: "test-device", Parent: qom.TypeDevice,
			InstanceFinalize: func(i qom.Instance) { i.(*testDevice).finalized++ },
		}); err != nil {
			rt.Fatal(err)
		}
		lm := &lcModel{rt: rt, reg: reg, s: s, aliasOf: map[*Region]*lcDevice{}}
		var err error
		lm.sysmem, err = s.NewContainer(nil, "system", math.MaxUint64)
		lm.fatalIf(err)
		lm.as, err = s.NewAddressSpace(lm.sysmem, "memory")
		lm.fatalIf(err)
		// A concurrent reader in one check of four: waiting for it in
		// every step of every check costs seconds on a loaded machine.
		checks++
		if checks%4 == 1 {
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Add(1)
			go func() { defer wg.Done(); reader(s, lm.as, stop, &reads) }()
			defer func() { close(stop); wg.Wait() }()
		}
		// The test is the machine: it holds the lock, which Synchronize
		// releases while it waits for the reader.
		s.Lock()
		defer s.Unlock()

		lm.plug()
		steps := rapid.IntRange(1, 40).Draw(rt, "steps")
		for i := 0; i < steps; i++ {
			lm.step()
			lm.verify(i)
		}
		for _, d := range lm.devs {
			if d.plugged {
				lm.fatalIf(reg.Unplug(&d.d.Device))
				d.plugged = false
			}
		}
		lm.verify(steps)
		for _, d := range lm.devs {
			if *d.finalized != 1 {
				rt.Fatalf("%s finalized %d times at the end", d.id, *d.finalized)
			}
		}
		if leaks := reg.Leaks(); len(leaks) != 0 {
			rt.Fatalf("leaks at the end:\n%s", qom.FormatLeaks(leaks))
		}
	})
	t.Logf("the reader read RAM %d times", reads.Load())
}
