//go:build linux && amd64

package kvm

import (
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// progSpin is `1: inc %eax; jmp 1b` (40 eb fd): a guest that never exits.
var progSpin = []byte{0x40, 0xeb, 0xfd}

// runAsync starts c.Run(h) on a new goroutine and returns its result channel
// once the vCPU thread is inside Run.
func runAsync(t *testing.T, c *VCPU, h ExitHandler) <-chan error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- c.Run(h) }()
	for deadline := time.Now().Add(5 * time.Second); ; {
		c.mu.Lock()
		tid := c.tid
		c.mu.Unlock()
		if tid != 0 {
			return done
		}
		if time.Now().After(deadline) {
			t.Fatal("Run did not start")
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// wait returns Run's result, failing the test if it takes over 5 seconds.
func wait(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return within 5s")
		return nil
	}
}

// progCount is a spinning guest that shows its progress in RAM:
//
//	40                inc    %eax
//	a3 00 20 00 00    mov    %eax,0x2000
//	eb f8             jmp    (back to inc)
var progCount = []byte{0x40, 0xa3, 0x00, 0x20, 0x00, 0x00, 0xeb, 0xf8}

// counterAt is where progCount stores its counter.
const counterAt = 0x2000

func TestStopAndResume(t *testing.T) {
	_, c, ram := newTestMachine(t, 0x10000, progCount, 0)
	counter := func() uint32 { return atomic.LoadUint32((*uint32)(unsafe.Pointer(&ram[counterAt]))) }
	h := &recorder{}
	var last uint32
	for round := range 3 {
		done := runAsync(t, c, h)
		// Wait until the guest has visibly moved on (no fixed sleep: a
		// loaded machine may not run the vCPU thread for a while).
		for deadline := time.Now().Add(5 * time.Second); counter() < last+1000; {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: guest made no progress past %d", round, counter())
			}
			time.Sleep(time.Millisecond)
		}
		c.Stop()
		if err := wait(t, done); err != ErrStopped {
			t.Fatalf("round %d: Run = %v, want ErrStopped", round, err)
		}
		r, err := c.Regs()
		if err != nil {
			t.Fatal(err)
		}
		// Stopped inside its loop, with its register state intact: EAX is
		// the counter in RAM, or one ahead of it between INC and MOV. As
		// each round starts from the last one's count, resume continued the
		// guest rather than restarting it.
		if n := counter(); uint32(r.RAX) != n && uint32(r.RAX) != n+1 ||
			r.RIP < progAddr || r.RIP >= progAddr+uint64(len(progCount)) {
			t.Fatalf("round %d: eax = %d, counter = %d, rip = %#x", round, r.RAX, n, r.RIP)
		}
		t.Logf("round %d: guest counted to %d", round, r.RAX)
		last = counter()
	}
	if len(h.log) != 0 {
		t.Errorf("spinning guest exited: %v", h.log)
	}
}

func TestStopBeforeRun(t *testing.T) {
	_, c, _ := newTestMachine(t, 0x10000, progOutLoop, 0)
	c.Stop()
	c.Stop() // two requests before Run count as one
	h := &endAfter{n: 2}
	if err := c.Run(h); err != ErrStopped {
		t.Fatalf("Run after Stop = %v, want ErrStopped", err)
	}
	if r, err := c.Regs(); err != nil || r.RIP != progAddr || h.seen != 0 {
		t.Errorf("guest ran before returning ErrStopped: rip = %#x, %d exits, err %v", r.RIP, h.seen, err)
	}
	if err := c.Run(h); err != errTestEnd || h.seen != 2 {
		t.Errorf("second Run = %v after %d exits, want the handler's end after 2", err, h.seen)
	}
}

// stopInHandler calls Stop from inside the exit handler, on the vCPU thread.
type stopInHandler struct {
	c    *VCPU
	seen int
}

func (s *stopInHandler) PIO(uint16, []byte, bool) error  { s.seen++; s.c.Stop(); return nil }
func (s *stopInHandler) MMIO(uint64, []byte, bool) error { return nil }

// TestStopCompletesPendingAccess checks that a stop lands after the access
// being served has completed, so registers read after ErrStopped are
// consistent.
func TestStopCompletesPendingAccess(t *testing.T) {
	_, c, _ := newTestMachine(t, 0x10000, progOutLoop, 0)
	h := &stopInHandler{c: c}
	if err := c.Run(h); err != ErrStopped {
		t.Fatalf("Run = %v, want ErrStopped", err)
	}
	r, err := c.Regs()
	if err != nil {
		t.Fatal(err)
	}
	if h.seen != 1 || r.RIP != progAddr+2 {
		t.Errorf("after %d exits rip = %#x, want %#x: the OUT finished, the JMP not run", h.seen, r.RIP, progAddr+2)
	}
}

// TestSignalsWithoutStopDoNotEndRun sends the vCPU thread the signal Go's
// runtime uses for preemption: KVM_RUN returns EINTR, and Run must re-enter
// the guest rather than return.
func TestSignalsWithoutStopDoNotEndRun(t *testing.T) {
	_, c, _ := newTestMachine(t, 0x10000, progSpin, 0)
	done := runAsync(t, c, &recorder{})
	c.mu.Lock()
	tid := c.tid
	c.mu.Unlock()
	for range 50 {
		if err := unix.Tgkill(unix.Getpid(), tid, unix.SIGURG); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Microsecond)
		select {
		case err := <-done:
			t.Fatalf("Run returned %v after a signal without Stop", err)
		default:
		}
	}
	c.Stop()
	if err := wait(t, done); err != ErrStopped {
		t.Fatalf("Run = %v, want ErrStopped", err)
	}
	if c.interrupts == 0 {
		t.Errorf("no KVM_RUN was interrupted by 50 signals")
	}
	t.Logf("%d of 50 signals interrupted KVM_RUN and were retried", c.interrupts)
}

// TestStopLatency measures how long a running guest takes to leave the guest
// after Stop: the time from Stop to Run's return.
func TestStopLatency(t *testing.T) {
	_, c, _ := newTestMachine(t, 0x10000, progSpin, 0)
	const rounds = 50
	lat := make([]time.Duration, 0, rounds)
	for range rounds {
		done := runAsync(t, c, &recorder{})
		time.Sleep(time.Millisecond)
		start := time.Now()
		c.Stop()
		if err := wait(t, done); err != ErrStopped {
			t.Fatalf("Run = %v", err)
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	t.Logf("Stop -> Run returns, %d rounds: min %v, median %v, p90 %v, max %v",
		rounds, lat[0], lat[rounds/2], lat[rounds*9/10], lat[rounds-1])
}

// TestConcurrentStops hammers Stop from several goroutines while the vCPU is
// stopped and resumed over and over; every Run must end in ErrStopped and none
// may hang (run with -race).
func TestConcurrentStops(t *testing.T) {
	_, c, _ := newTestMachine(t, 0x10000, progSpin, 0)
	var wg sync.WaitGroup
	quit := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-quit:
					return
				default:
					c.Stop()
					time.Sleep(50 * time.Microsecond)
				}
			}
		})
	}
	runs := 0
	for end := time.Now().Add(200 * time.Millisecond); time.Now().Before(end); runs++ {
		done := make(chan error, 1)
		go func() { done <- c.Run(&recorder{}) }()
		if err := wait(t, done); err != ErrStopped {
			t.Fatalf("run %d: Run = %v, want ErrStopped", runs, err)
		}
	}
	close(quit)
	wg.Wait()
	t.Logf("%d runs stopped", runs)
}
