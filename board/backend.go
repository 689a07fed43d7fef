package board

import (
	"fmt"

	"qmem.dev/qmem/device"
	"qmem.dev/qmem/memory"
	"qmem.dev/qmem/qom"
)

// TypeMemoryBackendRAM is the object-add type of RAM backends.
const TypeMemoryBackendRAM = "memory-backend-ram"

// MemoryBackendRAM is a user-creatable RAM backend (object-add
// memory-backend-ram,id=X,size=N): it owns a RAM region named after its id,
// created when the object is completed. It refuses deletion while its
// region is mapped.
type MemoryBackendRAM struct {
	qom.Object
	Size   uint64
	region *memory.Region
}

func registerBackends(reg *qom.Registry) error {
	return qom.Register[MemoryBackendRAM](reg, qom.TypeInfo{
		Name:       TypeMemoryBackendRAM,
		Parent:     qom.TypeObject,
		Interfaces: []string{qom.TypeUserCreatable},
		ClassInit: func(c *qom.Class, _ any) {
			c.MustAddProperty(qom.SizeProperty("size",
				func(o *qom.Object) uint64 { return qom.MustCast[*MemoryBackendRAM](o).Size },
				func(o *qom.Object, v uint64) error {
					b := qom.MustCast[*MemoryBackendRAM](o)
					if b.region != nil {
						return fmt.Errorf("cannot change property 'size' of %s: it is in use", o)
					}
					b.Size = v
					return nil
				}))
		},
	})
}

// Region returns the backend's RAM region (nil before completion).
func (b *MemoryBackendRAM) Region() *memory.Region { return b.region }

// Complete allocates the RAM.
func (b *MemoryBackendRAM) Complete() error {
	if b.Size == 0 {
		return fmt.Errorf("can't create backend with size 0")
	}
	p, err := device.PlatformOf(b.Registry())
	if err != nil {
		return err
	}
	r, err := p.MemorySystem().NewRAM(b, b.PathComponent(), b.Size)
	if err != nil {
		return err
	}
	b.region = r
	return nil
}

// CanBeDeleted refuses while the RAM is mapped.
func (b *MemoryBackendRAM) CanBeDeleted() bool { return b.region == nil || !b.region.IsMapped() }
