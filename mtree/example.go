package mtree

import (
	"fmt"

	"qmem.dev/qmem/memory"
)

// TypeExampleMachine is the machine type of NewSpecExample.
const TypeExampleMachine = "qmem-spec-example-machine"

// NewSpecExample builds the example machine of SPEC A.20 (also Example 1
// of A.21): address spaces `memory` and `cpu-memory-0` rooted at the
// container `system` (2^64 bytes), then `I/O` rooted at the I/O region `io`
// (64 KiB). In `system`: alias `ram-lo` of the 128 MiB RAM `ram` at 0, the
// container `periph` at 0x10000000 (priority 1, 64 KiB) holding the MMIO
// regions `uart` at +0x1000 and `timer` at +0x2000 (256 bytes each), the
// 1 MiB ROM device `flash` at 0x20000000, the 1 MiB ROM `bootrom` at
// 0xfff00000, and the disabled alias `shadow` (priority 2) of the first
// 64 KiB of `bootrom` at 0xf0000. Every region is ownerless, so its QOM
// parent is /machine/unattached.
func NewSpecExample() (*Machine, error) {
	m, err := newMachine(TypeExampleMachine, func(m *Machine) error { return buildSpecExample(m.System) })
	if err != nil {
		return nil, fmt.Errorf("spec example: %w", err)
	}
	return m, nil
}

func buildSpecExample(sys *memory.System) error {
	var err error
	must := func(r *memory.Region, e error) *memory.Region {
		if err == nil {
			err = e
		}
		return r
	}
	do := func(e error) {
		if err == nil {
			err = e
		}
	}
	const two64 = ^uint64(0) // 2^64 in memory's convention
	system := must(sys.NewContainer(nil, "system", two64))
	io := must(sys.NewIO(nil, "io", 0x10000, nil))
	ram := must(sys.NewRAM(nil, "ram", 128<<20))
	periph := must(sys.NewContainer(nil, "periph", 0x10000))
	uart := must(sys.NewIO(nil, "uart", 0x100, nil))
	timer := must(sys.NewIO(nil, "timer", 0x100, nil))
	flash := must(sys.NewROMDevice(nil, "flash", 0x100000, nil))
	bootrom := must(sys.NewROM(nil, "bootrom", 0x100000))
	if err != nil {
		return err
	}
	ramLo := must(sys.NewAlias(nil, "ram-lo", ram, 0, 128<<20))
	shadow := must(sys.NewAlias(nil, "shadow", bootrom, 0, 0x10000))
	if err != nil {
		return err
	}
	do(system.AddSubregion(0, ramLo))
	do(periph.AddSubregion(0x1000, uart))
	do(periph.AddSubregion(0x2000, timer))
	do(system.AddSubregionOverlap(0x10000000, periph, 1))
	do(system.AddSubregion(0x20000000, flash))
	do(system.AddSubregion(0xfff00000, bootrom))
	do(system.AddSubregionOverlap(0xf0000, shadow, 2))
	do(shadow.SetEnabled(false))
	for _, as := range []struct {
		root *memory.Region
		name string
	}{{system, "memory"}, {system, "cpu-memory-0"}, {io, "I/O"}} {
		if err == nil {
			_, err = sys.NewAddressSpace(as.root, as.name)
		}
	}
	return err
}
