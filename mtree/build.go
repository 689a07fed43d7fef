package mtree

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"qmem.dev/qmem/memory"
	"qmem.dev/qmem/mtree/dump"
	"qmem.dev/qmem/qom"
)

// Machine is a memory system built from a QEMU dump (Build) or by hand
// (NewSpecExample): its QOM registry, holding /machine and the owner
// objects, and its memory system with regions and address spaces. Print it
// with Write and release it with Close.
type Machine struct {
	Registry *qom.Registry
	System   *memory.System

	// Notes lists what Build could not take from the facts (an as_order
	// fact that matched no FlatView, a FlatView with two or more address
	// spaces that no fact orders), one sentence each; empty when the facts
	// were complete.
	Notes []string

	loose   []*qom.Object    // owner objects outside the tree (creation refs)
	unnamed []*memory.Region // ownerless unnamed regions (creation refs)
}

// Build creates the memory system a parsed dump describes: one
// memory.Region per dump.Region, its owner objects, and one address space
// per `address-space:` line. d should have had its facts applied
// (dump.Dump.ApplyFacts, or dump.LoadDump); without them the defaults of
// dump.Parse apply.
//
// Regions:
//   - kind from the type label and the facts: an alias is memory's alias
//     (its target, offset and size as printed); "ram" is RAM, "rom" is ROM,
//     "romd" a ROM device and "ramd" a RAM device (over zeroed host memory
//     that is only reserved), all without callbacks; "i/o" is a terminating
//     I/O region with nil ops when Terminates, else a pure container;
//   - size, priority, enabled, nonvolatile and readonly (only where the
//     readonly fact or default differs from what the kind implies) as the
//     dump says; the address in the container; a region without a
//     container keeps its printed address and priority as QEMU keeps them
//     after memory_region_del_subregion (it is added to a scratch container
//     and removed);
//   - subregions added in reverse RenderOrder, so that memory's subregion
//     list (R-SUB-4) is exactly RenderOrder;
//   - owners: `{dev id=X}` becomes a device with id X at
//     /machine/peripheral/X, `{... path=P}` an object at P (the machine
//     and its containers are reused), `{... type=T}` an object of type T
//     outside the tree; a region with only ` parent:{obj
//     path=/machine/unattached}` is ownerless; an ` orphan` (or an
//     owner-only suffix) named "(null)" is created unnamed (R-MR-5). A
//     region whose owner is unknown (disabled, so absent from the -o dump)
//     is ownerless.
//
// Address spaces are created group by group in file order, names in printed
// order, then reordered so that every FlatView that two or more spaces share
// lists them in the order of its as_order fact (QEMU prints creation order,
// R-MTREEF-2); spaces of other views keep their places.
//
// It fails, leaving nothing behind, for what memory cannot express: a size
// of 2^64-1 (memory reads math.MaxUint64 as 2^64), RAM of 2^64 bytes, a
// region whose address plus size passes 2^64, subregions of an alias
// (refused, R-KIND-11), a QOM parent other than the owner or
// /machine/unattached, a named orphan, or an owner reference QOM refuses.
func Build(d *dump.Dump) (*Machine, error) {
	return newMachine(TypeDumpMachine, func(m *Machine) error {
		b := &builder{m: m, d: d, regions: make([]*memory.Region, len(d.Regions))}
		return b.build()
	})
}

// newMachine makes a registry with the placeholder types and a machine of
// type machineType, a memory system, and runs fill with the System's lock
// held; on error it closes the machine.
func newMachine(machineType string, fill func(*Machine) error) (*Machine, error) {
	reg := qom.NewRegistry()
	if err := registerDumpTypes(reg); err != nil {
		return nil, err
	}
	if _, err := reg.NewMachine(machineType); err != nil {
		return nil, err
	}
	sys, err := memory.NewSystem(reg)
	if err != nil {
		return nil, err
	}
	m := &Machine{Registry: reg, System: sys}
	sys.Lock()
	err = fill(m)
	sys.Unlock()
	if err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

type builder struct {
	m       *Machine
	d       *dump.Dump
	own     *owners
	regions []*memory.Region // by dump.Region.ID
	scratch *memory.Region   // see placeAlone
}

func (b *builder) build() error {
	b.own = &owners{reg: b.m.Registry, objs: map[dump.ObjRef]*qom.Object{}}
	defer func() { b.m.loose = b.own.loose }()
	var refs []dump.ObjRef
	for _, r := range b.d.Regions {
		if o := r.Owner; o != nil {
			for _, ref := range []*dump.ObjRef{o.Owner, o.Parent} {
				if ref != nil {
					refs = append(refs, *ref)
				}
			}
		}
	}
	if err := b.own.create(refs); err != nil {
		return err
	}
	sys := b.m.System
	sys.Begin()
	err := b.regionsAndSubregions()
	if cerr := sys.Commit(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return b.addressSpaces()
}

func (b *builder) regionsAndSubregions() error {
	for _, r := range b.d.Regions {
		if _, err := b.region(r, 0); err != nil {
			return err
		}
	}
	for _, r := range b.d.Regions {
		c := b.regions[r.ID]
		for i := len(r.RenderOrder) - 1; i >= 0; i-- {
			ch := r.RenderOrder[i]
			if err := c.AddSubregionOverlap(ch.Addr, b.regions[ch.ID], ch.Priority); err != nil {
				return fmt.Errorf("region %q (-D line %d) in %q: %w", ch.Name, ch.Places[0].Line, r.Name, err)
			}
		}
	}
	return nil
}

// region returns the memory region of r, creating it (and, for an alias,
// its target first) when needed. depth guards against alias loops, which
// the parser already refuses.
func (b *builder) region(r *dump.Region, depth int) (*memory.Region, error) {
	if mr := b.regions[r.ID]; mr != nil {
		return mr, nil
	}
	if depth > len(b.d.Regions) {
		return nil, fmt.Errorf("region %q: alias loop", r.Name)
	}
	where := func(err error) error {
		return fmt.Errorf("region %q (-D line %d): %w", r.Name, r.Places[0].Line, err)
	}
	owner, name, err := b.ownerAndName(r)
	if err != nil {
		return nil, where(err)
	}
	size, err := memSize(r.Size)
	if err != nil {
		return nil, where(err)
	}
	sys := b.m.System
	var mr *memory.Region
	wantRO := false // the readonly flag the constructor sets
	switch {
	case r.Alias != nil:
		t, err := b.region(r.Alias, depth+1)
		if err != nil {
			return nil, err
		}
		mr, err = sys.NewAlias(owner, name, t, r.AliasOffset, size)
		if err != nil {
			return nil, where(err)
		}
	case r.Kind == dump.KindRAM:
		mr, err = sys.NewRAM(owner, name, size)
	case r.Kind == dump.KindROM:
		mr, err = sys.NewROM(owner, name, size)
		wantRO = true
	case r.Kind == dump.KindROMD:
		mr, err = sys.NewROMDevice(owner, name, size, nil)
	case r.Kind == dump.KindRAMD:
		var host []byte
		if host, err = hostMemory(size); err == nil {
			mr, err = sys.NewRAMDevice(owner, name, size, host)
		}
	case r.Terminates:
		mr, err = sys.NewIO(owner, name, size, nil)
	default:
		mr, err = sys.NewContainer(owner, name, size)
	}
	if err != nil {
		return nil, where(err)
	}
	b.regions[r.ID] = mr
	if name == "" && owner == nil {
		b.m.unnamed = append(b.m.unnamed, mr)
	}
	if r.ReadOnly != wantRO {
		if !r.ReadOnly {
			return nil, where(errors.New("a region labelled rom is read-only"))
		}
		err = mr.SetReadonly(true)
	}
	if err == nil && r.NV {
		err = mr.SetNonvolatile(true)
	}
	if err == nil && !r.Enabled {
		err = mr.SetEnabled(false)
	}
	if err == nil && r.Container == nil && (r.Addr != 0 || r.Priority != 0) {
		err = b.placeAlone(mr, r.Addr, r.Priority)
	}
	if err != nil {
		return nil, where(err)
	}
	return mr, nil
}

// placeAlone gives a region that has no container its address and
// priority: QEMU keeps both after memory_region_del_subregion, and memory
// has no setter for a priority outside a container, so the region is added
// to a scratch container and removed again.
func (b *builder) placeAlone(mr *memory.Region, addr uint64, prio int32) error {
	if b.scratch == nil {
		s, err := b.m.System.NewContainer(nil, "", math.MaxUint64)
		if err != nil {
			return err
		}
		b.scratch = s
		b.m.unnamed = append(b.m.unnamed, s)
	}
	if err := b.scratch.AddSubregionOverlap(addr, mr, prio); err != nil {
		return err
	}
	return b.scratch.DelSubregion(mr)
}

// ownerAndName returns the owner object and the name to create r with.
func (b *builder) ownerAndName(r *dump.Region) (qom.Instance, string, error) {
	o := r.Owner
	if o == nil {
		return nil, r.Name, nil // unknown: a disabled region
	}
	if o.Orphan || o.Parent == nil && r.Name == nullName {
		if r.Name != nullName {
			return nil, "", fmt.Errorf("printed as an orphan: only an unnamed region, printed %q, has no QOM parent (R-MRQOM-2)", nullName)
		}
		if o.Orphan {
			return nil, "", nil
		}
		return b.own.objs[*o.Owner], "", nil
	}
	if o.Owner == nil {
		if got := o.Parent.String(); got != "{obj path=/machine/unattached}" {
			return nil, "", fmt.Errorf("QOM parent %s without owner: memory places ownerless regions in /machine/unattached", got)
		}
		return nil, r.Name, nil
	}
	if o.Parent != nil {
		return nil, "", fmt.Errorf("QOM parent %s differs from the owner %s: memory makes a region the child of its owner", o.Parent, o.Owner)
	}
	return b.own.objs[*o.Owner], r.Name, nil
}

// memSize converts a dump size to memory's convention, where
// math.MaxUint64 means 2^64.
func memSize(s dump.Size) (uint64, error) {
	switch {
	case s.Full:
		return math.MaxUint64, nil
	case s.Bytes == math.MaxUint64:
		return 0, errors.New("size 2^64-1 cannot be given to the memory API, which reads math.MaxUint64 as 2^64")
	}
	return s.Bytes, nil
}

// addressSpaces creates one address space per AS name of every group, then
// reorders them after the as_order facts.
func (b *builder) addressSpaces() error {
	type spec struct {
		root *memory.Region
		name string
	}
	var specs []spec
	for _, g := range b.d.Groups {
		for _, n := range g.ASNames {
			if n == "" {
				return fmt.Errorf("address space with an empty name (line %d): memory names it %q", g.Line, "anonymous")
			}
			specs = append(specs, spec{b.regions[g.Root.Region.ID], n})
		}
	}
	create := func(order []int) ([]*memory.AddressSpace, error) {
		out := make([]*memory.AddressSpace, len(specs))
		for _, i := range order {
			as, err := b.m.System.NewAddressSpace(specs[i].root, specs[i].name)
			if err != nil {
				return nil, fmt.Errorf("address space %q: %w", specs[i].name, err)
			}
			out[i] = as
		}
		return out, nil
	}
	order := make([]int, len(specs))
	for i := range order {
		order[i] = i
	}
	spaces, err := create(order)
	if err != nil {
		return err
	}
	newOrder := b.asCreationOrder(spaces)
	if slices.Equal(newOrder, order) {
		return nil
	}
	for _, as := range spaces {
		if err := as.Destroy(); err != nil {
			return err
		}
	}
	_, err = create(newOrder)
	return err
}

// asCreationOrder returns the order in which to create the spaces (indexes
// into spaces, which were created in index order) so that each FlatView
// shared by two or more of them lists them as its as_order fact says. The
// views are disjoint, so each keeps the creation slots of its members and
// only permutes them among those slots.
func (b *builder) asCreationOrder(spaces []*memory.AddressSpace) []int {
	index := map[*memory.AddressSpace]int{}
	for i, as := range spaces {
		index[as] = i
	}
	order := make([]int, len(spaces))
	for i := range order {
		order[i] = i
	}
	for _, g := range flatGroups(b.m.System) {
		if len(g.spaces) < 2 {
			continue
		}
		root := rootLine(g.view)
		lines := make([]string, len(g.spaces))
		for i, as := range g.spaces {
			lines[i] = asLine(as)
		}
		if b.d.ASOrder == nil {
			b.m.Notes = append(b.m.Notes, fmt.Sprintf("no facts: the FlatView %q of %d address spaces keeps the dump's order", root, len(lines)))
			continue
		}
		want, err := b.d.ASOrder.Order(root, lines)
		if err != nil {
			b.m.Notes = append(b.m.Notes, err.Error())
			continue
		}
		var slots, members []int
		taken := make([]bool, len(g.spaces))
		for _, as := range g.spaces {
			slots = append(slots, index[as])
		}
		for _, l := range want {
			for j, as := range g.spaces {
				if !taken[j] && lines[j] == l {
					taken[j] = true
					members = append(members, index[as])
					break
				}
			}
		}
		for k, slot := range slots {
			order[slot] = members[k]
		}
	}
	if b.d.ASOrder != nil {
		for _, a := range b.d.ASOrder.Unused() {
			b.m.Notes = append(b.m.Notes, fmt.Sprintf("as_order fact for %q with %d AS lines matches no FlatView", a.Root, len(a.AS)))
		}
	}
	return order
}

// Close releases the machine: it destroys the address spaces, unparents
// /machine and the objects under /objects, drops the references Build kept
// and reclaims what memory can release. The Machine must not be used
// afterwards.
func (m *Machine) Close() {
	sys := m.System
	sys.Lock()
	defer sys.Unlock()
	for _, as := range sys.AddressSpaces() {
		as.RemoveListeners()
		_ = as.Destroy()
	}
	for _, r := range m.unnamed {
		r.Unref()
	}
	m.unnamed = nil
	if objs := m.Registry.Root().Child("objects"); objs != nil {
		for _, c := range objs.Children() {
			c.Unparent()
		}
	}
	if mach := m.Registry.Machine(); mach != nil {
		mach.Unparent()
	}
	for _, o := range m.loose {
		o.Unref()
	}
	m.loose = nil
	sys.Reclaim()
}
