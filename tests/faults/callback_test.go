package faults_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"qmem.dev/qmem/device"
	"qmem.dev/qmem/memory"
	"qmem.dev/qmem/mtree"
	"qmem.dev/qmem/qom"
)

const (
	faultAddr   = 0xfd00_0000 // where the tests plug their fault devices
	victimAddr  = 0xfd10_0000 // an unrelated, hot-pluggable test device
	testdevAddr = 0xfe00_0000 // the demo board's test device
	ramScratch  = 0x10_0000   // RAM the readers write and read back
	le          = memory.LittleEndian
)

// otherWork is what "other readers carry on" means in these tests: a RAM
// store and load back, and a read of the demo board's test device's ID
// register, through rd. It returns an error when either answers wrongly.
func otherWork(rd *memory.Reader, as *memory.AddressSpace, slot, k uint64) error {
	addr := uint64(ramScratch) + slot*8
	if res := rd.Store(as, addr, 8, k, le, memory.Attrs{}); res != memory.OK {
		return fmt.Errorf("RAM store at %#x: %v", addr, res)
	}
	if v, res := rd.Load(as, addr, 8, le, memory.Attrs{}); v != k || res != memory.OK {
		return fmt.Errorf("RAM load at %#x = %#x, %v; want %#x, ok", addr, v, res, k)
	}
	if v, res := rd.Load(as, testdevAddr, 4, le, memory.Attrs{}); v != device.TestDevID || res != memory.OK {
		return fmt.Errorf("testdev ID = %#x, %v", v, res)
	}
	return nil
}

// TestCallbackPanics: a device whose callbacks panic (with a string, an
// error, nil, and after opening a read section it never closes) makes
// each access to it complete as a device error, reported once through the
// access-event handler and counted every time; four readers hammering it
// meanwhile keep getting right answers from RAM and the other device; the
// panics leave no reader inside a section, so the grace period of the
// device's unplug ends and it is finalized once, with nothing leaked.
func TestCallbackPanics(t *testing.T) {
	r := newRig(t)
	panicky := func(d *faultDev, off uint64, _ uint, attrs memory.Attrs) (uint64, memory.Result) {
		switch off {
		case 0x0:
			panic("fault: boom")
		case 0x8:
			panic(errors.New("fault: an error value"))
		case 0x10:
			panic(nil)
		case 0x18:
			attrs.Reader().Enter() // a section the callback never leaves
			panic("fault: panic inside a section")
		}
		return 0x42, memory.OK
	}
	registerFault(t, r.reg, "fault-panic", faultOps{
		read: panicky,
		write: func(*faultDev, uint64, uint64, uint, memory.Attrs) memory.Result {
			panic("fault: write boom")
		},
	})
	dev := r.plug("fault-panic", "fault0", faultAddr)

	const readers, iters = 4, 400
	var wg sync.WaitGroup
	errs := make(chan error, readers)
	for i := 0; i < readers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			rd := r.sys.NewReader()
			defer rd.Close()
			for k := 0; k < iters; k++ {
				off := uint64(k%4) * 8
				if v, res := rd.Load(r.m.Memory, faultAddr+off, 4, le, memory.Attrs{}); v != 0 || res != memory.Error {
					errs <- fmt.Errorf("reader %d: panicking read at %#x = %#x, %v; want 0, device-error", i, off, v, res)
					return
				}
				if v, res := rd.Load(r.m.Memory, faultAddr+0x20, 4, le, memory.Attrs{}); v != 0x42 || res != memory.OK {
					errs <- fmt.Errorf("reader %d: the device's quiet register = %#x, %v", i, v, res)
					return
				}
				if err := otherWork(rd, r.m.Memory, uint64(i), uint64(k)); err != nil {
					errs <- fmt.Errorf("reader %d: %v", i, err)
					return
				}
			}
			if res := rd.Store(r.m.Memory, faultAddr, 4, 1, le, memory.Attrs{}); res != memory.Error {
				errs <- fmt.Errorf("reader %d: panicking write: %v", i, res)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got, want := r.sys.AccessEventCounts().Panics, uint64(readers*(iters+1)); got != want {
		t.Errorf("%d panics counted, want %d", got, want)
	}
	evs := r.eventsOf(memory.EventPanic)
	if len(evs) != 1 {
		t.Fatalf("%d panic events, want exactly 1: %v", len(evs), evs)
	}
	if s := evs[0].String(); evs[0].Region != "fault" || !strings.Contains(s, "Device callback panicked on ") {
		t.Errorf("panic event %q", s)
	}

	// Every reader left every section: the unplug's grace period ends.
	r.unplug(dev)
	r.settle()
	expectFinalizedOnce(t, faultOf(dev))
}

// TestCallbackBlocks: a device callback that never returns (until the
// test lets it) holds up only what it must. Other readers, other
// registers of the same device, and the control side carry on: an
// unrelated device is unplugged, `info mtree -f` prints, even the blocked
// device itself is unplugged; WaitGrace with a timeout reports
// context.DeadlineExceeded while the reader is inside, and nothing it
// may see is released. Once the callback returns, the grace period ends,
// both devices are finalized exactly once (neither while its callback
// ran) and nothing leaks.
func TestCallbackBlocks(t *testing.T) {
	r := newRig(t)
	entered := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	registerFault(t, r.reg, "fault-block", faultOps{
		read: func(_ *faultDev, off uint64, _ uint, _ memory.Attrs) (uint64, memory.Result) {
			if off == 0 {
				once.Do(func() { close(entered) })
				<-release
				return 0x600d, memory.OK
			}
			return off, memory.OK
		},
	})
	dev := r.plug("fault-block", "fault0", faultAddr)
	victim := r.plug(device.TypeTestDev, "victim", victimAddr)
	vt := qom.MustCast[*device.TestDev](victim.Instance())
	defer once.Do(func() { close(entered) })
	unblocked := false
	defer func() {
		if !unblocked {
			close(release) // let the blocked goroutine go on a failure
		}
	}()

	blocked := make(chan memory.Result, 1)
	go func() {
		rd := r.sys.NewReader()
		defer rd.Close()
		v, res := rd.Load(r.m.Memory, faultAddr, 4, le, memory.Attrs{})
		if v != 0x600d {
			res |= memory.Error
		}
		blocked <- res
	}()
	if !done(entered, 10*time.Second) {
		t.Fatal("the reader never entered the blocking callback")
	}

	// Other readers, including ones reading the same device's other
	// registers, carry on.
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			rd := r.sys.NewReader()
			defer rd.Close()
			for k := 0; k < 1000; k++ {
				if err := otherWork(rd, r.m.Memory, uint64(i), uint64(k)); err != nil {
					errs <- err
					return
				}
				if v, res := rd.Load(r.m.Memory, faultAddr+8, 4, le, memory.Attrs{}); v != 8 || res != memory.OK {
					errs <- fmt.Errorf("the blocked device's other register = %#x, %v", v, res)
					return
				}
			}
		}(i)
	}
	others := make(chan struct{})
	go func() { wg.Wait(); close(others) }()
	if !done(others, 20*time.Second) {
		t.Fatal("other readers did not finish while one reader was blocked in a callback")
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	// The control side carries on.
	control := make(chan struct{})
	var flat strings.Builder
	go func() {
		defer close(control)
		r.unplug(victim)
		r.unplug(dev)
		if err := mtree.Write(&flat, r.sys, mtree.Options{Flat: true}); err != nil {
			t.Error(err)
		}
	}()
	if !done(control, 10*time.Second) {
		t.Fatal("unplugging an unrelated device blocked behind a blocked callback")
	}
	for _, l := range strings.Split(flat.String(), "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "00000000fd") {
			t.Errorf("info mtree -f still shows an unplugged device: %s", l)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	err := r.sys.WaitGrace(ctx)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitGrace while a reader is blocked inside = %v, want context.DeadlineExceeded", err)
	}
	r.sys.Lock()
	r.sys.Reclaim()
	pending := r.sys.Pending()
	r.sys.Unlock()
	if pending == 0 {
		t.Error("nothing is pending while a reader that may see the unplugged devices is inside")
	}
	if victim.Finalized() || dev.Finalized() {
		t.Errorf("finalized during the grace period: victim %v, blocked device %v", victim.Finalized(), dev.Finalized())
	}

	close(release)
	unblocked = true
	select {
	case res := <-blocked:
		if res != memory.OK {
			t.Errorf("the blocked read completed with %v, want its value and ok", res)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the blocked read did not complete after release")
	}
	r.settle()
	expectFinalizedOnce(t, faultOf(dev))
	if n, early, late := vt.Finalizations(), vt.FinalizedWhileInside(), vt.AfterFinalize(); n != 1 || early != 0 || late != 0 {
		t.Errorf("victim: %d finalizations, %d while inside, %d callbacks after; want 1, 0, 0", n, early, late)
	}
}

// TestCallbackDMAReentry: a device that accesses its own MMIO region from
// inside its own callback, with the reader it was handed
// (attrs.Reader()), is refused with memory.AccessError (QEMU's
// re-entrancy guard, R-ACC-8), warned about once, while its DMA to RAM and
// to another device succeeds and the outer access completes normally. A
// device that recurses into itself through the AddressSpace convenience
// methods (a fresh reader each time, which the per-reader guard cannot
// connect) is stopped by the nesting bound instead of overflowing the
// stack. The process stays up and nothing leaks.
func TestCallbackDMAReentry(t *testing.T) {
	r := newRig(t)
	var self, ram, other, writeSelf atomic.Uint32 // results of the nested accesses
	var depth, maxDepth atomic.Int32
	registerFault(t, r.reg, "fault-dma", faultOps{
		read: func(d *faultDev, off uint64, _ uint, attrs memory.Attrs) (uint64, memory.Result) {
			rd := attrs.Reader()
			as := r.m.Memory
			switch off {
			case 0x0:
				_, res := rd.Load(as, d.Addr+0x8, 4, le, attrs)
				self.Store(uint32(res))
				res = rd.Store(as, ramScratch, 4, 0xd1a, le, attrs)
				if v, res2 := rd.Load(as, ramScratch, 4, le, attrs); v != 0xd1a {
					res |= res2 | memory.Error
				}
				ram.Store(uint32(res))
				if v, res := rd.Load(as, testdevAddr, 4, le, attrs); v == device.TestDevID {
					other.Store(uint32(res))
				} else {
					other.Store(uint32(res | memory.Error))
				}
				writeSelf.Store(uint32(rd.Write(as, d.Addr+0x40, []byte{1, 2, 3, 4}, attrs)))
				return 0x1234, memory.OK
			case 0x8:
				return 0x5678, memory.OK
			case 0x20:
				n := depth.Add(1)
				defer depth.Add(-1)
				for m := maxDepth.Load(); n > m && !maxDepth.CompareAndSwap(m, n); m = maxDepth.Load() {
				}
				_, res := as.Load(d.Addr+0x20, 4, le, memory.Attrs{})
				return 0, res
			}
			return 0, memory.OK
		},
	})
	dev := r.plug("fault-dma", "fault0", faultAddr)
	rd := r.sys.NewReader()
	defer rd.Close()

	if v, res := rd.Load(r.m.Memory, faultAddr, 4, le, memory.Attrs{}); v != 0x1234 || res != memory.OK {
		t.Errorf("outer access = %#x, %v; want 0x1234, ok", v, res)
	}
	for _, c := range []struct {
		what string
		got  *atomic.Uint32
		want memory.Result
	}{
		{"DMA into its own region", &self, memory.AccessError},
		{"DMA write into its own region", &writeSelf, memory.AccessError},
		{"DMA to RAM", &ram, memory.OK},
		{"DMA to another device", &other, memory.OK},
	} {
		if got := memory.Result(c.got.Load()); got != c.want {
			t.Errorf("%s from the callback: %v, want %v", c.what, got, c.want)
		}
	}
	if v, res := rd.Load(r.m.Memory, faultAddr+8, 4, le, memory.Attrs{}); v != 0x5678 || res != memory.OK {
		t.Errorf("the device's register read directly = %#x, %v; want 0x5678, ok", v, res)
	}
	evs := r.eventsOf(memory.EventReentrant)
	if len(evs) != 1 || evs[0].String() != "Blocked re-entrant IO on MemoryRegion: fault at addr: 0x8" {
		t.Errorf("re-entrancy events %v, want the one warning for offset 0x8", evs)
	}

	// Recursion through fresh readers ends at the nesting bound.
	_, res := rd.Load(r.m.Memory, faultAddr+0x20, 4, le, memory.Attrs{})
	if res&memory.AccessError == 0 {
		t.Errorf("self-recursion through AddressSpace.Load ended with %v, want an access error from the nesting bound", res)
	}
	if n := maxDepth.Load(); n < 2 || n > 300 {
		t.Errorf("self-recursion reached depth %d; want it bounded (a few hundred at most)", n)
	}
	if c := r.sys.AccessEventCounts(); c.Reentrant < 3 {
		t.Errorf("re-entrancy refusals counted: %d, want at least 3", c.Reentrant)
	}
	t.Logf("self-recursion through fresh readers stopped at depth %d; %d re-entrant accesses refused", maxDepth.Load(), r.sys.AccessEventCounts().Reentrant)
	// The process and the memory system carry on.
	if err := otherWork(rd, r.m.Memory, 0, 7); err != nil {
		t.Error(err)
	}
	r.unplug(dev)
	r.settle()
	expectFinalizedOnce(t, faultOf(dev))
}
