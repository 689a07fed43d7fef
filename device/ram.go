package device

import (
	"fmt"

	"qmem.dev/qmem/memory"
	"qmem.dev/qmem/qom"
)

// RAM is hot-pluggable memory: a RAM region of Size bytes mapped at Addr.
type RAM struct {
	qom.Device
	Addr uint64 // property "addr"
	Size uint64 // property "size"

	region *memory.Region
}

func registerRAM(reg *qom.Registry) error {
	return qom.Register[RAM](reg, qom.TypeInfo{
		Name:   TypeRAM,
		Parent: qom.TypeDevice,
		ClassInit: func(c *qom.Class, _ any) {
			c.MustAddProperty(uint64Prop("addr", func(o *qom.Object) *uint64 { return &qom.MustCast[*RAM](o).Addr }))
			c.MustAddProperty(sizeProp("size", func(o *qom.Object) *uint64 { return &qom.MustCast[*RAM](o).Size }))
		},
	})
}

// Region returns the RAM region (nil before realize).
func (d *RAM) Region() *memory.Region { return d.region }

// Realize allocates the memory and maps it at Addr.
func (d *RAM) Realize() error {
	if d.Size == 0 || d.Size%4096 != 0 {
		return fmt.Errorf("qmem-ram: size %#x must be a non-zero multiple of 4 KiB", d.Size)
	}
	if d.Addr%4096 != 0 {
		return fmt.Errorf("qmem-ram: addr %#x must be 4 KiB aligned", d.Addr)
	}
	p, err := PlatformOf(d.Registry())
	if err != nil {
		return err
	}
	r, err := p.MemorySystem().NewRAM(d, "ram", d.Size)
	if err != nil {
		return err
	}
	d.region = r
	return mapInto(p.SystemMemory(), d.Addr, r, 0)
}
