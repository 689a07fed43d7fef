package device

import (
	"sync/atomic"

	"qmem.dev/qmem/memory"
	"qmem.dev/qmem/qom"
)

// TestDev registers (32-bit, little-endian).
const (
	TestDevRegID      = 0x0 // read-only: TestDevID
	TestDevRegScratch = 0x4 // read/write
	TestDevRegCounter = 0x8 // read-only: increments on every read
	TestDevRegAccess  = 0xc // read-only: number of accesses so far
	TestDevID         = 0x4d454d51
	TestDevSize       = 0x1000
)

// TestDev is an MMIO test device with a few registers, hot-pluggable. Its
// callbacks check that they never run after the device's finalization began
// (AfterFinalize counts such calls; it must stay 0).
type TestDev struct {
	qom.Device
	Addr uint64 // property "addr"

	scratch  atomic.Uint32
	counter  atomic.Uint32
	accesses atomic.Uint64
	dead     atomic.Bool
	late     atomic.Uint64
	inside   atomic.Int32  // callbacks running now
	early    atomic.Uint64 // finalizations that found a callback running
	finals   atomic.Uint64 // finalizations
}

func registerTestDev(reg *qom.Registry) error {
	return qom.Register[TestDev](reg, qom.TypeInfo{
		Name:   TypeTestDev,
		Parent: qom.TypeDevice,
		ClassInit: func(c *qom.Class, _ any) {
			c.MustAddProperty(uint64Prop("addr", func(o *qom.Object) *uint64 { return &qom.MustCast[*TestDev](o).Addr }).WithDefault(uint64(0xfe000000)))
		},
		InstanceFinalize: func(i qom.Instance) {
			t := i.(*TestDev)
			t.finals.Add(1)
			t.dead.Store(true)
			if t.inside.Load() != 0 {
				t.early.Add(1)
			}
		},
	})
}

// Realize maps the registers at Addr.
func (t *TestDev) Realize() error {
	p, err := PlatformOf(t.Registry())
	if err != nil {
		return err
	}
	r, err := p.MemorySystem().NewIO(t, "testdev", TestDevSize, &memory.Ops{
		Read:       t.read,
		Write:      t.write,
		Endianness: memory.LittleEndian,
		Valid:      memory.AccessSizes{Min: 1, Max: 4},
		Impl:       memory.AccessSizes{Min: 4, Max: 4},
	})
	if err != nil {
		return err
	}
	return mapInto(p.SystemMemory(), t.Addr, r, 0)
}

// AfterFinalize returns how many callbacks ran after finalization began.
func (t *TestDev) AfterFinalize() uint64 { return t.late.Load() }

// Accesses returns the number of callbacks so far.
func (t *TestDev) Accesses() uint64 { return t.accesses.Load() }

// Finalizations returns how many times the device was finalized (0 while
// it lives, then 1: DESIGN L6).
func (t *TestDev) Finalizations() uint64 { return t.finals.Load() }

// FinalizedWhileInside returns how many times the device was finalized
// while one of its callbacks was running (it must stay 0: DESIGN L5).
func (t *TestDev) FinalizedWhileInside() uint64 { return t.early.Load() }

func (t *TestDev) enter() {
	t.inside.Add(1)
	if t.dead.Load() {
		t.late.Add(1)
	}
	t.accesses.Add(1)
}

func (t *TestDev) exit() { t.inside.Add(-1) }

func (t *TestDev) read(off uint64, _ uint, _ memory.Attrs) (uint64, memory.Result) {
	t.enter()
	defer t.exit()
	switch off &^ 3 {
	case TestDevRegID:
		return TestDevID, memory.OK
	case TestDevRegScratch:
		return uint64(t.scratch.Load()), memory.OK
	case TestDevRegCounter:
		return uint64(t.counter.Add(1) - 1), memory.OK
	case TestDevRegAccess:
		return t.accesses.Load(), memory.OK
	}
	return 0, memory.OK
}

func (t *TestDev) write(off, v uint64, _ uint, _ memory.Attrs) memory.Result {
	t.enter()
	defer t.exit()
	if off&^3 == TestDevRegScratch {
		t.scratch.Store(uint32(v))
	}
	return memory.OK
}
