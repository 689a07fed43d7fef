package memory

// Endianness is the byte order of a device's registers (R-END-1).
type Endianness uint8

// Device byte orders. NativeEndian means the target's order, which for qmem
// (x86 guests) is little-endian.
const (
	NativeEndian Endianness = iota
	LittleEndian
	BigEndian
)

// Result is a transaction result (MemTxResult, R-ACC-3): a bit set, OR-ed
// over the steps of an access.
type Result uint8

// Transaction results.
const (
	OK          Result = 0
	Error       Result = 1 << 0 // the device returned an error
	DecodeError Result = 1 << 1 // nothing at that address
	AccessError Result = 1 << 2 // access denied
)

func (r Result) String() string {
	if r == OK {
		return "ok"
	}
	s := ""
	for _, b := range []struct {
		bit  Result
		name string
	}{{Error, "device-error"}, {DecodeError, "decode-error"}, {AccessError, "access-error"}} {
		if r&b.bit != 0 {
			if s != "" {
				s += "|"
			}
			s += b.name
		}
	}
	return s
}

// Attrs are the attributes of one access (MemTxAttrs).
type Attrs struct {
	Secure      bool   // secure world access
	User        bool   // user (unprivileged) mode
	Debug       bool   // debug access (gdbstub, monitor): may write ROM
	Memory      bool   // requires RAM: MMIO refuses it (R-ACC-5)
	RequesterID uint16 // PCI requester id

	reader *Reader // the reader making the access, set for callbacks
}

// Reader returns the reader on whose behalf a device callback runs, nil
// outside callbacks. A device that accesses memory from inside a callback
// (DMA) should use it: the re-entrancy guard (R-ACC-8) and the grace period
// then cover the nested access.
func (a Attrs) Reader() *Reader { return a.reader }

// AccessSizes are the size constraints of an MMIO region's ops (A.14).
type AccessSizes struct {
	Min, Max  uint // 0 means the default (valid: no limit / impl: 1 and 4)
	Unaligned bool
	// Accepts (valid constraints only) may refuse an access (R-SIZE-3).
	Accepts func(offset uint64, size uint, isWrite bool, attrs Attrs) bool
}

// Ops are the callbacks of an MMIO, port I/O or ROM device region. Read
// returns the value of an access of size bytes (1, 2, 4 or 8) at offset in
// the region; Write stores one. Either may be nil (reads then return 0,
// writes are dropped, both OK). Callbacks run on the accessing goroutine
// without the machine lock; a device that needs mutual exclusion uses its
// own. A callback that panics is recovered: the access completes as a device
// error. Ops must not be modified once a region uses them.
type Ops struct {
	Read       func(offset uint64, size uint, attrs Attrs) (uint64, Result)
	Write      func(offset uint64, value uint64, size uint, attrs Attrs) Result
	Endianness Endianness
	Valid      AccessSizes // what the device accepts
	Impl       AccessSizes // what the callbacks handle; larger accesses are split
	// Reentrant disables the re-entrancy guard (R-ACC-8).
	Reentrant bool
}

// IOMMUAccess is a set of access permissions.
type IOMMUAccess uint8

// IOMMU permissions.
const (
	IOMMUNone IOMMUAccess = 0
	IOMMURO   IOMMUAccess = 1
	IOMMUWO   IOMMUAccess = 2
	IOMMURW   IOMMUAccess = 3
)

// IOTLBEntry is the result of an IOMMU translation (R-IOMMU-1).
type IOTLBEntry struct {
	Target         *AddressSpace // where the translated address is looked up
	IOVA           uint64
	TranslatedAddr uint64
	AddrMask       uint64 // the page mask: low bits kept from the input
	Perm           IOMMUAccess
}

// IOMMU translates accesses that land in an IOMMU region.
type IOMMU interface {
	Translate(addr uint64, flag IOMMUAccess, index int) IOTLBEntry
}

// UnassignedIOOps returns ops like QEMU's unassigned_io_ops, the ops of the
// "io" root region of a PC's port space: reads answer all ones and writes
// are ignored, both OK (R-UNAS-4, R-UNAS-5), any size.
func UnassignedIOOps() *Ops {
	return &Ops{
		Read:       func(uint64, uint, Attrs) (uint64, Result) { return ^uint64(0), OK },
		Write:      func(uint64, uint64, uint, Attrs) Result { return OK },
		Endianness: NativeEndian,
	}
}
