package memory

import (
	"strings"
	"testing"
)

// R-KIND-7, cycle.go: a loop through an alias whose window lies outside
// the alias ends by clipping and is accepted (QEMU renders it; ARM SSE-200
// does this); one whose window shows the alias again never ends and is
// refused; so is a chain of aliases alone; an accepted loop that a later
// change would make endless refuses that change.
func TestAliasLoops(t *testing.T) {
	_, s := newTestSystem(t)
	m := must[*Region](t)
	c := m(s.NewContainer(nil, "container", 0x10000))
	ram := m(s.NewRAM(nil, "ram", 0x1000))
	check(t, c.AddSubregion(0, ram))
	as := must[*AddressSpace](t)(s.NewAddressSpace(c, "as"))

	// The window [0, 0x1000) of the container, placed at 0x8000: shows the
	// RAM again there; the alias itself (at 0x8000) is outside its window.
	mirror := m(s.NewAlias(nil, "mirror", c, 0, 0x1000))
	check(t, c.AddSubregion(0x8000, mirror))
	want := "" +
		"0000000000000000-0000000000000fff (prio 0, ram): ram\n" +
		"0000000000008000-0000000000008fff (prio 0, ram): ram\n"
	if got := viewText(as.View()); got != want {
		t.Fatalf("view:\n%s\nwant:\n%s", got, want)
	}
	check(t, Verify(as))

	// A window that contains the alias itself never ends.
	self := m(s.NewAlias(nil, "self", c, 0x4000, 0x1000))
	err := c.AddSubregion(0x4000, self)
	if err == nil || !strings.Contains(err.Error(), "never ends") {
		t.Fatalf("self-showing alias: %v", err)
	}
	// Moving the accepted mirror onto its own window is refused too, and
	// nothing changes.
	err = mirror.SetAliasOffset(0x8000)
	if err == nil || !strings.Contains(err.Error(), "never ends") {
		t.Fatalf("offset onto itself: %v", err)
	}
	if got := viewText(as.View()); got != want {
		t.Fatalf("view changed after refused change:\n%s", got)
	}
	// Aliases alone cannot loop.
	a1 := m(s.NewAlias(nil, "a1", ram, 0, 0x100))
	a2 := m(s.NewAlias(nil, "a2", a1, 0, 0x100))
	err = a1.SetAlias(a2, 0x10)
	if err == nil || !strings.Contains(err.Error(), "aliases alone") {
		t.Fatalf("alias chain loop: %v", err)
	}
	// A container inside its own alias-free descendant is refused.
	inner := m(s.NewContainer(nil, "inner", 0x100))
	check(t, c.AddSubregion(0x2000, inner))
	err = inner.AddSubregion(0, c)
	if err == nil || !strings.Contains(err.Error(), "already in container") && !strings.Contains(err.Error(), "itself") {
		t.Fatalf("container cycle: %v", err)
	}
}
