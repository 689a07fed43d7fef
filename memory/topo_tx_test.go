package memory

import (
	"math"
	"testing"
)

// R-TX-1, R-TX-2: transactions nest; only the outermost Commit works;
// Commit without Begin is an error and changes nothing.
func TestTransactionNesting(t *testing.T) {
	e := newListenerEnv(t)
	check(t, e.as.AddListener(e.rec.listener("L", 0)))
	e.rec.take()
	if e.s.InTransaction() {
		t.Fatal("in a transaction at start")
	}
	if err := e.s.Commit(); err == nil {
		t.Fatal("Commit without Begin succeeded")
	}
	if e.s.InTransaction() || e.s.depth != 0 {
		t.Fatalf("depth %d after a refused Commit", e.s.depth)
	}
	before := e.s.Stats()
	e.s.Begin()
	e.add("a", KindRAM, 0, 0x1000)
	e.s.Begin()
	e.add("b", KindRAM, 0x1000, 0x1000)
	e.s.Begin()
	e.add("c", KindIO, 0x4000, 0x1000)
	check(t, e.s.Commit())
	check(t, e.s.Commit())
	if !e.s.InTransaction() {
		t.Fatal("the outer transaction closed early")
	}
	expectLog(t, e.rec.take())
	if e.as.View().Find(0) != nil {
		t.Fatal("a change inside a transaction is visible before the outermost commit")
	}
	check(t, e.s.Commit())
	// R-TX-5: the listener sees the net result once; the two RAM ranges are
	// not merged (different regions).
	expectLog(t, e.rec.take(),
		"L begin",
		"L region_add [0x0,0xfff] a@0x0",
		"L region_add [0x1000,0x1fff] b@0x0",
		"L region_add [0x4000,0x4fff] c@0x0",
		"L commit")
	if d := statsSince(e.s, before); d.Commits != 1 || d.Renders != 1 {
		t.Fatalf("nested transaction: %+v, want one commit and one render", d)
	}
	if err := e.s.Commit(); err == nil {
		t.Fatal("an extra Commit succeeded")
	}
	e.as.RemoveListeners()
}

// R-TX-5: outside a transaction each change is its own transaction, seen by
// listeners at once.
func TestTransactionLoneChange(t *testing.T) {
	e := newListenerEnv(t)
	r := e.add("r", KindRAM, 0, 0x1000)
	e.add("other", KindIO, 0x8000, 0x1000) // keeps the root the flat-view root (R-FVROOT-1)
	check(t, e.as.AddListener(e.rec.listener("L", 0)))
	e.rec.take()
	for i, change := range []func() error{
		func() error { return r.SetEnabled(false) },
		func() error { return r.SetEnabled(true) },
		func() error { return r.SetAddress(0x2000) },
		func() error { return e.root.DelSubregion(r) },
		func() error { return e.root.AddSubregion(0, r) },
	} {
		before := e.s.Stats()
		check(t, change())
		if d := statsSince(e.s, before); d.Commits != 1 || d.Renders != 1 {
			t.Fatalf("change %d: %+v, want one commit and one render", i, d)
		}
		if log := e.rec.take(); len(log) < 3 || log[0] != "L begin" || log[len(log)-1] != "L commit" {
			t.Fatalf("change %d: %v", i, log)
		}
	}
	e.as.RemoveListeners()
}

// R-TX-3, R-FVROOT-2: one render per flat-view root per outermost commit,
// however many changes touched it and however many spaces share it; a root
// nothing touched is not rendered.
func TestTransactionOneRenderPerRoot(t *testing.T) {
	_, s := newTestSystem(t)
	m := must[*Region](t)
	sysmem := m(s.NewContainer(nil, "system", math.MaxUint64))
	io := m(s.NewContainer(nil, "io", 0x10000))
	var leaves []*Region
	for i := 0; i < 8; i++ {
		l := m(s.NewRAM(nil, "ram", 0x1000))
		check(t, sysmem.AddSubregion(uint64(i)*0x1000, l))
		leaves = append(leaves, l)
	}
	check(t, io.AddSubregion(0, m(s.NewIO(nil, "port", 0x10, nil))))
	check(t, io.AddSubregion(0x80, m(s.NewIO(nil, "port", 0x10, nil))))
	var spaces []*AddressSpace
	for i := 0; i < 4; i++ {
		spaces = append(spaces, must[*AddressSpace](t)(s.NewAddressSpace(sysmem, "cpu")))
	}
	ioas := must[*AddressSpace](t)(s.NewAddressSpace(io, "I/O"))
	ioView := ioas.View()

	before := s.Stats()
	s.Begin()
	for _, l := range leaves {
		check(t, l.SetAddress(l.Addr()+0x10000))
		check(t, l.SetReadonly(true))
	}
	check(t, s.Commit())
	if d := statsSince(s, before); d.Renders != 1 || d.Commits != 1 {
		t.Fatalf("16 changes under one root shared by 4 spaces: %+v, want 1 render", d)
	}
	for _, as := range spaces[1:] {
		if as.View() != spaces[0].View() {
			t.Fatal("spaces of one root do not share the view")
		}
	}
	if ioas.View() != ioView {
		t.Fatal("an untouched root was rendered again")
	}

	before = s.Stats()
	s.Begin()
	check(t, leaves[0].SetEnabled(false))
	check(t, io.Subregions()[0].SetEnabled(false))
	check(t, s.Commit())
	if d := statsSince(s, before); d.Renders != 2 {
		t.Fatalf("two roots touched: %d renders, want 2", d.Renders)
	}
}

// R-TX-5, R-SUB-8, R-ATTR-1 (deviation: QEMU re-renders every view at every
// effective commit): nothing is rendered and no listener is called when
// nothing changed or when the change cannot be seen by any view; a change
// that is rendered but turns out invisible calls no listener either.
func TestTransactionInvisibleChanges(t *testing.T) {
	e := newListenerEnv(t)
	r := e.add("r", KindRAM, 0, 0x1000)
	e.add("other", KindIO, 0x4000, 0x1000)
	loose := must[*Region](t)(e.s.NewContainer(nil, "loose", 0x1000))
	looseChild := must[*Region](t)(e.s.NewIO(nil, "loose child", 0x100, nil))
	hidden := must[*Region](t)(e.s.NewContainer(nil, "hidden", 0x1000))
	check(t, e.root.AddSubregion(0x8000, hidden))
	hiddenChild := must[*Region](t)(e.s.NewIO(nil, "hidden child", 0x100, nil))
	check(t, hidden.AddSubregion(0, hiddenChild))
	check(t, hidden.SetEnabled(false))
	check(t, e.as.AddListener(e.rec.listener("L", 0)))
	e.rec.take()
	for _, c := range []struct {
		name    string
		change  func() error
		renders uint64
	}{
		{"same value", func() error { return r.SetEnabled(true) }, 0},
		{"same address", func() error { return r.SetAddress(0) }, 0},
		{"same size", func() error { return r.SetSize(0x1000) }, 0},
		{"region in no tree", func() error { return loose.SetEnabled(false) }, 0},
		{"subregion added in no tree", func() error { return loose.AddSubregion(0, looseChild) }, 0},
		{"readonly in no tree", func() error { return looseChild.SetReadonly(true) }, 0},
		{"empty transaction", func() error { e.s.Begin(); return e.s.Commit() }, 0},
		{"beneath a disabled region", func() error { return hiddenChild.SetAddress(0x200) }, 1},
		{"undone in the same transaction", func() error {
			e.s.Begin()
			check(t, r.SetEnabled(false))
			check(t, r.SetEnabled(true))
			return e.s.Commit()
		}, 1},
		{"failed change", func() error {
			if err := e.root.AddSubregion(0, r); err == nil {
				t.Error("double add succeeded")
			}
			return nil
		}, 0},
	} {
		before := e.s.Stats()
		view := e.as.View()
		check(t, c.change())
		if d := statsSince(e.s, before); d.Renders != c.renders || d.Commits != 0 {
			t.Errorf("%s: %+v, want %d renders and no effective commit", c.name, d, c.renders)
		}
		if e.as.View() != view {
			t.Errorf("%s: a new view was published", c.name)
		}
		expectLog(t, e.rec.take())
	}
	e.as.RemoveListeners()
}

// R-TX-3 with global dirty changes: touching every view reaches views whose
// flat-view root lies below the spaces' roots.
func TestTransactionTouchAllReachesFlatViewRoots(t *testing.T) {
	_, s := newTestSystem(t)
	m := must[*Region](t)
	sysmem := m(s.NewContainer(nil, "system", 0x10000))
	check(t, sysmem.AddSubregion(0, m(s.NewRAM(nil, "ram", 0x1000))))
	check(t, sysmem.AddSubregion(0x2000, m(s.NewRAM(nil, "ram2", 0x1000))))
	wrapper := m(s.NewContainer(nil, "bus master", math.MaxUint64))
	check(t, wrapper.AddSubregion(0, m(s.NewAlias(nil, "bus master alias", sysmem, 0, 0x10000))))
	as := must[*AddressSpace](t)(s.NewAddressSpace(wrapper, "dma"))
	if as.View().Root() != sysmem {
		t.Fatalf("flat-view root %v, want system", as.View().Root())
	}
	before := s.Stats()
	s.Begin()
	s.touchAll()
	check(t, s.Commit())
	if d := statsSince(s, before); d.Renders != 1 {
		t.Fatalf("touchAll rendered %d views, want 1", d.Renders)
	}
}

// DESIGN §5 inside a transaction: a failed change leaves the transaction
// open and the other changes in it take effect at the outermost commit.
func TestTransactionSurvivesErrors(t *testing.T) {
	e := newListenerEnv(t)
	r := e.add("r", KindRAM, 0, 0x1000)
	e.s.Begin()
	check(t, r.SetAddress(0x1000))
	if err := e.root.AddSubregion(0, r); err == nil {
		t.Fatal("double add succeeded")
	}
	if !e.s.InTransaction() {
		t.Fatal("an error closed the transaction")
	}
	check(t, e.s.Commit())
	if fr := e.as.View().Find(0x1000); fr == nil || fr.Region != r {
		t.Fatal("the change before the error was lost")
	}
}
