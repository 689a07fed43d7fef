//go:build linux && amd64

package guest_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"qmem.dev/qmem/board/guest"
	"qmem.dev/qmem/kvm"
)

// Memory slots of the fake board. RAM is split around the remap window,
// whose slot is swapped between the flash and the RAM behind it.
const (
	slotRAMLow  = 0 // [0, RemapBase)
	slotRemap   = 1 // [RemapBase, RemapBase+RemapSize): flash (read-only) or RAM
	slotRAMHigh = 2 // [RemapBase+RemapSize, RAMSize)
	slotROM     = 3 // [ROMBase, ROMBase+ROMSize): flash, read-only (romd)
)

// faults are the device bugs a fake board can be built with.
type faults struct {
	wrongID        bool // the ID register reads something else
	scratchIgnores bool // the scratch register drops writes
	counterStuck   bool // the counter does not count
	romWritable    bool // writes to the flash change it
	remapIgnored   bool // the remap port does nothing
	unassignedZero bool // unassigned ports read zero
}

// fakeBoard is a minimal Go model of the test board: a UART that is always
// ready, the MMIO test device, flash in romd mode, the remap window, all-ones
// unassigned ports and the debug exit. It is the kvm.ExitHandler.
type fakeBoard struct {
	faults
	vm       *kvm.VM
	ram, rom []byte
	uart     bytes.Buffer
	scratch  uint32
	counter  uint32
}

// exitStatus is the run's end through the debug-exit port.
type exitStatus int

func (s exitStatus) Error() string { return fmt.Sprintf("debug exit with status %d", int(s)) }

func (b *fakeBoard) PIO(port uint16, data []byte, write bool) error {
	switch {
	case port == guest.UARTBase && write:
		b.uart.WriteByte(data[0])
	case port == guest.UARTLSR && !write:
		data[0] = guest.UARTLSRTHRE | 0x40 // THR and transmitter empty
	case port == guest.RemapPort && write:
		return b.remap(data[0])
	case port == guest.DebugExitPort && write:
		return exitStatus(data[0])
	case !write:
		fill := byte(0xff)
		if b.unassignedZero {
			fill = 0
		}
		for i := range data {
			data[i] = fill
		}
	}
	return nil
}

func (b *fakeBoard) MMIO(addr uint64, data []byte, write bool) error {
	switch {
	case addr >= guest.TestDevBase && addr < guest.TestDevBase+guest.TestDevSize:
		b.testDevice(addr-guest.TestDevBase, data, write)
	case addr >= guest.ROMBase && write && b.romWritable:
		copy(b.rom[addr-guest.ROMBase:], data)
	case addr >= guest.RemapBase && addr < guest.RemapBase+guest.RemapSize && write && b.romWritable:
		copy(b.rom[addr-guest.RemapBase:], data) // the window in ROM mode
	case !write:
		for i := range data {
			data[i] = 0xff
		}
	}
	return nil
}

func (b *fakeBoard) testDevice(reg uint64, data []byte, write bool) {
	var buf [8]byte
	if write {
		copy(buf[:], data)
		if reg == guest.TestDevRegScratch && !b.scratchIgnores {
			b.scratch = binary.LittleEndian.Uint32(buf[:])
		}
		return
	}
	var v uint32
	switch reg {
	case guest.TestDevRegID:
		v = guest.TestDevID
		if b.wrongID {
			v = 0x12345678
		}
	case guest.TestDevRegScratch:
		v = b.scratch
	case guest.TestDevRegCounter:
		v = b.counter
		if !b.counterStuck {
			b.counter++
		}
	}
	binary.LittleEndian.PutUint32(buf[:], v)
	copy(data, buf[:])
}

// remap points the window's slot at the flash or at the RAM behind it.
func (b *fakeBoard) remap(mode byte) error {
	if b.remapIgnored {
		return nil
	}
	if err := b.vm.DeleteSlot(slotRemap); err != nil {
		return err
	}
	if mode == guest.RemapRAM {
		return b.vm.SetSlot(slotRemap, guest.RemapBase, b.ram[guest.RemapBase:guest.RemapBase+guest.RemapSize], 0)
	}
	return b.vm.SetSlot(slotRemap, guest.RemapBase, b.rom[:guest.RemapSize], kvm.ReadOnly)
}

// mmap returns size bytes of anonymous memory, unmapped after the test.
func mmap(t *testing.T, size int) []byte {
	t.Helper()
	m, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Munmap(m) })
	return m
}

// runGuest builds a fake board with the given faults, runs the guest on it
// and returns the UART output and the run's error.
func runGuest(t *testing.T, f faults) (string, error) {
	t.Helper()
	if fd, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0); err != nil {
		t.Skipf("KVM is not available (%v); skipping", err)
	} else {
		fd.Close()
	}
	vm, err := kvm.NewVM()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { vm.Close() })
	b := &fakeBoard{faults: f, vm: vm, ram: mmap(t, guest.RAMSize), rom: mmap(t, guest.ROMSize)}
	copy(b.rom, guest.ROMSignature)
	copy(b.ram[guest.LoadAddr:], guest.Image())
	for _, s := range []struct {
		slot  uint32
		gpa   uint64
		host  []byte
		flags kvm.SlotFlags
	}{
		{slotRAMLow, 0, b.ram[:guest.RemapBase], 0},
		{slotRemap, guest.RemapBase, b.rom[:guest.RemapSize], kvm.ReadOnly},
		{slotRAMHigh, guest.RemapBase + guest.RemapSize, b.ram[guest.RemapBase+guest.RemapSize:], 0},
		{slotROM, guest.ROMBase, b.rom, kvm.ReadOnly},
	} {
		if err := vm.SetSlot(s.slot, s.gpa, s.host, s.flags); err != nil {
			t.Fatal(err)
		}
	}
	cpu, err := vm.NewVCPU(0)
	if err != nil {
		t.Fatal(err)
	}
	if err := cpu.SetProtectedMode(guest.LoadAddr, guest.StackTop); err != nil {
		t.Fatal(err)
	}
	watchdog := time.AfterFunc(20*time.Second, cpu.Stop)
	defer watchdog.Stop()
	err = cpu.Run(b)
	if errors.Is(err, kvm.ErrStopped) {
		t.Fatalf("guest still running after 20s; UART so far:\n%s", b.uart.String())
	}
	return b.uart.String(), err
}

// checkNames are the guest's checks in order, as it prints them.
var checkNames = [guest.Checks]string{
	"rom-signature", "testdev-id", "testdev-scratch", "testdev-counter",
	"rom-write-ignored", "remap-window", "unassigned-port", "string-io",
}

// wantOutput is the UART text when exactly the checks in failed fail.
func wantOutput(failed ...int) string {
	var b strings.Builder
	b.WriteString("guest: hello from qmem's test guest\r\n")
	for i, name := range checkNames {
		result := "ok"
		for _, f := range failed {
			if f == i+1 {
				result = "FAILED"
			}
		}
		fmt.Fprintf(&b, "guest: check %d %s: %s\r\n", i+1, name, result)
	}
	b.WriteString(guest.ResultLine(guest.Checks-len(failed), len(failed)) + "\r\n")
	return b.String()
}

func TestGuestOnFakeBoard(t *testing.T) {
	tests := []struct {
		name   string
		faults faults
		failed []int // the checks that must fail, numbered from 1
	}{
		{"all devices right", faults{}, nil},
		{"wrong ID register", faults{wrongID: true}, []int{2}},
		{"scratch drops writes", faults{scratchIgnores: true}, []int{3}},
		{"counter stuck", faults{counterStuck: true}, []int{4}},
		{"flash takes writes", faults{romWritable: true}, []int{5, 6}},
		{"remap port ignored", faults{remapIgnored: true}, []int{6}},
		{"unassigned ports read zero", faults{unassignedZero: true}, []int{7, 8}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runGuest(t, tt.faults)
			t.Logf("UART:\n%s", out)
			if want := wantOutput(tt.failed...); out != want {
				t.Errorf("UART output:\n%s\nwant:\n%s", out, want)
			}
			var status exitStatus
			if !errors.As(err, &status) || int(status) != len(tt.failed) {
				t.Errorf("Run = %v, want a debug exit with status %d", err, len(tt.failed))
			}
		})
	}
}
