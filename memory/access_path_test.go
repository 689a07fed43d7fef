package memory

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// R-ACC-1, R-ACC-6: an address selects the flat range and the offset in its
// leaf (address - start + offset in region), through aliases of aliases;
// Reader.DispatchRead on an alias forwards to the target at offset + alias
// offset, recursively.
func TestLookupAndAliasForwarding(t *testing.T) {
	f := newAccFix(t)
	rec := &accRec{value: accPattern}
	dev := f.must(f.s.NewIO(nil, "dev", 0x1000, rec.ops(LittleEndian, AccessSizes{Max: 4}, AccessSizes{})))
	f.add(0x10000, dev)
	a1 := f.must(f.s.NewAlias(nil, "a1", dev, 0x100, 0x800))
	a2 := f.must(f.s.NewAlias(nil, "a2", a1, 0x20, 0x100))
	f.add(0x20000, a2)
	rd := f.s.NewReader()
	defer rd.Close()

	for _, tt := range []struct {
		addr uint64
		call string
	}{
		{0x10008, "r4@0x8"},
		{0x20004, "r4@0x124"}, // 0x4 + 0x20 + 0x100
		{0x200fc, "r4@0x21c"},
	} {
		if _, res := rd.Load(f.as, tt.addr, 4, LittleEndian, Attrs{}); res != OK {
			t.Errorf("load %#x: %v", tt.addr, res)
		}
		if got := rec.take(); got != tt.call {
			t.Errorf("load %#x: call %q, want %q", tt.addr, got, tt.call)
		}
	}
	if fr := f.as.View().Find(0x20004); fr == nil || fr.Region != dev || fr.Offset != 0x120 {
		t.Fatalf("range at 0x20004: %+v", fr)
	}
	// R-ACC-6 on a region directly.
	if v, res := rd.DispatchRead(a2, 0x8, 4, LittleEndian, Attrs{}); res != OK || v != accPattern(0x128, 4) {
		t.Fatalf("DispatchRead on alias: %#x %v", v, res)
	}
	if res := rd.DispatchWrite(a2, 0x8, 2, 0xbeef, BigEndian, Attrs{}); res != OK {
		t.Fatalf("DispatchWrite on alias: %v", res)
	}
	if got := rec.take(); got != "r4@0x128 w2@0x128=0xefbe" {
		t.Fatalf("calls %q", got)
	}
	// A region without ops answers like unassigned memory.
	if v, res := rd.DispatchRead(f.root, 0, 4, LittleEndian, Attrs{}); res != DecodeError || v != 0 {
		t.Fatalf("DispatchRead on a container: %#x %v", v, res)
	}
	f.noLeaks()
}

// R-ACC-2, R-ACC-3: a RAM step stops at the end of its range and the rest
// is translated again; the results of the steps are ORed; a zero-length
// access is OK and touches nothing.
func TestBufferStepsAndResults(t *testing.T) {
	f := newAccFix(t)
	ram := f.ram("ram", 0, 0x1000)
	rec := &accRec{value: accPattern, res: Error}
	f.io("dev", 0x1000, 0x100, rec.ops(LittleEndian, AccessSizes{Max: 4}, AccessSizes{}))
	copy(ram.Host()[0xffc:], "WXYZ")
	rd := f.s.NewReader()
	defer rd.Close()

	// RAM's last 4 bytes, then one MMIO step of 4 (which says Error).
	buf := make([]byte, 8)
	if res := rd.Read(f.as, 0xffc, buf, Attrs{}); res != Error || string(buf[:4]) != "WXYZ" || !bytes.Equal(buf[4:], []byte{0x10, 0x11, 0x12, 0x13}) {
		t.Fatalf("RAM+MMIO read: %v % x", res, buf)
	}
	if got := rec.take(); got != "r4@0x0" {
		t.Fatalf("calls %q", got)
	}
	// MMIO (error), then unassigned (decode error): the OR.
	buf = make([]byte, 0x104)
	if res := rd.Read(f.as, 0x1000, buf, Attrs{}); res != Error|DecodeError {
		t.Fatalf("MMIO+unassigned read: %v", res)
	}
	rec.take()
	f.takeEvents()
	// Zero length: OK, no callback, no event, even where nothing is mapped.
	for _, addr := range []uint64{0x1000, 0x7000, 0} {
		if res := rd.Read(f.as, addr, nil, Attrs{}); res != OK {
			t.Fatalf("empty read at %#x: %v", addr, res)
		}
		if res := rd.Write(f.as, addr, []byte{}, Attrs{}); res != OK {
			t.Fatalf("empty write at %#x: %v", addr, res)
		}
	}
	if got := rec.take(); got != "" {
		t.Fatalf("empty accesses called the device: %q", got)
	}
	if ev := f.takeEvents(); len(ev) != 0 {
		t.Fatalf("empty accesses logged %q", ev)
	}
	f.noLeaks()
}

// R-ACC-4, R-UNAS-3: which steps copy host memory and which dispatch, per
// leaf kind, for reads, writes and debug writes.
func TestDirectOrDispatch(t *testing.T) {
	type leaf struct {
		name  string
		setup func(f *accFix, rec *accRec) *Region
	}
	leaves := map[string]leaf{
		"ram": {setup: func(f *accFix, _ *accRec) *Region { return f.must(f.s.NewRAM(nil, "ram", 0x100)) }},
		"rom": {setup: func(f *accFix, _ *accRec) *Region { return f.must(f.s.NewROM(nil, "rom", 0x100)) }},
		"readonly ram": {setup: func(f *accFix, _ *accRec) *Region {
			r := f.must(f.s.NewRAM(nil, "roram", 0x100))
			check(f.t, r.SetReadonly(true))
			return r
		}},
		"ram in readonly container": {setup: func(f *accFix, _ *accRec) *Region {
			c := f.must(f.s.NewContainer(nil, "rocontainer", 0x100))
			check(f.t, c.AddSubregion(0, f.must(f.s.NewRAM(nil, "ram", 0x100))))
			check(f.t, c.SetReadonly(true))
			return c
		}},
		"romd": {setup: func(f *accFix, rec *accRec) *Region {
			return f.must(f.s.NewROMDevice(nil, "flash", 0x100, rec.ops(LittleEndian, AccessSizes{}, AccessSizes{})))
		}},
		"romd off": {setup: func(f *accFix, rec *accRec) *Region {
			r := f.must(f.s.NewROMDevice(nil, "flash", 0x100, rec.ops(LittleEndian, AccessSizes{}, AccessSizes{})))
			check(f.t, r.SetRomdMode(false))
			return r
		}},
		"io": {setup: func(f *accFix, rec *accRec) *Region {
			return f.must(f.s.NewIO(nil, "dev", 0x100, rec.ops(LittleEndian, AccessSizes{}, AccessSizes{})))
		}},
	}
	tests := []struct {
		leaf   string
		op     string // read, write, debug-write
		res    Result
		calls  string
		stored bool // the write reached host memory
	}{
		{"ram", "read", OK, "", false},
		{"ram", "write", OK, "", true},
		{"rom", "read", OK, "", false},
		{"rom", "write", DecodeError, "", false}, // R-UNAS-3
		{"rom", "debug-write", OK, "", true},
		{"readonly ram", "write", DecodeError, "", false},
		{"readonly ram", "debug-write", OK, "", true},
		{"ram in readonly container", "write", OK, "", true}, // the leaf's own flag decides
		{"romd", "read", OK, "", false},
		{"romd", "write", OK, "w4@0x10=0x4030201", false},
		{"romd", "debug-write", OK, "", true},
		{"romd off", "read", OK, "r4@0x10", false},
		{"romd off", "debug-write", OK, "w4@0x10=0x4030201", false},
		{"io", "read", OK, "r4@0x10", false},
		{"io", "debug-write", OK, "w4@0x10=0x4030201", false},
	}
	for _, tt := range tests {
		t.Run(tt.leaf+"/"+tt.op, func(t *testing.T) {
			f := newAccFix(t)
			rec := &accRec{}
			r := f.add(0x4000, leaves[tt.leaf].setup(f, rec))
			host := r.Host()
			if host == nil && len(r.Subregions()) > 0 {
				host = r.Subregions()[0].Host()
			}
			rd := f.s.NewReader()
			defer rd.Close()
			var res Result
			data := []byte{1, 2, 3, 4}
			switch tt.op {
			case "read":
				res = rd.Read(f.as, 0x4010, make([]byte, 4), Attrs{})
			case "write":
				res = rd.Write(f.as, 0x4010, data, Attrs{})
			case "debug-write":
				res = rd.Write(f.as, 0x4010, data, Attrs{Debug: true})
			}
			if res != tt.res {
				t.Errorf("result %v, want %v", res, tt.res)
			}
			if got := rec.take(); got != tt.calls {
				t.Errorf("calls %q, want %q", got, tt.calls)
			}
			if host != nil {
				if stored := bytes.Equal(host[0x10:0x14], data); stored != tt.stored {
					t.Errorf("host memory written: %v, want %v", stored, tt.stored)
				}
			}
			if tt.res == DecodeError {
				if ev := f.takeEvents(); len(ev) != 1 || !strings.HasSuffix(ev[0], "reason: rejected") {
					t.Errorf("events %q", ev)
				}
			}
			f.noLeaks()
		})
	}
}

// R-ACC-5: with Attrs.Memory, a step whose leaf is not RAM (MMIO, a ROM
// device even in romd mode, unassigned space) is refused with ACCESS_ERROR
// without calling the device, for the rest of the buffer; RAM, ROM and RAM
// devices are allowed. QEMU logs "Invalid access to non-RAM device". Typed
// accesses (address_space_ld/st*) do not check the attribute.
func TestMemoryAttribute(t *testing.T) {
	f := newAccFix(t)
	ram := f.ram("ram", 0, 0x1000)
	copy(ram.Host()[0xffc:], "RAM!")
	rec := &accRec{value: accPattern}
	f.io("dev", 0x1000, 0x100, rec.ops(LittleEndian, AccessSizes{}, AccessSizes{}))
	f.add(0x2000, f.must(f.s.NewROMDevice(nil, "flash", 0x100, rec.ops(LittleEndian, AccessSizes{}, AccessSizes{}))))
	host := make([]byte, 0x100)
	copy(host, "RAMD")
	f.add(0x3000, f.must(f.s.NewRAMDevice(nil, "ramd", 0x100, host)))
	rd := f.s.NewReader()
	defer rd.Close()
	mem := Attrs{Memory: true}

	tests := []struct {
		addr   uint64
		n      int
		res    Result
		out    string
		events string
	}{
		{0xffc, 4, OK, "RAM!", ""},
		{0x3000, 4, OK, "RAMD", ""},
		{0x1000, 4, AccessError, "\x00\x00\x00\x00", "Invalid access to non-RAM device at addr 0x0, size 4, region 'dev'"},
		{0x2000, 4, AccessError, "\x00\x00\x00\x00", "Invalid access to non-RAM device at addr 0x0, size 4, region 'flash'"},
		{0x9000, 2, AccessError, "\x00\x00", "Invalid access to non-RAM device at addr 0x9000, size 2, region '(null)'"},
		// RAM, then the rest of the buffer refused in one step.
		{0xffc, 12, AccessError, "RAM!\x00\x00\x00\x00\x00\x00\x00\x00", "Invalid access to non-RAM device at addr 0x0, size 8, region 'dev'"},
	}
	for _, tt := range tests {
		for try := 0; try < 2; try++ { // the second hits the reader's last range
			buf := bytes.Repeat([]byte{0xee}, tt.n)
			if res := rd.Read(f.as, tt.addr, buf, mem); res != tt.res || string(buf) != tt.out {
				t.Errorf("read %#x+%d: %v %q, want %v %q", tt.addr, tt.n, res, buf, tt.res, tt.out)
			}
			if got := strings.Join(f.takeEvents(), "; "); got != tt.events {
				t.Errorf("read %#x+%d: events %q, want %q", tt.addr, tt.n, got, tt.events)
			}
		}
	}
	if res := rd.Write(f.as, 0x1000, []byte{1, 2}, mem); res != AccessError {
		t.Errorf("write to MMIO with Memory: %v", res)
	}
	if got := rec.take(); got != "" {
		t.Fatalf("refused accesses called the device: %q", got)
	}
	if _, res := rd.Load(f.as, 0x1000, 4, LittleEndian, mem); res != OK {
		t.Errorf("typed load with Memory: %v (QEMU's ld* do not check)", res)
	}
	if got := rec.take(); got != "r4@0x0" {
		t.Errorf("typed load calls %q", got)
	}
	f.noLeaks()
}

// R-ACC-7: a typed access translates once; when it straddles the end of a
// RAM range it is dispatched, whole, to the RAM region, whose ops are the
// unassigned ones: 0 / dropped / DECODE_ERROR instead of being split. A ROM
// device straddling its end goes to the device's callbacks. Buffer accesses
// of the same bytes are split and succeed.
func TestTypedStraddle(t *testing.T) {
	f := newAccFix(t)
	a := f.ram("ram", 0, 0x1000)
	b := f.ram("ram2", 0x1000, 0x1000)
	copy(a.Host()[0xffc:], []byte{1, 2, 3, 4})
	copy(b.Host(), []byte{5, 6, 7, 8})
	rec := &accRec{value: accPattern}
	flash := f.add(0x2000, f.must(f.s.NewROMDevice(nil, "flash", 0x10, rec.ops(LittleEndian, AccessSizes{Unaligned: true}, AccessSizes{}))))
	f.ram("ram3", 0x2010, 0x1000)
	rd := f.s.NewReader()
	defer rd.Close()

	if v, res := rd.Load(f.as, 0xffe, 4, LittleEndian, Attrs{}); v != 0 || res != DecodeError {
		t.Errorf("straddling load: %#x %v, want 0 decode-error", v, res)
	}
	if res := rd.Store(f.as, 0xffe, 4, 0xffffffff, LittleEndian, Attrs{}); res != DecodeError {
		t.Errorf("straddling store: %v", res)
	}
	want := "Invalid read at addr 0xFFE, size 4, region 'ram', reason: rejected; " +
		"Invalid write at addr 0xFFE, size 4, region 'ram', reason: rejected"
	if got := strings.Join(f.takeEvents(), "; "); got != want {
		t.Errorf("events %q\nwant %q", got, want)
	}
	if !bytes.Equal(a.Host()[0xffc:], []byte{1, 2, 3, 4}) || !bytes.Equal(b.Host()[:4], []byte{5, 6, 7, 8}) {
		t.Errorf("straddling store changed memory")
	}
	buf := make([]byte, 4)
	if res := rd.Read(f.as, 0xffe, buf, Attrs{}); res != OK || !bytes.Equal(buf, []byte{3, 4, 5, 6}) {
		t.Errorf("buffer read of the same bytes: %v % x", res, buf)
	}
	// Inside one range: direct, either byte order.
	for _, tt := range []struct {
		e    Endianness
		want uint64
	}{{LittleEndian, 0x08070605}, {BigEndian, 0x05060708}, {NativeEndian, 0x08070605}} {
		if v, res := rd.Load(f.as, 0x1000, 4, tt.e, Attrs{}); v != tt.want || res != OK {
			t.Errorf("load e=%d: %#x %v, want %#x", tt.e, v, res, tt.want)
		}
	}
	if res := rd.Store(f.as, 0x1004, 2, 0xa1b2, BigEndian, Attrs{}); res != OK || !bytes.Equal(b.Host()[4:6], []byte{0xa1, 0xb2}) {
		t.Errorf("BE store: %v % x", res, b.Host()[4:6])
	}
	// ROM device in romd mode straddling its end: the device's ops.
	copy(flash.Host(), bytes.Repeat([]byte{0x77}, 0x10))
	if v, res := rd.Load(f.as, 0x200e, 4, LittleEndian, Attrs{}); res != OK || v != accPattern(0xe, 4) {
		t.Errorf("straddling ROM device load: %#x %v", v, res)
	}
	if v, res := rd.Load(f.as, 0x200c, 4, LittleEndian, Attrs{}); res != OK || v != 0x77777777 {
		t.Errorf("ROM device direct load: %#x %v", v, res)
	}
	if got := rec.take(); got != "r4@0xe" {
		t.Errorf("ROM device calls %q", got)
	}
	// Sizes other than 1, 2, 4, 8 are refused.
	if _, res := rd.Load(f.as, 0, 3, LittleEndian, Attrs{}); res != AccessError {
		t.Errorf("3-byte load: %v", res)
	}
	f.noLeaks()
}

// R-ACC-9: AccessValid walks like an access without performing it and
// fails when any MMIO step fails R-SIZE-3 (reporting it, like QEMU).
func TestAccessValid(t *testing.T) {
	f := newAccFix(t)
	f.ram("ram", 0, 0x1000)
	f.add(0x1000, f.must(f.s.NewROM(nil, "rom", 0x1000)))
	rec := &accRec{}
	f.io("dev", 0x2000, 0x100, rec.ops(LittleEndian, AccessSizes{Min: 2, Max: 4}, AccessSizes{}))
	tests := []struct {
		addr, n uint64
		write   bool
		want    bool
	}{
		{0, 0x1000, true, true},
		{0xff0, 0x20, false, true},
		{0x1000, 4, false, true},
		{0x1000, 4, true, false}, // R-UNAS-3
		{0x2000, 8, false, true}, // two steps of 4
		{0x2000, 3, false, false},
		{0x2000, 2, true, true},
		{0x9000, 1, false, false},
	}
	for _, tt := range tests {
		if got := f.as.AccessValid(tt.addr, tt.n, tt.write, Attrs{}); got != tt.want {
			t.Errorf("AccessValid(%#x, %d, write=%v) = %v", tt.addr, tt.n, tt.write, got)
		}
	}
	if got := rec.take(); got != "" {
		t.Errorf("AccessValid called the device: %q", got)
	}
	f.takeEvents()
	f.noLeaks()
}

func ExampleAccessEvent_String() {
	ev := AccessEvent{Region: "uart", Offset: 0x1f, Size: 2, Write: false, Reason: "unaligned"}
	fmt.Println(ev)
	// Output: Invalid read at addr 0x1F, size 2, region 'uart', reason: unaligned
}
