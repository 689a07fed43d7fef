package memory

import "encoding/binary"

// ramDeviceOps are the built-in ops of a RAM device region (R-KIND-6): 1 to
// 8 byte accesses of the host buffer in host (little-endian) order,
// unaligned allowed. A step may run past the region's end (R-SIZE-2): the
// bytes beyond the buffer read as zero and are not written (QEMU would
// touch host memory past the block).
func ramDeviceOps(r *Region) *Ops {
	return &Ops{
		Read: func(off uint64, size uint, _ Attrs) (uint64, Result) {
			var b [8]byte
			if mem := r.ram.mem; off < uint64(len(mem)) {
				copy(b[:size], mem[off:])
			}
			return binary.LittleEndian.Uint64(b[:]), OK
		},
		Write: func(off, v uint64, size uint, _ Attrs) Result {
			var b [8]byte
			binary.LittleEndian.PutUint64(b[:], v)
			if mem := r.ram.mem; off < uint64(len(mem)) {
				copy(mem[off:], b[:size])
			}
			return OK
		},
		Endianness: LittleEndian,
		Valid:      AccessSizes{Min: 1, Max: 8, Unaligned: true},
		Impl:       AccessSizes{Min: 1, Max: 8, Unaligned: true},
	}
}
