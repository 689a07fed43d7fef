package memory

import (
	"testing"
)

// R-SUB-6, R-FLAT-4, R-FLAT-7: the A/B/C/D/E example of docs/devel/memory.rst
// (SPEC A.21 example 2).
func TestRenderDocsExample(t *testing.T) {
	_, s := newTestSystem(t)
	m := must[*Region](t)
	a := m(s.NewContainer(nil, "A", 0x8000))
	b := m(s.NewContainer(nil, "B", 0x4000))
	c := m(s.NewIO(nil, "C", 0x6000, nil))
	d := m(s.NewIO(nil, "D", 0x1000, nil))
	e := m(s.NewIO(nil, "E", 0x1000, nil))
	check(t, b.AddSubregion(0, d))
	check(t, b.AddSubregion(0x2000, e))
	check(t, a.AddSubregionOverlap(0x2000, b, 2))
	check(t, a.AddSubregionOverlap(0, c, 1))
	as := must[*AddressSpace](t)(s.NewAddressSpace(a, "demo"))
	want := "" +
		"0000000000000000-0000000000001fff (prio 1, i/o): C\n" +
		"0000000000002000-0000000000002fff (prio 0, i/o): D\n" +
		"0000000000003000-0000000000003fff (prio 1, i/o): C @0000000000003000\n" +
		"0000000000004000-0000000000004fff (prio 0, i/o): E\n" +
		"0000000000005000-0000000000005fff (prio 1, i/o): C @0000000000005000\n"
	if got := viewText(as.View()); got != want {
		t.Fatalf("view:\n%s\nwant:\n%s", got, want)
	}
}
