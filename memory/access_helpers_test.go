package memory

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"qmem.dev/qmem/qom"
)

// Helpers of the access-path tests (access_*_test.go). Names start with
// "acc" so that they cannot collide with the helpers of other test files.

// accFix is a machine with a system container at the root of the "memory"
// address space, a device type, and a recorder of access events.
type accFix struct {
	t    testing.TB
	reg  *qom.Registry
	s    *System
	root *Region
	as   *AddressSpace

	evMu   sync.Mutex
	events []AccessEvent
}

func newAccFix(t testing.TB) *accFix {
	t.Helper()
	reg, s := newTestSystem(t)
	registerTestDevice(t, reg)
	f := &accFix{t: t, reg: reg, s: s}
	f.root = f.must(s.NewContainer(nil, "system", ^uint64(0)))
	f.as = must[*AddressSpace](t)(s.NewAddressSpace(f.root, "memory"))
	s.SetAccessEventHandler(func(ev AccessEvent) {
		f.evMu.Lock()
		f.events = append(f.events, ev)
		f.evMu.Unlock()
	})
	return f
}

func (f *accFix) must(r *Region, err error) *Region {
	f.t.Helper()
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

// add maps r at addr of the root.
func (f *accFix) add(addr uint64, r *Region) *Region {
	f.t.Helper()
	check(f.t, f.root.AddSubregion(addr, r))
	return r
}

func (f *accFix) ram(name string, addr, size uint64) *Region {
	f.t.Helper()
	return f.add(addr, f.must(f.s.NewRAM(nil, name, size)))
}

func (f *accFix) io(name string, addr, size uint64, ops *Ops) *Region {
	f.t.Helper()
	return f.add(addr, f.must(f.s.NewIO(nil, name, size, ops)))
}

// takeEvents returns the events recorded so far, as QEMU would log them,
// and forgets them.
func (f *accFix) takeEvents() []string {
	f.evMu.Lock()
	defer f.evMu.Unlock()
	out := make([]string, len(f.events))
	for i, ev := range f.events {
		out[i] = ev.String()
	}
	f.events = nil
	return out
}

// noLeaks is the leak check at the end of every test that creates objects.
func (f *accFix) noLeaks() {
	f.t.Helper()
	accNoLeaks(f.t, f.reg)
}

func accNoLeaks(t testing.TB, reg *qom.Registry) {
	t.Helper()
	if leaks := reg.Leaks(); len(leaks) != 0 {
		t.Fatalf("leaks:\n%s", qom.FormatLeaks(leaks))
	}
}

// accCall is one device callback as a recorder saw it.
type accCall struct {
	write bool
	off   uint64
	size  uint
	val   uint64
}

func (c accCall) String() string {
	op := "r"
	if c.write {
		op = "w"
	}
	if c.write {
		return fmt.Sprintf("%s%d@%#x=%#x", op, c.size, c.off, c.val)
	}
	return fmt.Sprintf("%s%d@%#x", op, c.size, c.off)
}

// accRec is a device whose callbacks record every call and answer reads
// with a function of the offset.
type accRec struct {
	mu    sync.Mutex
	calls []accCall
	value func(off uint64, size uint) uint64
	res   Result
}

func (r *accRec) ops(e Endianness, valid, impl AccessSizes) *Ops {
	return &Ops{
		Read: func(off uint64, size uint, _ Attrs) (uint64, Result) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.calls = append(r.calls, accCall{off: off, size: size})
			if r.value != nil {
				return r.value(off, size), r.res
			}
			return 0, r.res
		},
		Write: func(off, v uint64, size uint, _ Attrs) Result {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.calls = append(r.calls, accCall{write: true, off: off, size: size, val: v})
			return r.res
		},
		Endianness: e,
		Valid:      valid,
		Impl:       impl,
	}
}

// take returns the calls so far as text ("r4@0x10 w2@0x12=0xbeef") and
// forgets them.
func (r *accRec) take() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := make([]string, len(r.calls))
	for i, c := range r.calls {
		s[i] = c.String()
	}
	r.calls = nil
	return strings.Join(s, " ")
}

// bytesOf is a helper for expected buffers.
func bytesOf(b ...byte) []byte { return b }
