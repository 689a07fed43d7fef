//go:build linux && amd64

package kvm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"qmem.dev/qmem/memory"
)

// spaceHandler serves MMIO exits through an address space with its own
// reader, as a board does, and records them; 32-bit writes to port 0x10 are
// the guest's reports.
type spaceHandler struct {
	as   *memory.AddressSpace
	rd   *memory.Reader
	mmio []access
	out  []uint32
}

func (h *spaceHandler) PIO(port uint16, data []byte, write bool) error {
	switch {
	case write && port == 0x10 && len(data) == 4:
		h.out = append(h.out, binary.LittleEndian.Uint32(data))
	case !write:
		for i := range data {
			data[i] = 0xff
		}
	}
	return nil
}

func (h *spaceHandler) MMIO(addr uint64, data []byte, write bool) error {
	if write {
		h.rd.Write(h.as, addr, data, memory.Attrs{})
	} else {
		h.rd.Read(h.as, addr, data, memory.Attrs{})
	}
	h.mmio = append(h.mmio, access{kind: "mmio", addr: addr, write: write, data: fmt.Sprintf("% x", data)})
	return nil
}

// guestOn sets up a mapMachine with prog in a 64 KiB RAM at 0, and a vCPU
// in protected mode at progAddr. The lock is free on return.
func guestOn(t *testing.T, prog []byte) (*mapMachine, *VCPU, *memory.Region, *spaceHandler) {
	t.Helper()
	vm := newTestVM(t)
	m := newMapMachine(t, vm)
	m.sys.Lock()
	ram := m.ram(t, "ram", 0x10000)
	copy(ram.Host()[progAddr:], prog)
	m.add(t, 0, ram, 0)
	m.sys.Unlock()
	c, err := vm.NewVCPU(0)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetProtectedMode(progAddr, stackTop); err != nil {
		t.Fatal(err)
	}
	rd := m.sys.NewReader()
	t.Cleanup(rd.Close)
	return m, c, ram, &spaceHandler{as: m.as, rd: rd}
}

// runToHLT runs c until the guest halts.
func runToHLT(t *testing.T, c *VCPU, h ExitHandler) {
	t.Helper()
	var ee *ExitError
	if err := c.Run(h); !errors.As(err, &ee) || ee.Reason != ExitHLT {
		t.Fatalf("Run = %v, want HLT", err)
	}
}

// progUnaligned reads and writes a window of RAM at 0x10800-0x137ff, whose
// partial first and last pages have no slot:
//
//	a1 00 08 01 00        mov    0x10800,%eax       (exits)
//	e7 10                 out    %eax,$0x10
//	a1 00 10 01 00        mov    0x11000,%eax       (slot)
//	e7 10                 out    %eax,$0x10
//	a1 fc 2f 01 00        mov    0x12ffc,%eax       (slot)
//	e7 10                 out    %eax,$0x10
//	a1 00 30 01 00        mov    0x13000,%eax       (exits)
//	e7 10                 out    %eax,$0x10
//	c7 05 04 30 01 00     movl   $0x12345678,0x13004 (exits)
//	   78 56 34 12
//	c7 05 04 10 01 00     movl   $0x9abcdef0,0x11004 (slot)
//	   f0 de bc 9a
//	f4                    hlt
var progUnaligned = []byte{
	0xa1, 0x00, 0x08, 0x01, 0x00, 0xe7, 0x10, 0xa1, 0x00, 0x10, 0x01, 0x00,
	0xe7, 0x10, 0xa1, 0xfc, 0x2f, 0x01, 0x00, 0xe7, 0x10, 0xa1, 0x00, 0x30,
	0x01, 0x00, 0xe7, 0x10, 0xc7, 0x05, 0x04, 0x30, 0x01, 0x00, 0x78, 0x56,
	0x34, 0x12, 0xc7, 0x05, 0x04, 0x10, 0x01, 0x00, 0xf0, 0xde, 0xbc, 0x9a, 0xf4,
}

// TestMemoryMapUnalignedRangeExits runs a guest over a RAM range that is
// not page-aligned (an alias window at 0x10800 of a RAM region from its
// offset 0x800): its whole pages are a slot, its partial pages exit as
// MMIO and are served by the address space, and the guest sees one memory.
func TestMemoryMapUnalignedRangeExits(t *testing.T) {
	m, c, _, h := guestOn(t, progUnaligned)
	m.sys.Lock()
	odd := m.ram(t, "odd", 0x4000)
	window, err := m.sys.NewAlias(nil, "window", odd, 0x800, 0x3000)
	if err != nil {
		t.Fatal(err)
	}
	m.add(t, 0x10800, window, 0)
	m.sys.Unlock()
	if got := m.mm.Slots(); len(got) != 2 || got[1].GuestPhys != 0x11000 || got[1].Size != 0x2000 {
		t.Fatalf("slots %+v; want the RAM at 0 and [0x11000, 0x13000)", got)
	}
	mem := odd.Host()[0x800:]
	for off, v := range map[int]uint32{0: 0x11111111, 0x800: 0x22222222, 0x27fc: 0x33333333, 0x2800: 0x44444444} {
		binary.LittleEndian.PutUint32(mem[off:], v)
	}
	runToHLT(t, c, h)
	if want := []uint32{0x11111111, 0x22222222, 0x33333333, 0x44444444}; !slices.Equal(h.out, want) {
		t.Errorf("the guest read %#x, want %#x", h.out, want)
	}
	equalLog(t, h.mmio, []access{
		{kind: "mmio", addr: 0x10800, data: "11 11 11 11"},
		{kind: "mmio", addr: 0x13000, data: "44 44 44 44"},
		{kind: "mmio", addr: 0x13004, write: true, data: "78 56 34 12"},
	})
	if a, b := binary.LittleEndian.Uint32(mem[0x2804:]), binary.LittleEndian.Uint32(mem[0x804:]); a != 0x12345678 || b != 0x9abcdef0 {
		t.Errorf("guest writes: %#x through the exit, %#x through the slot", a, b)
	}
}

// progDirtyPhases writes to a logged RAM region in three phases:
//
//	c6 05 00 00 10 00 01        movb   $0x1,0x100000        page 0
//	c7 05 fe 3f 10 00 44 33 22 11 movl $0x11223344,0x103ffe pages 3 and 4
//	66 c7 05 00 f0 10 00 05 00  movw   $0x5,0x10f000        page 15
//	f4                          hlt
//	c6 05 00 70 10 00 02        movb   $0x2,0x107000        page 7
//	f4                          hlt
//	c6 05 00 20 20 00 03        movb   $0x3,0x202000        page 2 (moved)
//	f4                          hlt
var progDirtyPhases = []byte{
	0xc6, 0x05, 0x00, 0x00, 0x10, 0x00, 0x01, 0xc7, 0x05, 0xfe, 0x3f, 0x10,
	0x00, 0x44, 0x33, 0x22, 0x11, 0x66, 0xc7, 0x05, 0x00, 0xf0, 0x10, 0x00,
	0x05, 0x00, 0xf4, 0xc6, 0x05, 0x00, 0x70, 0x10, 0x00, 0x02, 0xf4, 0xc6,
	0x05, 0x00, 0x20, 0x20, 0x00, 0x03, 0xf4,
}

// TestMemoryMapDirtyLog logs a RAM region's dirty pages through KVM: a
// sync shows exactly the pages the guest wrote; a move of the region (its
// slot deleted) and the end of logging (its slot's flags changed) read the
// log first, so no write is lost.
func TestMemoryMapDirtyLog(t *testing.T) {
	m, c, _, h := guestOn(t, progDirtyPhases)
	m.sys.Lock()
	vram := m.ram(t, "vram", 0x10000)
	m.add(t, 0x100000, vram, 0)
	ops := m.mm.Ops()
	if err := vram.SetLogVGA(true); err != nil {
		t.Fatal(err)
	}
	if n := m.mm.Ops() - ops; n != 1 {
		t.Errorf("starting the log took %d ioctls, want 1", n)
	}
	m.sys.Unlock()
	dirty := func(what string, want ...uint64) {
		t.Helper()
		got, err := vram.DirtyPages(memory.DirtyVGA)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: dirty pages %v, want %v", what, got, want)
		}
		if _, err := vram.TestAndClearDirty(0, vram.Size(), memory.DirtyVGA); err != nil {
			t.Fatal(err)
		}
	}

	runToHLT(t, c, h)
	m.sys.Lock()
	m.sys.SyncDirtyLog(nil)
	dirty("after a sync", 0, 3, 4, 15)
	m.sys.SyncDirtyLog(nil)
	dirty("after a second sync")
	m.sys.Unlock()

	runToHLT(t, c, h)
	m.sys.Lock()
	if err := vram.SetAddress(0x200000); err != nil {
		t.Fatal(err)
	}
	dirty("after a move", 7)
	m.sys.Unlock()

	runToHLT(t, c, h)
	m.sys.Lock()
	if err := vram.SetLogVGA(false); err != nil {
		t.Fatal(err)
	}
	dirty("after the log stopped", 2)
	if err := m.mm.Err(); err != nil {
		t.Error(err)
	}
	if err := m.mm.Compare(); err != nil {
		t.Error(err)
	}
	m.sys.Unlock()
	if len(h.mmio) != 0 {
		t.Errorf("unexpected exits: %v", h.mmio)
	}
}

// TestMemoryMapExhaustionKeepsGuestRunning refuses a commit for lack of
// slots while a vCPU runs: the guest keeps running on the old map; undoing
// the change makes the map consistent again.
func TestMemoryMapExhaustionKeepsGuestRunning(t *testing.T) {
	m, c, ram, _ := guestOn(t, progCount)
	counter := func() uint32 { return atomic.LoadUint32((*uint32)(unsafe.Pointer(&ram.Host()[counterAt]))) }
	progress := func(what string) {
		t.Helper()
		from := counter()
		for deadline := time.Now().Add(5 * time.Second); counter() < from+1000; {
			if time.Now().After(deadline) {
				t.Fatalf("%s: the guest made no progress past %d", what, counter())
			}
			time.Sleep(time.Millisecond)
		}
	}
	m.mm.SetLimit(1)
	done := runAsync(t, c, &recorder{})
	progress("start")

	m.sys.Lock()
	before, ops := m.slotsNow(), m.mm.Ops()
	extra := m.ram(t, "extra", 0x1000)
	m.add(t, 0x100000, extra, 0)
	err := m.mm.Err()
	if err == nil || !strings.Contains(err.Error(), "needs 2 memory slots but only 1 are available") {
		t.Errorf("Err = %v, want the slot budget error", err)
	}
	if got := m.slotsNow(); !maps.Equal(got, before) || m.mm.Ops() != ops {
		t.Errorf("slots %v after %d ioctls, want %v unchanged", got, m.mm.Ops()-ops, before)
	}
	m.sys.Unlock()
	progress("after the refused commit")

	m.sys.Lock()
	if err := m.system.DelSubregion(extra); err != nil {
		t.Fatal(err)
	}
	m.check(t, "after the undo", before, ops)
	m.sys.Unlock()
	progress("after the undo")
	c.Stop()
	if err := wait(t, done); err != ErrStopped {
		t.Fatalf("Run = %v, want ErrStopped", err)
	}
}

// TestRunGateKeepsGuestOffHalfUpdatedMap splits and merges the RAM slot
// that holds the running guest's code, many times: the map replaces the
// slot (delete, then add), and the gate keeps the vCPU out of the guest
// meanwhile, so it never fetches an instruction from unmapped memory (which
// KVM reports as an emulation failure).
func TestRunGateKeepsGuestOffHalfUpdatedMap(t *testing.T) {
	m, c, ram, _ := guestOn(t, progCount)
	counter := func() uint32 { return atomic.LoadUint32((*uint32)(unsafe.Pointer(&ram.Host()[counterAt]))) }
	g := NewRunGate()
	m.sys.Lock()
	m.mm.SetGate(g)
	hole, err := m.sys.NewIO(nil, "hole", 0x1000, testOps)
	m.sys.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	var stopping atomic.Bool
	done := make(chan error, 1)
	kicks := 0
	go func() {
		for {
			err := g.Run(c, &recorder{})
			if err == ErrStopped && !stopping.Load() {
				kicks++
				continue
			}
			done <- err
			return
		}
	}()
	for i := range 200 {
		from := counter()
		for deadline := time.Now().Add(5 * time.Second); counter() == from; time.Sleep(10 * time.Microsecond) {
			if time.Now().After(deadline) {
				t.Fatalf("toggle %d: the guest made no progress", i)
			}
			select {
			case err := <-done:
				t.Fatalf("toggle %d: Run = %v", i, err)
			default:
			}
		}
		m.sys.Lock()
		before, ops := m.slotsNow(), m.mm.Ops()
		if i%2 == 0 {
			m.add(t, 0x8000, hole, 1)
		} else if err := m.system.DelSubregion(hole); err != nil {
			t.Fatal(err)
		}
		m.check(t, fmt.Sprintf("toggle %d", i), before, ops)
		m.sys.Unlock()
	}
	stopping.Store(true)
	c.Stop()
	if err := wait(t, done); err != ErrStopped {
		t.Fatalf("Run = %v, want ErrStopped", err)
	}
	// Every replacement kicks the vCPU once; the last kick's ErrStopped
	// may be taken for the final stop.
	t.Logf("the gate kicked the vCPU out of the guest %d times for 200 slot replacements", kicks)
	if kicks < 199 {
		t.Errorf("the gate kicked the vCPU %d times for 200 slot replacements", kicks)
	}
}

// panicker is an ExitHandler that panics.
type panicker struct{}

func (panicker) PIO(uint16, []byte, bool) error  { panic("device bug") }
func (panicker) MMIO(uint64, []byte, bool) error { panic("device bug") }

// TestRunGateSurvivesHandlerPanic: a handler that panics through the gate
// leaves it usable: the vCPU runs through it again and the map can close it.
func TestRunGateSurvivesHandlerPanic(t *testing.T) {
	m, c, _, h := guestOn(t, progUnaligned) // its first access exits
	g := NewRunGate()
	m.sys.Lock()
	m.mm.SetGate(g)
	window, _ := m.sys.NewAlias(nil, "window", m.ram(t, "odd", 0x4000), 0x800, 0x3000)
	m.add(t, 0x10800, window, 0)
	m.sys.Unlock()
	func() {
		defer func() {
			if r := recover(); r != "device bug" {
				t.Fatalf("recovered %v", r)
			}
		}()
		_ = g.Run(c, panicker{})
	}()
	m.sys.Lock()
	if err := m.system.DelSubregion(window); err != nil { // deletes a slot: closes the gate
		t.Fatal(err)
	}
	m.sys.Unlock()
	var ee *ExitError
	if err := g.Run(c, h); !errors.As(err, &ee) || ee.Reason != ExitHLT {
		t.Fatalf("Run through the gate after a panic = %v, want HLT", err)
	}
}
