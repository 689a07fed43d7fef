package memory

import (
	"bytes"
	"testing"
)

// R-ACC-3, R-ACC-4, R-UNAS-1/2/3: RAM is read and written directly, a ROM
// write is dropped with a decode error, unassigned reads 0 with a decode
// error, and a buffer access crossing boundaries ORs the step results.
func TestAccessBasics(t *testing.T) {
	_, s := newTestSystem(t)
	m := must[*Region](t)
	root := m(s.NewContainer(nil, "system", ^uint64(0)))
	ram := m(s.NewRAM(nil, "ram", 0x1000))
	rom := m(s.NewROM(nil, "rom", 0x1000))
	check(t, root.AddSubregion(0, ram))
	check(t, root.AddSubregion(0x1000, rom))
	as := must[*AddressSpace](t)(s.NewAddressSpace(root, "memory"))

	if res := as.Write(0x10, []byte{1, 2, 3, 4}, Attrs{}); res != OK {
		t.Fatalf("RAM write: %v", res)
	}
	buf := make([]byte, 4)
	if res := as.Read(0x10, buf, Attrs{}); res != OK || !bytes.Equal(buf, []byte{1, 2, 3, 4}) {
		t.Fatalf("RAM read: %v %x", res, buf)
	}
	copy(rom.Host(), "QMEMROM1")
	if res := as.Write(0x1000, []byte{9, 9}, Attrs{}); res != DecodeError {
		t.Fatalf("ROM write: %v, want decode-error", res)
	}
	if res := as.Read(0x1000, buf, Attrs{}); res != OK || string(buf) != "QMEM" {
		t.Fatalf("ROM read: %v %q", res, buf)
	}
	if res := as.Write(0x1000, []byte{'X'}, Attrs{Debug: true}); res != OK || rom.Host()[0] != 'X' {
		t.Fatalf("debug ROM write: %v %q", res, rom.Host()[:1])
	}
	if v, res := as.Load(0x5000, 4, LittleEndian, Attrs{}); res != DecodeError || v != 0 {
		t.Fatalf("unassigned load: %#x %v", v, res)
	}
	// 8 bytes from RAM's last 4 into ROM's first 4: both direct, OK.
	b8 := make([]byte, 8)
	if res := as.Read(0xffc, b8, Attrs{}); res != OK {
		t.Fatalf("crossing read: %v", res)
	}
	// Into unassigned: decode error ORed in.
	if res := as.Read(0x1ffc, b8, Attrs{}); res != DecodeError {
		t.Fatalf("read into unassigned: %v", res)
	}
}

// R-SIZE-1, R-SIZE-5, R-END-2: an 8-byte buffer read of a device with valid
// max 8 at offset 2 is split 2/4/2; impl max 2 splits further into 2-byte
// callbacks; a big-endian device's bytes come out most significant first.
func TestMMIOSplitting(t *testing.T) {
	_, s := newTestSystem(t)
	m := must[*Region](t)
	root := m(s.NewContainer(nil, "system", ^uint64(0)))
	type call struct {
		off  uint64
		size uint
	}
	var calls []call
	ops := &Ops{
		Read: func(off uint64, size uint, _ Attrs) (uint64, Result) {
			calls = append(calls, call{off, size})
			return 0x1100 + off, OK
		},
		Endianness: BigEndian,
		Valid:      AccessSizes{Min: 1, Max: 8},
		Impl:       AccessSizes{Min: 1, Max: 2},
	}
	check(t, root.AddSubregion(0x1000, m(s.NewIO(nil, "dev", 0x100, ops))))
	as := must[*AddressSpace](t)(s.NewAddressSpace(root, "memory"))
	buf := make([]byte, 8)
	if res := as.Read(0x1002, buf, Attrs{}); res != OK {
		t.Fatal(res)
	}
	want := []call{{2, 2}, {4, 2}, {6, 2}, {8, 2}}
	if len(calls) != len(want) {
		t.Fatalf("calls %v, want %v", calls, want)
	}
	for i := range want {
		if calls[i] != want[i] {
			t.Fatalf("calls %v, want %v", calls, want)
		}
	}
	// Big-endian: each 2-byte value 0x11xx is stored most significant first.
	if !bytes.Equal(buf, []byte{0x11, 0x02, 0x11, 0x04, 0x11, 0x06, 0x11, 0x08}) {
		t.Fatalf("bytes % x", buf)
	}
}
