package memory

import "math/bits"

// rangeIndex finds, among the sorted starts of a view's ranges, the last
// start at or below an address. It is a static B+tree (built once per view,
// never changed) whose nodes are eight keys in one 64-byte cache line: a
// search reads one line per level, four levels for 4,096 ranges, where a
// binary search makes twelve dependent loads. On this project's machine a
// search of 4,096 starts took 30 - 35 ns where the branch-free binary search
// it replaced took 56 ns (BENCHMARKS.md).
//
// The bottom level is the starts themselves, the level above holds the first
// key of every node below, and so on up to a single node. Levels are padded
// to whole nodes with ^uint64(0), which no searched address reaches: the
// address ^uint64(0) is answered without a search (the last start is at or
// below it).
type rangeIndex struct {
	levels [][]uint64 // top first; each a whole number of aligned nodes
	n      int        // number of starts
}

// indexFanout is the number of keys in a node.
const indexFanout = 8

// newRangeIndex builds the index of starts, which must be strictly
// increasing.
func newRangeIndex(starts []uint64) rangeIndex {
	var sizes []int // keys per level, bottom first
	for m := len(starts); ; {
		nodes := max(1, (m+indexFanout-1)/indexFanout)
		sizes = append(sizes, nodes*indexFanout)
		if nodes == 1 {
			break
		}
		m = nodes
	}
	total := 0
	for _, s := range sizes {
		total += s
	}
	// One allocation whose size is a multiple of 64 bytes and that holds
	// no pointers, which Go's allocator places on a cache line, so that
	// every node is one line (TestDispatchIndexAligned).
	buf := make([]uint64, total)
	for i := range buf {
		buf[i] = ^uint64(0)
	}
	x := rangeIndex{levels: make([][]uint64, len(sizes)), n: len(starts)}
	pos := 0
	for h := range x.levels { // top first: the small, hot levels together
		size := sizes[len(sizes)-1-h]
		x.levels[h] = buf[pos : pos+size : pos+size]
		pos += size
	}
	copy(x.levels[len(x.levels)-1], starts)
	for h := len(x.levels) - 2; h >= 0; h-- {
		below := x.levels[h+1]
		for j := 0; j*indexFanout < len(below); j++ {
			x.levels[h][j] = below[j*indexFanout]
		}
	}
	return x
}

// find returns the index of the last start at or below addr, or -1 when
// every start is above it (or there is none).
func (x *rangeIndex) find(addr uint64) int {
	if addr == ^uint64(0) {
		return x.n - 1
	}
	j := 0
	for _, level := range x.levels {
		node := (*[indexFanout]uint64)(level[j*indexFanout:])
		// Count the keys at or below addr without branches (a branch
		// mispredicts half the time on random addresses), summing as a
		// tree so that the additions do not wait for one another.
		_, b0 := bits.Sub64(addr, node[0], 0)
		_, b1 := bits.Sub64(addr, node[1], 0)
		_, b2 := bits.Sub64(addr, node[2], 0)
		_, b3 := bits.Sub64(addr, node[3], 0)
		_, b4 := bits.Sub64(addr, node[4], 0)
		_, b5 := bits.Sub64(addr, node[5], 0)
		_, b6 := bits.Sub64(addr, node[6], 0)
		_, b7 := bits.Sub64(addr, node[7], 0)
		c := indexFanout - int((b0+b1)+(b2+b3)+((b4+b5)+(b6+b7)))
		if c == 0 { // only at the top: addr is below the first start
			return -1
		}
		j = j*indexFanout + c - 1
	}
	return j
}
