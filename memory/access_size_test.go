package memory

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// accPattern is the device value the recorders answer: the bytes
// off+0x10, off+0x11, ... assembled little-endian, size bytes.
func accPattern(off uint64, size uint) uint64 {
	var v uint64
	for i := uint(0); i < size; i++ {
		v |= (off + 0x10 + uint64(i)) & 0xff << (8 * i)
	}
	return v
}

// accStep is one access of a table case: a buffer read or write, or a
// typed load or store.
type accStep struct {
	op   string // "read", "write", "load", "store"
	addr uint64
	n    int    // read length
	data []byte // write data
	size uint   // typed size
	e    Endianness
	val  uint64 // store value
}

// run performs the step through a reader and returns the result and the
// data read ("" for writes), printed as hex bytes or a value.
func (st accStep) run(rd *Reader, as *AddressSpace) (Result, string) {
	switch st.op {
	case "read":
		buf := make([]byte, st.n)
		res := rd.Read(as, st.addr, buf, Attrs{})
		return res, fmt.Sprintf("% x", buf)
	case "write":
		return rd.Write(as, st.addr, st.data, Attrs{}), ""
	case "load":
		v, res := rd.Load(as, st.addr, st.size, st.e, Attrs{})
		return res, fmt.Sprintf("%#x", v)
	case "store":
		return rd.Store(as, st.addr, st.size, st.val, st.e, Attrs{}), ""
	}
	panic("bad op " + st.op)
}

// TestMMIOSizeRules checks how buffer and typed accesses become device
// callbacks: step sizes (R-SIZE-1), steps past the region's end (R-SIZE-2),
// splitting to the implementation's sizes in both byte orders (R-SIZE-5,
// R-END-3), accesses smaller than impl.min (R-SIZE-6), no splitting of
// unaligned accesses by the dispatcher (R-SIZE-7), one full-width dispatch
// for typed accesses (R-ACC-7), the byte order model (R-END-1, R-END-2).
// The device is at 0x1000.
func TestMMIOSizeRules(t *testing.T) {
	v48 := AccessSizes{Max: 8}
	tests := []struct {
		name   string
		e      Endianness
		valid  AccessSizes
		impl   AccessSizes
		size   uint64 // region size, 0x100 when 0
		step   accStep
		calls  string
		res    Result
		out    string
		events string // access events, "; "-separated
	}{
		// R-SIZE-1: SPEC's example, steps 2, 4, 2.
		{name: "R-SIZE-1 example", e: LittleEndian, valid: v48, impl: v48,
			step:  accStep{op: "read", addr: 0x1002, n: 8},
			calls: "r2@0x2 r4@0x4 r2@0x8", out: "12 13 14 15 16 17 18 19"},
		// R-SIZE-1: valid.max 0 means steps of at most 4.
		{name: "R-SIZE-1 default max 4", e: LittleEndian,
			step:  accStep{op: "read", addr: 0x1000, n: 8},
			calls: "r4@0x0 r4@0x4", out: "10 11 12 13 14 15 16 17"},
		// R-SIZE-1: the remainder is rounded down to a power of two.
		{name: "R-SIZE-1 round down", e: LittleEndian, valid: v48, impl: v48,
			step:  accStep{op: "read", addr: 0x1000, n: 7},
			calls: "r4@0x0 r2@0x4 r1@0x6", out: "10 11 12 13 14 15 16"},
		// R-SIZE-1: impl.unaligned lifts the alignment bound; valid then
		// decides (R-SIZE-3).
		{name: "R-SIZE-1 impl unaligned", e: LittleEndian, valid: AccessSizes{Max: 8, Unaligned: true}, impl: AccessSizes{Max: 8, Unaligned: true},
			step:  accStep{op: "read", addr: 0x1002, n: 8},
			calls: "r8@0x2", out: "12 13 14 15 16 17 18 19"},
		{name: "R-SIZE-1 impl unaligned, valid aligned", e: LittleEndian, valid: v48, impl: AccessSizes{Max: 8, Unaligned: true},
			step: accStep{op: "read", addr: 0x1002, n: 8},
			res:  DecodeError, out: "00 00 00 00 00 00 00 00",
			events: "Invalid read at addr 0x2, size 8, region 'dev', reason: unaligned"},
		// R-SIZE-2: steps are not clamped to the region's end.
		{name: "R-SIZE-2 past the end", e: LittleEndian, size: 6,
			valid: AccessSizes{Max: 8, Unaligned: true}, impl: AccessSizes{Max: 8, Unaligned: true},
			step:  accStep{op: "read", addr: 0x1004, n: 8},
			calls: "r8@0x4", out: "14 15 16 17 18 19 1a 1b"},
		// R-SIZE-5: little-endian pieces: offset+i carries bits 8i.
		{name: "R-SIZE-5 LE read", e: LittleEndian, impl: AccessSizes{Max: 1},
			step:  accStep{op: "read", addr: 0x1000, n: 4},
			calls: "r1@0x0 r1@0x1 r1@0x2 r1@0x3", out: "10 11 12 13"},
		{name: "R-SIZE-5 LE write", e: LittleEndian, impl: AccessSizes{Max: 1},
			step:  accStep{op: "write", addr: 0x1000, data: bytesOf(1, 2, 3, 4)},
			calls: "w1@0x0=0x1 w1@0x1=0x2 w1@0x2=0x3 w1@0x3=0x4"},
		// R-SIZE-5: big-endian pieces: the lowest address holds the most
		// significant part. Device value 0x1110_1312, its bytes BE.
		{name: "R-SIZE-5 BE read", e: BigEndian, impl: AccessSizes{Max: 2},
			step:  accStep{op: "read", addr: 0x1000, n: 4},
			calls: "r2@0x0 r2@0x2", out: "11 10 13 12"},
		{name: "R-SIZE-5 BE write", e: BigEndian, impl: AccessSizes{Max: 2},
			step:  accStep{op: "write", addr: 0x1000, data: bytesOf(1, 2, 3, 4)},
			calls: "w2@0x0=0x102 w2@0x2=0x304"},
		// R-END-3: a typed little-endian store to a big-endian device is
		// swapped as a whole (0x44332211), then split in device order.
		{name: "R-END-3 swap before split", e: BigEndian, impl: AccessSizes{Max: 2},
			step:  accStep{op: "store", addr: 0x1000, size: 4, val: 0x11223344, e: LittleEndian},
			calls: "w2@0x0=0x4433 w2@0x2=0x2211"},
		{name: "R-END-3 swap after combine", e: BigEndian, impl: AccessSizes{Max: 2},
			step:  accStep{op: "load", addr: 0x1000, size: 4, e: LittleEndian},
			calls: "r2@0x0 r2@0x2", out: "0x12131011"},
		// R-SIZE-6: smaller than impl.min: one callback of impl.min bytes
		// at the same unaligned offset, masked, shifted for big-endian.
		{name: "R-SIZE-6 LE read", e: LittleEndian, valid: AccessSizes{Unaligned: true}, impl: AccessSizes{Min: 4, Max: 4},
			step:  accStep{op: "read", addr: 0x1001, n: 1},
			calls: "r4@0x1", out: "11"},
		{name: "R-SIZE-6 BE read", e: BigEndian, valid: AccessSizes{Unaligned: true}, impl: AccessSizes{Min: 4, Max: 4},
			step:  accStep{op: "read", addr: 0x1001, n: 1},
			calls: "r4@0x1", out: "14"},
		{name: "R-SIZE-6 LE write", e: LittleEndian, valid: AccessSizes{Unaligned: true}, impl: AccessSizes{Min: 4, Max: 4},
			step:  accStep{op: "write", addr: 0x1001, data: bytesOf(0xab)},
			calls: "w4@0x1=0xab"},
		{name: "R-SIZE-6 BE write", e: BigEndian, valid: AccessSizes{Unaligned: true}, impl: AccessSizes{Min: 4, Max: 4},
			step:  accStep{op: "write", addr: 0x1001, data: bytesOf(0xab)},
			calls: "w4@0x1=0xab000000"},
		{name: "R-SIZE-6 typed load", e: LittleEndian, valid: AccessSizes{Unaligned: true}, impl: AccessSizes{Min: 4, Max: 4},
			step:  accStep{op: "load", addr: 0x1002, size: 2, e: LittleEndian},
			calls: "r4@0x2", out: "0x1312"},
		// R-SIZE-7: the dispatcher never splits an unaligned access; only
		// the buffer path shrinks steps to the alignment.
		{name: "R-SIZE-7 typed unaligned", e: LittleEndian, valid: AccessSizes{Max: 4, Unaligned: true}, impl: AccessSizes{Max: 4},
			step:  accStep{op: "load", addr: 0x1002, size: 4, e: LittleEndian},
			calls: "r4@0x2", out: "0x15141312"},
		{name: "R-SIZE-7 buffer unaligned", e: LittleEndian, valid: AccessSizes{Max: 4, Unaligned: true}, impl: AccessSizes{Max: 4},
			step:  accStep{op: "read", addr: 0x1002, n: 4},
			calls: "r2@0x2 r2@0x4", out: "12 13 14 15"},
		// R-ACC-7: a typed access is one dispatch of the full width; its
		// validity alone decides. The same 8 bytes through the buffer path
		// are two valid steps.
		{name: "R-ACC-7 typed too wide", e: LittleEndian, valid: AccessSizes{Max: 4},
			step: accStep{op: "load", addr: 0x1000, size: 8, e: LittleEndian},
			res:  DecodeError, out: "0x0",
			events: "Invalid read at addr 0x0, size 8, region 'dev', reason: invalid size (min:0 max:4)"},
		{name: "R-ACC-7 buffer same width", e: LittleEndian, valid: AccessSizes{Max: 4},
			step:  accStep{op: "read", addr: 0x1000, n: 8},
			calls: "r4@0x0 r4@0x4", out: "10 11 12 13 14 15 16 17"},
		// R-END-1, R-END-2: typed accesses swap iff the requested order
		// differs from the device's; native is little-endian (x86).
		{name: "R-END-2 LE device, LE load", e: LittleEndian, step: accStep{op: "load", addr: 0x1000, size: 4, e: LittleEndian},
			calls: "r4@0x0", out: "0x13121110"},
		{name: "R-END-2 LE device, BE load", e: LittleEndian, step: accStep{op: "load", addr: 0x1000, size: 4, e: BigEndian},
			calls: "r4@0x0", out: "0x10111213"},
		{name: "R-END-2 BE device, BE load", e: BigEndian, step: accStep{op: "load", addr: 0x1000, size: 4, e: BigEndian},
			calls: "r4@0x0", out: "0x13121110"},
		{name: "R-END-2 BE device, LE load", e: BigEndian, step: accStep{op: "load", addr: 0x1000, size: 4, e: LittleEndian},
			calls: "r4@0x0", out: "0x10111213"},
		{name: "R-END-1 native device, LE store", e: NativeEndian, step: accStep{op: "store", addr: 0x1000, size: 2, val: 0xbeef, e: LittleEndian},
			calls: "w2@0x0=0xbeef"},
		{name: "R-END-2 BE device, LE store", e: BigEndian, step: accStep{op: "store", addr: 0x1000, size: 2, val: 0xbeef, e: LittleEndian},
			calls: "w2@0x0=0xefbe"},
		{name: "R-END-2 BE device, native store 8", e: BigEndian, valid: v48, impl: v48,
			step:  accStep{op: "store", addr: 0x1000, size: 8, val: 0x0102030405060708, e: NativeEndian},
			calls: "w8@0x0=0x807060504030201"},
		// R-END-2: buffer accesses: the device sees the bytes decoded in its
		// own order.
		{name: "R-END-2 LE device, buffer write", e: LittleEndian, step: accStep{op: "write", addr: 0x1000, data: bytesOf(1, 2, 3, 4)},
			calls: "w4@0x0=0x4030201"},
		{name: "R-END-2 BE device, buffer write", e: BigEndian, step: accStep{op: "write", addr: 0x1000, data: bytesOf(1, 2, 3, 4)},
			calls: "w4@0x0=0x1020304"},
		{name: "R-END-2 BE device, buffer read", e: BigEndian, step: accStep{op: "read", addr: 0x1000, n: 4},
			calls: "r4@0x0", out: "13 12 11 10"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newAccFix(t)
			rec := &accRec{value: accPattern}
			size := tt.size
			if size == 0 {
				size = 0x100
			}
			f.io("dev", 0x1000, size, rec.ops(tt.e, tt.valid, tt.impl))
			rd := f.s.NewReader()
			defer rd.Close()
			res, out := tt.step.run(rd, f.as)
			if res != tt.res {
				t.Errorf("result %v, want %v", res, tt.res)
			}
			if got := rec.take(); got != tt.calls {
				t.Errorf("calls %q, want %q", got, tt.calls)
			}
			if out != tt.out {
				t.Errorf("data %q, want %q", out, tt.out)
			}
			if got := strings.Join(f.takeEvents(), "; "); got != tt.events {
				t.Errorf("events %q, want %q", got, tt.events)
			}
			f.noLeaks()
		})
	}
}

// TestValidityCheck is R-SIZE-3 (the checks in their order, QEMU's
// message) and R-SIZE-4 (an invalid dispatch does not call the device: reads
// give 0, writes are dropped, DECODE_ERROR).
func TestValidityCheck(t *testing.T) {
	accept := func(off uint64, size uint, write bool, _ Attrs) bool { return off == 0x40 }
	tests := []struct {
		name   string
		valid  AccessSizes
		step   accStep
		res    Result
		calls  string
		events string
	}{
		{name: "accepts first", valid: AccessSizes{Max: 4, Accepts: accept},
			step: accStep{op: "read", addr: 0x1041, n: 1}, res: DecodeError,
			events: "Invalid read at addr 0x41, size 1, region 'dev', reason: rejected"},
		{name: "accepts before alignment", valid: AccessSizes{Max: 4, Accepts: accept},
			step: accStep{op: "load", addr: 0x1001, size: 2}, res: DecodeError,
			events: "Invalid read at addr 0x1, size 2, region 'dev', reason: rejected"},
		{name: "accepted", valid: AccessSizes{Max: 4, Accepts: accept},
			step: accStep{op: "load", addr: 0x1040, size: 4}, calls: "r4@0x40"},
		{name: "unaligned", valid: AccessSizes{Max: 4},
			step: accStep{op: "store", addr: 0x10ab, size: 2, val: 1}, res: DecodeError,
			events: "Invalid write at addr 0xAB, size 2, region 'dev', reason: unaligned"},
		{name: "unaligned allowed", valid: AccessSizes{Max: 4, Unaligned: true},
			step: accStep{op: "store", addr: 0x10ab, size: 2, val: 1}, calls: "w2@0xab=0x1"},
		{name: "max 0: all sizes", valid: AccessSizes{Min: 4},
			step: accStep{op: "load", addr: 0x1000, size: 1}, calls: "r1@0x0"},
		{name: "below min", valid: AccessSizes{Min: 2, Max: 4},
			step: accStep{op: "load", addr: 0x1000, size: 1}, res: DecodeError,
			events: "Invalid read at addr 0x0, size 1, region 'dev', reason: invalid size (min:2 max:4)"},
		{name: "above max", valid: AccessSizes{Min: 2, Max: 4},
			step: accStep{op: "store", addr: 0x10f8, size: 8, val: 1}, res: DecodeError,
			events: "Invalid write at addr 0xF8, size 8, region 'dev', reason: invalid size (min:2 max:4)"},
		{name: "buffer step below min", valid: AccessSizes{Min: 2, Max: 4},
			step: accStep{op: "read", addr: 0x1000, n: 3}, res: DecodeError, calls: "r2@0x0",
			events: "Invalid read at addr 0x2, size 1, region 'dev', reason: invalid size (min:2 max:4)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newAccFix(t)
			rec := &accRec{value: func(uint64, uint) uint64 { return 0xffffffffffffffff }}
			f.io("dev", 0x1000, 0x100, rec.ops(LittleEndian, tt.valid, AccessSizes{Max: 8, Unaligned: true}))
			rd := f.s.NewReader()
			defer rd.Close()
			res, out := tt.step.run(rd, f.as)
			if res != tt.res {
				t.Errorf("result %v, want %v", res, tt.res)
			}
			if got := rec.take(); got != tt.calls {
				t.Errorf("calls %q, want %q", got, tt.calls)
			}
			if got := strings.Join(f.takeEvents(), "; "); got != tt.events {
				t.Errorf("events %q, want %q", got, tt.events)
			}
			// R-SIZE-4: refused reads give 0.
			if tt.res == DecodeError && tt.calls == "" && out != "" && strings.Trim(out, "0x ") != "" {
				t.Errorf("refused read gave %q", out)
			}
			if c := f.s.AccessEventCounts(); c.Invalid != uint64(strings.Count(tt.events, "Invalid")) {
				t.Errorf("invalid count %d", c.Invalid)
			}
			f.noLeaks()
		})
	}
}

// R-SIZE-4, R-UNAS-2, R-UNAS-1: a region without ops, and unassigned space,
// refuse everything: reads 0, writes dropped, DECODE_ERROR; a multi-byte
// buffer access over unassigned space is split per R-SIZE-1 (max 4,
// alignment) and each step fails. The hidden unassigned region has no name
// (QEMU prints "(null)") and its offsets are the addresses.
func TestUnassignedAndNilOps(t *testing.T) {
	f := newAccFix(t)
	f.io("reserved", 0x1000, 0x100, nil)
	rd := f.s.NewReader()
	defer rd.Close()

	buf := bytes.Repeat([]byte{0xee}, 8)
	if res := rd.Read(f.as, 0x5001, buf, Attrs{}); res != DecodeError || !bytes.Equal(buf, make([]byte, 8)) {
		t.Fatalf("unassigned read: %v % x", res, buf)
	}
	want := []string{
		"Invalid read at addr 0x5001, size 1, region '(null)', reason: rejected",
		"Invalid read at addr 0x5002, size 2, region '(null)', reason: rejected",
		"Invalid read at addr 0x5004, size 4, region '(null)', reason: rejected",
		"Invalid read at addr 0x5008, size 1, region '(null)', reason: rejected",
	}
	if got := f.takeEvents(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if res := rd.Write(f.as, 0x1004, []byte{1, 2, 3, 4}, Attrs{}); res != DecodeError {
		t.Fatalf("write to reserved region: %v", res)
	}
	if v, res := rd.Load(f.as, 0x1008, 4, LittleEndian, Attrs{}); res != DecodeError || v != 0 {
		t.Fatalf("load from reserved region: %#x %v", v, res)
	}
	if got := f.takeEvents(); len(got) != 2 || got[0] != "Invalid write at addr 0x4, size 4, region 'reserved', reason: rejected" {
		t.Fatalf("events %q", got)
	}
	// R-UNAS-4 (memory): a 4-byte read of an unmapped address returns 0.
	if v, res := f.as.Load(0xdead0000, 4, LittleEndian, Attrs{}); v != 0 || res != DecodeError {
		t.Fatalf("unmapped load: %#x %v", v, res)
	}
	f.noLeaks()
}

// R-UNAS-4, R-UNAS-5: the "io" root of the port space answers all ones with
// OK and accepts writes; ports of a device go to the device.
func TestUnassignedIOPorts(t *testing.T) {
	reg, s := newTestSystem(t)
	io := must[*Region](t)(s.NewIO(nil, "io", 0x10000, UnassignedIOOps()))
	rec := &accRec{value: accPattern}
	check(t, io.AddSubregion(0x3f8, must[*Region](t)(s.NewIO(nil, "serial", 8, rec.ops(LittleEndian, AccessSizes{Max: 1}, AccessSizes{Max: 1})))))
	ports := must[*AddressSpace](t)(s.NewAddressSpace(io, "I/O"))
	for _, tt := range []struct {
		port uint64
		size uint
		want uint64
	}{{0x80, 1, 0xff}, {0x80, 2, 0xffff}, {0xcf8, 4, 0xffffffff}, {0x3f9, 1, 0x11}} {
		if v, res := ports.Load(tt.port, tt.size, LittleEndian, Attrs{}); v != tt.want || res != OK {
			t.Errorf("in%d %#x: %#x %v, want %#x ok", tt.size, tt.port, v, res, tt.want)
		}
	}
	if res := ports.Store(0x80, 1, 0x42, LittleEndian, Attrs{}); res != OK {
		t.Errorf("outb to an unassigned port: %v", res)
	}
	buf := make([]byte, 8)
	if res := ports.Read(0x60, buf, Attrs{}); res != OK || !bytes.Equal(buf, bytes.Repeat([]byte{0xff}, 8)) {
		t.Errorf("8-byte read of unassigned ports: %v % x", res, buf)
	}
	if got := rec.take(); got != "r1@0x1" {
		t.Errorf("serial calls %q", got)
	}
	accNoLeaks(t, reg)
}
