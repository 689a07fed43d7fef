package memory

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// buildNested builds n non-overlapping 4 KiB MMIO leaves under two levels
// of containers (16 groups of 16 subgroups), inserted in random order, and
// returns the root.
//
// The leaves are created container by container, as devices create their
// regions, and then inserted into their containers in one random order
// across the whole tree. With shuffledAlloc they are also created in that
// random order, so that neighbours in the tree lie far apart in memory: the
// adversarial case for the cache and the TLB (see BENCHMARKS.md).
func buildNested(tb testing.TB, s *System, n int, shuffledAlloc ...bool) *Region {
	tb.Helper()
	const groups, subs = 16, 16
	per := (n + groups*subs - 1) / (groups * subs)
	leafSpan := uint64(0x2000) // leaf plus an equal gap
	subSize := uint64(per) * leafSpan
	grpSize := subSize * subs
	root, err := s.NewContainer(nil, "root", ^uint64(0))
	if err != nil {
		tb.Fatal(err)
	}
	type placement struct {
		c    *Region
		addr uint64
		leaf *Region
	}
	var leaves []placement
	for g := 0; g < groups; g++ {
		gc, _ := s.NewContainer(nil, fmt.Sprintf("g%d", g), grpSize)
		for k := 0; k < subs; k++ {
			sc, _ := s.NewContainer(nil, fmt.Sprintf("g%d.%d", g, k), subSize)
			for i := 0; i < per && len(leaves) < n; i++ {
				leaves = append(leaves, placement{c: sc, addr: uint64(i) * leafSpan})
			}
			if err := gc.AddSubregion(uint64(k)*subSize, sc); err != nil {
				tb.Fatal(err)
			}
		}
		if err := root.AddSubregion(uint64(g)*grpSize, gc); err != nil {
			tb.Fatal(err)
		}
	}
	shuffled := len(shuffledAlloc) > 0 && shuffledAlloc[0]
	newLeaf := func(i int) *Region {
		leaf, err := s.NewIO(nil, fmt.Sprintf("leaf%d", i), 0x1000, nil)
		if err != nil {
			tb.Fatal(err)
		}
		return leaf
	}
	if !shuffled {
		for i := range leaves {
			leaves[i].leaf = newLeaf(i)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	rng.Shuffle(len(leaves), func(i, j int) { leaves[i], leaves[j] = leaves[j], leaves[i] })
	s.Begin()
	for i, p := range leaves {
		leaf := p.leaf
		if shuffled {
			leaf = newLeaf(i)
		}
		if err := p.c.AddSubregion(p.addr, leaf); err != nil {
			tb.Fatal(err)
		}
	}
	if err := s.Commit(); err != nil {
		tb.Fatal(err)
	}
	return root
}

// BenchmarkRender measures one render of a tree of N leaves (the whole
// flat view, sorted and simplified). DESIGN §6; issue: N=65536 within 25x of
// N=4096.
func BenchmarkRender(b *testing.B) {
	for _, c := range []struct {
		name     string
		n        int
		shuffled bool
	}{{"N=4096", 4096, false}, {"N=65536", 65536, false}, {"N=4096/shuffled-alloc", 4096, true}, {"N=65536/shuffled-alloc", 65536, true}} {
		n := c.n
		b.Run(c.name, func(b *testing.B) {
			_, s := newTestSystem(b)
			root := buildNested(b, s, n, c.shuffled)
			b.ReportAllocs()
			b.ResetTimer()
			var v *FlatView
			for i := 0; i < b.N; i++ {
				v = s.render(root)
			}
			b.StopTimer()
			if len(v.Ranges()) != n {
				b.Fatalf("rendered %d ranges, want %d", len(v.Ranges()), n)
			}
		})
	}
}
