package device

import (
	"fmt"
	"io"

	"qmem.dev/qmem/memory"
	"qmem.dev/qmem/qom"
)

// Platform is what a device needs of the machine it is plugged into. The
// machine object at /machine implements it.
type Platform interface {
	MemorySystem() *memory.System
	SystemMemory() *memory.Region // where MMIO and RAM are mapped
	IOPorts() *memory.Region      // where port I/O is mapped
	RAM() *memory.Region          // the machine's main RAM
	Serial() io.Writer            // where a UART writes
	RequestExit(status int)       // ends the run (debug-exit)
}

// PlatformOf returns the platform of the registry's machine.
func PlatformOf(reg *qom.Registry) (Platform, error) {
	m := reg.Machine()
	if m == nil {
		return nil, fmt.Errorf("device: no machine")
	}
	p, ok := m.Instance().(Platform)
	if !ok {
		return nil, fmt.Errorf("device: machine %s (%s) is not a qmem platform", m, m.TypeName())
	}
	return p, nil
}

// Type names.
const (
	TypeUART      = "qmem-uart16550a"
	TypeDebugExit = "qmem-debug-exit"
	TypeTestDev   = "qmem-testdev"
	TypeFlash     = "qmem-flash"
	TypeRemap     = "qmem-remap"
	TypeRAM       = "qmem-ram"
)

// Register registers every device type of the package in reg.
func Register(reg *qom.Registry) error {
	for _, f := range []func(*qom.Registry) error{registerUART, registerDebugExit, registerTestDev, registerFlash, registerRemap, registerRAM} {
		if err := f(reg); err != nil {
			return err
		}
	}
	return nil
}

// uint64Prop returns a uint64 property over a field of a device, writable
// only before realize.
func uint64Prop(name string, field func(*qom.Object) *uint64) *qom.Property {
	return qom.UintProperty(name, 64, func(o *qom.Object) uint64 { return *field(o) }, setBeforeRealize(name, field))
}

// sizeProp is uint64Prop for sizes: the string form accepts suffixes
// ("64K").
func sizeProp(name string, field func(*qom.Object) *uint64) *qom.Property {
	return qom.SizeProperty(name, func(o *qom.Object) uint64 { return *field(o) }, setBeforeRealize(name, field))
}

func setBeforeRealize(name string, field func(*qom.Object) *uint64) func(*qom.Object, uint64) error {
	return func(o *qom.Object, v uint64) error {
		if d := qom.AsDevice(o); d != nil && d.Realized() {
			return fmt.Errorf("Property '%s' can't be set after realization", name)
		}
		*field(o) = v
		return nil
	}
}

// mapInto adds r to container at addr, owned by the platform (a foreign
// owner, so the device stays referenced while mapped).
func mapInto(container *memory.Region, addr uint64, r *memory.Region, prio int32) error {
	if err := container.AddSubregionOverlap(addr, r, prio); err != nil {
		return err
	}
	return nil
}
