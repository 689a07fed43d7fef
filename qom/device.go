package qom

// TypeDevice is the abstract base type of devices.
const TypeDevice = "device"

// Class method keys of the device class.
const classHotpluggable = "device.hotpluggable"

// Device is the base of every device: an Object with a realized state,
// realize/unrealize behaviour and hot-unplug. A device type's Go struct
// embeds Device and may implement Realizer and Unrealizer.
type Device struct {
	Object
	realized   bool
	hotplugged bool
	id         string
}

// Realizer is implemented by devices with work to do when realized. An
// error leaves the device unrealized.
type Realizer interface{ Realize() error }

// Unrealizer is implemented by devices with work to undo when unrealized.
type Unrealizer interface{ Unrealize() }

// SetHotpluggable sets whether devices of the class (and of descendant
// classes initialized afterwards) can be hot-unplugged. Devices are
// hot-pluggable unless their class_init says otherwise.
func SetHotpluggable(c *Class, on bool) { c.SetMethod(classHotpluggable, on) }

func registerDevice(r *Registry) {
	r.mustRegister(TypeInfo{
		Name:     TypeDevice,
		Parent:   TypeObject,
		Abstract: true,
		New:      func() Instance { return new(Device) },
		ClassInit: func(c *Class, _ any) {
			SetHotpluggable(c, true)
			c.MustAddProperty(BoolProperty("realized",
				func(o *Object) bool { return asDevice(o).realized },
				func(o *Object, on bool) error { return asDevice(o).SetRealized(on) }))
			c.MustAddProperty(BoolProperty("hotpluggable",
				func(o *Object) bool { return asDevice(o).Hotpluggable() }, nil))
			c.MustAddProperty(BoolProperty("hotplugged",
				func(o *Object) bool { return asDevice(o).hotplugged }, nil))
		},
	})
}

// deviceHolder is implemented by every Go value that embeds Device.
type deviceHolder interface{ qomDevice() *Device }

func (d *Device) qomDevice() *Device { return d }

func asDevice(o *Object) *Device {
	if dh, ok := o.self.(deviceHolder); ok {
		return dh.qomDevice()
	}
	return nil
}

// AsDevice returns the Device embedded in o's Go value, or nil when o is not
// a device.
func AsDevice(o *Object) *Device { return asDevice(o) }

// Realized reports whether the device is realized.
func (d *Device) Realized() bool { return d.realized }

// ID returns the id the device was added with ("" without one).
func (d *Device) ID() string { return d.id }

// Hotpluggable reports whether the device's class allows hot-unplug.
func (d *Device) Hotpluggable() bool {
	v, _ := d.class.Method(classHotpluggable).(bool)
	return v
}

// SetRealized realizes or unrealizes the device. Realizing a device without
// a parent first places it at /machine/unattached/device[N] (R-TREE-3).
// Unrealizing runs the registry's detach hooks afterwards, which take the
// device's memory regions out of other owners' containers (DESIGN L4).
func (d *Device) SetRealized(on bool) error {
	if on == d.realized {
		return nil
	}
	if !d.Alive() {
		return &FinalizedError{Object: d.String(), Op: "SetRealized"}
	}
	if on {
		if d.parent == nil {
			un := d.reg.Unattached()
			if un == nil {
				return errorf("cannot realize %s: no machine", d.String())
			}
			if err := mustPlace(un, "device", &d.reg.unattachedDevices, d.self); err != nil {
				return err
			}
		}
		if rz, ok := d.self.(Realizer); ok {
			if err := rz.Realize(); err != nil {
				return err
			}
		}
		d.realized = true
		return nil
	}
	if ur, ok := d.self.(Unrealizer); ok {
		ur.Unrealize()
	}
	d.realized = false
	d.reg.runDetachHooks(&d.Object)
	return nil
}

// qomUnparent is R-UNP-2: a device being unparented is unrealized first,
// then its child buses are unparented. (qom has no bus membership, so there
// is no parent bus to leave.)
func (d *Device) qomUnparent() {
	if d.realized {
		_ = d.SetRealized(false)
	}
	for _, c := range d.Children() {
		if c.IsA(TypeBus) {
			c.Unparent()
		}
	}
}

// AddDevice places a new device in the tree: at /machine/peripheral/<id>
// with an id, else at /machine/peripheral-anon/device[N] (R-TREE-3). It does
// not realize it.
func (r *Registry) AddDevice(dev Instance, id string) error {
	d := asDevice(dev.QOM())
	if d == nil {
		return errorf("%s is not a device", dev.QOM())
	}
	if id != "" {
		if !IDWellFormed(id) {
			return errorf("Parameter 'id' expects an identifier")
		}
		per, err := r.machineContainer("peripheral")
		if err != nil {
			return err
		}
		if per.FindProperty(id) != nil {
			return errorf("Duplicate device ID '%s'", id)
		}
		if _, err := per.AddChild(id, dev); err != nil {
			return err
		}
		d.id = id
		return nil
	}
	anon, err := r.machineContainer("peripheral-anon")
	if err != nil {
		return err
	}
	return mustPlace(anon, "device", &r.anonDevices, dev)
}

// FindDevice returns the device with the given id, or the device at the
// given path (QEMU's find_device_state): errors say which.
func (r *Registry) FindDevice(idOrPath string) (*Device, error) {
	var o *Object
	if len(idOrPath) > 0 && idOrPath[0] == '/' {
		var amb bool
		o, amb = r.ResolvePath(idOrPath)
		if amb {
			return nil, &Error{Class: DeviceNotFound, Msg: "Device '" + idOrPath + "' not found"}
		}
	} else if per, err := r.machineContainer("peripheral"); err == nil {
		o = per.Child(idOrPath)
	}
	if o == nil {
		return nil, &Error{Class: DeviceNotFound, Msg: "Device '" + idOrPath + "' not found"}
	}
	d := asDevice(o)
	if d == nil {
		return nil, errorf("%s is not a hotpluggable device", idOrPath)
	}
	return d, nil
}

// Unplug hot-unplugs a device: it must be hot-pluggable; it is unrealized
// and unparented. It is finalized as soon as nothing else holds it (memory
// views still showing its regions hold it until their grace period ends).
func (r *Registry) Unplug(d *Device) error {
	if !d.Alive() {
		return &FinalizedError{Object: d.String(), Op: "Unplug"}
	}
	if !d.Hotpluggable() {
		return errorf("Device '%s' does not support hotplugging", d.TypeName())
	}
	d.hotplugged = false
	d.Unparent()
	return nil
}

// MarkHotplugged records that the device was added while the machine ran.
func (d *Device) MarkHotplugged() { d.hotplugged = true }
