package memory

import (
	"slices"
	"sort"
	"testing"
	"unsafe"

	"pgregory.net/rapid"
)

// lastAtOrBelow is the reference for rangeIndex.find.
func lastAtOrBelow(starts []uint64, addr uint64) int {
	return sort.Search(len(starts), func(i int) bool { return starts[i] > addr }) - 1
}

// checkIndex compares find with the reference at every start, its
// neighbours, both ends of the address space and the given addresses.
func checkIndex(t interface {
	Helper()
	Fatalf(string, ...any)
}, starts []uint64, more ...uint64) {
	t.Helper()
	x := newRangeIndex(starts)
	for h, level := range x.levels {
		if len(level)%indexFanout != 0 || uintptr(unsafe.Pointer(&level[0]))%64 != 0 {
			t.Fatalf("level %d: %d keys at %p, want whole aligned nodes", h, len(level), &level[0])
		}
	}
	if top := x.levels[0]; len(top) != indexFanout {
		t.Fatalf("top level has %d keys", len(top))
	}
	addrs := append([]uint64{0, 1, ^uint64(0), ^uint64(0) - 1}, more...)
	for _, s := range starts {
		addrs = append(addrs, s-1, s, s+1)
	}
	for _, a := range addrs {
		if got, want := x.find(a), lastAtOrBelow(starts, a); got != want {
			t.Fatalf("%d starts: find(%#x) = %d, want %d", len(starts), a, got, want)
		}
	}
}

// The index answers like a search of the sorted starts at the sizes where
// its levels fill up or gain a node, with the extreme keys 0 and 2^64-1.
func TestRangeIndexSizes(t *testing.T) {
	for _, n := range []int{0, 1, 2, 7, 8, 9, 63, 64, 65, 511, 512, 513, 4095, 4096, 4097, 40000} {
		for _, shape := range []struct {
			name  string
			start func(i int) uint64
		}{
			{"dense", func(i int) uint64 { return uint64(i) }},
			{"spread", func(i int) uint64 { return uint64(i) * 0x1000 }},
			{"from-top", func(i int) uint64 { return ^uint64(0) - uint64(n-1-i)*3 }},
		} {
			starts := make([]uint64, n)
			for i := range starts {
				starts[i] = shape.start(i)
			}
			t.Run(shape.name, func(t *testing.T) { checkIndex(t, starts) })
		}
	}
}

// Property: for any strictly increasing starts and any address, find is
// the last start at or below the address.
func TestRangeIndexMatchesSearch(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		set := rapid.SliceOfDistinct(rapid.Uint64(), rapid.ID[uint64]).Draw(t, "starts")
		slices.Sort(set)
		more := rapid.SliceOf(rapid.Uint64()).Draw(t, "addrs")
		checkIndex(t, set, more...)
	})
}

// The index's nodes start on cache lines, and the fields of a dispatch
// entry that an access reads lie within one line, for every view size.
func TestDispatchIndexAligned(t *testing.T) {
	used := unsafe.Offsetof(dispatchEntry{}.writable) + 1
	if used > 56 {
		t.Fatalf("an entry's fields take %d bytes: they no longer fit a line 8 bytes in", used)
	}
	for n := 0; n <= 1100; n++ {
		v := &FlatView{ranges: make([]FlatRange, n)}
		for i := range v.ranges {
			v.ranges[i] = FlatRange{Start: uint64(i) * 16, Last: uint64(i)*16 + 15}
		}
		v.buildIndexFrom(make([]leafInfo, n))
		if n > 0 {
			if off := uintptr(unsafe.Pointer(&v.disp[0])) % 64; off+used > 64 {
				t.Fatalf("%d entries at %p: an entry's fields cross a cache line", n, &v.disp[0])
			}
		}
		for h, level := range v.index.levels {
			if uintptr(unsafe.Pointer(&level[0]))%64 != 0 {
				t.Fatalf("%d ranges: index level %d at %p", n, h, &level[0])
			}
		}
	}
}
