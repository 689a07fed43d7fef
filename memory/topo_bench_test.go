package memory

import (
	"fmt"
	"math"
	"testing"
)

// manySpaces builds system memory with n ranges (MMIO leaves with gaps, so
// nothing merges) and m bus-master address spaces, each rooted at its own
// container holding one enabled full-size alias of system memory, the way
// PCI devices see memory (R-FVROOT-1, R-FVROOT-4).
func manySpaces(tb testing.TB, s *System, n, m int) (sysmem *Region, leaves []*Region, spaces []*AddressSpace) {
	tb.Helper()
	var err error
	sysmem, err = s.NewContainer(nil, "system", math.MaxUint64)
	if err != nil {
		tb.Fatal(err)
	}
	s.Begin()
	for i := 0; i < n; i++ {
		// Distinct names: "[N]" numbering of equal names is linear per name.
		leaf, err := s.NewIO(nil, fmt.Sprintf("mmio%d", i), 0x1000, nil)
		if err != nil {
			tb.Fatal(err)
		}
		if err := sysmem.AddSubregion(uint64(i)*0x2000, leaf); err != nil {
			tb.Fatal(err)
		}
		leaves = append(leaves, leaf)
	}
	if err := s.Commit(); err != nil {
		tb.Fatal(err)
	}
	for i := 0; i < m; i++ {
		root, err := s.NewContainer(nil, fmt.Sprintf("bus master container %d", i), math.MaxUint64)
		if err != nil {
			tb.Fatal(err)
		}
		alias, err := s.NewAlias(nil, fmt.Sprintf("bus master alias %d", i), sysmem, 0, math.MaxUint64)
		if err != nil {
			tb.Fatal(err)
		}
		if err := root.AddSubregion(0, alias); err != nil {
			tb.Fatal(err)
		}
		as, err := s.NewAddressSpace(root, fmt.Sprintf("dev%d", i))
		if err != nil {
			tb.Fatal(err)
		}
		spaces = append(spaces, as)
	}
	return sysmem, leaves, spaces
}

// expectOneSharedView checks that every space shows the same view of
// system memory, with n ranges.
func expectOneSharedView(tb testing.TB, sysmem *Region, spaces []*AddressSpace, n int) {
	tb.Helper()
	v := spaces[0].View()
	if v.Root() != sysmem || len(v.Ranges()) != n {
		tb.Fatalf("view of %v with %d ranges, want system memory with %d", v.Root(), len(v.Ranges()), n)
	}
	for _, as := range spaces {
		if as.View() != v {
			tb.Fatalf("%s does not share the view", as.Name())
		}
	}
}

// BenchmarkManyAddressSpaces measures one commit that changes system
// memory (a leaf toggled on or off) with M bus-master spaces sharing its
// view: one render per commit whatever M (R-FVROOT-2), reported as
// renders/commit. DESIGN §6.
func BenchmarkManyAddressSpaces(b *testing.B) {
	const n = 4096
	for _, m := range []int{1024} {
		b.Run(fmt.Sprintf("M=%d", m), func(b *testing.B) {
			_, s := newTestSystem(b)
			sysmem, leaves, spaces := manySpaces(b, s, n, m)
			expectOneSharedView(b, sysmem, spaces, n)
			leaf := leaves[n/2]
			before := s.Stats()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := leaf.SetEnabled(i%2 == 1); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			d := statsSince(s, before)
			if d.Commits != uint64(b.N) {
				b.Fatalf("%d commits for %d changes", d.Commits, b.N)
			}
			b.ReportMetric(float64(d.Renders)/float64(d.Commits), "renders/commit")
			if d.Renders != d.Commits {
				b.Fatalf("%d renders for %d commits, want one each", d.Renders, d.Commits)
			}
			want := n
			if b.N%2 == 1 {
				want-- // the leaf was left disabled
			}
			expectOneSharedView(b, sysmem, spaces, want)
		})
	}
}

// TestManyAddressSpacesShareOneView is the benchmark's shape as a test:
// R-FVROOT-1 (the walk descends through the container and the full-size
// alias), R-FVROOT-2 (one view, rendered once per commit), R-FVROOT-4 (a
// disabled alias resolves to nothing).
func TestManyAddressSpacesShareOneView(t *testing.T) {
	_, s := newTestSystem(t)
	sysmem, leaves, spaces := manySpaces(t, s, 64, 32)
	expectOneSharedView(t, sysmem, spaces, 64)
	before := s.Stats()
	check(t, leaves[3].SetEnabled(false))
	if d := statsSince(s, before); d.Renders != 1 || d.Commits != 1 {
		t.Fatalf("%+v, want one render and one commit", d)
	}
	expectOneSharedView(t, sysmem, spaces, 63)
	// Bus mastering off for one device: its alias is disabled, its space
	// shows nothing, the others keep sharing.
	alias := spaces[5].Root().Subregions()[0]
	before = s.Stats()
	check(t, alias.SetEnabled(false))
	if d := statsSince(s, before); d.Renders != 0 {
		t.Fatalf("disabling one bus master rendered %d views", d.Renders)
	}
	if spaces[5].View() != s.empty {
		t.Fatal("a disabled bus master does not see the empty view")
	}
	check(t, alias.SetEnabled(true))
	expectOneSharedView(t, sysmem, spaces, 63)
}
