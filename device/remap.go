package device

import (
	"errors"
	"fmt"

	"qmem.dev/qmem/memory"
	"qmem.dev/qmem/qom"
)

// Remap modes (the byte written to the control port).
const (
	RemapROM = 0
	RemapRAM = 1
)

// Remap is a PAM-like controller: a window of system memory shows either
// the start of a flash (ROM mode, read-only) or the machine's RAM (RAM mode),
// switched by a one-byte I/O port. Each mode is an alias owned by the
// controller; switching enables one and disables the other in one
// transaction, so listeners (KVM) see the net change.
type Remap struct {
	qom.Device
	Port  uint64   // property "port"
	Base  uint64   // property "base": the window's address
	Size  uint64   // property "size"
	Flash qom.Link // property "flash": link<qmem-flash>

	romAlias, ramAlias *memory.Region
	mode               int
}

func registerRemap(reg *qom.Registry) error {
	return qom.Register[Remap](reg, qom.TypeInfo{
		Name:   TypeRemap,
		Parent: qom.TypeDevice,
		ClassInit: func(c *qom.Class, _ any) {
			qom.SetHotpluggable(c, false)
			c.MustAddProperty(uint64Prop("port", func(o *qom.Object) *uint64 { return &qom.MustCast[*Remap](o).Port }).WithDefault(uint64(0x5f0)))
			c.MustAddProperty(uint64Prop("base", func(o *qom.Object) *uint64 { return &qom.MustCast[*Remap](o).Base }).WithDefault(uint64(0xe0000)))
			c.MustAddProperty(sizeProp("size", func(o *qom.Object) *uint64 { return &qom.MustCast[*Remap](o).Size }).WithDefault(uint64(64 << 10)))
			c.MustAddProperty(qom.LinkProperty("flash", TypeFlash,
				func(o *qom.Object) *qom.Link { return &qom.MustCast[*Remap](o).Flash }, qom.AllowSetLink, true))
		},
	})
}

// Mode returns RemapROM or RemapRAM.
func (r *Remap) Mode() int { return r.mode }

// Realize creates both aliases over the window (ROM mode first) and the
// control port.
func (r *Remap) Realize() error {
	p, err := PlatformOf(r.Registry())
	if err != nil {
		return err
	}
	ft := r.Flash.Target()
	if ft == nil {
		return fmt.Errorf("remap controller: property 'flash' is not set")
	}
	flash := qom.MustCast[*Flash](ft)
	if flash.Region() == nil || flash.Size < r.Size {
		return fmt.Errorf("remap controller: flash %s is not realized or smaller than the window", ft)
	}
	sys := p.MemorySystem()
	if r.romAlias, err = sys.NewAlias(r, "remap-rom", flash.Region(), 0, r.Size); err != nil {
		return err
	}
	if r.ramAlias, err = sys.NewAlias(r, "remap-ram", p.RAM(), r.Base, r.Size); err != nil {
		return err
	}
	sys.Begin()
	_ = r.romAlias.SetReadonly(true)
	_ = r.ramAlias.SetEnabled(false)
	err1 := p.SystemMemory().AddSubregionOverlap(r.Base, r.romAlias, 1)
	err2 := p.SystemMemory().AddSubregionOverlap(r.Base, r.ramAlias, 1)
	if err := sys.Commit(); err != nil {
		return err
	}
	switch {
	case err1 != nil && err2 != nil:
		return fmt.Errorf("remap controller: mapping the window: %w; %w", err1, err2)
	case err1 != nil || err2 != nil:
		return fmt.Errorf("remap controller: mapping the window: %w", errors.Join(err1, err2))
	}
	port, err := sys.NewIO(r, "remap-ctl", 1, &memory.Ops{
		Read: func(uint64, uint, memory.Attrs) (uint64, memory.Result) {
			sys.Lock()
			defer sys.Unlock()
			return uint64(r.mode), memory.OK
		},
		Write: func(_, v uint64, _ uint, _ memory.Attrs) memory.Result {
			sys.Lock()
			defer sys.Unlock()
			if err := r.SetMode(int(v & 1)); err != nil {
				return memory.Error
			}
			return memory.OK
		},
		Endianness: memory.LittleEndian,
		Valid:      memory.AccessSizes{Min: 1, Max: 1},
	})
	if err != nil {
		return err
	}
	return mapInto(p.IOPorts(), r.Port, port, 0)
}

// SetMode switches the window. It requires the machine lock.
func (r *Remap) SetMode(mode int) error {
	if mode == r.mode {
		return nil
	}
	sys := r.romAlias.System()
	sys.Begin()
	e1 := r.romAlias.SetEnabled(mode == RemapROM)
	e2 := r.ramAlias.SetEnabled(mode == RemapRAM)
	if err := sys.Commit(); err != nil {
		return err
	}
	if e1 != nil {
		return e1
	}
	if e2 != nil {
		return e2
	}
	r.mode = mode
	return nil
}
