package memory

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// accRun runs fn on n goroutines until stop is closed, each with its own
// reader, and returns a function that stops them and waits.
func accRun(s *System, n int, fn func(rd *Reader, g int)) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	for g := 0; g < n; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rd := s.NewReader()
			defer rd.Close()
			for {
				select {
				case <-done:
					return
				default:
				}
				fn(rd, g)
				// Yield between accesses, outside any section: more busy
				// goroutines than CPUs otherwise starve the control side
				// (a goroutine preempted inside a section waits in the
				// global run queue for many time slices).
				runtime.Gosched()
			}
		}()
	}
	return func() { close(done); wg.Wait() }
}

// Tearing: one goroutine writes alternating all-zeros and all-ones 8-byte
// values (buffer writes and typed stores); readers (buffer reads, typed
// loads, a cache) never see a mix.
func TestNoTearing(t *testing.T) {
	f := newAccFix(t)
	f.ram("ram", 0x10000, 0x1000)
	const addr = 0x10008
	var torn atomic.Int64
	var reads atomic.Int64
	var zeros, ones [8]byte
	for i := range ones {
		ones[i] = 0xff
	}
	stopWriter := accRun(f.s, 1, func(rd *Reader, _ int) {
		for i := 0; i < 64; i++ {
			if i&1 == 0 {
				rd.Write(f.as, addr, zeros[:], Attrs{})
				rd.Store(f.as, addr, 8, ^uint64(0), LittleEndian, Attrs{})
			} else {
				rd.Write(f.as, addr, ones[:], Attrs{})
				rd.Store(f.as, addr, 8, 0, BigEndian, Attrs{})
			}
		}
	})
	cache := func() func(rd *Reader) uint64 {
		var mu sync.Mutex
		caches := map[*Reader]*Cache{}
		return func(rd *Reader) uint64 {
			mu.Lock()
			c := caches[rd]
			if c == nil {
				c = must[*Cache](t)(f.as.NewCache(addr, 8, false))
				caches[rd] = c
			}
			mu.Unlock()
			var b [8]byte
			c.Read(rd, 0, b[:], Attrs{})
			return uint64FromBytes(b)
		}
	}()
	stopReaders := accRun(f.s, 3, func(rd *Reader, g int) {
		var v uint64
		switch g {
		case 0:
			var b [8]byte
			rd.Read(f.as, addr, b[:], Attrs{})
			v = uint64FromBytes(b)
		case 1:
			v, _ = rd.Load(f.as, addr, 8, BigEndian, Attrs{})
		case 2:
			v = cache(rd)
		}
		if v != 0 && v != ^uint64(0) {
			torn.Add(1)
		}
		reads.Add(1)
	})
	deadline := time.Now().Add(300 * time.Millisecond)
	for time.Now().Before(deadline) || reads.Load() < 10000 {
		runtime.Gosched()
	}
	stopReaders()
	stopWriter()
	if n := torn.Load(); n != 0 {
		t.Fatalf("%d torn reads out of %d", n, reads.Load())
	}
	f.noLeaks()
}

func uint64FromBytes(b [8]byte) uint64 {
	var v uint64
	for i, x := range b {
		v |= uint64(x) << (8 * i)
	}
	return v
}

// DESIGN L5 under load: four readers hammer a device's MMIO while the
// control side plugs and unplugs it over and over. No callback ever runs
// (starts, or is still running) after the device's finalization started,
// each device is finalized exactly once, and nothing leaks.
func TestUnplugUnderMMIOHammer(t *testing.T) {
	f := newAccFix(t)
	f.s.SetAccessEventHandler(nil) // unassigned reads while unplugged
	var calls, late, spin atomic.Int64
	var current atomic.Pointer[testDevice]
	stop := accRun(f.s, 4, func(rd *Reader, g int) {
		if g == 0 {
			rd.Read(f.as, 0x1000, make([]byte, 8), Attrs{}) // two steps of 4
		} else {
			rd.Load(f.as, 0x1000+uint64(g)*4, 4, LittleEndian, Attrs{})
		}
	})
	const rounds = 100
	var devs []*testDevice
	for i := 0; i < rounds; i++ {
		f.s.Lock()
		d := newTestDevice(t, f.reg, fmt.Sprintf("hot%d", i))
		ops := &Ops{
			Read: func(off uint64, size uint, _ Attrs) (uint64, Result) {
				if d.QOM().Finalized() {
					late.Add(1)
				}
				calls.Add(1)
				// Some work, so that callbacks overlap the unplug. Not
				// Gosched: behind busy readers each yield can cost a time
				// slice.
				for k := 0; k < 2000; k++ {
					spin.Add(1)
				}
				if d.QOM().Finalized() {
					late.Add(1)
				}
				return off, OK
			},
			Endianness: LittleEndian,
			Valid:      AccessSizes{Max: 4},
		}
		mmio := f.must(f.s.NewIO(d, "hot-mmio", 0x100, ops))
		check(t, f.root.AddSubregion(0x1000, mmio))
		current.Store(d)
		f.s.Unlock()
		// Let the readers reach it.
		for start := calls.Load(); calls.Load() < start+4; {
			runtime.Gosched()
		}
		f.s.Lock()
		check(t, f.reg.Unplug(&d.Device))
		f.s.Synchronize()
		f.s.Unlock()
		devs = append(devs, d)
	}
	stop()
	if n := late.Load(); n != 0 {
		t.Fatalf("%d callbacks ran after their device's finalization started", n)
	}
	for _, d := range devs {
		if d.finalized != 1 {
			t.Fatalf("%s finalized %d times", d.QOM(), d.finalized)
		}
	}
	if calls.Load() < rounds*4 {
		t.Fatalf("only %d callbacks", calls.Load())
	}
	f.noLeaks()
}

// DESIGN L5 for host memory: RAM regions that leave the view and are
// finalized while readers keep reading their addresses are unmapped only
// after the grace period (an early munmap would crash the test binary).
func TestRAMFreedAfterGrace(t *testing.T) {
	f := newAccFix(t)
	f.s.SetAccessEventHandler(nil)
	var hits atomic.Int64
	stop := accRun(f.s, 4, func(rd *Reader, g int) {
		var b [8]byte
		if rd.Read(f.as, 0x2000+uint64(g)*8, b[:], Attrs{}) == OK {
			hits.Add(1)
		}
		rd.Load(f.as, 0x2ff8, 8, LittleEndian, Attrs{})
	})
	for i := 0; i < 100; i++ {
		f.s.Lock()
		r := f.must(f.s.NewRAM(nil, "transient", 0x1000))
		check(t, f.root.AddSubregion(0x2000, r))
		f.s.Unlock()
		for start := hits.Load(); hits.Load() < start+4; {
			runtime.Gosched()
		}
		f.s.Lock()
		check(t, f.root.DelSubregion(r))
		r.Unparent()
		f.s.Synchronize()
		if !r.ram.freed {
			t.Errorf("round %d: RAM not freed after the grace period", i)
		}
		f.s.Unlock()
	}
	stop()
	f.noLeaks()
}
