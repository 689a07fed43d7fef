package memory

import (
	"math"
	"testing"
)

// listenerEnv is a small machine for listener tests: a 64 KiB root
// container with address space "as".
type listenerEnv struct {
	t    *testing.T
	s    *System
	root *Region
	as   *AddressSpace
	rec  *recorder
}

func newListenerEnv(t *testing.T) *listenerEnv {
	t.Helper()
	reg, s := newTestSystem(t)
	root := must[*Region](t)(s.NewContainer(nil, "root", 0x10000))
	as := must[*AddressSpace](t)(s.NewAddressSpace(root, "as"))
	t.Cleanup(func() { noLeaks(t, reg) })
	return &listenerEnv{t: t, s: s, root: root, as: as, rec: &recorder{}}
}

func (e *listenerEnv) add(name string, kind Kind, addr, size uint64) *Region {
	e.t.Helper()
	var r *Region
	var err error
	switch kind {
	case KindRAM:
		r, err = e.s.NewRAM(nil, name, size)
	case KindROMDevice:
		r, err = e.s.NewROMDevice(nil, name, size, nil)
	default:
		r, err = e.s.NewIO(nil, name, size, nil)
	}
	check(e.t, err)
	check(e.t, e.root.AddSubregion(addr, r))
	return r
}

// R-LSN-1, R-LSN-2, R-LSN-3, R-LSN-8, R-TX-3: listeners are kept in
// ascending priority, registration order among equals; begin and commit go
// to every listener of every space (even unchanged ones) forward; region_del
// goes in reverse, region_add forward, per space.
func TestListenerOrderAcrossPriorities(t *testing.T) {
	e := newListenerEnv(t)
	ram := e.add("ram0", KindRAM, 0, 0x1000)
	la1, la2, la3, la4 := e.rec.listener("La1", 10), e.rec.listener("La2", 0), e.rec.listener("La3", 10), e.rec.listener("La4", 5)
	for _, l := range []*Listener{la1, la2, la3, la4} {
		check(t, e.as.AddListener(l))
		// R-LSN-8: the replay goes to the new listener alone.
		expectLog(t, e.rec.take(),
			l.Name+" begin",
			l.Name+" region_add [0x0,0xfff] ram0@0x0",
			l.Name+" commit")
		if l.Space() != e.as {
			t.Fatalf("%s.Space() = %v", l.Name, l.Space())
		}
	}
	other := must[*Region](t)(e.s.NewContainer(nil, "other", 0x1000))
	check(t, other.AddSubregion(0, must[*Region](t)(e.s.NewIO(nil, "io1", 0x1000, nil))))
	asb := must[*AddressSpace](t)(e.s.NewAddressSpace(other, "b"))
	check(t, asb.AddListener(e.rec.listener("Lb", 1)))
	e.rec.take()

	check(t, ram.SetAddress(0x1000))
	expectLog(t, e.rec.take(),
		"La2 begin", "Lb begin", "La4 begin", "La1 begin", "La3 begin",
		"La3 region_del [0x0,0xfff] ram0@0x0", "La1 region_del [0x0,0xfff] ram0@0x0",
		"La4 region_del [0x0,0xfff] ram0@0x0", "La2 region_del [0x0,0xfff] ram0@0x0",
		"La2 region_add [0x1000,0x1fff] ram0@0x0", "La4 region_add [0x1000,0x1fff] ram0@0x0",
		"La1 region_add [0x1000,0x1fff] ram0@0x0", "La3 region_add [0x1000,0x1fff] ram0@0x0",
		"La2 commit", "Lb commit", "La4 commit", "La1 commit", "La3 commit")

	// Unregistering one keeps the order of the rest.
	check(t, e.as.RemoveListener(la4))
	e.rec.take()
	check(t, ram.SetEnabled(false))
	expectLog(t, e.rec.take(),
		"La2 begin", "Lb begin", "La1 begin", "La3 begin",
		"La3 region_del [0x1000,0x1fff] ram0@0x0", "La1 region_del [0x1000,0x1fff] ram0@0x0", "La2 region_del [0x1000,0x1fff] ram0@0x0",
		"La2 commit", "Lb commit", "La1 commit", "La3 commit")
	e.as.RemoveListeners()
	asb.RemoveListeners()
	if la1.Space() != nil || len(e.s.listeners) != 0 {
		t.Fatal("RemoveListeners left listeners registered")
	}
}

// R-LSN-4, R-LSN-5: all removals (pass 1) come before the additions and
// no-ops (pass 2), each pass in ascending address; an old range is removed
// when it starts before the next new one or starts with it but differs.
func TestListenerTwoPasses(t *testing.T) {
	e := newListenerEnv(t)
	x := e.add("x", KindIO, 0, 0x1000)
	y := e.add("y", KindIO, 0x1000, 0x1000)
	z := e.add("z", KindIO, 0x2000, 0x1000)
	w := must[*Region](t)(e.s.NewIO(nil, "w", 0x1000, nil))
	v := must[*Region](t)(e.s.NewIO(nil, "v", 0x800, nil))
	_, _ = x, z
	check(t, e.as.AddListener(e.rec.listener("L", 0)))
	e.rec.take()
	e.s.Begin()
	check(t, y.SetSize(0x800))               // same start, different range: removed then added
	check(t, e.root.AddSubregion(0x3000, w)) // new range after the old ones
	check(t, e.root.AddSubregion(0x1800, v)) // new range between old ones
	check(t, e.s.Commit())
	expectLog(t, e.rec.take(),
		"L begin",
		"L region_del [0x1000,0x1fff] y@0x0",
		"L region_nop [0x0,0xfff] x@0x0",
		"L region_add [0x1000,0x17ff] y@0x0",
		"L region_add [0x1800,0x1fff] v@0x0",
		"L region_nop [0x2000,0x2fff] z@0x0",
		"L region_add [0x3000,0x3fff] w@0x0",
		"L commit")
	// The old range starting first is removed (o.start < n.start).
	check(t, x.SetAddress(0x4000))
	expectLog(t, e.rec.take(),
		"L begin",
		"L region_del [0x0,0xfff] x@0x0",
		"L region_nop [0x1000,0x17ff] y@0x0",
		"L region_nop [0x1800,0x1fff] v@0x0",
		"L region_nop [0x2000,0x2fff] z@0x0",
		"L region_nop [0x3000,0x3fff] w@0x0",
		"L region_add [0x4000,0x4fff] x@0x0",
		"L commit")
	e.as.RemoveListeners()
}

// R-LSN-6, R-KIND-5: the range identity covers leaf, addresses, offset,
// romd mode, readonly, nonvolatile and unmergeable (a change is a del and an
// add); the dirty mask is not part of it (a change is a nop with log_start
// or log_stop).
func TestListenerRangeIdentity(t *testing.T) {
	for _, c := range []struct {
		name   string
		change func(e *listenerEnv, r, alias *Region) error
		want   []string
	}{
		{"readonly", func(_ *listenerEnv, r, _ *Region) error { return r.SetReadonly(true) },
			[]string{"L region_del [0x0,0xfff] r@0x0", "L region_del [0x8000,0x83ff] r@0x0",
				"L region_add [0x0,0xfff] r@0x0 ro", "L region_add [0x8000,0x83ff] r@0x0 ro"}},
		{"nonvolatile", func(_ *listenerEnv, r, _ *Region) error { return r.SetNonvolatile(true) },
			[]string{"L region_del [0x0,0xfff] r@0x0", "L region_del [0x8000,0x83ff] r@0x0",
				"L region_add [0x0,0xfff] r@0x0 nv", "L region_add [0x8000,0x83ff] r@0x0 nv"}},
		{"unmergeable", func(_ *listenerEnv, r, _ *Region) error { return r.SetUnmergeable(true) },
			[]string{"L region_del [0x0,0xfff] r@0x0", "L region_del [0x8000,0x83ff] r@0x0",
				"L region_add [0x0,0xfff] r@0x0 um", "L region_add [0x8000,0x83ff] r@0x0 um"}},
		{"romd", func(_ *listenerEnv, r, _ *Region) error { return r.SetRomdMode(false) },
			[]string{"L region_del [0x0,0xfff] r@0x0", "L region_del [0x8000,0x83ff] r@0x0",
				"L region_add [0x0,0xfff] r@0x0 !romd", "L region_add [0x8000,0x83ff] r@0x0 !romd"}},
		{"alias offset", func(_ *listenerEnv, _, a *Region) error { return a.SetAliasOffset(0x800) },
			[]string{"L region_del [0x8000,0x83ff] r@0x0", "L region_nop [0x0,0xfff] r@0x0", "L region_add [0x8000,0x83ff] r@0x800"}},
		{"readonly alias", func(_ *listenerEnv, _, a *Region) error { return a.SetReadonly(true) },
			[]string{"L region_del [0x8000,0x83ff] r@0x0", "L region_nop [0x0,0xfff] r@0x0", "L region_add [0x8000,0x83ff] r@0x0 ro"}},
		{"vga log on", func(_ *listenerEnv, r, _ *Region) error { return r.SetLogVGA(true) },
			[]string{"L region_nop [0x0,0xfff] r@0x0", "L log_start [0x0,0xfff] r@0x0 0->1", "L region_nop [0x8000,0x83ff] r@0x0", "L log_start [0x8000,0x83ff] r@0x0 0->1"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newListenerEnv(t)
			r := e.add("r", KindROMDevice, 0, 0x1000)
			alias := must[*Region](t)(e.s.NewAlias(nil, "alias", r, 0, 0x400))
			check(t, e.root.AddSubregion(0x8000, alias))
			check(t, e.as.AddListener(e.rec.listener("L", 0)))
			e.rec.take()
			check(t, c.change(e, r, alias))
			want := append(append([]string{"L begin"}, c.want...), "L commit")
			expectLog(t, e.rec.take(), want...)
			e.as.RemoveListeners()
		})
	}
}

// R-LSN-2, R-LSN-4, R-ATTR-5: toggling the VGA log bit goes through the
// no-op path: log_start forward when the mask gains the bit, log_stop in
// reverse when it loses it; the calls are counted.
func TestListenerLogVGA(t *testing.T) {
	e := newListenerEnv(t)
	vram := e.add("vram", KindRAM, 0, 0x1000)
	check(t, e.as.AddListener(e.rec.listener("L10", 10)))
	check(t, e.as.AddListener(e.rec.listener("L0", 0)))
	e.rec.take()
	check(t, vram.SetLogVGA(true))
	expectLog(t, e.rec.take(),
		"L0 begin", "L10 begin",
		"L0 region_nop [0x0,0xfff] vram@0x0", "L10 region_nop [0x0,0xfff] vram@0x0",
		"L0 log_start [0x0,0xfff] vram@0x0 0->1", "L10 log_start [0x0,0xfff] vram@0x0 0->1",
		"L0 commit", "L10 commit")
	if m := e.as.View().Ranges()[0].DirtyLogMask; m != 1<<DirtyVGA {
		t.Fatalf("dirty mask %#x", m)
	}
	check(t, vram.SetLogVGA(true)) // counted: no change
	check(t, vram.SetLogVGA(false))
	expectLog(t, e.rec.take())
	check(t, vram.SetLogVGA(false))
	expectLog(t, e.rec.take(),
		"L0 begin", "L10 begin",
		"L0 region_nop [0x0,0xfff] vram@0x0", "L10 region_nop [0x0,0xfff] vram@0x0",
		"L10 log_stop [0x0,0xfff] vram@0x0 1->0", "L0 log_stop [0x0,0xfff] vram@0x0 1->0",
		"L0 commit", "L10 commit")
	check(t, vram.SetLogVGA(false)) // below zero: nothing
	expectLog(t, e.rec.take())
	e.as.RemoveListeners()
}

// R-LSN-8, R-LSN-9, R-LSN-10: registering replays begin, then per range
// region_add, coalesced_io_add and log_start(0, mask), then eventfd_add,
// then commit, to the new listener only; unregistering replays log_stop,
// coalesced_io_del and region_del per range, then eventfd_del. The replay
// stops a region's coalesced ranges at the first one outside the flat
// range; the commit path reports every one.
func TestListenerReplay(t *testing.T) {
	e := newListenerEnv(t)
	dev := e.add("dev", KindIO, 0, 0x2000)
	cover := must[*Region](t)(e.s.NewIO(nil, "cover", 0x1000, nil))
	check(t, e.root.AddSubregionOverlap(0, cover, 1)) // dev shows from 0x1000 only
	vram := e.add("vram", KindRAM, 0x4000, 0x1000)
	check(t, vram.SetLogVGA(true))
	n := NewEventNotifier(nil)
	check(t, dev.AddEventfd(0x1800, 4, true, 7, n))
	check(t, e.as.AddListener(e.rec.listener("old", 0)))
	e.rec.take()

	check(t, dev.AddCoalescing(0, 0x100))      // outside the visible part
	check(t, dev.AddCoalescing(0x1100, 0x100)) // inside
	// The commit path (here: the coalescing change itself) reports the
	// intersecting one.
	expectLog(t, e.rec.take(), "old coalesced_add 0x1100+0x100")

	check(t, e.as.AddListener(e.rec.listener("new", 5)))
	expectLog(t, e.rec.take(),
		"new begin",
		"new region_add [0x0,0xfff] cover@0x0",
		"new region_add [0x1000,0x1fff] dev@0x1000",
		// R-LSN-10: 0x1100+0x100 is not replayed: the first coalesced
		// range of dev does not intersect the flat range.
		"new region_add [0x4000,0x4fff] vram@0x0",
		"new log_start [0x4000,0x4fff] vram@0x0 0->1",
		"new eventfd_add 0x1800+4 match=true data=0x7",
		"new commit")

	// A topology change reports both passes with coalesced ranges.
	check(t, dev.SetAddress(0x8000))
	expectLog(t, e.rec.take(),
		"old begin", "new begin",
		// Pass 1: coalesced_del, then region_del, both in reverse. The new
		// listener hears the del of a range it was not told about (R-LSN-10).
		"new coalesced_del 0x1100+0x100", "old coalesced_del 0x1100+0x100",
		"new region_del [0x1000,0x1fff] dev@0x1000", "old region_del [0x1000,0x1fff] dev@0x1000",
		"old region_nop [0x0,0xfff] cover@0x0", "new region_nop [0x0,0xfff] cover@0x0",
		"old region_nop [0x4000,0x4fff] vram@0x0", "new region_nop [0x4000,0x4fff] vram@0x0",
		"old region_add [0x8000,0x9fff] dev@0x0", "new region_add [0x8000,0x9fff] dev@0x0",
		"old coalesced_add 0x8000+0x100", "new coalesced_add 0x8000+0x100",
		"old coalesced_add 0x9100+0x100", "new coalesced_add 0x9100+0x100",
		"old eventfd_del 0x1800+4 match=true data=0x7", "new eventfd_del 0x1800+4 match=true data=0x7",
		"new eventfd_add 0x9800+4 match=true data=0x7", "old eventfd_add 0x9800+4 match=true data=0x7",
		"old commit", "new commit")

	check(t, e.as.RemoveListener(e.as.listeners[1]))
	expectLog(t, e.rec.take(),
		"new begin",
		"new region_del [0x0,0xfff] cover@0x0",
		"new log_stop [0x4000,0x4fff] vram@0x0 1->0",
		"new region_del [0x4000,0x4fff] vram@0x0",
		"new coalesced_del 0x8000+0x100",
		"new coalesced_del 0x9100+0x100",
		"new region_del [0x8000,0x9fff] dev@0x0",
		"new eventfd_del 0x9800+4 match=true data=0x7",
		"new commit")
	if err := e.as.RemoveListener(&Listener{Name: "stranger"}); err == nil {
		t.Fatal("removing an unregistered listener succeeded")
	}
	check(t, dev.ClearCoalescing())
	expectLog(t, e.rec.take(), "old coalesced_del 0x8000+0x100", "old coalesced_del 0x9100+0x100")
	e.as.RemoveListeners()
}

// R-LSN-2, R-TX-4, R-ATTR-6: an ioeventfd change alone recomputes the
// ioeventfds without begin and commit: eventfd_add in reverse order,
// eventfd_del forward. On a disabled region it is not recomputed until the
// region is enabled.
func TestListenerEventfdOnly(t *testing.T) {
	e := newListenerEnv(t)
	dev := e.add("dev", KindIO, 0x1000, 0x1000)
	check(t, e.as.AddListener(e.rec.listener("A", 0)))
	check(t, e.as.AddListener(e.rec.listener("B", 1)))
	e.rec.take()
	n := NewEventNotifier(nil)
	before := e.s.Stats()
	check(t, dev.AddEventfd(0x10, 0, false, 0, n))
	expectLog(t, e.rec.take(), "B eventfd_add 0x1010+0 match=false data=0x0", "A eventfd_add 0x1010+0 match=false data=0x0")
	check(t, dev.DelEventfd(0x10, 0, false, 0, n))
	expectLog(t, e.rec.take(), "A eventfd_del 0x1010+0 match=false data=0x0", "B eventfd_del 0x1010+0 match=false data=0x0")
	if d := statsSince(e.s, before); d.Renders != 0 || d.Commits != 0 {
		t.Fatalf("an ioeventfd change rendered: %+v", d)
	}
	if err := dev.DelEventfd(0x10, 0, false, 0, n); err == nil {
		t.Fatal("deleting a missing ioeventfd succeeded")
	}
	check(t, dev.SetEnabled(false))
	e.rec.take()
	check(t, dev.AddEventfd(0x20, 4, true, 1, n))
	expectLog(t, e.rec.take())
	check(t, dev.SetEnabled(true))
	expectLog(t, e.rec.take(),
		"A begin", "B begin",
		"A region_add [0x1000,0x1fff] dev@0x0", "B region_add [0x1000,0x1fff] dev@0x0",
		"B eventfd_add 0x1020+4 match=true data=0x1", "A eventfd_add 0x1020+4 match=true data=0x1",
		"A commit", "B commit")
	e.as.RemoveListeners()
}

// R-TX-3: per address space in creation order, the region callbacks and
// then that space's ioeventfd callbacks, before the next space.
func TestListenerSpacesInCreationOrder(t *testing.T) {
	e := newListenerEnv(t)
	dev := e.add("dev", KindIO, 0, 0x1000)
	check(t, dev.AddEventfd(0, 0, false, 0, NewEventNotifier(nil)))
	b := must[*AddressSpace](t)(e.s.NewAddressSpace(e.root, "b"))
	check(t, b.AddListener(e.rec.listener("B", 0))) // registered first, lower priority
	check(t, e.as.AddListener(e.rec.listener("A", 1)))
	e.rec.take()
	check(t, dev.SetAddress(0x1000))
	expectLog(t, e.rec.take(),
		"B begin", "A begin",
		"A region_del [0x0,0xfff] dev@0x0", "A region_add [0x1000,0x1fff] dev@0x0",
		"A eventfd_del 0x0+0 match=false data=0x0", "A eventfd_add 0x1000+0 match=false data=0x0",
		"B region_del [0x0,0xfff] dev@0x0", "B region_add [0x1000,0x1fff] dev@0x0",
		"B eventfd_del 0x0+0 match=false data=0x0", "B eventfd_add 0x1000+0 match=false data=0x0",
		"B commit", "A commit")
	e.as.RemoveListeners()
	b.RemoveListeners()
}

// R-FVROOT-2, R-LSN-4, R-LSN-7: spaces sharing a view get the same
// callbacks for the same transition, with sections of that one view; each
// section names its own space and carries the range's attributes.
func TestListenerSharedView(t *testing.T) {
	e := newListenerEnv(t)
	r := e.add("r", KindRAM, 0, 0x1000)
	// b is rooted at a full-size alias of the root: same flat-view root.
	full := must[*Region](t)(e.s.NewAlias(nil, "full", e.root, 0, 0x10000))
	b := must[*AddressSpace](t)(e.s.NewAddressSpace(full, "b"))
	if b.View() != e.as.View() {
		t.Fatal("the spaces do not share the view")
	}
	type call struct {
		what string
		sec  Section
	}
	record := func(calls *[]call) *Listener {
		return &Listener{
			RegionAdd: func(s Section) { *calls = append(*calls, call{"add", s}) },
			RegionDel: func(s Section) { *calls = append(*calls, call{"del", s}) },
			RegionNop: func(s Section) { *calls = append(*calls, call{"nop", s}) },
		}
	}
	var ca, cb []call
	check(t, e.as.AddListener(record(&ca)))
	check(t, b.AddListener(record(&cb)))
	ca, cb = nil, nil
	e.s.Begin()
	check(t, r.SetReadonly(true))
	check(t, e.root.AddSubregion(0x2000, must[*Region](t)(e.s.NewIO(nil, "io", 0x100, nil))))
	check(t, e.s.Commit())
	if len(ca) != 3 || len(ca) != len(cb) {
		t.Fatalf("callbacks: %d and %d, want 3 each", len(ca), len(cb))
	}
	view := e.as.View()
	if b.View() != view {
		t.Fatal("the spaces do not share the new view")
	}
	for i := range ca {
		x, y := ca[i], cb[i]
		if x.sec.Space != e.as || y.sec.Space != b {
			t.Fatalf("call %d: sections name spaces %v and %v", i, x.sec.Space, y.sec.Space)
		}
		x.sec.Space, y.sec.Space = nil, nil
		if x != y {
			t.Fatalf("call %d differs: %+v vs %+v", i, x, y)
		}
	}
	// R-LSN-7: section contents.
	want := Section{View: view, Region: r, OffsetInRegion: 0, Addr: 0, Size: 0x1000, Readonly: true, RomdMode: true}
	del, add := ca[0], ca[1]
	add.sec.Space = nil
	if del.what != "del" || del.sec.Readonly || add.what != "add" || add.sec != want {
		t.Fatalf("sections: %+v / %+v, want del then %+v", del, add, want)
	}
	e.as.RemoveListeners()
	b.RemoveListeners()
}

// R-LSN-11: a listener may not have both LogSync and LogSyncGlobal; a
// listener registers with one space at a time.
func TestListenerRegistrationErrors(t *testing.T) {
	e := newListenerEnv(t)
	bad := &Listener{Name: "bad", LogSync: func(Section) {}, LogSyncGlobal: func() {}}
	if err := e.as.AddListener(bad); err == nil {
		t.Fatal("a listener with LogSync and LogSyncGlobal was registered")
	}
	l := &Listener{Name: "l"}
	check(t, e.as.AddListener(l))
	if err := e.as.AddListener(l); err == nil {
		t.Fatal("a listener was registered twice")
	}
	b := must[*AddressSpace](t)(e.s.NewAddressSpace(e.root, "b"))
	if err := b.AddListener(l); err == nil {
		t.Fatal("a listener was registered with two spaces")
	}
	check(t, e.as.RemoveListener(l))
	check(t, b.AddListener(l))
	b.RemoveListeners()
	check(t, b.Destroy())
	if err := b.AddListener(&Listener{}); err == nil {
		t.Fatal("a listener was registered with a destroyed space")
	}
}

// DESIGN §5, R-LSN-*: a listener callback cannot change the topology: every
// mutator fails with an error and changes nothing.
func TestListenerCannotMutate(t *testing.T) {
	e := newListenerEnv(t)
	r := e.add("r", KindRAM, 0, 0x1000)
	spare := must[*Region](t)(e.s.NewIO(nil, "spare", 0x1000, nil))
	alias := must[*Region](t)(e.s.NewAlias(nil, "alias", r, 0, 0x1000))
	check(t, e.root.AddSubregion(0x8000, alias))
	other := &Listener{Name: "other"}
	tried := 0
	l := &Listener{Name: "meddler"}
	l.RegionAdd = func(Section) {
		before := treeText(e.s, e.root, spare)
		for name, err := range map[string]error{
			"AddSubregion":    e.root.AddSubregion(0x4000, spare),
			"DelSubregion":    e.root.DelSubregion(r),
			"SetAddress":      r.SetAddress(0x3000),
			"SetEnabled":      r.SetEnabled(false),
			"SetReadonly":     r.SetReadonly(true),
			"SetSize":         r.SetSize(0x10),
			"SetAliasOffset":  alias.SetAliasOffset(0x10),
			"SetAlias":        alias.SetAlias(spare, 0),
			"SetLogVGA":       r.SetLogVGA(true),
			"AddEventfd":      r.AddEventfd(0, 0, false, 0, NewEventNotifier(nil)),
			"AddCoalescing":   r.AddCoalescing(0, 0x10),
			"AddListener":     e.as.AddListener(other),
			"RemoveListener":  e.as.RemoveListener(l),
			"Destroy":         e.as.Destroy(),
			"NewAddressSpace": func() error { _, err := e.s.NewAddressSpace(e.root, "x"); return err }(),
		} {
			tried++
			if err == nil {
				t.Errorf("%s succeeded inside a listener callback", name)
			}
		}
		if after := treeText(e.s, e.root, spare); after != before {
			t.Errorf("the tree changed inside a callback:\n%s\nwas:\n%s", after, before)
		}
	}
	check(t, e.as.AddListener(l))
	if tried == 0 {
		t.Fatal("the callback did not run")
	}
	check(t, e.as.RemoveListener(l))
	if len(e.s.spaces) != 1 || other.Space() != nil {
		t.Fatal("a callback registered a listener or created a space")
	}
}

// R-TX-6 (deviation): only the spaces whose view was rendered again hear
// about the commit beyond begin and commit; a space whose root resolves to
// nothing keeps the empty view and hears nothing else (as in QEMU).
func TestListenerNopsOnlyForRenderedViews(t *testing.T) {
	e := newListenerEnv(t)
	r := e.add("r", KindRAM, 0, 0x1000)
	e.add("s", KindRAM, 0x1000, 0x1000)
	other := must[*Region](t)(e.s.NewContainer(nil, "other", math.MaxUint64))
	check(t, other.AddSubregion(0, must[*Region](t)(e.s.NewIO(nil, "io", 0x10, nil))))
	b := must[*AddressSpace](t)(e.s.NewAddressSpace(other, "b"))
	empty := must[*Region](t)(e.s.NewContainer(nil, "empty", 0x1000))
	c := must[*AddressSpace](t)(e.s.NewAddressSpace(empty, "c"))
	if c.View() != e.s.empty || c.View().Root() != nil || !c.View().Empty() {
		t.Fatal("a space rooted at an empty container does not share the empty view (R-FVROOT-2)")
	}
	check(t, e.as.AddListener(e.rec.listener("A", 0)))
	check(t, b.AddListener(e.rec.listener("B", 0)))
	check(t, c.AddListener(e.rec.listener("C", 0)))
	e.rec.take()
	check(t, r.SetReadonly(true))
	expectLog(t, e.rec.take(),
		"A begin", "B begin", "C begin",
		"A region_del [0x0,0xfff] r@0x0",
		"A region_add [0x0,0xfff] r@0x0 ro",
		"A region_nop [0x1000,0x1fff] s@0x0",
		"A commit", "B commit", "C commit")
	e.as.RemoveListeners()
	b.RemoveListeners()
	c.RemoveListeners()
}

// R-LSN-8, R-TX-3, R-FVROOT-1: with global dirty tracking on, a new
// listener hears log_global_start and log_start(0, mask) in its replay;
// turning tracking on reaches views rendered from a region below the
// spaces' roots (a bus master seeing system memory through its own
// container and alias).
func TestListenerGlobalDirty(t *testing.T) {
	_, s := newTestSystem(t)
	m := must[*Region](t)
	sysmem := m(s.NewContainer(nil, "system", math.MaxUint64))
	check(t, sysmem.AddSubregion(0, m(s.NewRAM(nil, "ram", 0x1000))))
	check(t, sysmem.AddSubregion(0x4000, m(s.NewIO(nil, "mmio", 0x1000, nil))))
	bm := m(s.NewContainer(nil, "bus master", math.MaxUint64))
	check(t, bm.AddSubregion(0, m(s.NewAlias(nil, "bus master alias", sysmem, 0, math.MaxUint64))))
	as := must[*AddressSpace](t)(s.NewAddressSpace(bm, "dma"))
	rec := &recorder{}
	check(t, as.AddListener(rec.listener("A", 0)))
	rec.take()
	check(t, s.GlobalDirtyLogStart(1))
	expectLog(t, rec.take(),
		"A log_global_start",
		"A begin",
		"A region_nop [0x0,0xfff] ram@0x0",
		"A log_start [0x0,0xfff] ram@0x0 0->4",
		"A region_nop [0x4000,0x4fff] mmio@0x0",
		"A commit")
	check(t, as.AddListener(rec.listener("B", 1)))
	expectLog(t, rec.take(),
		"B begin",
		"B log_global_start",
		"B region_add [0x0,0xfff] ram@0x0",
		"B log_start [0x0,0xfff] ram@0x0 0->4",
		"B region_add [0x4000,0x4fff] mmio@0x0",
		"B commit")
	check(t, s.GlobalDirtyLogStop(1))
	expectLog(t, rec.take(),
		"A begin", "B begin",
		"A region_nop [0x0,0xfff] ram@0x0", "B region_nop [0x0,0xfff] ram@0x0",
		"B log_stop [0x0,0xfff] ram@0x0 4->0", "A log_stop [0x0,0xfff] ram@0x0 4->0",
		"A region_nop [0x4000,0x4fff] mmio@0x0", "B region_nop [0x4000,0x4fff] mmio@0x0",
		"A commit", "B commit",
		"B log_global_stop", "A log_global_stop")
	as.RemoveListeners()
}
