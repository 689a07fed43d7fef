package memory

import (
	"bytes"
	"context"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"qmem.dev/qmem/qom"
)

// accSyncWithin runs Synchronize (with the lock) and fails the test if it
// does not return within d: no reader may be left inside a section.
func accSyncWithin(t *testing.T, s *System, d time.Duration) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		s.Lock()
		s.Synchronize()
		s.Unlock()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatal("Synchronize did not return: a reader was left inside")
	}
}

// R-ACC-8: a device that DMAs into its own MMIO with the reader it was
// handed (attrs.Reader()) is refused with ACCESS_ERROR and its callback is
// not called; the warning is printed once. Its own RAM, another device, an
// ownerless region and Reentrant ops are not guarded.
func TestReentrancyGuard(t *testing.T) {
	f := newAccFix(t)
	a := newTestDevice(t, f.reg, "a")
	b := newTestDevice(t, f.reg, "b")
	var nested []Result
	var calls []string
	// DMA target per device register.
	dma := map[string]uint64{}
	mk := func(name string) *Ops {
		return &Ops{
			Write: func(off, v uint64, size uint, attrs Attrs) Result {
				key := name + "@" + string(rune('0'+off/4))
				calls = append(calls, key)
				if target, ok := dma[key]; ok {
					nested = append(nested, attrs.Reader().Write(f.as, target, []byte{1, 2, 3, 4}, attrs))
				}
				return OK
			},
			Endianness: LittleEndian,
			Valid:      AccessSizes{Max: 4},
		}
	}
	f.add(0x1000, f.must(f.s.NewIO(a, "a-mmio", 0x100, mk("a"))))
	f.add(0x2000, f.must(f.s.NewIO(b, "b-mmio", 0x100, mk("b"))))
	f.add(0x3000, f.must(f.s.NewIO(nil, "board", 0x100, mk("board"))))
	reent := mk("reent")
	reent.Reentrant = true
	f.add(0x4000, f.must(f.s.NewIO(a, "a-reentrant", 0x100, reent)))
	aRAM := f.add(0x10000, f.must(f.s.NewRAM(a, "a-ram", 0x1000)))

	dma["a@0"] = 0x1004     // a into itself: refused
	dma["a@1"] = 0x10000    // a into its RAM: fine
	dma["a@2"] = 0x2004     // a into b: fine
	dma["b@0"] = 0x1000     // b into a: fine unless a is on the stack
	dma["a@3"] = 0x2000     // a into b, which goes back into a: refused there
	dma["board@0"] = 0x3004 // ownerless: not guarded
	dma["reent@0"] = 0x4004 // Reentrant ops
	dma["reent@1"] = 0x1004 // from a's reentrant region into a's guarded one: fine (the reentrant one does not engage the guard)

	rd := f.s.NewReader()
	defer rd.Close()
	tests := []struct {
		addr   uint64
		calls  string
		nested string
	}{
		{0x1000, "a@0", "access-error"},
		{0x1004, "a@1", "ok"},
		{0x1008, "a@2 b@1", "ok"},
		{0x2000, "b@0 a@0", "access-error ok"},
		{0x100c, "a@3 b@0", "access-error ok"},
		{0x3000, "board@0 board@1", "ok"},
		{0x4000, "reent@0 reent@1 a@1", "ok ok ok"},
	}
	for _, tt := range tests {
		calls, nested = nil, nil
		if res := rd.Write(f.as, tt.addr, []byte{0, 0, 0, 0}, Attrs{}); res != OK {
			t.Errorf("write %#x: %v", tt.addr, res)
		}
		var ns []string
		for _, r := range nested {
			ns = append(ns, r.String())
		}
		if got := strings.Join(calls, " "); got != tt.calls {
			t.Errorf("write %#x: calls %q, want %q", tt.addr, got, tt.calls)
		}
		if got := strings.Join(ns, " "); got != tt.nested {
			t.Errorf("write %#x: nested results %q, want %q", tt.addr, got, tt.nested)
		}
	}
	if aRAM.Host()[0] != 1 {
		t.Errorf("DMA into the device's own RAM did not land")
	}
	ev := f.takeEvents()
	if len(ev) != 1 || ev[0] != "Blocked re-entrant IO on MemoryRegion: a-mmio at addr: 0x4" {
		t.Errorf("events %q, want one warning", ev)
	}
	if c := f.s.AccessEventCounts(); c.Reentrant != 3 {
		t.Errorf("re-entrant count %d, want 3", c.Reentrant)
	}
	check(t, f.reg.Unplug(&a.Device))
	check(t, f.reg.Unplug(&b.Device))
	accSyncWithin(t, f.s, 10*time.Second)
	f.noLeaks()
}

// Callback nesting is bounded. An unguarded region whose callback reads
// itself through attrs.Reader() stops after maxNest levels with
// ACCESS_ERROR (QEMU would recurse until the stack overflows).
func TestNestingLimit(t *testing.T) {
	f := newAccFix(t)
	var depth, deepest atomic.Int32
	ops := &Ops{
		Read: func(off uint64, size uint, attrs Attrs) (uint64, Result) {
			d := depth.Add(1)
			defer depth.Add(-1)
			deepest.Store(max(deepest.Load(), d))
			_, res := attrs.Reader().Load(f.as, 0x1000, 4, LittleEndian, attrs)
			return uint64(res), OK
		},
		Endianness: LittleEndian,
	}
	f.io("loop", 0x1000, 0x10, ops)
	rd := f.s.NewReader()
	defer rd.Close()
	v, res := rd.Load(f.as, 0x1000, 4, LittleEndian, Attrs{})
	if res != OK || Result(v) != OK {
		t.Fatalf("outer load: %#x %v", v, res)
	}
	if got := deepest.Load(); got != maxNest {
		t.Fatalf("callbacks nested %d deep, want %d", got, maxNest)
	}
	if rd.depth != 0 || rd.nest != 0 {
		t.Fatalf("reader left with depth %d nest %d", rd.depth, rd.nest)
	}
	if ev := f.takeEvents(); len(ev) != 1 || !strings.HasPrefix(ev[0], "Blocked re-entrant IO on MemoryRegion: loop") {
		t.Fatalf("events %q", ev)
	}
	f.noLeaks()
}

// A device whose callback re-enters itself through a separate, borrowed
// reader (AddressSpace.Load from inside the callback) gets a fresh reader
// each time, which the per-reader guard cannot connect to the outer one.
// The process must survive: the nesting through borrowed readers is
// bounded (maxBorrowedNest), every reader leaves its section, and the
// pool gives back what it grew.
func TestReentryThroughBorrowedReader(t *testing.T) {
	f := newAccFix(t)
	d := newTestDevice(t, f.reg, "selfreader")
	var calls atomic.Int32
	ops := &Ops{
		Read: func(off uint64, size uint, attrs Attrs) (uint64, Result) {
			calls.Add(1)
			// The careless way: a borrowed reader, attrs passed along.
			v, _ := f.as.Load(0x1000, 4, LittleEndian, attrs)
			return v + 1, OK
		},
		Endianness: LittleEndian,
		Valid:      AccessSizes{Max: 4},
	}
	f.add(0x1000, f.must(f.s.NewIO(d, "self", 0x10, ops)))
	rd := f.s.NewReader()
	defer rd.Close()
	v, res := rd.Load(f.as, 0x1000, 4, LittleEndian, Attrs{})
	if res != OK {
		t.Fatalf("outer load: %v", res)
	}
	if got := calls.Load(); got != 1+maxBorrowedNest {
		t.Fatalf("%d callbacks, want %d", got, 1+maxBorrowedNest)
	}
	if v != uint64(maxBorrowedNest)+1 {
		t.Fatalf("value %d", v)
	}
	if n := f.s.pool.inCallback.Load(); n != 0 {
		t.Fatalf("pool thinks %d callbacks are running", n)
	}
	if n := len(f.s.pool.free); n > maxPooled {
		t.Fatalf("pool keeps %d readers", n)
	}
	if c := f.s.AccessEventCounts(); c.Reentrant != 1 {
		t.Fatalf("re-entrant count %d", c.Reentrant)
	}
	check(t, f.reg.Unplug(&d.Device))
	accSyncWithin(t, f.s, 10*time.Second)
	if d.finalized != 1 {
		t.Fatalf("device finalized %d times", d.finalized)
	}
	f.noLeaks()
}

// DESIGN §5: a callback that panics is recovered, the access completes as a
// device error (MEMTX_ERROR), the panic is reported once per region and
// counted every time. A panic that unwinds through accesses the callback
// made with its reader leaves that reader consistent.
func TestPanickingCallbacks(t *testing.T) {
	f := newAccFix(t)
	bad := &Ops{
		Read:       func(uint64, uint, Attrs) (uint64, Result) { panic("read broke") },
		Write:      func(uint64, uint64, uint, Attrs) Result { panic("write broke") },
		Endianness: LittleEndian,
	}
	f.io("bad", 0x1000, 0x10, bad)
	good := &accRec{value: accPattern}
	f.io("good", 0x2000, 0x10, good.ops(LittleEndian, AccessSizes{}, AccessSizes{}))
	// A callback that enters a section and a nested access, then panics
	// half-way: the sections it opened are closed for it.
	f.io("unwinder", 0x3000, 0x10, &Ops{
		Read: func(_ uint64, _ uint, attrs Attrs) (uint64, Result) {
			rd := attrs.Reader()
			rd.Enter()
			rd.Enter()
			rd.Read(f.as, 0x2000, make([]byte, 4), attrs)
			panic(struct{ msg string }{"deep"})
		},
		Endianness: LittleEndian,
	})
	// A callback whose nested access hits the panicking device.
	f.io("caller", 0x4000, 0x10, &Ops{
		Read: func(_ uint64, _ uint, attrs Attrs) (uint64, Result) {
			_, res := attrs.Reader().Load(f.as, 0x1000, 4, LittleEndian, attrs)
			return uint64(res), OK
		},
		Endianness: LittleEndian,
	})
	rd := f.s.NewReader()
	defer rd.Close()

	for i := 0; i < 3; i++ {
		if v, res := rd.Load(f.as, 0x1000, 4, LittleEndian, Attrs{}); res != Error || v != 0 {
			t.Fatalf("load from panicking device: %#x %v", v, res)
		}
	}
	if res := rd.Write(f.as, 0x1000, []byte{1}, Attrs{}); res != Error {
		t.Fatalf("write to panicking device: %v", res)
	}
	if v, res := rd.Load(f.as, 0x4000, 4, LittleEndian, Attrs{}); res != OK || Result(v) != Error {
		t.Fatalf("nested access to panicking device: %#x %v", v, res)
	}
	if _, res := rd.Load(f.as, 0x3000, 4, LittleEndian, Attrs{}); res != Error {
		t.Fatalf("unwinding device: %v", res)
	}
	if rd.depth != 0 || rd.nest != 0 || rd.slot.active.Load() != 0 {
		t.Fatalf("reader left inside: depth %d nest %d", rd.depth, rd.nest)
	}
	buf := make([]byte, 4)
	if res := rd.Read(f.as, 0x2000, buf, Attrs{}); res != OK || buf[0] != 0x10 {
		t.Fatalf("healthy device after panics: %v % x", res, buf)
	}
	ev := f.takeEvents()
	want := []string{
		"Device callback panicked on read at addr 0x0, size 4, region 'bad': read broke",
		"Device callback panicked on read at addr 0x0, size 4, region 'unwinder': {deep}",
	}
	if strings.Join(ev, "\n") != strings.Join(want, "\n") {
		t.Fatalf("events:\n%s\nwant:\n%s", strings.Join(ev, "\n"), strings.Join(want, "\n"))
	}
	if c := f.s.AccessEventCounts(); c.Panics != 6 {
		t.Fatalf("panic count %d, want 6", c.Panics)
	}
	accSyncWithin(t, f.s, 10*time.Second)
	f.noLeaks()
}

// Read and Write call a callback known valid at creation themselves
// (Region.fastRead); a panic there is recovered the same way: the access
// is a device error, a read's bytes are zero, the panic is reported, and
// the reader is left outside its section. A callback that ends its
// goroutine (runtime.Goexit) leaves the reader outside too, so that grace
// periods do not wait for a goroutine that no longer exists.
func TestCallbackAbandonsFastPath(t *testing.T) {
	for _, tc := range []struct {
		name  string
		write bool
		stop  func()
		event string
	}{
		{"read panic", false, func() { panic("read broke") }, "Device callback panicked on read at addr 0x4, size 4, region 'dev': read broke"},
		{"write panic", true, func() { panic("write broke") }, "Device callback panicked on write at addr 0x4, size 4, region 'dev': write broke"},
		{"read goexit", false, runtime.Goexit, ""},
		{"write goexit", true, runtime.Goexit, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newAccFix(t)
			mr := f.io("dev", 0x1000, 0x10, &Ops{
				Read:       func(uint64, uint, Attrs) (uint64, Result) { tc.stop(); return 1, OK },
				Write:      func(uint64, uint64, uint, Attrs) Result { tc.stop(); return OK },
				Endianness: LittleEndian,
				Valid:      AccessSizes{Min: 1, Max: 4},
			})
			if !mr.fastRead(4, 4) || !mr.fastWrite(4, 4) {
				t.Fatal("the access does not take the shortcut this test is about")
			}
			rd := f.s.NewReader()
			defer rd.Close()
			buf := []byte{0xff, 0xff, 0xff, 0xff}
			res := Result(0xff)
			done := make(chan struct{})
			go func() { // the goroutine a Goexit ends
				defer close(done)
				if tc.write {
					res = rd.Write(f.as, 0x1004, buf, Attrs{})
				} else {
					res = rd.Read(f.as, 0x1004, buf, Attrs{})
				}
			}()
			<-done
			if tc.event != "" {
				want := []byte{0xff, 0xff, 0xff, 0xff}
				if !tc.write {
					want = []byte{0, 0, 0, 0}
				}
				if res != Error || !bytes.Equal(buf, want) {
					t.Fatalf("result %v, buffer % x; want %v, % x", res, buf, Error, want)
				}
			}
			if rd.depth != 0 || rd.nest != 0 || rd.slot.active.Load() != 0 {
				t.Fatalf("reader left inside: depth %d nest %d active %d", rd.depth, rd.nest, rd.slot.active.Load())
			}
			var want []string
			if tc.event != "" {
				want = []string{tc.event}
			}
			if ev := f.takeEvents(); strings.Join(ev, "\n") != strings.Join(want, "\n") {
				t.Fatalf("events %q, want %q", ev, want)
			}
			// The reader still works.
			rd.Enter()
			rd.Exit()
			f.noLeaks()
		})
	}
}

// goexitIOMMU is a translator that ends its goroutine.
type goexitIOMMU struct{}

func (goexitIOMMU) Translate(uint64, IOMMUAccess, int) IOTLBEntry {
	runtime.Goexit()
	return IOTLBEntry{}
}

// A callback (or IOMMU translator) that calls runtime.Goexit, as t.FailNow
// does inside a test's device, ends its goroutine in the middle of an
// access, on every path to it: the reader must leave its callback levels
// and sections, or every later grace period would wait for it forever.
func TestCallbackGoexit(t *testing.T) {
	for _, tc := range []struct {
		name   string
		access func(f *accFix, rd *Reader, dma *AddressSpace)
	}{
		{"load", func(f *accFix, rd *Reader, _ *AddressSpace) { rd.Load(f.as, 0x1000, 4, LittleEndian, Attrs{}) }},
		{"split read", func(f *accFix, rd *Reader, _ *AddressSpace) { rd.Read(f.as, 0x1001, make([]byte, 3), Attrs{}) }},
		{"store", func(f *accFix, rd *Reader, _ *AddressSpace) { rd.Store(f.as, 0x1000, 2, 1, LittleEndian, Attrs{}) }},
		{"nested", func(f *accFix, rd *Reader, _ *AddressSpace) { rd.Read(f.as, 0x2000, make([]byte, 4), Attrs{}) }},
		{"borrowed", func(f *accFix, _ *Reader, _ *AddressSpace) { f.as.Read(0x2000, make([]byte, 4), Attrs{}) }},
		{"iommu", func(f *accFix, rd *Reader, dma *AddressSpace) { rd.Read(dma, 0x10, make([]byte, 4), Attrs{}) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newAccFix(t)
			registerAccIOMMUType(t, f)
			f.io("quits", 0x1000, 0x10, &Ops{
				Read:       func(uint64, uint, Attrs) (uint64, Result) { runtime.Goexit(); return 0, OK },
				Write:      func(uint64, uint64, uint, Attrs) Result { runtime.Goexit(); return OK },
				Endianness: LittleEndian,
				Valid:      AccessSizes{Min: 1, Max: 4},
				Impl:       AccessSizes{Min: 4, Max: 4},
			})
			f.io("caller", 0x2000, 0x10, &Ops{
				Read: func(_ uint64, _ uint, attrs Attrs) (uint64, Result) {
					attrs.Reader().Read(f.as, 0x1000, make([]byte, 4), attrs)
					return 0, OK
				},
				Endianness: LittleEndian,
			})
			dmaRoot := f.must(f.s.NewContainer(nil, "dma-root", ^uint64(0)))
			check(t, dmaRoot.AddSubregion(0, f.must(f.s.NewIOMMU(nil, "acc-iommu", "iommu", 0x1000, goexitIOMMU{}))))
			dma := must[*AddressSpace](t)(f.s.NewAddressSpace(dmaRoot, "dma"))
			rd := f.s.NewReader()
			defer rd.Close()
			done := make(chan struct{})
			go func() {
				defer close(done)
				tc.access(f, rd, dma)
				t.Error("the access returned")
			}()
			<-done
			if rd.depth != 0 || rd.nest != 0 {
				t.Errorf("reader left inside: depth %d nest %d", rd.depth, rd.nest)
			}
			for i, slot := range *f.s.grace.readers.Load() {
				if e := slot.active.Load(); e != 0 {
					t.Errorf("reader %d still inside at epoch %d", i, e)
				}
			}
			if n := f.s.pool.inCallback.Load(); n != 0 {
				t.Errorf("borrowed readers counted inside %d callbacks", n)
			}
		})
	}
}

// A callback that blocks stalls only its own reader: other readers go on,
// a grace period waited for with a deadline gives up with the context's
// error, and once the callback returns the grace period completes and the
// removed device is finalized.
func TestBlockingCallback(t *testing.T) {
	f := newAccFix(t)
	ram := f.ram("ram", 0, 0x1000)
	d := newTestDevice(t, f.reg, "slow")
	entered, release := make(chan struct{}), make(chan struct{})
	f.add(0x1000, f.must(f.s.NewIO(d, "slow-mmio", 0x10, &Ops{
		Read: func(uint64, uint, Attrs) (uint64, Result) {
			close(entered)
			<-release
			return 7, OK
		},
		Endianness: LittleEndian,
	})))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		rd := f.s.NewReader()
		defer rd.Close()
		if v, res := rd.Load(f.as, 0x1000, 4, LittleEndian, Attrs{}); v != 7 || res != OK {
			t.Errorf("slow load: %d %v", v, res)
		}
	}()
	<-entered

	// The control side unplugs the device while the callback runs.
	f.s.Lock()
	check(t, f.reg.Unplug(&d.Device))
	f.s.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	err := f.s.WaitGrace(ctx)
	cancel()
	if err != context.DeadlineExceeded {
		t.Fatalf("WaitGrace with a stuck reader: %v", err)
	}
	if d.finalized != 0 {
		t.Fatal("device finalized while its callback runs")
	}
	// Other readers are not held up.
	other := f.s.NewReader()
	for i := 0; i < 1000; i++ {
		if res := other.Store(f.as, 8, 8, uint64(i), LittleEndian, Attrs{}); res != OK {
			t.Fatal(res)
		}
	}
	other.Close()
	if ram.Host()[8] != byte(999&0xff) {
		t.Fatal("other reader's stores did not land")
	}
	close(release)
	wg.Wait()
	if err := f.s.WaitGrace(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.s.Lock()
	f.s.Reclaim()
	f.s.Unlock()
	if d.finalized != 1 {
		t.Fatalf("device finalized %d times after the grace period", d.finalized)
	}
	f.noLeaks()
}

var _ qom.Instance = (*testDevice)(nil)

// R-ACC-8: a readonly MMIO region is not guarded; the guard follows the
// flag when it changes.
func TestReentrancyGuardReadonly(t *testing.T) {
	f := newAccFix(t)
	a := newTestDevice(t, f.reg, "a")
	var nested []Result
	ops := &Ops{
		Read: func(off uint64, size uint, attrs Attrs) (uint64, Result) {
			if off == 0 { // reads its own register 4 with the reader it was handed
				_, res := attrs.Reader().Load(f.as, 0x1004, 4, LittleEndian, attrs)
				nested = append(nested, res)
			}
			return 0, OK
		},
		Endianness: LittleEndian,
		Valid:      AccessSizes{Max: 4},
	}
	mmio := f.add(0x1000, f.must(f.s.NewIO(a, "a-mmio", 0x100, ops)))
	rd := f.s.NewReader()
	defer rd.Close()
	for i, readonly := range []bool{false, true, false} {
		f.s.Lock()
		check(t, mmio.SetReadonly(readonly))
		f.s.Unlock()
		nested = nil
		if _, res := rd.Load(f.as, 0x1000, 4, LittleEndian, Attrs{}); res != OK {
			t.Fatalf("step %d: outer read: %v", i, res)
		}
		want := AccessError
		if readonly {
			want = OK
		}
		if len(nested) != 1 || nested[0] != want {
			t.Errorf("step %d (readonly %v): nested read %v, want %v", i, readonly, nested, want)
		}
	}
	check(t, f.reg.Unplug(&a.Device))
	accSyncWithin(t, f.s, 10*time.Second)
	f.noLeaks()
}
