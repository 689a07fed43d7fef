package badinput_test

import (
	"errors"
	"math"
	"testing"

	"qmem.dev/qmem/memory"
)

// apiCase is a refused call of the memory API on the fixture.
type apiCase struct {
	entry
	op func(f *machine) error
}

// apiSetups prepare the fixture of some cases, by name, before the first
// snapshot.
var apiSetups = map[string]func(t *testing.T, f *machine){
	"alias offset that makes an accepted loop endless": func(t *testing.T, f *machine) {
		a, err := f.sys.NewAlias(nil, "bi-clip", f.r("bi-outer"), 0, 0x1000)
		if err == nil {
			err = f.r("bi-inner").AddSubregion(0x6000, a)
		}
		if err != nil {
			t.Fatalf("a loop that ends by clipping is refused: %v", err)
		}
		f.regions["bi-clip"] = a
	},
	"container cycle beside an alias": func(t *testing.T, f *machine) {
		err := f.r("bi-c1").SetSize(0x2000)
		if err == nil {
			err = f.r("bi-c2").SetAddress(0x1000)
		}
		var a *memory.Region
		if err == nil {
			a, err = f.sys.NewAlias(nil, "bi-c3-alias", f.r("bi-c3"), 0, 0x1000)
		}
		if err == nil {
			err = f.r("bi-c2").AddSubregion(0, a)
		}
		if err != nil {
			t.Fatal(err)
		}
		f.regions["bi-c3-alias"] = a
	},
}

// resultErr turns a transaction result into an error for the table: the
// result's name, and the access event it logged, if any.
func resultErr(res memory.Result, events []memory.AccessEvent) error {
	if res == memory.OK {
		return nil
	}
	s := res.String()
	for _, ev := range events {
		s += "; logged: " + ev.String()
	}
	return errors.New(s)
}

// access runs fn with an access-event recorder installed.
func access(f *machine, fn func() memory.Result) error {
	var events []memory.AccessEvent
	f.sys.SetAccessEventHandler(func(ev memory.AccessEvent) { events = append(events, ev) })
	defer f.sys.SetAccessEventHandler(nil)
	return resultErr(fn(), events)
}

type idleIOMMU struct{}

func (idleIOMMU) Translate(addr uint64, _ memory.IOMMUAccess, _ int) memory.IOTLBEntry {
	return memory.IOTLBEntry{}
}

var apiCases = []apiCase{
	{entry{"region added twice", "system.AddSubregion(0x90000000, bi-leaf), bi-leaf already in bi-inner",
		"memory: region 'bi-leaf' is already in container 'bi-inner'", ""},
		func(f *machine) error { return f.m.SystemMemory().AddSubregion(0x9000_0000, f.r("bi-leaf")) }},
	{entry{"region added twice to the same container", "bi-inner.AddSubregion(0x2000, bi-leaf)",
		"memory: region 'bi-leaf' is already in container 'bi-inner'", ""},
		func(f *machine) error { return f.r("bi-inner").AddSubregion(0x2000, f.r("bi-leaf")) }},
	{entry{"region added to itself", "bi-loose.AddSubregion(0, bi-loose)",
		"memory: cannot add region 'bi-loose' to itself", ""},
		func(f *machine) error { return f.r("bi-loose").AddSubregion(0, f.r("bi-loose")) }},
	{entry{"container cycle", "bi-c2.AddSubregion(0, bi-c1), bi-c1 contains bi-c2",
		"memory: adding 'bi-c1' to 'bi-c2' would make a loop that contains a container in itself: 'bi-c1' -> 'bi-c2' -> 'bi-c1'", ""},
		func(f *machine) error { return f.r("bi-c2").AddSubregion(0, f.r("bi-c1")) }},
	{entry{"deep container cycle", "bi-c3.AddSubregion(0, bi-c1), bi-c1 > bi-c2 > bi-c3",
		"memory: adding 'bi-c1' to 'bi-c3' would make a loop that contains a container in itself: 'bi-c1' -> 'bi-c2' -> 'bi-c3' -> 'bi-c1'", ""},
		func(f *machine) error { return f.r("bi-c3").AddSubregion(0, f.r("bi-c1")) }},
	{entry{"container cycle beside an alias", "bi-c3.AddSubregion(0, bi-c1), bi-c1 (0x2000) > bi-c2 at 0x1000 > bi-c3, and bi-c2 also holds bi-c3-alias, an alias of bi-c3",
		"memory: adding 'bi-c1' to 'bi-c3' would make a loop that contains a container in itself: 'bi-c1' -> 'bi-c2' -> 'bi-c3' -> 'bi-c1'",
		""},
		func(f *machine) error {
			err := f.r("bi-c3").AddSubregion(0, f.r("bi-c1"))
			if err == nil {
				// Undo at once: the snapshot would print the cycle forever.
				if err := f.r("bi-c3").DelSubregion(f.r("bi-c1")); err != nil {
					return err
				}
			}
			return err
		}},
	{entry{"alias loop", "bi-inner.AddSubregion(0, bi-alias-outer): the alias would show outer[0x1000..0x1fff], where it lies itself",
		"memory: adding 'bi-alias-outer' to 'bi-inner' would make a loop that never ends (or needs more than 64 alias steps): 'bi-alias-outer' -> 'bi-outer' -> 'bi-inner' -> 'bi-alias-outer'", ""},
		func(f *machine) error { return f.r("bi-inner").AddSubregion(0, f.r("bi-alias-outer")) }},
	{entry{"alias of an alias loop", "bi-inner.AddSubregion(0, bi-alias-alias), an alias of bi-alias-outer",
		"memory: adding 'bi-alias-alias' to 'bi-inner' would make a loop that never ends (or needs more than 64 alias steps): 'bi-alias-alias' -> 'bi-alias-outer' -> 'bi-outer' -> 'bi-inner' -> 'bi-alias-alias'", ""},
		func(f *machine) error { return f.r("bi-inner").AddSubregion(0, f.r("bi-alias-alias")) }},
	{entry{"alias loop made by SetAlias", "bi-mapped-alias.SetAlias(bi-outer, 0x5000): the window would be the alias itself",
		"memory: aliasing 'bi-mapped-alias' to 'bi-outer' would make a loop that never ends (or needs more than 64 alias steps): 'bi-outer' -> 'bi-inner' -> 'bi-mapped-alias' -> 'bi-outer'", ""},
		func(f *machine) error { return f.r("bi-mapped-alias").SetAlias(f.r("bi-outer"), 0x5000) }},
	{entry{"alias offset that makes an accepted loop endless", "bi-clip.SetAliasOffset(0x7000): bi-clip, an alias of bi-outer @0 (0x1000 bytes) at bi-inner 0x6000, is a loop that ends by clipping; @0x7000 it would show itself",
		"memory: setting the offset of 'bi-clip' to 0x7000 would make a loop that never ends (or needs more than 64 alias steps): 'bi-outer' -> 'bi-inner' -> 'bi-clip' -> 'bi-outer'", ""},
		func(f *machine) error { return f.r("bi-clip").SetAliasOffset(0x7000) }},
	{entry{"alias of itself", "bi-alias-outer.SetAlias(bi-alias-outer, 0)",
		"memory: alias 'bi-alias-outer' cannot target itself", ""},
		func(f *machine) error { return f.r("bi-alias-outer").SetAlias(f.r("bi-alias-outer"), 0) }},
	{entry{"subregion of an alias", "bi-alias-outer.AddSubregion(0, bi-loose)",
		"memory: cannot add 'bi-loose' to 'bi-alias-outer': an alias cannot have subregions", ""},
		func(f *machine) error { return f.r("bi-alias-outer").AddSubregion(0, f.r("bi-loose")) }},
	{entry{"RAM of size 2^64", "NewRAM(nil, \"bi-huge\", math.MaxUint64)",
		"memory: RAM region 'bi-huge' cannot have size 2^64", ""},
		func(f *machine) error { _, err := f.sys.NewRAM(nil, "bi-huge", math.MaxUint64); return err }},
	{entry{"RAM larger than the host can map", "NewRAM(nil, \"bi-toobig\", 1<<62)",
		"memory: RAM region 'bi-toobig' (0x4000000000000000 bytes): too large for host memory", ""},
		func(f *machine) error { _, err := f.sys.NewRAM(nil, "bi-toobig", 1<<62); return err }},
	{entry{"region of size 2^64 at address 1", "system.AddSubregion(1, bi-big), bi-big of size 2^64",
		"memory: region 'bi-big' at 0x1 with size 2^64 wraps past 2^64", ""},
		func(f *machine) error { return f.m.SystemMemory().AddSubregion(1, f.r("bi-big")) }},
	{entry{"address + size wraps past 2^64", "system.AddSubregion(0xfffffffffffff001, bi-loose), size 0x1000",
		"memory: region 'bi-loose' at 0xfffffffffffff001 with size 0x1000 wraps past 2^64", ""},
		func(f *machine) error { return f.m.SystemMemory().AddSubregion(math.MaxUint64-0xffe, f.r("bi-loose")) }},
	{entry{"SetAddress wraps past 2^64", "bi-top.SetAddress(0xfffffffffffff001), size 0x1000",
		"memory: region 'bi-top' at 0xfffffffffffff001 with size 0x1000 wraps past 2^64", ""},
		func(f *machine) error { return f.r("bi-top").SetAddress(math.MaxUint64 - 0xffe) }},
	{entry{"SetSize wraps past 2^64", "bi-top.SetSize(0x1001) at 0xfffffffffffff000",
		"memory: region 'bi-top' at 0xfffffffffffff000 with size 0x1001 wraps past 2^64", ""},
		func(f *machine) error { return f.r("bi-top").SetSize(0x1001) }},
	{entry{"RAM grown beyond its host memory", "bi-leaf.SetSize(0x2000), 0x1000 bytes of RAM",
		"memory: cannot grow 'bi-leaf' beyond its host memory (0x1000 bytes)", ""},
		func(f *machine) error { return f.r("bi-leaf").SetSize(0x2000) }},
	{entry{"use after finalize: a finalized subregion", "system.AddSubregion(0xa0000000, bi-dead), bi-dead finalized",
		"qom: AddSubregion of finalized object region 'bi-dead'", ""},
		func(f *machine) error { return f.m.SystemMemory().AddSubregion(0xa000_0000, f.r("bi-dead")) }},
	{entry{"use after finalize: a setter", "bi-dead.SetEnabled(true)",
		"qom: SetEnabled of finalized object region 'bi-dead'", ""},
		func(f *machine) error { return f.r("bi-dead").SetEnabled(true) }},
	{entry{"use after finalize: an alias target", "NewAlias(nil, \"bi-x\", bi-dead, 0, 0x10)",
		"qom: NewAlias of finalized object region 'bi-dead'", ""},
		func(f *machine) error { _, err := f.sys.NewAlias(nil, "bi-x", f.r("bi-dead"), 0, 0x10); return err }},
	{entry{"region of another memory system", "system.AddSubregion(0, r), r made by another System",
		"memory: 'system' and (unnamed region) belong to different memory systems", ""},
		func(f *machine) error { return f.m.SystemMemory().AddSubregion(0, f.foreign) }},
	{entry{"DelSubregion of a region that is not a subregion", "bi-outer.DelSubregion(bi-loose)",
		"memory: 'bi-loose' is not a subregion of 'bi-outer'", ""},
		func(f *machine) error { return f.r("bi-outer").DelSubregion(f.r("bi-loose")) }},
	{entry{"romd mode of a RAM region", "bi-leaf.SetRomdMode(false)",
		"memory: 'bi-leaf' is not a ROM device", ""},
		func(f *machine) error { return f.r("bi-leaf").SetRomdMode(false) }},
	{entry{"alias offset of a region that is not an alias", "bi-leaf.SetAliasOffset(0x10)",
		"memory: 'bi-leaf' is not an alias", ""},
		func(f *machine) error { return f.r("bi-leaf").SetAliasOffset(0x10) }},
	{entry{"alias without a target", "NewAlias(nil, \"bi-x\", nil, 0, 1)",
		"memory: alias 'bi-x' needs a target", ""},
		func(f *machine) error { _, err := f.sys.NewAlias(nil, "bi-x", nil, 0, 1); return err }},
	{entry{"address space without a root", "NewAddressSpace(nil, \"bi-x\")",
		"memory: address space 'bi-x' needs a root region", ""},
		func(f *machine) error { _, err := f.sys.NewAddressSpace(nil, "bi-x"); return err }},
	{entry{"RAM device over a short host buffer", "NewRAMDevice(nil, \"bi-x\", 0x1000, make([]byte, 16))",
		"memory: RAM device 'bi-x': host buffer of 16 bytes is smaller than the region (0x1000)", ""},
		func(f *machine) error {
			_, err := f.sys.NewRAMDevice(nil, "bi-x", 0x1000, make([]byte, 16))
			return err
		}},
	{entry{"IOMMU region of a type that is not an IOMMU type", "NewIOMMU(nil, \"memory-region\", \"bi-x\", 0x1000, t)",
		"memory: 'memory-region' is not an IOMMU region type", ""},
		func(f *machine) error {
			_, err := f.sys.NewIOMMU(nil, memory.TypeRegion, "bi-x", 0x1000, idleIOMMU{})
			return err
		}},
	{entry{"Commit without Begin", "sys.Commit() with no transaction open",
		"memory: Commit without Begin", ""},
		func(f *machine) error { return f.sys.Commit() }},
	{entry{"address space destroyed twice", "bi-gone.Destroy(), already destroyed",
		"memory: address space 'bi-gone' already destroyed", ""},
		func(f *machine) error { return f.spaces["bi-gone"].Destroy() }},
	{entry{"address space destroyed with a listener", "bi-listened.Destroy(), listener bi-listener registered",
		"memory: address space 'bi-listened' still has 1 listener(s)", ""},
		func(f *machine) error { return f.spaces["bi-listened"].Destroy() }},
	{entry{"listener registered twice", "bi-listened.AddListener(bi-listener) again",
		"memory: listener \"bi-listener\" is already registered", ""},
		func(f *machine) error { return f.spaces["bi-listened"].AddListener(f.listener) }},
	{entry{"listener of a destroyed address space", "bi-gone.AddListener(l)",
		"memory: address space 'bi-gone' is destroyed", ""},
		func(f *machine) error { return f.spaces["bi-gone"].AddListener(&memory.Listener{Name: "bi-x"}) }},
	{entry{"mutation from inside a listener callback", "RegionAdd callback calling system.AddSubregion(0xb0000000, bi-loose)",
		"memory: the topology cannot change inside a listener callback", ""},
		func(f *machine) error {
			var inner error
			l := &memory.Listener{Name: "bi-mutator", RegionAdd: func(memory.Section) {
				if inner == nil {
					inner = f.m.SystemMemory().AddSubregion(0xb000_0000, f.r("bi-loose"))
					if inner == nil {
						inner = errors.New("<no error>")
					}
				}
			}}
			if err := f.m.Memory.AddListener(l); err != nil {
				return err
			}
			if err := f.m.Memory.RemoveListener(l); err != nil {
				return err
			}
			return inner
		}},
	{entry{"Map of 0 bytes", "memory.Map(0, 0, false, Attrs{})",
		"memory: map of 0 bytes at 0x0", ""},
		func(f *machine) error { _, err := f.m.Memory.Map(0, 0, false, memory.Attrs{}); return err }},
	{entry{"typed load of size 3", "memory.Load(0x1000, 3, LittleEndian, Attrs{})",
		"access-error", ""},
		func(f *machine) error {
			return access(f, func() memory.Result {
				v, res := f.m.Memory.Load(0x1000, 3, memory.LittleEndian, memory.Attrs{})
				if v != 0 {
					return memory.Error // a failed load reads 0
				}
				return res
			})
		}},
	{entry{"typed store of size 3", "memory.Store(0x1000, 3, 0xffffff, LittleEndian, Attrs{})",
		"access-error", ""},
		func(f *machine) error {
			return access(f, func() memory.Result {
				return f.m.Memory.Store(0x1000, 3, 0xffffff, memory.LittleEndian, memory.Attrs{})
			})
		}},
	{entry{"dispatch of size 3", "reader.DispatchRead(testdev, 0, 3, LittleEndian, Attrs{})",
		"access-error", ""},
		func(f *machine) error {
			rd := f.sys.NewReader()
			defer rd.Close()
			mr := f.obj("/machine/peripheral/testdev0/testdev[0]").Instance().(*memory.Region)
			return access(f, func() memory.Result {
				_, res := rd.DispatchRead(mr, 0, 3, memory.LittleEndian, memory.Attrs{})
				return res
			})
		}},
	{entry{"access wider than the device accepts", "memory.Load(0xfe000000, 8, ...) on qmem-testdev (valid sizes 1..4)",
		"decode-error; logged: Invalid read at addr 0x0, size 8, region 'testdev', reason: invalid size (min:1 max:4)", ""},
		func(f *machine) error {
			return access(f, func() memory.Result {
				_, res := f.m.Memory.Load(0xfe00_0000, 8, memory.LittleEndian, memory.Attrs{})
				return res
			})
		}},
	{entry{"RAM-only access that reaches MMIO", "memory.Read(0xfe000000, 4 bytes, Attrs{Memory: true})",
		"access-error; logged: Invalid access to non-RAM device at addr 0x0, size 4, region 'testdev'", ""},
		func(f *machine) error {
			return access(f, func() memory.Result {
				return f.m.Memory.Read(0xfe00_0000, make([]byte, 4), memory.Attrs{Memory: true})
			})
		}},
}

func apiArea() area {
	a := area{Prefix: "A", Title: "The memory API",
		Intro: "Calls of package memory on the demo board (no guest) plus a fixture family of regions " +
			"(see `tests/badinput/machine_test.go`): `bi-outer` at 0x80000000 holding `bi-inner` at 0x1000, which holds " +
			"RAM `bi-leaf` at 0 and `bi-mapped-alias` at 0x4000; `bi-top` ending at 2^64; containers `bi-c1 > bi-c2 > bi-c3` " +
			"(root of address space `bi-cycle`); free-standing `bi-loose`, `bi-big` (2^64), `bi-alias-outer` " +
			"(alias of `bi-outer` at 0x1000) and `bi-alias-alias`; finalized `bi-dead`; destroyed address space `bi-gone`. " +
			"Unchanged: `info mtree -D -o` and `-f -o`, `info qom-tree /`, every readable property of every object, " +
			"every attribute of every fixture region, the address spaces, the live-object count and the commit " +
			"counters are the same before and after, and the leak report is empty. Guest-side inputs (typed " +
			"accesses of a bad size or width) do not fail the call: they complete with the transaction result " +
			"shown, and the access event they log."}
	a.Entries = entries(apiCases)
	return a
}

// TestMemoryAPI runs the memory API cases, each on a fresh fixture.
func TestMemoryAPI(t *testing.T) {
	for i, c := range apiCases {
		t.Run(caseName("A", i, c.entry), func(t *testing.T) {
			f := newMachine(t)
			if setup := apiSetups[c.Name]; setup != nil {
				f.sys.Lock()
				setup(t, f)
				f.sys.Unlock()
			}
			f.runUnchanged(t, c.entry, func() error { return c.op(f) })
		})
	}
}
