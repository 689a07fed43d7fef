package faults_test

import (
	"context"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"qmem.dev/qmem/board"
	"qmem.dev/qmem/device"
	"qmem.dev/qmem/memory"
	"qmem.dev/qmem/qom"
)

// faultDev is a hot-pluggable device with one 4 KiB MMIO region at Addr
// whose callbacks the test supplies (faultOps). It counts the callbacks
// running now and its finalizations, and whether one found a callback
// running (which DESIGN L5 forbids).
type faultDev struct {
	qom.Device
	Addr uint64 // property "addr"

	ops    faultOps
	region *memory.Region

	inside          atomic.Int32
	finals          atomic.Int32
	finalizedInside atomic.Int32
}

// faultOps are a faultDev's callbacks; nil ones read 0 and ignore writes.
type faultOps struct {
	read  func(d *faultDev, off uint64, size uint, attrs memory.Attrs) (uint64, memory.Result)
	write func(d *faultDev, off, v uint64, size uint, attrs memory.Attrs) memory.Result
}

// registerFault registers a faultDev type with the given callbacks.
func registerFault(t testing.TB, reg *qom.Registry, name string, ops faultOps) {
	t.Helper()
	err := reg.Register(qom.TypeInfo{
		Name:   name,
		Parent: qom.TypeDevice,
		New:    func() qom.Instance { return &faultDev{ops: ops} },
		ClassInit: func(c *qom.Class, _ any) {
			c.MustAddProperty(qom.UintProperty("addr", 64,
				func(o *qom.Object) uint64 { return qom.MustCast[*faultDev](o).Addr },
				func(o *qom.Object, v uint64) error { qom.MustCast[*faultDev](o).Addr = v; return nil }))
		},
		InstanceFinalize: func(i qom.Instance) {
			d := i.(*faultDev)
			d.finals.Add(1)
			if d.inside.Load() != 0 {
				d.finalizedInside.Add(1)
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Realize maps the region at Addr in system memory.
func (d *faultDev) Realize() error {
	p, err := device.PlatformOf(d.Registry())
	if err != nil {
		return err
	}
	r, err := p.MemorySystem().NewIO(d, "fault", 0x1000, &memory.Ops{
		Read: func(off uint64, size uint, attrs memory.Attrs) (uint64, memory.Result) {
			d.inside.Add(1)
			defer d.inside.Add(-1)
			if d.ops.read == nil {
				return 0, memory.OK
			}
			return d.ops.read(d, off, size, attrs)
		},
		Write: func(off, v uint64, size uint, attrs memory.Attrs) memory.Result {
			d.inside.Add(1)
			defer d.inside.Add(-1)
			if d.ops.write == nil {
				return memory.OK
			}
			return d.ops.write(d, off, v, size, attrs)
		},
		Endianness: memory.LittleEndian,
		Valid:      memory.AccessSizes{Min: 1, Max: 8},
		Impl:       memory.AccessSizes{Min: 1, Max: 8},
	})
	if err != nil {
		return err
	}
	d.region = r
	return p.SystemMemory().AddSubregion(d.Addr, r)
}

// rig is a demo board without its guest, with an access-event recorder.
type rig struct {
	t   *testing.T
	m   *board.Machine
	reg *qom.Registry
	sys *memory.System

	mu     sync.Mutex
	events []memory.AccessEvent
}

func newRig(t *testing.T) *rig {
	t.Helper()
	spec := board.Demo()
	spec.Guest = ""
	m, err := board.Build(spec, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, m: m, reg: m.Registry(), sys: m.MemorySystem()}
	r.sys.SetAccessEventHandler(func(ev memory.AccessEvent) {
		r.mu.Lock()
		r.events = append(r.events, ev)
		r.mu.Unlock()
	})
	return r
}

// eventsOf returns the recorded events of one kind.
func (r *rig) eventsOf(kind memory.AccessEventKind) []memory.AccessEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []memory.AccessEvent
	for _, ev := range r.events {
		if ev.Kind == kind {
			out = append(out, ev)
		}
	}
	return out
}

// plug hot-plugs a device of type typ with the given id at addr.
func (r *rig) plug(typ, id string, addr uint64) *qom.Device {
	r.t.Helper()
	r.sys.Lock()
	defer r.sys.Unlock()
	d, err := r.m.AddDevice(&board.DeviceSpec{Type: typ, ID: id, Props: map[string]any{"addr": addr}, Typed: true})
	if err != nil {
		r.t.Fatal(err)
	}
	return d
}

// unplug unplugs d; it does not wait for its grace period.
func (r *rig) unplug(d *qom.Device) {
	r.t.Helper()
	r.sys.Lock()
	defer r.sys.Unlock()
	if err := r.reg.Unplug(d); err != nil {
		r.t.Fatal(err)
	}
}

// settle waits for the grace period (bounded), performs the releases and
// checks that nothing leaks.
func (r *rig) settle() {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.sys.WaitGrace(ctx); err != nil {
		r.t.Fatalf("the grace period did not end: %v", err)
	}
	r.sys.Lock()
	defer r.sys.Unlock()
	r.sys.Reclaim()
	if n := r.sys.Pending(); n != 0 {
		r.t.Errorf("%d releases still pending after the grace period", n)
	}
	if leaks := r.reg.Leaks(); len(leaks) != 0 {
		r.t.Errorf("leaks:\n%s", qom.FormatLeaks(leaks))
	}
}

// faultOf returns the faultDev behind d.
func faultOf(d *qom.Device) *faultDev { return qom.MustCast[*faultDev](d.Instance()) }

// expectFinalizedOnce checks a fault device's finalization count and that
// no callback was running then.
func expectFinalizedOnce(t *testing.T, d *faultDev) {
	t.Helper()
	if n, in := d.finals.Load(), d.finalizedInside.Load(); n != 1 || in != 0 {
		t.Errorf("%s: finalized %d times, %d of them while a callback ran; want once, never inside", d.TypeName(), n, in)
	}
}

// done reports whether ch is closed (or has a value) within d.
func done[T any](ch <-chan T, d time.Duration) bool {
	select {
	case <-ch:
		return true
	case <-time.After(d):
		return false
	}
}
