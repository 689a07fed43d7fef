package device_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"qmem.dev/qmem/board"
	"qmem.dev/qmem/board/guest"
	"qmem.dev/qmem/device"
	"qmem.dev/qmem/memory"
	"qmem.dev/qmem/qom"
)

// The device tests run without KVM: they build the demo board and access
// its devices through the board's address spaces, as a vCPU's exits would.

// lockedBuffer is the UART's writer.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// demo builds the demo board; its serial output goes to the returned
// buffer.
func demo(t *testing.T) (*board.Machine, *lockedBuffer) {
	t.Helper()
	serial := &lockedBuffer{}
	m, err := board.Build(board.Demo(), serial)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sys := m.MemorySystem()
		sys.Lock()
		defer sys.Unlock()
		sys.Synchronize()
		if leaks := m.Registry().Leaks(); len(leaks) != 0 {
			t.Errorf("leaks:\n%s", qom.FormatLeaks(leaks))
		}
	})
	return m, serial
}

// load reads size bytes at addr of as, little-endian.
func load(t *testing.T, as *memory.AddressSpace, addr uint64, size uint) (uint64, memory.Result) {
	t.Helper()
	return as.Load(addr, size, memory.LittleEndian, memory.Attrs{})
}

// mustLoad is load that fails the test on a bad result.
func mustLoad(t *testing.T, as *memory.AddressSpace, addr uint64, size uint) uint64 {
	t.Helper()
	v, res := load(t, as, addr, size)
	if res != memory.OK {
		t.Fatalf("load %d bytes at %#x of %s: %v", size, addr, as.Name(), res)
	}
	return v
}

// store writes size bytes at addr of as, little-endian.
func store(t *testing.T, as *memory.AddressSpace, addr uint64, size uint, v uint64) {
	t.Helper()
	if res := as.Store(addr, size, v, memory.LittleEndian, memory.Attrs{}); res != memory.OK {
		t.Fatalf("store %d bytes at %#x of %s: %v", size, addr, as.Name(), res)
	}
}

// find returns the device with the given id.
func find[T any](t *testing.T, m *board.Machine, id string) T {
	t.Helper()
	sys := m.MemorySystem()
	sys.Lock()
	defer sys.Unlock()
	d, err := m.Registry().FindDevice(id)
	if err != nil {
		t.Fatal(err)
	}
	return qom.MustCast[T](d.Instance())
}

func TestUART(t *testing.T) {
	m, serial := demo(t)
	const base = guest.UARTBase
	io := m.IO
	store(t, io, base, 1, 'h')
	store(t, io, base, 1, 'i')
	if got := mustLoad(t, io, base+5, 1); got != 0x60 {
		t.Errorf("LSR = %#x, want THR empty and transmitter empty (0x60)", got)
	}
	store(t, io, base+5, 1, 0) // LSR is read-only
	if got := mustLoad(t, io, base+5, 1); got != 0x60 {
		t.Errorf("LSR = %#x after a write", got)
	}
	if got := mustLoad(t, io, base, 1); got != 0 {
		t.Errorf("RBR = %#x, want 0 (nothing received)", got)
	}
	store(t, io, base+1, 1, 0x05)
	if got := mustLoad(t, io, base+1, 1); got != 0x05 {
		t.Errorf("IER = %#x, want 0x05", got)
	}
	if got, msr := mustLoad(t, io, base+2, 1), mustLoad(t, io, base+6, 1); got != 0xc1 || msr != 0xb0 {
		t.Errorf("IIR = %#x, MSR = %#x; want 0xc1, 0xb0", got, msr)
	}

	// DLAB: +0 and +1 are the divisor latch; nothing is transmitted.
	store(t, io, base+3, 1, 0x83)
	store(t, io, base, 1, 0x0c)
	store(t, io, base+1, 1, 0x01)
	if lo, hi := mustLoad(t, io, base, 1), mustLoad(t, io, base+1, 1); lo != 0x0c || hi != 0x01 {
		t.Errorf("divisor latch = %#x, %#x; want 0x0c, 0x01", lo, hi)
	}
	if got := mustLoad(t, io, base+3, 1); got != 0x83 {
		t.Errorf("LCR = %#x", got)
	}
	store(t, io, base+3, 1, 0x03)
	if got := mustLoad(t, io, base+1, 1); got != 0x05 {
		t.Errorf("IER = %#x after DLAB, want 0x05 kept", got)
	}
	store(t, io, base+7, 1, 0x5a)
	if got := mustLoad(t, io, base+7, 1); got != 0x5a {
		t.Errorf("SCR = %#x", got)
	}
	store(t, io, base, 1, '!')
	if got := serial.String(); got != "hi!" {
		t.Errorf("serial output %q, want %q", got, "hi!")
	}
	// The registers are 8 bits wide: wider accesses are refused.
	if _, res := load(t, io, base+5, 2); res == memory.OK {
		t.Error("a 16-bit read of the LSR succeeded")
	}
}

func TestDebugExit(t *testing.T) {
	m, _ := demo(t)
	if _, ok := m.ExitStatus(); ok {
		t.Fatal("exit requested before any write")
	}
	store(t, m.IO, guest.DebugExitPort, 1, 3)
	store(t, m.IO, guest.DebugExitPort, 1, 5) // the first request wins
	if st, ok := m.ExitStatus(); !ok || st != 3 {
		t.Errorf("ExitStatus = %d, %v; want 3, true", st, ok)
	}
	m.ResetExit()
	store(t, m.IO, guest.DebugExitPort, 4, 0x1207) // 8 bits of status
	if st, ok := m.ExitStatus(); !ok || st != 7 {
		t.Errorf("ExitStatus = %d, %v after a 32-bit write of 0x1207; want 7, true", st, ok)
	}
}

func TestTestDevRegisters(t *testing.T) {
	m, _ := demo(t)
	mem := m.Memory
	const base = guest.TestDevBase
	if got := mustLoad(t, mem, base+device.TestDevRegID, 4); got != device.TestDevID {
		t.Errorf("ID = %#x", got)
	}
	store(t, mem, base+device.TestDevRegID, 4, 0) // read-only
	if got := mustLoad(t, mem, base+device.TestDevRegID, 4); got != device.TestDevID {
		t.Errorf("ID = %#x after a write", got)
	}
	store(t, mem, base+device.TestDevRegScratch, 4, 0xcafef00d)
	if got := mustLoad(t, mem, base+device.TestDevRegScratch, 4); got != 0xcafef00d {
		t.Errorf("scratch = %#x", got)
	}
	// A byte write goes to the 32-bit register (impl 4): the other bytes
	// are written as 0.
	store(t, mem, base+device.TestDevRegScratch, 1, 0x11)
	if got := mustLoad(t, mem, base+device.TestDevRegScratch, 4); got&0xff != 0x11 {
		t.Errorf("scratch = %#x after a byte write of 0x11", got)
	}
	c0 := mustLoad(t, mem, base+device.TestDevRegCounter, 4)
	c1 := mustLoad(t, mem, base+device.TestDevRegCounter, 4)
	if c1 != c0+1 {
		t.Errorf("counter read %d then %d", c0, c1)
	}
	td := find[*device.TestDev](t, m, "testdev0")
	n := td.Accesses()
	if got := mustLoad(t, mem, base+device.TestDevRegAccess, 4); got != n+1 {
		t.Errorf("access register = %d, want %d", got, n+1)
	}
	if got := mustLoad(t, mem, base+0x10, 4); got != 0 {
		t.Errorf("unused register = %#x", got)
	}
}

// TestTestDevHotUnplug unplugs the test device while a reader polls its
// counter: the reader then gets decode errors, and the device is finalized
// once, after its last callback.
func TestTestDevHotUnplug(t *testing.T) {
	m, _ := demo(t)
	td := find[*device.TestDev](t, m, "testdev0")
	sys := m.MemorySystem()
	const counter = guest.TestDevBase + device.TestDevRegCounter

	var reads, gone atomic.Int64
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		rd := sys.NewReader()
		defer rd.Close()
		last := int64(-1)
		for {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			v, res := rd.Load(m.Memory, counter, 4, memory.LittleEndian, memory.Attrs{})
			switch {
			case res == memory.OK && gone.Load() == 0 && (last < 0 || int64(v) == last+1):
				last = int64(v)
				reads.Add(1)
			case res == memory.DecodeError && v == 0:
				gone.Add(1)
			default:
				done <- fmt.Errorf("read %#x (%v) after %d reads and %d decode errors", v, res, reads.Load(), gone.Load())
				return
			}
		}
	}()
	for reads.Load() < 1000 {
		runtime.Gosched()
	}
	sys.Lock()
	dev, err := m.Registry().FindDevice("testdev0")
	if err == nil {
		err = m.Registry().Unplug(dev)
	}
	if err != nil {
		sys.Unlock()
		t.Fatal(err)
	}
	sys.Synchronize()
	sys.Unlock()
	for gone.Load() < 1000 {
		runtime.Gosched()
	}
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n, late, early := td.Finalizations(), td.AfterFinalize(), td.FinalizedWhileInside(); n != 1 || late != 0 || early != 0 {
		t.Errorf("finalized %d times, %d callbacks after, %d finalizations during a callback; want 1, 0, 0", n, late, early)
	}
	if _, err := m.Registry().FindDevice("testdev0"); err == nil {
		t.Error("the device is still there")
	}
}

func TestFlashCommands(t *testing.T) {
	m, _ := demo(t)
	mem := m.Memory
	const base = guest.ROMBase
	signature := func() string {
		var b [8]byte
		if res := mem.Read(base, b[:], memory.Attrs{}); res != memory.OK {
			t.Fatalf("read the flash: %v", res)
		}
		return string(b[:])
	}
	if got := signature(); got != guest.ROMSignature {
		t.Fatalf("flash starts with %q", got)
	}
	// Data writes in romd mode change nothing.
	store(t, mem, base, 4, 0xdeadbeef)
	store(t, mem, base+4, 1, 0)
	if got := signature(); got != guest.ROMSignature {
		t.Errorf("flash starts with %q after data writes", got)
	}
	romd := func() bool {
		sys := m.MemorySystem()
		sys.Lock()
		defer sys.Unlock()
		return m.Memory.View().Find(base).RomdMode
	}
	// Read ID: romd mode off, reads come from the callback.
	store(t, mem, base+0x100, 1, device.FlashCmdReadID)
	if romd() {
		t.Error("romd mode still on after the read-ID command")
	}
	if got := mustLoad(t, mem, base, 4); got != device.FlashID {
		t.Errorf("ID read = %#x, want %#x", got, uint64(device.FlashID))
	}
	if got := mustLoad(t, mem, base+1, 1); got != device.FlashID>>8&0xff {
		t.Errorf("ID byte 1 = %#x", got)
	}
	// A command must be a byte write.
	store(t, mem, base, 4, device.FlashCmdReadArray)
	if romd() {
		t.Error("a 32-bit write of the read-array command was taken")
	}
	store(t, mem, base, 1, device.FlashCmdReadArray)
	if !romd() {
		t.Error("romd mode still off after the read-array command")
	}
	if got := signature(); got != guest.ROMSignature {
		t.Errorf("flash starts with %q after read-array", got)
	}
}

func TestRemapModes(t *testing.T) {
	m, _ := demo(t)
	mem, io := m.Memory, m.IO
	const win = guest.RemapBase
	ram := m.RAM().Host()
	binary.LittleEndian.PutUint32(ram[win:], 0x11223344)
	r := find[*device.Remap](t, m, "remap0")

	// ROM mode: the flash's start, read-only.
	if got := mustLoad(t, io, guest.RemapPort, 1); got != device.RemapROM || r.Mode() != device.RemapROM {
		t.Errorf("mode port = %d, Mode = %d; want ROM", got, r.Mode())
	}
	sig := binary.LittleEndian.Uint32([]byte(guest.ROMSignature))
	if got := mustLoad(t, mem, win, 4); got != uint64(sig) {
		t.Errorf("window = %#x in ROM mode, want the flash's %#x", got, sig)
	}
	store(t, mem, win, 4, 0xdeadbeef)
	if got := mustLoad(t, mem, win, 4); got != uint64(sig) {
		t.Errorf("window = %#x after a write in ROM mode", got)
	}
	if got := binary.LittleEndian.Uint32(ram[win:]); got != 0x11223344 {
		t.Errorf("a write in ROM mode reached the RAM behind the window: %#x", got)
	}

	// Read-only holds for data only: the window's leaf is the flash, a ROM
	// device, whose writes go to its callback whatever the alias says
	// (QEMU's dispatch ignores a view's readonly for MMIO), so a flash
	// command written through the window is obeyed.
	store(t, mem, win, 1, device.FlashCmdReadID)
	if got := mustLoad(t, mem, win, 4); got != device.FlashID {
		t.Errorf("window = %#x after a read-ID command through it, want the flash ID", got)
	}
	store(t, mem, win, 1, device.FlashCmdReadArray)
	if got := mustLoad(t, mem, win, 4); got != uint64(sig) {
		t.Errorf("window = %#x after read-array", got)
	}

	// RAM mode: the RAM at the same address, writable.
	store(t, io, guest.RemapPort, 1, device.RemapRAM)
	if got := mustLoad(t, io, guest.RemapPort, 1); got != device.RemapRAM || r.Mode() != device.RemapRAM {
		t.Errorf("mode port = %d, Mode = %d; want RAM", got, r.Mode())
	}
	if got := mustLoad(t, mem, win, 4); got != 0x11223344 {
		t.Errorf("window = %#x in RAM mode", got)
	}
	store(t, mem, win+4, 4, 0x55667788)
	if got := binary.LittleEndian.Uint32(ram[win+4:]); got != 0x55667788 {
		t.Errorf("RAM behind the window = %#x after a write in RAM mode", got)
	}

	// Only bit 0 counts; back to ROM mode.
	store(t, io, guest.RemapPort, 1, 0xfe)
	if got := mustLoad(t, mem, win, 4); got != uint64(sig) || r.Mode() != device.RemapROM {
		t.Errorf("window = %#x, Mode = %d after writing 0xfe", got, r.Mode())
	}
	sys := m.MemorySystem()
	sys.Lock()
	err := r.SetMode(device.RemapRAM)
	v := m.Memory.View().Find(win)
	sys.Unlock()
	if err != nil || v == nil || v.Region != m.RAM() {
		t.Errorf("SetMode(RAM) = %v; the window shows %v", err, v)
	}
}

// TestHotplugRAM plugs RAM through the board, reads and writes it, and
// unplugs it; bad sizes and addresses are refused with nothing left behind.
func TestHotplugRAM(t *testing.T) {
	m, _ := demo(t)
	sys := m.MemorySystem()
	add := func(id string, props map[string]any) error {
		sys.Lock()
		defer sys.Unlock()
		_, err := m.AddDevice(&board.DeviceSpec{Type: device.TypeRAM, ID: id, Props: props})
		return err
	}
	for _, tc := range []struct {
		props map[string]any
		want  string
	}{
		{map[string]any{"addr": uint64(0x4000000)}, "size 0x0 must be a non-zero multiple of 4 KiB"},
		{map[string]any{"addr": uint64(0x4000000), "size": "6K"}, "size 0x1800 must be a non-zero multiple of 4 KiB"},
		{map[string]any{"addr": uint64(0x4000800), "size": "64K"}, "addr 0x4000800 must be 4 KiB aligned"},
		{map[string]any{"addr": uint64(0x4000000), "size": "lots"}, "size"},
		{map[string]any{"addr": uint64(0x4000000), "size": "64K", "colour": "red"}, "colour"},
	} {
		err := add("bad", tc.props)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.props, err, tc.want)
		}
		if _, err := m.Registry().FindDevice("bad"); err == nil {
			t.Errorf("%v: the refused device is plugged", tc.props)
		}
	}

	if err := add("ram1", map[string]any{"addr": uint64(0x4000000), "size": "64K"}); err != nil {
		t.Fatal(err)
	}
	r := find[*device.RAM](t, m, "ram1")
	if r.Region() == nil || r.Region().Size() != 64<<10 {
		t.Fatalf("region %v", r.Region())
	}
	store(t, m.Memory, 0x4000000+0xfffc, 4, 0xfeedface)
	if got := binary.LittleEndian.Uint32(r.Region().Host()[0xfffc:]); got != 0xfeedface {
		t.Errorf("RAM holds %#x", got)
	}
	if _, res := load(t, m.Memory, 0x4010000, 4); res != memory.DecodeError {
		t.Errorf("read past the RAM: %v, want a decode error", res)
	}
	sys.Lock()
	dev, err := m.Registry().FindDevice("ram1")
	if err == nil {
		err = m.Registry().Unplug(dev)
	}
	sys.Synchronize()
	sys.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if v, res := load(t, m.Memory, 0x4000000+0xfffc, 4); res != memory.DecodeError || v != 0 {
		t.Errorf("read of unplugged RAM = %#x, %v; want 0, decode error", v, res)
	}
}
