//go:build linux && amd64

package kvm

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// progExits exercises every kind of exit Run serves (assembled with
// `as --32`; objdump shown):
//
//	b0 41                 mov    $0x41,%al
//	e6 10                 out    %al,$0x10
//	66 ba 34 12           mov    $0x1234,%dx
//	66 b8 ef be           mov    $0xbeef,%ax
//	66 ef                 out    %ax,(%dx)
//	e4 11                 in     $0x11,%al
//	88 c3                 mov    %al,%bl
//	c7 05 00 00 00 fe     movl   $0xcafef00d,0xfe000000
//	   0d f0 fe ca
//	8b 2d 10 00 00 fe     mov    0xfe000010,%ebp
//	fc                    cld
//	be 00 20 00 00        mov    $0x2000,%esi
//	b9 03 00 00 00        mov    $0x3,%ecx
//	66 ba 12 00           mov    $0x12,%dx
//	f3 6e                 rep outsb %ds:(%esi),(%dx)
//	bf 00 30 00 00        mov    $0x3000,%edi
//	b9 04 00 00 00        mov    $0x4,%ecx
//	66 ba 13 00           mov    $0x13,%dx
//	f3 6c                 rep insb (%dx),%es:(%edi)
//	f4                    hlt
var progExits = []byte{
	0xb0, 0x41, 0xe6, 0x10, 0x66, 0xba, 0x34, 0x12, 0x66, 0xb8, 0xef, 0xbe,
	0x66, 0xef, 0xe4, 0x11, 0x88, 0xc3, 0xc7, 0x05, 0x00, 0x00, 0x00, 0xfe,
	0x0d, 0xf0, 0xfe, 0xca, 0x8b, 0x2d, 0x10, 0x00, 0x00, 0xfe, 0xfc, 0xbe,
	0x00, 0x20, 0x00, 0x00, 0xb9, 0x03, 0x00, 0x00, 0x00, 0x66, 0xba, 0x12,
	0x00, 0xf3, 0x6e, 0xbf, 0x00, 0x30, 0x00, 0x00, 0xb9, 0x04, 0x00, 0x00,
	0x00, 0x66, 0xba, 0x13, 0x00, 0xf3, 0x6c, 0xf4,
}

func TestRunExits(t *testing.T) {
	_, c, ram := newTestMachine(t, 0x10000, progExits, 0)
	copy(ram[0x2000:], "xyz")
	next := byte(0xa0)
	h := &recorder{read: func(kind string, addr uint64, data []byte) {
		switch {
		case kind == "pio" && addr == 0x11:
			data[0] = 0x5a
		case kind == "pio" && addr == 0x13:
			data[0] = next
			next++
		case kind == "mmio" && addr == 0xfe000010:
			copy(data, []byte{0x44, 0x33, 0x22, 0x11})
		}
	}}
	// String I/O: KVM hands REP INSB to userspace as one exit with count > 1
	// (REP OUTSB, on the kernels seen so far, one element an exit); Run
	// splits such an exit into one call per element.
	h.count = func() uint32 { return c.page.io().count }
	err := c.Run(h)
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Reason != ExitHLT {
		t.Fatalf("Run = %v, want an *ExitError for HLT", err)
	}
	if slices.Max(h.counts) < 2 {
		t.Errorf("kvm_run.io.count at each port access: %v; no exit carried more than one element", h.counts)
	}
	t.Logf("kvm_run.io.count at each port access: %v", h.counts)
	equalLog(t, h.log, []access{
		{"pio", 0x10, true, "41"},
		{"pio", 0x1234, true, "ef be"},
		{"pio", 0x11, false, "5a"},
		{"mmio", 0xfe000000, true, "0d f0 fe ca"},
		{"mmio", 0xfe000010, false, "44 33 22 11"},
		{"pio", 0x12, true, "78"}, // rep outsb: one call per byte
		{"pio", 0x12, true, "79"},
		{"pio", 0x12, true, "7a"},
		{"pio", 0x13, false, "a0"}, // rep insb
		{"pio", 0x13, false, "a1"},
		{"pio", 0x13, false, "a2"},
		{"pio", 0x13, false, "a3"},
	})
	// What the guest read arrived where it should.
	r := ee.Regs
	if r.RBX&0xff != 0x5a || r.RBP != 0x11223344 || string(ram[0x3000:0x3004]) != "\xa0\xa1\xa2\xa3" {
		t.Errorf("bl = %#x, ebp = %#x, [0x3000] = % x", r.RBX&0xff, r.RBP, ram[0x3000:0x3004])
	}
	if want := uint64(progAddr + len(progExits)); r.RIP != want {
		t.Errorf("RIP after HLT = %#x, want %#x", r.RIP, want)
	}
	if msg := err.Error(); msg != "kvm: vcpu 0: HLT at rip=0x1044" {
		t.Errorf("HLT error = %q", msg)
	}
}

// progReadOnly reads a read-only slot, writes it and reads it again:
//
//	a1 00 00 01 00        mov    0x10000,%eax
//	c7 05 00 00 01 00     movl   $0x55aa55aa,0x10000
//	   aa 55 aa 55
//	8b 1d 00 00 01 00     mov    0x10000,%ebx
//	f4                    hlt
var progReadOnly = []byte{
	0xa1, 0x00, 0x00, 0x01, 0x00, 0xc7, 0x05, 0x00, 0x00, 0x01, 0x00, 0xaa,
	0x55, 0xaa, 0x55, 0x8b, 0x1d, 0x00, 0x00, 0x01, 0x00, 0xf4,
}

func TestReadOnlySlot(t *testing.T) {
	vm, c, _ := newTestMachine(t, 0x10000, progReadOnly, 0)
	if !vm.Caps().ReadOnlyMem {
		t.Skip("KVM lacks KVM_CAP_READONLY_MEM")
	}
	rom := guestMem(t, pageSize)
	copy(rom, "ROMDATA!")
	if err := vm.SetSlot(1, 0x10000, rom, ReadOnly); err != nil {
		t.Fatal(err)
	}
	h := &recorder{}
	var ee *ExitError
	if err := c.Run(h); !errors.As(err, &ee) || ee.Reason != ExitHLT {
		t.Fatalf("Run = %v, want HLT", err)
	}
	// Reads came from the slot without an exit; the write exited as MMIO
	// and did not reach the memory.
	equalLog(t, h.log, []access{{"mmio", 0x10000, true, "aa 55 aa 55"}})
	if ee.Regs.RAX != 0x444d4f52 || ee.Regs.RBX != 0x444d4f52 {
		t.Errorf("eax = %#x, ebx = %#x, want 0x444d4f52 (\"ROMD\") twice", ee.Regs.RAX, ee.Regs.RBX)
	}
	if string(rom[:8]) != "ROMDATA!" {
		t.Errorf("read-only memory changed: %q", rom[:8])
	}
}

// progDirty writes three pages, halts, then writes a fourth:
//
//	c7 05 00 30 00 00 01 00 00 00   movl   $0x1,0x3000
//	c7 05 fc 5f 00 00 02 00 00 00   movl   $0x2,0x5ffc
//	c6 05 00 90 00 00 03            movb   $0x3,0x9000
//	f4                              hlt
//	c7 05 00 a0 00 00 04 00 00 00   movl   $0x4,0xa000
//	f4                              hlt
var progDirty = []byte{
	0xc7, 0x05, 0x00, 0x30, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
	0xc7, 0x05, 0xfc, 0x5f, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00,
	0xc6, 0x05, 0x00, 0x90, 0x00, 0x00, 0x03,
	0xf4,
	0xc7, 0x05, 0x00, 0xa0, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00,
	0xf4,
}

func TestDirtyLog(t *testing.T) {
	vm, c, ram := newTestMachine(t, 0x10000, progDirty, LogDirty)
	ram[0x7000] = 1 // host writes are not logged
	steps := []struct {
		name string
		want []uint64
	}{
		{"first run", []uint64{3, 5, 9}},
		{"after resuming past HLT", []uint64{10}},
	}
	for _, step := range steps {
		var ee *ExitError
		if err := c.Run(&recorder{}); !errors.As(err, &ee) || ee.Reason != ExitHLT {
			t.Fatalf("%s: Run = %v, want HLT", step.name, err)
		}
		bm, err := vm.GetDirtyLog(0)
		if err != nil {
			t.Fatal(err)
		}
		if got := bm.Pages(); !slices.Equal(got, step.want) {
			t.Errorf("%s: dirty pages %v, want %v", step.name, got, step.want)
		}
		if len(bm) != 1 || !bm.IsDirty(step.want[0]) || bm.IsDirty(0) || bm.IsDirty(1000) {
			t.Errorf("%s: bitmap %#x", step.name, bm)
		}
		// Reading the log cleared it.
		if bm, err := vm.GetDirtyLog(0); err != nil || len(bm.Pages()) != 0 {
			t.Errorf("%s: second GetDirtyLog = %v, %v; want no pages", step.name, bm.Pages(), err)
		}
	}
	if ram[0x3000] != 1 || ram[0x5ffc] != 2 || ram[0x9000] != 3 || ram[0xa000] != 4 {
		t.Error("guest writes did not reach host memory")
	}

	other := guestMem(t, pageSize)
	if err := vm.SetSlot(1, 0x20000, other, 0); err != nil {
		t.Fatal(err)
	}
	for slot, want := range map[uint32]string{1: "without LogDirty", 2: "not set"} {
		if _, err := vm.GetDirtyLog(slot); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("GetDirtyLog(%d) = %v, want an error saying %q", slot, err, want)
		}
	}
}

// progUD2 is `ud2` (0f 0b): with an empty IDT the #UD becomes a #GP, a double
// fault and a triple fault, which KVM reports as SHUTDOWN.
var progUD2 = []byte{0x0f, 0x0b}

func TestShutdownReportsRegisters(t *testing.T) {
	_, c, _ := newTestMachine(t, 0x10000, progUD2, 0)
	s, err := c.Sregs()
	if err != nil {
		t.Fatal(err)
	}
	s.IDT = DTable{}
	if err := c.SetSregs(s); err != nil {
		t.Fatal(err)
	}
	err = c.Run(&recorder{})
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Reason != ExitShutdown {
		t.Fatalf("Run = %v, want SHUTDOWN", err)
	}
	msg := err.Error()
	for _, want := range []string{"kvm: vcpu 0: SHUTDOWN at rip=", "\nRAX=", "\nCS =0008 0000000000000000 ffffffff type=b", "\nCR0="} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not contain %q:\n%s", want, msg)
		}
	}
	t.Logf("%v", err)
}

// TestSetProtectedMode checks the state SetProtectedMode leaves.
func TestSetProtectedMode(t *testing.T) {
	_, c, _ := newTestMachine(t, 0x10000, progUD2, 0)
	r, err := c.Regs()
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.Sregs()
	if err != nil {
		t.Fatal(err)
	}
	if r.RIP != progAddr || r.RSP != stackTop || r.RFLAGS != 2 || r.RAX != 0 {
		t.Errorf("regs %+v", r)
	}
	if s.CR0&(cr0PE|cr0PG) != cr0PE || s.CS != flatCode32 || s.SS != flatData32 || s.DS != flatData32 || s.EFER != 0 {
		t.Errorf("sregs: cr0=%#x cs=%+v ss=%+v efer=%#x", s.CR0, s.CS, s.SS, s.EFER)
	}
}

// errTestEnd is what test handlers return to end a run.
var errTestEnd = errors.New("test: end of run")

// endAfter is an ExitHandler that ends the run at the n-th exit.
type endAfter struct{ n, seen int }

func (e *endAfter) PIO(uint16, []byte, bool) error  { return e.count() }
func (e *endAfter) MMIO(uint64, []byte, bool) error { return e.count() }

func (e *endAfter) count() error {
	e.seen++
	if e.seen >= e.n {
		return errTestEnd
	}
	return nil
}

// progOutLoop is `1: out %al,$0x10; jmp 1b` (e6 10 eb fc).
var progOutLoop = []byte{0xe6, 0x10, 0xeb, 0xfc}

func TestHandlerErrorEndsRun(t *testing.T) {
	_, c, _ := newTestMachine(t, 0x10000, progOutLoop, 0)
	h := &endAfter{n: 3}
	if err := c.Run(h); err != errTestEnd {
		t.Fatalf("Run = %v, want the handler's error unchanged", err)
	}
	if h.seen != 3 {
		t.Errorf("handler saw %d exits, want 3", h.seen)
	}
	// The run can go on.
	h.n = 5
	if err := c.Run(h); err != errTestEnd || h.seen != 5 {
		t.Errorf("second Run = %v after %d exits", err, h.seen)
	}
}

// blockingHandler blocks inside the first exit until released.
type blockingHandler struct{ entered, release chan struct{} }

func (b *blockingHandler) PIO(uint16, []byte, bool) error {
	close(b.entered)
	<-b.release
	return errTestEnd
}
func (b *blockingHandler) MMIO(uint64, []byte, bool) error { return nil }

// TestRunStateErrors checks that calls that must not overlap Run say so.
func TestRunStateErrors(t *testing.T) {
	vm, c, _ := newTestMachine(t, 0x10000, progOutLoop, 0)
	h := &blockingHandler{entered: make(chan struct{}), release: make(chan struct{})}
	done := make(chan error)
	go func() { done <- c.Run(h) }()
	<-h.entered
	for name, call := range map[string]func() error{
		"Run":              func() error { return c.Run(h) },
		"Regs":             func() error { _, err := c.Regs(); return err },
		"SetRegs":          func() error { return c.SetRegs(Regs{}) },
		"Sregs":            func() error { _, err := c.Sregs(); return err },
		"SetSregs":         func() error { return c.SetSregs(Sregs{}) },
		"SetProtectedMode": func() error { return c.SetProtectedMode(0, 0) },
		"Close":            c.Close,
		"VM.Close":         vm.Close,
	} {
		if err := call(); err == nil || !strings.Contains(err.Error(), "running") && !strings.Contains(err.Error(), "in progress") {
			t.Errorf("%s while running = %v, want an error", name, err)
		}
	}
	close(h.release)
	if err := <-done; err != errTestEnd {
		t.Errorf("Run = %v", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close after Run: %v", err)
	}
}
