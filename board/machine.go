package board

import (
	"fmt"
	"io"
	"sync/atomic"

	"qmem.dev/qmem/device"
	"qmem.dev/qmem/memory"
	"qmem.dev/qmem/qom"
)

// TypeMachine is the QOM type of qmem machines.
const TypeMachine = "qmem-machine"

// Machine is a qmem machine: the /machine object, its memory system and its
// devices. It implements device.Platform.
type Machine struct {
	qom.Object

	sys    *memory.System
	system *memory.Region // "system": the root of the memory address space
	io     *memory.Region // "io": the root of the I/O address space
	ram    *memory.Region

	// Memory and IO are the standard address spaces (R-AS-3).
	Memory *memory.AddressSpace
	IO     *memory.AddressSpace

	serial  io.Writer
	spec    *Spec
	exitReq atomic.Bool
	status  atomic.Int64
	stopper atomic.Pointer[func()] // stops the running vCPUs
	run     runState
	kvmMap  kvmMapHolder
}

// MemorySystem returns the machine's memory system.
func (m *Machine) MemorySystem() *memory.System { return m.sys }

// SystemMemory returns the root of the memory address space.
func (m *Machine) SystemMemory() *memory.Region { return m.system }

// IOPorts returns the root of the I/O address space.
func (m *Machine) IOPorts() *memory.Region { return m.io }

// RAM returns the machine's main RAM.
func (m *Machine) RAM() *memory.Region { return m.ram }

// Serial returns where the UART writes.
func (m *Machine) Serial() io.Writer { return m.serial }

// Registry returns the machine's QOM registry.
func (m *Machine) Registry() *qom.Registry { return m.Object.Registry() }

// Spec returns the description the machine was built from.
func (m *Machine) Spec() *Spec { return m.spec }

// RequestExit ends the run with status (the debug-exit device calls it from
// a vCPU). The first request wins.
func (m *Machine) RequestExit(status int) {
	if m.exitReq.CompareAndSwap(false, true) {
		m.status.Store(int64(status))
		if stop := m.stopper.Load(); stop != nil {
			(*stop)()
		}
	}
}

// ExitStatus returns the status of the debug exit and whether one happened.
func (m *Machine) ExitStatus() (int, bool) {
	return int(m.status.Load()), m.exitReq.Load()
}

// NewRegistry returns a registry with qmem's machine and device types.
func NewRegistry() (*qom.Registry, error) {
	reg := qom.NewRegistry()
	if err := qom.Register[Machine](reg, qom.TypeInfo{Name: TypeMachine, Parent: qom.TypeMachine}); err != nil {
		return nil, err
	}
	if err := device.Register(reg); err != nil {
		return nil, err
	}
	if err := registerBackends(reg); err != nil {
		return nil, err
	}
	return reg, nil
}

// ioOps answer port I/O nothing decodes: reads all ones, writes ignored
// (R-UNAS-4, R-UNAS-5).
var ioOps = &memory.Ops{
	Read: func(_ uint64, size uint, _ memory.Attrs) (uint64, memory.Result) {
		return ^uint64(0) >> (64 - 8*size), memory.OK
	},
	Write:      func(uint64, uint64, uint, memory.Attrs) memory.Result { return memory.OK },
	Endianness: memory.LittleEndian,
}

// Build creates a machine from a description: the machine object, the
// standard memory, RAM, then every device in order (created, given its
// properties, placed at /machine/peripheral/<id> or peripheral-anon, and
// realized). serial receives the UART's output (nil discards it).
func Build(spec *Spec, serial io.Writer) (*Machine, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	reg, err := NewRegistry()
	if err != nil {
		return nil, err
	}
	inst, err := reg.NewMachine(TypeMachine)
	if err != nil {
		return nil, err
	}
	m := qom.MustCast[*Machine](inst)
	m.run.init()
	m.spec = spec
	m.serial = serial
	if m.serial == nil {
		m.serial = io.Discard
	}
	if m.sys, err = memory.NewSystem(reg); err != nil {
		return nil, err
	}
	m.sys.Lock()
	defer m.sys.Unlock()
	if err := m.buildMemory(spec); err != nil {
		return nil, err
	}
	for i := range spec.Devices {
		if _, err := m.addDevice(&spec.Devices[i], false); err != nil {
			return nil, fmt.Errorf("board %s: device %s: %w", spec.Name, spec.Devices[i].label(), err)
		}
	}
	if spec.Guest != "" {
		if err := m.loadGuest(spec.Guest); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Machine) buildMemory(spec *Spec) error {
	s := m.sys
	var err error
	if m.system, err = s.NewContainer(nil, "system", ^uint64(0)); err != nil {
		return err
	}
	if m.io, err = s.NewIO(nil, "io", 0x10000, ioOps); err != nil {
		return err
	}
	if m.ram, err = s.NewRAM(m, "ram", spec.RAMSize); err != nil {
		return err
	}
	if err := m.system.AddSubregion(spec.RAMBase, m.ram); err != nil {
		return err
	}
	if m.Memory, err = s.NewAddressSpace(m.system, "memory"); err != nil {
		return err
	}
	m.IO, err = s.NewAddressSpace(m.io, "I/O")
	return err
}

// AddDevice creates, places and realizes a device like device_add, marked
// as hot-plugged: on any error nothing is left behind. Requires the memory
// system's lock.
//
// While the machine runs under KVM, a device whose memory the VM cannot map
// (its memory slots are exhausted) is refused as well: KVM kept the old
// memory map, and AddDevice unplugs the device again, which brings the map
// back in line with the memory system, and returns the map's error.
func (m *Machine) AddDevice(d *DeviceSpec) (*qom.Device, error) {
	dev, err := m.addDevice(d, true)
	if err != nil {
		return nil, err
	}
	if err := m.acceleratorErr(); err != nil {
		dev.Unparent()
		err = fmt.Errorf("device %s: %w", d.label(), err)
		if err2 := m.acceleratorErr(); err2 != nil {
			return nil, fmt.Errorf("%w; after unplugging the device again: %v", err, err2)
		}
		return nil, err
	}
	return dev, nil
}

func (m *Machine) addDevice(d *DeviceSpec, hotplug bool) (*qom.Device, error) {
	reg := m.Registry()
	c, err := reg.Class(d.Type)
	if err != nil || c.Cast(qom.TypeDevice) == nil || c.Abstract() {
		return nil, fmt.Errorf("'%s' is not a valid device model name", d.Type)
	}
	inst, err := reg.New(d.Type)
	if err != nil {
		return nil, err
	}
	o := inst.QOM()
	defer o.Unref() // the creation reference; the tree keeps its own
	for _, k := range d.propOrder() {
		if err := setProp(o, k, d.Props[k], d.Typed); err != nil {
			return nil, err
		}
	}
	if err := reg.AddDevice(inst, d.ID); err != nil {
		return nil, err
	}
	dev := qom.AsDevice(o)
	if hotplug {
		dev.MarkHotplugged()
	}
	if err := dev.SetRealized(true); err != nil {
		o.Unparent()
		return nil, err
	}
	return dev, nil
}

// setProp sets a property from a description value: unless typed is set,
// strings are parsed with the property's type (so "64K" works for a size);
// other values are set as they are.
func setProp(o *qom.Object, name string, v any, typed bool) error {
	if s, ok := v.(string); ok && !typed {
		if p := o.FindProperty(name); p != nil && p.Type != "string" {
			return o.ParseProperty(name, s)
		}
	}
	return o.SetProperty(name, v)
}
