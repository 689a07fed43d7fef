package memory

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

var (
	copySink [8]byte
	copySrc  = make([]byte, 4096)
)

// BenchmarkCopy8 is the floor the access benchmarks are compared with: copy
// of 8 bytes from a varying offset of a 4 KiB slice into a package-level
// array.
func BenchmarkCopy8(b *testing.B) {
	for i := 0; i < b.N; i++ {
		copy(copySink[:], copySrc[(i*8)&4088:])
	}
}

// benchRAMSpace builds an address space with n separate 4 KiB RAM ranges
// (aliases of one RAM region, 8 KiB apart so they never merge) and returns
// it with the start addresses of the ranges.
func benchRAMSpace(b *testing.B, n int) (*System, *AddressSpace, []uint64) {
	_, s := newTestSystem(b)
	root := must[*Region](b)(s.NewContainer(nil, "system", ^uint64(0)))
	ram := must[*Region](b)(s.NewRAM(nil, "ram", uint64(n)*0x1000))
	s.Begin()
	starts := make([]uint64, n)
	for i := 0; i < n; i++ {
		a := must[*Region](b)(s.NewAlias(nil, fmt.Sprintf("a%d", i), ram, uint64(i)*0x1000, 0x1000))
		starts[i] = uint64(i) * 0x2000
		check(b, root.AddSubregion(starts[i], a))
	}
	check(b, s.Commit())
	as := must[*AddressSpace](b)(s.NewAddressSpace(root, "memory"))
	if got := len(as.View().Ranges()); got != n {
		b.Fatalf("%d ranges, want %d", got, n)
	}
	return s, as, starts
}

// BenchmarkRead8 measures an 8-byte RAM read through the public Reader API.
func BenchmarkRead8(b *testing.B) {
	b.Run("hot", func(b *testing.B) {
		s, as, _ := benchRAMSpace(b, 16)
		rd := s.NewReader()
		defer rd.Close()
		var buf [8]byte
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			rd.Read(as, uint64(i*8)&0xff8, buf[:], Attrs{})
		}
	})
	b.Run("random/N=4096", func(b *testing.B) {
		s, as, starts := benchRAMSpace(b, 4096)
		rd := s.NewReader()
		defer rd.Close()
		rng := rand.New(rand.NewPCG(3, 4))
		addrs := make([]uint64, 1<<16)
		for i := range addrs {
			addrs[i] = starts[rng.IntN(len(starts))] + uint64(rng.IntN(512))*8
		}
		var buf [8]byte
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			rd.Read(as, addrs[i&(len(addrs)-1)], buf[:], Attrs{})
		}
	})
	b.Run("hot-parallel", func(b *testing.B) {
		s, as, _ := benchRAMSpace(b, 16)
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			rd := s.NewReader()
			defer rd.Close()
			var buf [8]byte
			i := 0
			for pb.Next() {
				rd.Read(as, uint64(i*8)&0xff8, buf[:], Attrs{})
				i++
			}
		})
	})
}

// benchMMIOSpace returns a space with a 4 KiB MMIO region of ops at 0x1000
// and a reader, closed when the benchmark ends.
func benchMMIOSpace(b *testing.B, ops *Ops) (*AddressSpace, *Reader) {
	_, s := newTestSystem(b)
	root := must[*Region](b)(s.NewContainer(nil, "system", ^uint64(0)))
	check(b, root.AddSubregion(0x1000, must[*Region](b)(s.NewIO(nil, "dev", 0x1000, ops))))
	as := must[*AddressSpace](b)(s.NewAddressSpace(root, "memory"))
	rd := s.NewReader()
	b.Cleanup(rd.Close)
	return as, rd
}

// BenchmarkReadMMIO4 measures a 4-byte MMIO read into a trivial callback.
func BenchmarkReadMMIO4(b *testing.B) {
	b.Run("hot", func(b *testing.B) {
		as, rd := benchMMIOSpace(b, &Ops{
			Read:       func(off uint64, size uint, _ Attrs) (uint64, Result) { return off, OK },
			Endianness: LittleEndian,
			Valid:      AccessSizes{Min: 1, Max: 4},
		})
		var buf [4]byte
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			rd.Read(as, 0x1000+uint64(i*4)&0xffc, buf[:], Attrs{})
		}
	})
}

// BenchmarkWriteMMIO4 measures a 4-byte MMIO write into a trivial device
// callback (no target; the write side of BenchmarkReadMMIO4).
func BenchmarkWriteMMIO4(b *testing.B) {
	b.Run("hot", func(b *testing.B) {
		var sink uint64
		as, rd := benchMMIOSpace(b, &Ops{
			Write:      func(off, v uint64, size uint, _ Attrs) Result { sink += v; return OK },
			Endianness: LittleEndian,
			Valid:      AccessSizes{Min: 1, Max: 4},
		})
		buf := [4]byte{1, 2, 3, 4}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			rd.Write(as, 0x1000+uint64(i*4)&0xffc, buf[:], Attrs{})
		}
		loadSink = sink
	})
}

// BenchmarkWrite8 measures an 8-byte RAM write through the public Reader
// API (dirty logging off), same range as the last access.
func BenchmarkWrite8(b *testing.B) {
	b.Run("hot", func(b *testing.B) {
		s, as, _ := benchRAMSpace(b, 16)
		rd := s.NewReader()
		defer rd.Close()
		buf := [8]byte{1, 2, 3, 4, 5, 6, 7, 8}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			rd.Write(as, uint64(i*8)&0xff8, buf[:], Attrs{})
		}
	})
}

// BenchmarkLoad8 measures a typed 8-byte little-endian RAM load
// (address_space_ldq_le), same range as the last access.
func BenchmarkLoad8(b *testing.B) {
	b.Run("hot", func(b *testing.B) {
		s, as, _ := benchRAMSpace(b, 16)
		rd := s.NewReader()
		defer rd.Close()
		var sink uint64
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			v, _ := rd.Load(as, uint64(i*8)&0xff8, 8, LittleEndian, Attrs{})
			sink += v
		}
		loadSink = sink
	})
}

var loadSink uint64
