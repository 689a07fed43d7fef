//go:build linux && amd64

package faults_test

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"qmem.dev/qmem/board/guest"
	"qmem.dev/qmem/memory"
)

// pollGuest is a guest program (32-bit protected mode, loaded at
// guest.LoadAddr) that reads the 32-bit word at faultAddr, then counts in
// RAM at pollCounter, forever:
//
//	0: a1 00 00 00 fd        mov    0xfd000000,%eax
//	5: ff 05 00 30 00 00     incl   0x3000
//	b: eb f3                 jmp    0
//
// Every read of faultAddr is an MMIO exit handled by the vCPU's reader, so
// the counter advances only while those exits complete.
var pollGuest = []byte{0xa1, 0x00, 0x00, 0x00, 0xfd, 0xff, 0x05, 0x00, 0x30, 0x00, 0x00, 0xeb, 0xf3}

const pollCounter = 0x3000

func needKVM(t *testing.T) {
	t.Helper()
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("KVM is not available (%v); skipping the guest-side fault test", err)
	}
	f.Close()
}

// TestGuestCallbackPanics runs a guest that polls an MMIO address under
// KVM, hot-plugs a device there whose callback panics on every read, and
// checks that the guest keeps running through thousands of panicking
// exits (each completes as a device error; the panic is reported once),
// that host readers using the machine meanwhile get right answers, that
// the device can be unplugged while the guest still polls its address,
// and that the run ends only when asked, with nothing leaked.
func TestGuestCallbackPanics(t *testing.T) {
	needKVM(t)
	if uint64(len(pollGuest))+guest.LoadAddr > pollCounter {
		t.Fatal("the guest overlaps its counter")
	}
	r := newRig(t)
	var reads atomic.Uint64
	registerFault(t, r.reg, "fault-panic", faultOps{
		read: func(*faultDev, uint64, uint, memory.Attrs) (uint64, memory.Result) {
			reads.Add(1)
			panic("fault: the guest's read panicked")
		},
	})
	host := r.m.RAM().Host()
	copy(host[guest.LoadAddr-guest.RAMBase:], pollGuest)
	counter := (*uint32)(unsafe.Pointer(&host[pollCounter-guest.RAMBase]))
	count := func() uint32 { return atomic.LoadUint32(counter) }

	type result struct {
		status int
		err    error
	}
	ended := make(chan result, 1)
	watchdog := time.AfterFunc(60*time.Second, func() { r.m.RequestExit(255) })
	defer watchdog.Stop()
	go func() {
		st, err := r.m.Run()
		ended <- result{st, err}
	}()
	stopped := false
	defer func() {
		if !stopped {
			r.m.RequestExit(254)
			<-ended
		}
	}()
	// waitCount waits until the counter passes n, or the run ends.
	waitCount := func(what string, n uint32) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for count() < n {
			select {
			case res := <-ended:
				stopped = true
				t.Fatalf("%s: the run ended (%d, %v) at count %d", what, res.status, res.err, count())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the guest's counter is stuck at %d (want %d)", what, count(), n)
			}
			time.Sleep(time.Millisecond)
		}
	}
	waitCount("before the plug", 100)

	// Host readers (another vCPU's, a DMA engine's) use the machine all
	// along.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			rd := r.sys.NewReader()
			defer rd.Close()
			for k := uint64(0); ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				if err := otherWork(rd, r.m.Memory, uint64(i), k); err != nil {
					errs <- err
					return
				}
				if v, res := rd.Load(r.m.Memory, faultAddr, 4, le, memory.Attrs{}); v != 0 || (res != memory.Error && res != memory.DecodeError) {
					errs <- fmt.Errorf("host read of the fault device = %#x, %v", v, res)
					return
				}
			}
		}(i)
	}

	dev := r.plug("fault-panic", "fault0", faultAddr)
	base := reads.Load()
	c0 := count()
	waitCount("while the callback panics", c0+5000)
	if n := reads.Load() - base; n < 5000 {
		t.Errorf("only %d panicking reads while the guest counted 5000 times", n)
	}
	if evs := r.eventsOf(memory.EventPanic); len(evs) != 1 {
		t.Errorf("%d panic events, want exactly 1: %v", len(evs), evs)
	}

	// Unplug while the guest polls the address; it goes on (reads now
	// find nothing there).
	r.unplug(dev)
	c1 := count()
	waitCount("after the unplug", c1+5000)
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	select {
	case res := <-ended:
		stopped = true
		t.Fatalf("the run ended by itself: %d, %v", res.status, res.err)
	default:
	}
	r.m.RequestExit(7)
	select {
	case res := <-ended:
		stopped = true
		if res.status != 7 || res.err != nil {
			t.Errorf("Run = %d, %v; want 7, nil (the requested exit)", res.status, res.err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the run did not end after RequestExit")
	}
	r.settle()
	expectFinalizedOnce(t, faultOf(dev))
	t.Logf("guest counted %d times; %d panicking reads; %d panics counted", count(), reads.Load(), r.sys.AccessEventCounts().Panics)
}
