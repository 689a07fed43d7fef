package memory

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
)

// R-COAL-1, R-COAL-2: adding a coalesced range tells the listeners of
// every space, forward, the absolute part of each range of the region it
// covers; clearing tells them coalesced_io_del in reverse; SetCoalescing is
// clear plus the whole region.
func TestCoalescedRanges(t *testing.T) {
	f := newAccFix(t)
	dev := f.io("nic", 0x1000, 0x1000, nil)
	// A second window onto the device's second half.
	f.add(0x8000, f.must(f.s.NewAlias(nil, "nic-hi", dev, 0x800, 0x800)))
	var log []string
	for _, name := range []string{"hi", "lo"} {
		prio := map[string]int{"lo": 0, "hi": 10}[name]
		check(t, f.as.AddListener(&Listener{Name: name, Priority: prio,
			CoalescedIOAdd: func(s Section, addr, size uint64) {
				log = append(log, fmt.Sprintf("%s.add(%#x+%#x)", name, addr, size))
			},
			CoalescedIODel: func(s Section, addr, size uint64) {
				log = append(log, fmt.Sprintf("%s.del(%#x+%#x)", name, addr, size))
			},
		}))
	}
	take := func() string { s := strings.Join(log, " "); log = nil; return s }
	check(t, dev.AddCoalescing(0x700, 0x200))
	if got, want := take(), "lo.add(0x1700+0x200) hi.add(0x1700+0x200) lo.add(0x8000+0x100) hi.add(0x8000+0x100)"; got != want {
		t.Errorf("add:\n got %s\nwant %s", got, want)
	}
	check(t, dev.ClearCoalescing())
	if got, want := take(), "hi.del(0x1700+0x200) lo.del(0x1700+0x200) hi.del(0x8000+0x100) lo.del(0x8000+0x100)"; got != want {
		t.Errorf("clear:\n got %s\nwant %s", got, want)
	}
	check(t, dev.SetCoalescing())
	if got, want := take(), "lo.add(0x1000+0x1000) hi.add(0x1000+0x1000) lo.add(0x8000+0x800) hi.add(0x8000+0x800)"; got != want {
		t.Errorf("set:\n got %s\nwant %s", got, want)
	}
	f.as.RemoveListeners()
	f.noLeaks()
}

// R-COAL-3: before an MMIO access to a region that has coalesced ranges,
// the coalesced MMIO buffer is flushed (SetCoalescedMMIOFlush installs the
// accelerator's flush); other regions and RAM do not flush.
func TestCoalescedFlushBeforeMMIO(t *testing.T) {
	f := newAccFix(t)
	rec := &accRec{}
	nic := f.io("nic", 0x1000, 0x100, rec.ops(LittleEndian, AccessSizes{}, AccessSizes{}))
	f.io("uart", 0x2000, 0x100, rec.ops(LittleEndian, AccessSizes{}, AccessSizes{}))
	f.ram("ram", 0x10000, 0x1000)
	check(t, nic.AddCoalescing(0, 0x10))
	var flushes atomic.Int32
	f.s.SetCoalescedMMIOFlush(func() { flushes.Add(1) })
	rd := f.s.NewReader()
	defer rd.Close()
	steps := []struct {
		do   func()
		want int32
	}{
		{func() { rd.Read(f.as, 0x1080, make([]byte, 4), Attrs{}) }, 1}, // any access to the region
		{func() { rd.Store(f.as, 0x1000, 4, 1, LittleEndian, Attrs{}) }, 2},
		{func() { rd.Read(f.as, 0x1000, make([]byte, 8), Attrs{}) }, 4}, // per MMIO step
		{func() { rd.Read(f.as, 0x2000, make([]byte, 4), Attrs{}) }, 4},
		{func() { rd.Write(f.as, 0x10000, make([]byte, 4), Attrs{}) }, 4},
	}
	for i, st := range steps {
		st.do()
		if got := flushes.Load(); got != st.want {
			t.Fatalf("step %d: %d flushes, want %d", i, got, st.want)
		}
	}
	check(t, nic.ClearCoalescing())
	rd.Read(f.as, 0x1000, make([]byte, 4), Attrs{})
	if got := flushes.Load(); got != 4 {
		t.Fatalf("flush after ClearCoalescing: %d", got)
	}
	f.s.SetCoalescedMMIOFlush(nil)
	f.noLeaks()
}

// R-IOEV-1, R-IOEV-2: a space's active ioeventfds are computed from its
// view (absolute addresses, sorted by address, size, match, data), diffed
// against the previous set: eventfd_del forward, eventfd_add reverse.
func TestIoeventfdSets(t *testing.T) {
	f := newAccFix(t)
	dev := f.io("virtio", 0x1000, 0x100, nil)
	var log []string
	for _, name := range []string{"lo", "hi"} {
		prio := map[string]int{"lo": 0, "hi": 10}[name]
		check(t, f.as.AddListener(&Listener{Name: name, Priority: prio,
			EventfdAdd: func(s Section, match bool, data uint64, e *EventNotifier) {
				log = append(log, fmt.Sprintf("%s.add(%#x/%d %v %d)", name, s.Addr, s.Size, match, data))
			},
			EventfdDel: func(s Section, match bool, data uint64, e *EventNotifier) {
				log = append(log, fmt.Sprintf("%s.del(%#x/%d %v %d)", name, s.Addr, s.Size, match, data))
			},
		}))
	}
	take := func() string { s := strings.Join(log, " "); log = nil; return s }
	e := NewEventNotifier(nil)
	f.s.Begin()
	check(t, dev.AddEventfd(0x8, 4, false, 0, e))
	check(t, dev.AddEventfd(0x0, 2, true, 7, e))
	check(t, dev.AddEventfd(0x0, 2, true, 3, e))
	check(t, f.s.Commit())
	want := "hi.add(0x1000/2 true 3) lo.add(0x1000/2 true 3) hi.add(0x1000/2 true 7) lo.add(0x1000/2 true 7) hi.add(0x1008/4 false 0) lo.add(0x1008/4 false 0)"
	if got := take(); got != want {
		t.Errorf("add:\n got %s\nwant %s", got, want)
	}
	check(t, dev.SetAddress(0x3000))
	want = "lo.del(0x1000/2 true 3) hi.del(0x1000/2 true 3) lo.del(0x1000/2 true 7) hi.del(0x1000/2 true 7) lo.del(0x1008/4 false 0) hi.del(0x1008/4 false 0) " +
		"hi.add(0x3000/2 true 3) lo.add(0x3000/2 true 3) hi.add(0x3000/2 true 7) lo.add(0x3000/2 true 7) hi.add(0x3008/4 false 0) lo.add(0x3008/4 false 0)"
	if got := take(); got != want {
		t.Errorf("move:\n got %s\nwant %s", got, want)
	}
	f.as.RemoveListeners()
	f.noLeaks()
}

// R-IOEV-3: a write matching an ioeventfd (same address; same size unless
// either is 0; same data if match_data) signals the notifier and does not
// call the device; other writes, and reads, reach the device.
func TestIoeventfdWrites(t *testing.T) {
	f := newAccFix(t)
	rec := &accRec{}
	dev := f.io("virtio", 0x1000, 0x100, rec.ops(LittleEndian, AccessSizes{Max: 4}, AccessSizes{}))
	var kicks [3]atomic.Int32
	check(t, dev.AddEventfd(0x10, 2, true, 5, NewEventNotifier(func() { kicks[0].Add(1) })))
	check(t, dev.AddEventfd(0x20, 0, false, 0, NewEventNotifier(func() { kicks[1].Add(1) })))
	check(t, dev.AddEventfd(0x30, 4, false, 0, NewEventNotifier(func() { kicks[2].Add(1) })))
	rd := f.s.NewReader()
	defer rd.Close()
	tests := []struct {
		addr  uint64
		size  uint
		val   uint64
		kicks string
		calls string
	}{
		{0x1010, 2, 5, "1 0 0", ""},
		{0x1010, 2, 6, "0 0 0", "w2@0x10=0x6"}, // data differs
		{0x1010, 4, 5, "0 0 0", "w4@0x10=0x5"}, // size differs
		{0x1020, 1, 9, "0 1 0", ""},            // size 0 matches any size
		{0x1020, 4, 1, "0 1 0", ""},
		{0x1030, 4, 0xdead, "0 0 1", ""}, // no data match
		{0x1031, 1, 0, "0 0 0", "w1@0x31=0x0"},
	}
	for _, tt := range tests {
		var before [3]int32
		for i := range kicks {
			before[i] = kicks[i].Load()
		}
		if res := rd.Store(f.as, tt.addr, tt.size, tt.val, LittleEndian, Attrs{}); res != OK {
			t.Errorf("store %#x: %v", tt.addr, res)
		}
		got := fmt.Sprintf("%d %d %d", kicks[0].Load()-before[0], kicks[1].Load()-before[1], kicks[2].Load()-before[2])
		if got != tt.kicks {
			t.Errorf("store %#x/%d=%#x: kicks %s, want %s", tt.addr, tt.size, tt.val, got, tt.kicks)
		}
		if c := rec.take(); c != tt.calls {
			t.Errorf("store %#x/%d=%#x: calls %q, want %q", tt.addr, tt.size, tt.val, c, tt.calls)
		}
	}
	// Buffer writes too, and reads are never intercepted.
	rd.Write(f.as, 0x1010, []byte{5, 0}, Attrs{})
	rd.Read(f.as, 0x1010, make([]byte, 2), Attrs{})
	if kicks[0].Load() != 2 || rec.take() != "r2@0x10" {
		t.Errorf("buffer write / read: kicks %d", kicks[0].Load())
	}
	f.noLeaks()
}
