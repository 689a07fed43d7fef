package badinput_test

import (
	"testing"

	"qmem.dev/qmem/board"
	"qmem.dev/qmem/device"
	"qmem.dev/qmem/qom"
)

// qomCase is a refused QOM operation on the fixture.
type qomCase struct {
	entry
	op func(f *machine) error
}

// withNew runs fn on an unplaced, unrealized test device and drops it.
func withNew(f *machine, fn func(o *qom.Object) error) error {
	o := f.newTestDev()
	defer o.Unref()
	return fn(o)
}

var qomCases = []qomCase{
	{entry{"unknown type", "reg.New(\"bi-nope\")",
		"invalid object type: bi-nope", ""},
		func(f *machine) error { _, err := f.reg.New("bi-nope"); return err }},
	{entry{"abstract type", "reg.New(\"device\")",
		"object type 'device' is abstract", ""},
		func(f *machine) error { _, err := f.reg.New(qom.TypeDevice); return err }},
	{entry{"device_add of an abstract type", "Machine.AddDevice(type device)",
		"'device' is not a valid device model name", ""},
		func(f *machine) error { _, err := f.m.AddDevice(&board.DeviceSpec{Type: qom.TypeDevice}); return err }},
	{entry{"device_add of a type that is not a device", "Machine.AddDevice(type memory-region)",
		"'memory-region' is not a valid device model name", ""},
		func(f *machine) error { _, err := f.m.AddDevice(&board.DeviceSpec{Type: "memory-region"}); return err }},
	{entry{"duplicate device id", "reg.AddDevice(new qmem-testdev, \"testdev0\")",
		"Duplicate device ID 'testdev0'", ""},
		func(f *machine) error {
			return withNew(f, func(o *qom.Object) error { return f.reg.AddDevice(o, "testdev0") })
		}},
	{entry{"device id that is not an identifier", "reg.AddDevice(new qmem-testdev, \"0bad\")",
		"Parameter 'id' expects an identifier", ""},
		func(f *machine) error {
			return withNew(f, func(o *qom.Object) error { return f.reg.AddDevice(o, "0bad") })
		}},
	{entry{"property of the wrong type", "testdev0.SetProperty(\"addr\", \"0x1000\") (a string for a uint64)",
		"Parameter 'addr' expects uint64", ""},
		func(f *machine) error { return f.obj("/machine/peripheral/testdev0").SetProperty("addr", "0x1000") }},
	{entry{"integer property given a fraction", "testdev0.SetProperty(\"addr\", 1.5)",
		"Parameter 'addr' expects uint64", ""},
		func(f *machine) error { return f.obj("/machine/peripheral/testdev0").SetProperty("addr", 1.5) }},
	{entry{"bool property given a string", "testdev0.SetProperty(\"realized\", \"yes\")",
		"Invalid parameter type for 'realized', expected: boolean", ""},
		func(f *machine) error { return f.obj("/machine/peripheral/testdev0").SetProperty("realized", "yes") }},
	{entry{"unknown property", "testdev0.SetProperty(\"bi-nope\", 1)",
		"Property 'qmem-testdev.bi-nope' not found", ""},
		func(f *machine) error { return f.obj("/machine/peripheral/testdev0").SetProperty("bi-nope", 1) }},
	{entry{"read-only property", "testdev0.SetProperty(\"type\", \"x\")",
		"Property 'qmem-testdev.type' is not writable", ""},
		func(f *machine) error { return f.obj("/machine/peripheral/testdev0").SetProperty("type", "x") }},
	{entry{"read-only property of a region", "region testdev[0].SetProperty(\"priority\", 1<<40)",
		"Property 'memory-region.priority' is not writable", ""},
		func(f *machine) error {
			return f.obj("/machine/peripheral/testdev0/testdev[0]").SetProperty("priority", int64(1)<<40)
		}},
	{entry{"property set after realize", "testdev0.SetProperty(\"addr\", 0x1000) on a realized device",
		"Property 'addr' can't be set after realization", ""},
		func(f *machine) error {
			return f.obj("/machine/peripheral/testdev0").SetProperty("addr", uint64(0x1000))
		}},
	{entry{"size property from a malformed string", "new qmem-flash: ParseProperty(\"size\", \"12Q\")",
		"Parameter 'size' expects a non-negative number below 2^64", ""},
		func(f *machine) error {
			inst, err := f.reg.New(device.TypeFlash)
			if err != nil {
				return err
			}
			defer inst.QOM().Unref()
			return inst.QOM().ParseProperty("size", "12Q")
		}},
	{entry{"link of the wrong type", "remap0.SetProperty(\"flash\", \"/machine/peripheral/testdev0\") (link<qmem-flash>)",
		"Invalid parameter type for 'flash', expected: qmem-flash", ""},
		func(f *machine) error {
			return f.obj("/machine/peripheral/remap0").SetProperty("flash", "/machine/peripheral/testdev0")
		}},
	{entry{"link to a missing path", "remap0.SetProperty(\"flash\", \"/machine/bi-nope\")",
		"Device '/machine/bi-nope' not found", ""},
		func(f *machine) error {
			return f.obj("/machine/peripheral/remap0").SetProperty("flash", "/machine/bi-nope")
		}},
	{entry{"link by an ambiguous partial path of another type", "remap0.SetProperty(\"flash\", \"testdev[0]\"), regions of testdev0 and of testdev1 (QEMU's object_resolve_link gives the same)",
		"Invalid parameter type for 'flash', expected: qmem-flash", ""},
		func(f *machine) error { return f.obj("/machine/peripheral/remap0").SetProperty("flash", "testdev[0]") }},
	{entry{"ambiguous lookup by type", "reg.ResolveTypeUnambiguous(\"qmem-testdev\") with testdev0 and testdev1",
		"More than one object of type qmem-testdev", ""},
		func(f *machine) error { _, err := f.reg.ResolveTypeUnambiguous(device.TypeTestDev); return err }},
	{entry{"link to an object outside the tree", "remap0.SetLink(\"flash\", f) with f a new, unplaced qmem-flash",
		"cannot link 'flash' to qmem-flash#N: it is not in the composition tree", ""},
		func(f *machine) error {
			inst, err := f.reg.New(device.TypeFlash)
			if err != nil {
				return err
			}
			defer inst.QOM().Unref()
			return f.obj("/machine/peripheral/remap0").SetLink("flash", inst.QOM())
		}},
	{entry{"link property read as a link when it is not one", "testdev0.GetLink(\"addr\")",
		"Property 'qmem-testdev.addr' is not a link", ""},
		func(f *machine) error { _, err := f.obj("/machine/peripheral/testdev0").GetLink("addr"); return err }},
	{entry{"unplug of a non-hot-pluggable device", "reg.Unplug(serial0) (qmem-uart16550a)",
		"Device 'qmem-uart16550a' does not support hotplugging", ""},
		func(f *machine) error { return f.reg.Unplug(qom.AsDevice(f.obj("/machine/peripheral/serial0"))) }},
	{entry{"use after finalize: unplug again", "reg.Unplug(gone0) after it was unplugged and finalized",
		"qom: Unplug of finalized object qmem-testdev#N", ""},
		func(f *machine) error { return f.reg.Unplug(f.goneDev) }},
	{entry{"use after finalize: a reference", "gone0.TryRef() after finalization",
		"qom: Ref of finalized object qmem-testdev#N", ""},
		func(f *machine) error { return f.goneDev.TryRef() }},
	{entry{"use after finalize: a property", "gone0.SetProperty(\"addr\", 0x1000) after finalization",
		"qom: SetProperty of finalized object qmem-testdev#N", ""},
		func(f *machine) error { return f.goneDev.SetProperty("addr", uint64(0x1000)) }},
	{entry{"realize error: address + size wraps", "Machine.AddDevice(qmem-testdev, id bi-wrap, addr 0xfffffffffffff800)",
		"memory: region 'testdev' at 0xfffffffffffff800 with size 0x1000 wraps past 2^64", ""},
		func(f *machine) error {
			_, err := f.m.AddDevice(&board.DeviceSpec{Type: device.TypeTestDev, ID: "bi-wrap", Props: map[string]any{"addr": "0xfffffffffffff800"}})
			return err
		}},
	{entry{"realize error: RAM of size 0", "Machine.AddDevice(qmem-ram, id bi-ram, addr 0x40000000, size 0)",
		"qmem-ram: size 0x0 must be a non-zero multiple of 4 KiB", ""},
		func(f *machine) error {
			_, err := f.m.AddDevice(&board.DeviceSpec{Type: device.TypeRAM, ID: "bi-ram", Props: map[string]any{"addr": "0x40000000", "size": "0"}})
			return err
		}},
	{entry{"realize error: two mappings refused", "Machine.AddDevice(qmem-remap, id bi-remap, port 0x5f8, base 0xffffffffffff8000, flash /machine/peripheral/flash0)",
		"remap controller: mapping the window: memory: region 'remap-rom' at 0xffffffffffff8000 with size 0x10000 wraps past 2^64; memory: region 'remap-ram' at 0xffffffffffff8000 with size 0x10000 wraps past 2^64", ""},
		func(f *machine) error {
			_, err := f.m.AddDevice(&board.DeviceSpec{Type: device.TypeRemap, ID: "bi-remap", Props: map[string]any{
				"port": "0x5f8", "base": "0xffffffffffff8000", "flash": "/machine/peripheral/flash0"}})
			return err
		}},
	{entry{"property out of range", "Machine.AddDevice(qmem-flash, id bi-flash, size 0)",
		"flash size 0x0 out of range (1 byte to 1 GiB)", ""},
		func(f *machine) error {
			_, err := f.m.AddDevice(&board.DeviceSpec{Type: device.TypeFlash, ID: "bi-flash", Props: map[string]any{"size": "0"}})
			return err
		}},
	{entry{"child added twice", "machine.AddChild(\"bi-x\", testdev0), testdev0 already has a parent",
		"object /machine/peripheral/testdev0 already has a parent (/machine/peripheral)", ""},
		func(f *machine) error {
			_, err := f.reg.Machine().AddChild("bi-x", f.obj("/machine/peripheral/testdev0"))
			return err
		}},
	{entry{"composition cycle", "testdev0.AddChild(\"bi-x\", root)",
		"object / cannot be a child of its own descendant /machine/peripheral/testdev0", ""},
		func(f *machine) error {
			_, err := f.obj("/machine/peripheral/testdev0").AddChild("bi-x", f.reg.Root())
			return err
		}},
	{entry{"child name with a slash", "peripheral.AddChild(\"a/b\", new qmem-testdev)",
		"invalid child name 'a/b'", ""},
		func(f *machine) error {
			return withNew(f, func(o *qom.Object) error {
				_, err := f.obj("/machine/peripheral").AddChild("a/b", o)
				return err
			})
		}},
	{entry{"duplicate property", "testdev0.AddProperty(a property named \"addr\")",
		"attempt to add duplicate property 'addr' to object (type 'qmem-testdev')", ""},
		func(f *machine) error {
			_, err := f.obj("/machine/peripheral/testdev0").AddProperty(qom.StringProperty("addr", nil, nil))
			return err
		}},
	{entry{"type registered twice", "reg.Register(TypeInfo{Name: \"qmem-testdev\", Parent: \"device\"})",
		"Registering `qmem-testdev' which already exists", ""},
		func(f *machine) error {
			return f.reg.Register(qom.TypeInfo{Name: device.TypeTestDev, Parent: qom.TypeDevice})
		}},
	{entry{"illegal type name", "reg.Register(TypeInfo{Name: \"0bad\", Parent: \"device\"})",
		"Registering '0bad' with illegal type name", ""},
		func(f *machine) error { return f.reg.Register(qom.TypeInfo{Name: "0bad", Parent: qom.TypeDevice}) }},
	{entry{"object-add with a bad id", "reg.AddUserObject(\"memory-backend-ram\", \"0bad\", {size: 4096})",
		"Parameter 'id' expects an identifier", ""},
		func(f *machine) error {
			_, err := f.reg.AddUserObject(board.TypeMemoryBackendRAM, "0bad", map[string]any{"size": 4096})
			return err
		}},
	{entry{"object-add of a type that is not user-creatable", "reg.AddUserObject(\"qmem-testdev\", \"bi-x\", nil)",
		"object type 'qmem-testdev' isn't supported by object-add", ""},
		func(f *machine) error { _, err := f.reg.AddUserObject(device.TypeTestDev, "bi-x", nil); return err }},
	{entry{"object-add whose completion fails", "reg.AddUserObject(\"memory-backend-ram\", \"bi-mem\", {size: 0})",
		"can't create backend with size 0", ""},
		func(f *machine) error {
			_, err := f.reg.AddUserObject(board.TypeMemoryBackendRAM, "bi-mem", map[string]any{"size": 0})
			return err
		}},
	{entry{"object-del of a missing object", "reg.DelUserObject(\"bi-nope\")",
		"object 'bi-nope' not found", ""},
		func(f *machine) error { return f.reg.DelUserObject("bi-nope") }},
	{entry{"a second machine", "reg.NewMachine(\"qmem-machine\")",
		"the registry already has a machine", ""},
		func(f *machine) error { _, err := f.reg.NewMachine(board.TypeMachine); return err }},
	{entry{"device lookup of an object that is not a device", "reg.FindDevice(\"/machine/unattached\")",
		"/machine/unattached is not a hotpluggable device", ""},
		func(f *machine) error { _, err := f.reg.FindDevice("/machine/unattached"); return err }},
}

func qomArea() area {
	a := area{Prefix: "Q", Title: "QOM",
		Intro: "Calls of package qom (and `board.Machine.AddDevice`, which device_add uses) on the same fixture " +
			"as the memory API cases; it has two test devices (`testdev0`, `testdev1`), the demo board's " +
			"`remap0` with its `link<qmem-flash>` property `flash`, and `gone0`, a test device unplugged and " +
			"finalized. Unchanged: the same snapshot as for the memory API (it includes `info qom-tree /`, every " +
			"readable property of every object and the live-object count), and the leak report is empty; " +
			"objects a case creates to misuse are released by the case."}
	a.Entries = entries(qomCases)
	return a
}

// TestQOM runs the QOM cases, each on a fresh fixture.
func TestQOM(t *testing.T) {
	for i, c := range qomCases {
		t.Run(caseName("Q", i, c.entry), func(t *testing.T) {
			f := newMachine(t)
			f.runUnchanged(t, c.entry, func() error { return c.op(f) })
		})
	}
}
