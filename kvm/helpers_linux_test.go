//go:build linux && amd64

package kvm

import (
	"bytes"
	"fmt"
	"testing"

	"golang.org/x/sys/unix"
)

// Layout of the hand-made test machines: RAM from 0, code at progAddr,
// stack below stackTop.
const (
	progAddr = 0x1000
	stackTop = 0x8000
)

// newTestVM returns a VM closed at the end of the test, or skips the test if
// /dev/kvm cannot be opened here.
func newTestVM(t testing.TB) *VM {
	t.Helper()
	fd, err := unix.Open("/dev/kvm", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("KVM is not available (open /dev/kvm: %v); skipping", err)
	}
	unix.Close(fd)
	vm, err := NewVM()
	if err != nil {
		t.Fatalf("NewVM: %v", err)
	}
	t.Cleanup(func() {
		if err := vm.Close(); err != nil {
			t.Errorf("VM.Close: %v", err)
		}
	})
	return vm
}

// guestMem returns size bytes of page-aligned anonymous memory, unmapped at
// the end of the test.
func guestMem(t testing.TB, size int) []byte {
	t.Helper()
	mem, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		t.Fatalf("mmap %d bytes: %v", size, err)
	}
	t.Cleanup(func() { unix.Munmap(mem) })
	return mem
}

// newTestMachine builds a VM with one vCPU in flat protected mode and
// ramSize bytes of RAM at 0 in slot 0 (with ramFlags), prog copied to
// progAddr, EIP = progAddr and ESP = stackTop.
func newTestMachine(t testing.TB, ramSize int, prog []byte, ramFlags SlotFlags) (*VM, *VCPU, []byte) {
	t.Helper()
	vm := newTestVM(t)
	ram := guestMem(t, ramSize)
	copy(ram[progAddr:], prog)
	if err := vm.SetSlot(0, 0, ram, ramFlags); err != nil {
		t.Fatal(err)
	}
	c, err := vm.NewVCPU(0)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetProtectedMode(progAddr, stackTop); err != nil {
		t.Fatal(err)
	}
	return vm, c, ram
}

// access is one exit as an ExitHandler saw it.
type access struct {
	kind  string // "pio" or "mmio"
	addr  uint64
	write bool
	data  string // hex bytes as the guest wrote or read them
}

func (a access) String() string {
	dir := "read"
	if a.write {
		dir = "write"
	}
	return fmt.Sprintf("%s %s %#x [%s]", a.kind, dir, a.addr, a.data)
}

// recorder is an ExitHandler that logs every access. Reads are answered by
// read, or with zeros.
type recorder struct {
	log  []access
	read func(kind string, addr uint64, data []byte)
	// count, if set, is called at each port access and its results kept
	// in counts (for looking at the exit behind the access).
	count  func() uint32
	counts []uint32
}

func (r *recorder) PIO(port uint16, data []byte, write bool) error {
	if r.count != nil {
		r.counts = append(r.counts, r.count())
	}
	return r.record("pio", uint64(port), data, write)
}

func (r *recorder) MMIO(addr uint64, data []byte, write bool) error {
	return r.record("mmio", addr, data, write)
}

func (r *recorder) record(kind string, addr uint64, data []byte, write bool) error {
	if !write {
		clear(data)
		if r.read != nil {
			r.read(kind, addr, data)
		}
	}
	r.log = append(r.log, access{kind: kind, addr: addr, write: write, data: fmt.Sprintf("% x", data)})
	return nil
}

// equalLog compares logs and reports the difference line by line.
func equalLog(t *testing.T, got, want []access) {
	t.Helper()
	var g, w bytes.Buffer
	for _, a := range got {
		fmt.Fprintln(&g, a)
	}
	for _, a := range want {
		fmt.Fprintln(&w, a)
	}
	if g.String() != w.String() {
		t.Errorf("exits:\n%s\nwant:\n%s", g.String(), w.String())
	}
}
