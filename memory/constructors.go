package memory

import (
	"fmt"

	"qmem.dev/qmem/qom"
)

// Region constructors (A.2). Each creates a region owned by owner (nil for
// none), places it in the QOM tree (R-MRQOM-2) and returns it enabled, not
// yet in any container. A size of math.MaxUint64 means 2^64 (R-MR-1).

// NewContainer creates a pure container (R-KIND-1).
func (s *System) NewContainer(owner qom.Instance, name string, size uint64) (*Region, error) {
	return s.newRegion(owner, "", name, KindContainer, size)
}

// NewIO creates an MMIO or port I/O region whose accesses go to ops
// (R-KIND-2). A nil ops makes a reservation: the region is present in flat
// views but every access to it fails (R-UNAS-2).
func (s *System) NewIO(owner qom.Instance, name string, size uint64, ops *Ops) (*Region, error) {
	r, err := s.newRegion(owner, "", name, KindIO, size)
	if err != nil {
		return nil, err
	}
	r.terminates = true
	r.setOps(ops)
	r.updateGuard()
	return r, nil
}

// updateGuard decides whether the re-entrancy guard applies to the region
// (R-ACC-8): to MMIO and I/O regions owned by a device, unless their ops
// are marked Reentrant or the region is readonly. RAM, ROM, ROM devices and
// RAM devices are never guarded. It runs at creation and when the readonly
// flag changes.
func (r *Region) updateGuard() {
	var dev *qom.Object
	if r.kind == KindIO && r.owner != nil && qom.AsDevice(r.owner) != nil &&
		(r.ops == nil || !r.ops.Reentrant) && !r.readonly {
		dev = r.owner
	}
	r.guardDev.Store(dev)
}

// NewRAM creates a RAM region backed by page-aligned host memory (R-KIND-3),
// zero-filled. The memory is released after the region is finalized and no
// reader can see it any more.
func (s *System) NewRAM(owner qom.Instance, name string, size uint64) (*Region, error) {
	return s.newRAMKind(owner, name, size, KindRAM)
}

// NewROM creates a ROM: RAM that is read-only for normal writes (R-KIND-4).
// Its content is written with Region.WriteROM or debug accesses.
func (s *System) NewROM(owner qom.Instance, name string, size uint64) (*Region, error) {
	r, err := s.newRAMKind(owner, name, size, KindROM)
	if err != nil {
		return nil, err
	}
	r.readonly = true
	return r, nil
}

// NewROMDevice creates a ROM device (R-KIND-5): in romd mode (the default)
// reads come straight from its memory and writes go to ops; with romd mode
// off every access goes to ops.
func (s *System) NewROMDevice(owner qom.Instance, name string, size uint64, ops *Ops) (*Region, error) {
	r, err := s.newRAMKind(owner, name, size, KindROMDevice)
	if err != nil {
		return nil, err
	}
	r.setOps(ops)
	return r, nil
}

// NewRAMDevice creates a RAM device region over host memory the caller
// provides (R-KIND-6): every access goes through built-in ops that read and
// write host in host byte order, 1 to 8 bytes, unaligned allowed.
func (s *System) NewRAMDevice(owner qom.Instance, name string, size uint64, host []byte) (*Region, error) {
	if size == ^uint64(0) || uint64(len(host)) < size {
		return nil, fmt.Errorf("memory: RAM device '%s': host buffer of %d bytes is smaller than the region (%#x)", name, len(host), size)
	}
	r, err := s.newRegion(owner, "", name, KindRAMDevice, size)
	if err != nil {
		return nil, err
	}
	r.terminates = true
	r.ram = &ramBlock{mem: host[:size], external: true}
	r.setOps(ramDeviceOps(r))
	return r, nil
}

// NewAlias creates an alias: a window of size bytes starting at offset inside
// target (R-KIND-7). Aliases of aliases are allowed; a loop is refused when
// it would form (Region.AddSubregion, Region.SetAlias).
func (s *System) NewAlias(owner qom.Instance, name string, target *Region, offset, size uint64) (*Region, error) {
	if target == nil {
		return nil, fmt.Errorf("memory: alias '%s' needs a target", name)
	}
	if err := target.live("NewAlias"); err != nil {
		return nil, err
	}
	if target.sys != s {
		return nil, fmt.Errorf("memory: alias '%s': target %s belongs to another memory system", name, target)
	}
	r, err := s.newRegion(owner, "", name, KindAlias, size)
	if err != nil {
		return nil, err
	}
	r.alias = target
	r.aliasOffset = offset
	target.addAliasedBy(r)
	r.takeAliasRef()
	return r, nil
}

// NewIOMMU creates an IOMMU region of the QOM type typeName, which must be a
// registered descendant of iommu-memory-region (R-KIND-8). Accesses that land
// in it are translated by t.
func (s *System) NewIOMMU(owner qom.Instance, typeName, name string, size uint64, t IOMMU) (*Region, error) {
	c, err := s.reg.Class(typeName)
	if err != nil || c.Cast(TypeIOMMURegion) == nil {
		return nil, fmt.Errorf("memory: '%s' is not an IOMMU region type", typeName)
	}
	if t == nil {
		return nil, fmt.Errorf("memory: IOMMU region '%s' needs a translator", name)
	}
	r, err := s.newRegion(owner, typeName, name, KindIOMMU, size)
	if err != nil {
		return nil, err
	}
	r.terminates = true
	r.iommu = t
	return r, nil
}

func (s *System) newRAMKind(owner qom.Instance, name string, size uint64, kind Kind) (*Region, error) {
	if size == ^uint64(0) {
		return nil, fmt.Errorf("memory: RAM region '%s' cannot have size 2^64", name)
	}
	block, err := allocRAM(size)
	if err != nil {
		return nil, fmt.Errorf("memory: RAM region '%s' (%#x bytes): %w", name, size, err)
	}
	r, err := s.newRegion(owner, "", name, kind, size)
	if err != nil {
		block.free()
		return nil, err
	}
	r.terminates = true
	r.ram = block
	return r, nil
}

func (r *Region) addAliasedBy(a *Region) {
	if r.aliasedBy == nil {
		r.aliasedBy = map[*Region]struct{}{}
	}
	r.aliasedBy[a] = struct{}{}
}

// newUnassigned makes the hidden region that answers addresses no flat range
// covers (R-UNAS-1). It is never initialized as a QOM object: it has no
// owner, no parent and is never changed.
func (s *System) newUnassigned() *Region {
	return &Region{sys: s, name: "unassigned", kind: KindIO, size: two64, enabled: true, romdMode: true, terminates: true}
}
