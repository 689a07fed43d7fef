package qom_test

import (
	"strings"
	"testing"

	"qmem.dev/qmem/qom"
)

// DESIGN L8: a strong link cycle between two unplugged devices is reported
// with both objects and the properties that form the cycle; breaking the
// cycle finalizes both.
func TestLeakReportStrongCycle(t *testing.T) {
	e := newMachine(t)
	a := e.plug(t, typeGadget, "a")
	b := e.plug(t, typeGadget, "b")
	must(t, a.SetLink("peer", &b.Object))
	must(t, b.SetLink("peer", &a.Object))
	must(t, e.r.Unplug(&a.Device))
	must(t, e.r.Unplug(&b.Device))
	if a.Finalized() || b.Finalized() {
		t.Fatal("a cycle was collected")
	}
	leaks := e.r.Leaks()
	if len(leaks) != 2 || leaks[0].Object != &a.Object || leaks[1].Object != &b.Object {
		t.Fatalf("leaks:\n%s", qom.FormatLeaks(leaks))
	}
	an, bn := leaks[0].Name, leaks[1].Name
	wantCycle := an + " -> [strong link<gadget> property 'peer'] " + bn + " -> [strong link<gadget> property 'peer'] " + an
	for i, l := range leaks {
		if strings.Join(l.Cycle, " -> ") != wantCycle {
			t.Errorf("leak %d cycle:\n got %s\nwant %s", i, strings.Join(l.Cycle, " -> "), wantCycle)
		}
		other := leaks[1-i]
		if len(l.RetainedBy) != 1 || l.RetainedBy[0].Holder != other.Name ||
			l.RetainedBy[0].Via != "strong link<gadget> property 'peer'" || l.RetainedBy[0].Reachable {
			t.Errorf("leak %d retained by %+v", i, l.RetainedBy)
		}
		if l.Type != typeGadget || l.Refs != 1 {
			t.Errorf("leak %d: type %s refs %d", i, l.Type, l.Refs)
		}
	}
	if leaks[0].LastPath != "/machine/peripheral/a" || leaks[1].LastPath != "/machine/peripheral/b" {
		t.Errorf("last paths %q %q", leaks[0].LastPath, leaks[1].LastPath)
	}
	text := qom.FormatLeaks(leaks)
	for _, want := range []string{
		"leaked " + an + " (gadget, 1 refs, was /machine/peripheral/a)\n",
		"  retained by " + bn + " via strong link<gadget> property 'peer'\n",
		"  cycle: " + wantCycle + "\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("report lacks %q:\n%s", want, text)
		}
	}
	// Break the cycle: both die.
	must(t, a.SetLinkTarget("peer", nil))
	if !a.Finalized() || !b.Finalized() {
		t.Fatal("breaking the cycle did not finalize both devices")
	}
	if got := qom.FormatLeaks(e.r.Leaks()); got != "no leaks\n" {
		t.Fatalf("after breaking the cycle:\n%s", got)
	}
}

// DESIGN L8: a child holding a strong link to its own parent is a cycle
// through a child property and a link; an object linking to itself is a
// cycle of one.
func TestLeakReportParentChildCycle(t *testing.T) {
	e := newMachine(t)
	p := e.plug(t, typeGadget, "p")
	kid := e.newGadget(t, typeGadget)
	_, err := p.AddChild("kid", kid)
	must(t, err)
	kid.Unref()
	must(t, kid.SetLink("peer", &p.Object))
	self := e.plug(t, typeGadget, "self")
	must(t, self.SetLink("peer", &self.Object))
	must(t, e.r.Unplug(&p.Device))
	must(t, e.r.Unplug(&self.Device))
	leaks := e.r.Leaks()
	if len(leaks) != 3 {
		t.Fatalf("leaks:\n%s", qom.FormatLeaks(leaks))
	}
	pn, kn, sn := leaks[0].Name, leaks[1].Name, leaks[2].Name
	if kn != pn+"/kid" {
		t.Errorf("child named %q under %q", kn, pn)
	}
	want := pn + " -> [child property 'kid'] " + kn + " -> [strong link<gadget> property 'peer'] " + pn
	for _, l := range leaks[:2] {
		if got := strings.Join(l.Cycle, " -> "); got != want {
			t.Errorf("cycle of %s:\n got %s\nwant %s", l.Name, got, want)
		}
	}
	if got := strings.Join(leaks[2].Cycle, " -> "); got != sn+" -> [strong link<gadget> property 'peer'] "+sn {
		t.Errorf("self cycle: %s", got)
	}
	if leaks[1].LastPath != "/machine/peripheral/p/kid" {
		t.Errorf("kid last path %q", leaks[1].LastPath)
	}
	must(t, kid.SetLinkTarget("peer", nil))
	must(t, self.SetLinkTarget("peer", nil))
	if !p.Finalized() || !kid.Finalized() || !self.Finalized() {
		t.Fatal("not finalized after breaking the cycles")
	}
}

// DESIGN L8: the holder chain follows named holds outwards to an untracked
// reference; a leak held from the live tree says its holder is reachable.
func TestLeakReportChains(t *testing.T) {
	e := newMachine(t)
	r := e.r
	x := newObj(t, r, plain)
	y := newObj(t, r, plain)
	z := newObj(t, r, plain)
	x.RefHold(qom.Hold{By: y, Via: "mapping of y"})
	y.RefHold(qom.Hold{By: z, Via: "queue of z"})
	y.RefHold(qom.Hold{By: z, Via: "queue of z"})
	x.Unref() // only the hold keeps x
	y.Unref()
	leaks := r.Leaks()
	if len(leaks) != 3 {
		t.Fatalf("leaks:\n%s", qom.FormatLeaks(leaks))
	}
	xl, yl, zl := leaks[0], leaks[1], leaks[2]
	if got := strings.Join(xl.Chain, " <- "); got != xl.Name+" <- "+yl.Name+" (mapping of y) <- "+zl.Name+" (queue of z)" {
		t.Errorf("chain: %s", got)
	}
	if len(yl.RetainedBy) != 1 || yl.RetainedBy[0].Count != 2 || yl.Refs != 2 {
		t.Errorf("y retained by %+v (refs %d)", yl.RetainedBy, yl.Refs)
	}
	if len(zl.RetainedBy) != 1 || zl.RetainedBy[0].Holder != "" || !strings.HasPrefix(zl.RetainedBy[0].Via, "untracked reference") {
		t.Errorf("z retained by %+v", zl.RetainedBy)
	}
	text := qom.FormatLeaks(leaks)
	if !strings.Contains(text, "via queue of z x2\n") || !strings.Contains(text, "retained by (no object) via untracked reference") {
		t.Errorf("report:\n%s", text)
	}
	if len(xl.Cycle) != 0 {
		t.Errorf("a chain reported as a cycle: %v", xl.Cycle)
	}
	x.UnrefHold(qom.Hold{By: y, Via: "mapping of y"})
	y.UnrefHold(qom.Hold{By: z, Via: "queue of z"})
	y.UnrefHold(qom.Hold{By: z, Via: "queue of z"})
	z.Unref()
	if !x.Finalized() || !y.Finalized() || !z.Finalized() {
		t.Fatal("chain not finalized")
	}

	// Anchored in the live tree: a plugged device keeps an unplugged one.
	keeper := e.plug(t, typeGadget, "keeper")
	gone := e.plug(t, typeGadget, "gone")
	must(t, keeper.SetLink("peer", &gone.Object))
	must(t, r.Unplug(&gone.Device))
	leaks = r.Leaks()
	if len(leaks) != 1 || !leaks[0].RetainedBy[0].Reachable || leaks[0].RetainedBy[0].Holder != "/machine/peripheral/keeper" {
		t.Fatalf("anchored leak:\n%s", qom.FormatLeaks(leaks))
	}
	if got := strings.Join(leaks[0].Chain, " <- "); got != leaks[0].Name+" <- /machine/peripheral/keeper (strong link<gadget> property 'peer')" {
		t.Errorf("anchored chain: %s", got)
	}
	must(t, keeper.SetLink("peer", nil))
	if !gone.Finalized() {
		t.Fatal("gone survived")
	}
}

// DESIGN L8: holds must balance; creation sites are recorded on request.
func TestLeakHoldsAndSites(t *testing.T) {
	r := newReg(t)
	registerPlain(t, r)
	o := newObj(t, r, plain)
	v := wantPanic(t, func() { o.UnrefHold(qom.Hold{Via: "never taken"}) })
	if s, _ := v.(string); !strings.Contains(s, `no reference held by "never taken"`) {
		t.Fatalf("panic %v", v)
	}
	if o.RefCount() != 1 {
		t.Fatal("a refused UnrefHold dropped a reference")
	}
	o.Unref()
	if dead := wantPanic(t, func() { o.RefHold(qom.Hold{Via: "late"}) }); !isFinalizedError(dead) {
		t.Fatalf("RefHold of a dead object: %v", dead)
	}

	r.TrackSites = true
	tracked := newObj(t, r, plain)
	leaks := r.Leaks()
	if len(leaks) != 1 || !strings.Contains(leaks[0].Site, "helpers_test.go:") {
		t.Fatalf("site %q", leaks[0].Site)
	}
	if !strings.Contains(leaks[0].String(), " created at ") {
		t.Fatalf("report without site: %s", leaks[0])
	}
	tracked.Unref()
	if qom.FormatLeaks(nil) != "no leaks\n" {
		t.Fatal("empty report")
	}
}
