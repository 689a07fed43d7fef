package device

import (
	"qmem.dev/qmem/memory"
	"qmem.dev/qmem/qom"
)

// DebugExit is a one-byte I/O port: writing a value ends the run with that
// value as the status (like QEMU's isa-debug-exit, without the shift).
type DebugExit struct {
	qom.Device
	Port uint64 // property "port"
}

func registerDebugExit(reg *qom.Registry) error {
	return qom.Register[DebugExit](reg, qom.TypeInfo{
		Name:   TypeDebugExit,
		Parent: qom.TypeDevice,
		ClassInit: func(c *qom.Class, _ any) {
			qom.SetHotpluggable(c, false)
			c.MustAddProperty(uint64Prop("port", func(o *qom.Object) *uint64 { return &qom.MustCast[*DebugExit](o).Port }).WithDefault(uint64(0x501)))
		},
	})
}

// Realize maps the port.
func (d *DebugExit) Realize() error {
	p, err := PlatformOf(d.Registry())
	if err != nil {
		return err
	}
	r, err := p.MemorySystem().NewIO(d, "debug-exit", 1, &memory.Ops{
		Write: func(_, v uint64, _ uint, _ memory.Attrs) memory.Result {
			p.RequestExit(int(v & 0xff))
			return memory.OK
		},
		Endianness: memory.LittleEndian,
		Valid:      memory.AccessSizes{Min: 1, Max: 4},
	})
	if err != nil {
		return err
	}
	return mapInto(p.IOPorts(), d.Port, r, 0)
}
