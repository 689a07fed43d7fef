package torture

import (
	"fmt"
	"sort"
	"strings"

	"qmem.dev/qmem/board"
	"qmem.dev/qmem/device"
	"qmem.dev/qmem/memory"
)

// step performs one random operation and checks the views. It runs with
// the machine lock held.
func (st *state) step() {
	switch k := st.rng.IntN(100); {
	case k < 10:
		st.plug()
	case k < 18:
		st.unplugRandom()
	case k < 30:
		st.newRegion()
	case k < 60:
		st.regionOp()
	case k < 70:
		st.deleteRegion()
	case k < 80:
		st.transaction(2)
	case k < 86:
		st.newSpace()
	case k < 90:
		st.destroySpace()
	default:
		st.regionOp()
	}
	st.verify()
}

func (st *state) name(prefix string) string {
	st.nextID++
	return fmt.Sprintf("%s%d", prefix, st.nextID)
}

// plug hot-plugs a test device or RAM at a free slot.
func (st *state) plug() {
	var d board.DeviceSpec
	if st.rng.IntN(2) == 0 {
		slot := st.rng.IntN(testdevMax)
		d = board.DeviceSpec{Type: device.TypeTestDev, ID: fmt.Sprintf("td%d", slot),
			Props: map[string]any{"addr": uint64(testdevBase + slot*testdevSlot)}}
	} else {
		slot := st.rng.IntN(ramMax)
		d = board.DeviceSpec{Type: device.TypeRAM, ID: fmt.Sprintf("ram%d", slot),
			Props: map[string]any{"addr": uint64(ramBase + slot*ramSlot), "size": uint64(4096 << st.rng.IntN(5))}}
	}
	if _, taken := st.plugged[d.ID]; taken {
		return
	}
	dev, err := st.m.AddDevice(&d)
	if err != nil {
		st.fail(&st.rep.Errors, "device_add %s: %v", d.ID, err)
		return
	}
	st.plugged[d.ID] = dev
	st.rep.Plugs++
}

func (st *state) unplugRandom() {
	if len(st.plugged) == 0 {
		return
	}
	ids := sortedKeys(st.plugged)
	st.unplug(ids[st.rng.IntN(len(ids))])
	st.checkLeaks()
}

// unplug removes a plugged device; the finalize checks happen at the end.
func (st *state) unplug(id string) {
	dev := st.plugged[id]
	delete(st.plugged, id)
	if t, ok := dev.Instance().(*device.TestDev); ok {
		st.dead = append(st.dead, t)
	}
	if err := st.reg.Unplug(dev); err != nil {
		st.fail(&st.rep.Errors, "device_del %s: %v", id, err)
		return
	}
	st.rep.Unplugs++
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// counterOps is a trivial MMIO device for torture regions.
var counterOps = &memory.Ops{
	Read:       func(off uint64, size uint, _ memory.Attrs) (uint64, memory.Result) { return off, memory.OK },
	Write:      func(uint64, uint64, uint, memory.Attrs) memory.Result { return memory.OK },
	Endianness: memory.LittleEndian,
}

// newRegion creates a RAM, I/O, container or alias region (not mapped).
func (st *state) newRegion() {
	if len(st.regions) > 200 {
		st.deleteRegion()
		return
	}
	size := uint64(0x100) << st.rng.IntN(8)
	var r *memory.Region
	var err error
	switch st.rng.IntN(5) {
	case 0:
		r, err = st.sys.NewRAM(nil, st.name("ram"), size)
	case 1:
		r, err = st.sys.NewIO(nil, st.name("io"), size, counterOps)
	case 2, 3:
		r, err = st.sys.NewContainer(nil, st.name("c"), size*4)
	case 4:
		t := st.pickAny()
		r, err = st.sys.NewAlias(nil, st.name("alias"), t, uint64(st.rng.IntN(0x400)), size)
	}
	if err != nil {
		st.fail(&st.rep.Errors, "create region: %v", err)
		return
	}
	st.regions = append(st.regions, r)
}

func (st *state) pickAny() *memory.Region {
	if len(st.regions) == 0 || st.rng.IntN(8) == 0 {
		return st.play
	}
	return st.regions[st.rng.IntN(len(st.regions))]
}

// pickContainer returns the playground or one of the run's non-alias
// regions (any terminating region may hold subregions, R-KIND-10).
func (st *state) pickContainer() *memory.Region {
	for i := 0; i < 4; i++ {
		r := st.pickAny()
		if r.Alias() == nil {
			return r
		}
	}
	return st.play
}

// regionOp changes one region: add, delete, move, enable, readonly,
// retarget an alias, resize. Operations the rules refuse (loops, a region
// already in a container) must fail without changing anything, which
// verify() would notice.
func (st *state) regionOp() {
	if len(st.regions) == 0 {
		st.newRegion()
		return
	}
	r := st.regions[st.rng.IntN(len(st.regions))]
	var err error
	switch st.rng.IntN(8) {
	case 0, 1:
		if r.Container() != nil {
			err = r.Container().DelSubregion(r)
			break
		}
		c := st.pickContainer()
		addr := uint64(st.rng.IntN(int(min(c.Size(), playSize)/0x100))) * 0x100
		_ = c.AddSubregionOverlap(addr, r, int32(st.rng.IntN(5)-2)) // loops are refused
	case 2:
		if c := r.Container(); c != nil {
			_ = r.SetAddress(uint64(st.rng.IntN(int(min(c.Size(), playSize)/0x100))) * 0x100)
		}
	case 3:
		if err = r.SetEnabled(!r.Enabled()); err != nil && strings.Contains(err.Error(), "never ends") {
			err = nil // enabling would close a loop that never ends: refused (memory/cycle.go)
		}
	case 4:
		err = r.SetReadonly(!r.Readonly())
	case 5:
		if r.Alias() != nil {
			_ = r.SetAlias(st.pickAny(), uint64(st.rng.IntN(0x400))) // loops are refused
		}
	case 6:
		err = r.SetNonvolatile(!r.Nonvolatile())
	case 7:
		if r.Kind() == memory.KindContainer || r.Kind() == memory.KindAlias {
			_ = r.SetSize(uint64(0x100) << st.rng.IntN(10)) // past 2^64 is refused
		}
	}
	if err != nil {
		st.fail(&st.rep.Errors, "region op on %s: %v", r, err)
	}
}

// deleteRegion finalizes one of the run's regions (unparent), whatever its
// state: it leaves its container and empties itself (DESIGN L3).
func (st *state) deleteRegion() {
	if len(st.regions) == 0 {
		return
	}
	i := st.rng.IntN(len(st.regions))
	r := st.regions[i]
	st.regions = append(st.regions[:i:i], st.regions[i+1:]...)
	for _, as := range st.spaces {
		if as.Root() == r {
			st.destroy(as)
		}
	}
	r.Unparent()
	if !r.Finalized() {
		st.fail(&st.rep.Errors, "region %s not finalized after unparent (refs %d)", r, r.RefCount())
	}
}

// transaction runs a few operations (and maybe a nested transaction) in
// one transaction.
func (st *state) transaction(depth int) {
	st.sys.Begin()
	n := 2 + st.rng.IntN(4)
	for i := 0; i < n; i++ {
		if depth > 0 && st.rng.IntN(4) == 0 {
			st.transaction(depth - 1)
			continue
		}
		st.regionOp()
	}
	if err := st.sys.Commit(); err != nil {
		st.fail(&st.rep.Errors, "commit: %v", err)
	}
}

// newSpace creates an address space rooted at one of the run's regions.
func (st *state) newSpace() {
	if len(st.spaces) >= 16 {
		st.destroySpace()
		return
	}
	as, err := st.sys.NewAddressSpace(st.pickAny(), st.name("as"))
	if err != nil {
		st.fail(&st.rep.Errors, "address space: %v", err)
		return
	}
	st.spaces = append(st.spaces, as)
	st.publishSpaces()
}

func (st *state) destroySpace() {
	if len(st.spaces) == 0 {
		return
	}
	st.destroy(st.spaces[st.rng.IntN(len(st.spaces))])
}

func (st *state) destroy(as *memory.AddressSpace) {
	for i, x := range st.spaces {
		if x == as {
			st.spaces = append(st.spaces[:i:i], st.spaces[i+1:]...)
			break
		}
	}
	if err := as.Destroy(); err != nil {
		st.fail(&st.rep.Errors, "destroy %s: %v", as.Name(), err)
	}
	st.publishSpaces()
}
