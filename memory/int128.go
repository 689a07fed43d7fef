package memory

import "math/bits"

// i128 is a signed 128-bit integer, enough for every address computation of
// the memory API: sizes up to 2^64, regions ending exactly at 2^64, and alias
// arithmetic that goes transiently negative (R-MR-2).
type i128 struct {
	hi int64
	lo uint64
}

func u64(v uint64) i128 { return i128{lo: v} }

// two64 is 2^64.
var two64 = i128{hi: 1}

func (a i128) add(b i128) i128 {
	lo, c := bits.Add64(a.lo, b.lo, 0)
	return i128{hi: a.hi + b.hi + int64(c), lo: lo}
}

func (a i128) sub(b i128) i128 {
	lo, bw := bits.Sub64(a.lo, b.lo, 0)
	return i128{hi: a.hi - b.hi - int64(bw), lo: lo}
}

func (a i128) cmp(b i128) int {
	switch {
	case a.hi < b.hi:
		return -1
	case a.hi > b.hi:
		return 1
	case a.lo < b.lo:
		return -1
	case a.lo > b.lo:
		return 1
	}
	return 0
}

func (a i128) less(b i128) bool { return a.cmp(b) < 0 }
func (a i128) isZero() bool     { return a.hi == 0 && a.lo == 0 }
func (a i128) neg() bool        { return a.hi < 0 }

func max128(a, b i128) i128 {
	if a.less(b) {
		return b
	}
	return a
}

func min128(a, b i128) i128 {
	if a.less(b) {
		return a
	}
	return b
}

// sizeFromUser converts a size argument to its 65-bit value: math.MaxUint64
// means 2^64, as in QEMU (R-MR-1).
func sizeFromUser(size uint64) i128 {
	if size == ^uint64(0) {
		return two64
	}
	return u64(size)
}

// sizeToUser is the inverse of sizeFromUser: 2^64 reads as math.MaxUint64
// (R-MR-2).
func sizeToUser(size i128) uint64 {
	if size.hi != 0 {
		return ^uint64(0)
	}
	return size.lo
}
