package memory

import (
	"fmt"
	"strings"
	"sync/atomic"

	"qmem.dev/qmem/qom"
)

// QOM type names of regions (R-MRQOM-1).
const (
	TypeRegion      = "memory-region"
	TypeIOMMURegion = "iommu-memory-region" // abstract; IOMMU types derive from it
)

// Kind is what a region is, as chosen by its constructor (A.2).
type Kind uint8

// Region kinds.
const (
	KindContainer Kind = iota // pure container (R-KIND-1)
	KindIO                    // MMIO or port I/O, ops may be nil (R-KIND-2)
	KindRAM                   // RAM (R-KIND-3)
	KindROM                   // RAM + readonly (R-KIND-4)
	KindROMDevice             // ROM device (R-KIND-5)
	KindRAMDevice             // host memory accessed through ops (R-KIND-6)
	KindAlias                 // window into another region (R-KIND-7)
	KindIOMMU                 // translating region (R-KIND-8)
)

var kindNames = [...]string{"container", "io", "ram", "rom", "rom-device", "ram-device", "alias", "iommu"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", k)
}

// Region is a memory region: a node of the memory tree (R-MR-1). It is a QOM
// object of type memory-region whose references forward to its owner
// (R-LIFE-1).
//
// All methods require the System's lock unless they say otherwise; regions
// are read without it only through the flat views a Reader sees.
type Region struct {
	// The fields the render walk reads come first, together, so that
	// visiting a region touches as few cache lines as possible (the walk
	// is memory-bound on large trees; see BENCHMARKS.md).
	enabled     bool
	readonly    bool
	nonvolatile bool
	romdMode    bool
	unmergeable bool
	terminates  bool
	kind        Kind
	priority    int32
	addr        uint64
	size        i128 // 0 .. 2^64
	alias       *Region
	aliasOffset uint64
	subregions  []*Region // priority order, highest first; newest first among equals (R-SUB-4)
	vgaLogCount int       // R-DIRTY-1: the VGA log bit is reference counted
	ram         *ramBlock

	sys   *System
	owner *qom.Object // nil for ownerless regions
	name  string

	// The aliases pointing here, and whether this alias holds a reference
	// on its target's owner.
	aliasedBy map[*Region]struct{}
	aliasHeld bool

	container      *Region
	mappedViaAlias int  // R-SUB-9
	heldOwner      bool // the container holds a reference on our owner (R-LIFE-3)

	ops *Ops // MMIO callbacks; nil means unassigned (R-UNAS-2)
	// Access sizes as bit sets (bit n for n bytes), derived from ops
	// (setOps), immutable: fastR and fastW, the sizes whose aligned reads
	// and writes are valid and exactly one callback; impl,
	// the sizes the callbacks take (R-SIZE-5).
	fastR, fastW, impl uint16
	// The shortcut's copies of ops.Read, ops.Write and the byte order
	// (one load less between an access and the device).
	readFn  func(offset uint64, size uint, attrs Attrs) (uint64, Result)
	writeFn func(offset uint64, value uint64, size uint, attrs Attrs) Result
	big     bool
	// guardDev is the owner device the re-entrancy guard applies to
	// (R-ACC-8), nil when it does not apply. Set under the lock
	// (updateGuard), read by the access path.
	guardDev atomic.Pointer[qom.Object]
	// panicked is set once a callback of the region panicked (reported once).
	panicked atomic.Bool
	iommu    IOMMU

	iommuNotifiers []*IOMMUNotifier

	coalesced    []addrRange
	ioeventfds   []ioeventfd
	ioevSnap     atomic.Pointer[[]ioeventfd] // copy for the access path
	flushCoalesc atomic.Bool                 // read by the access path (R-COAL-3)

	qom.Object // last: the render walk never reads it
}

// RegisterTypes registers the region types in reg; it is a no-op when they
// are already there.
func RegisterTypes(reg *qom.Registry) error {
	if reg.HasType(TypeRegion) {
		return nil
	}
	err := reg.Register(qom.TypeInfo{
		Name:             TypeRegion,
		Parent:           qom.TypeObject,
		New:              func() qom.Instance { return new(Region) },
		InstanceFinalize: func(i qom.Instance) { i.(*Region).finalize() },
		ClassInit:        regionClassInit,
	})
	if err != nil {
		return err
	}
	return reg.Register(qom.TypeInfo{Name: TypeIOMMURegion, Parent: TypeRegion, Abstract: true})
}

// regionClassInit adds the region's QOM properties (R-MRQOM-4). QEMU adds
// them per instance; as class properties they cost nothing per region and
// list in the same order after "type".
func regionClassInit(c *qom.Class, _ any) {
	reg := func(o *qom.Object) *Region { return o.Instance().(*Region) }
	container := &qom.Property{
		Name: "container",
		Type: "link<" + TypeRegion + ">",
		Get: func(o *qom.Object, _ *qom.Property) (any, error) {
			if c := reg(o).container; c != nil {
				return c.CanonicalPath(), nil
			}
			return "", nil
		},
		Resolve: func(o *qom.Object, _ *qom.Property) *qom.Object {
			if c := reg(o).container; c != nil {
				return &c.Object
			}
			return nil
		},
	}
	c.MustAddProperty(container)
	c.MustAddProperty(qom.UintProperty("addr", 64, func(o *qom.Object) uint64 { return reg(o).addr }, nil))
	c.MustAddProperty(qom.UintProperty("size", 64, func(o *qom.Object) uint64 { return sizeToUser(reg(o).size) }, nil))
	// R-MRQOM-4: declared uint32, visited as a signed 32-bit value.
	prio := qom.IntProperty("priority", func(o *qom.Object) int64 { return int64(reg(o).priority) }, nil)
	prio.Type = "uint32"
	c.MustAddProperty(prio)
}

// EscapeName returns the QOM child name stem of a region name: '/', '[', '\'
// and ']' become "\x" and two lowercase hex digits (R-MR-4).
func EscapeName(name string) string {
	if !strings.ContainsAny(name, "/[\\]") {
		return name
	}
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		switch c := name[i]; c {
		case '/', '[', '\\', ']':
			fmt.Fprintf(&b, "\\x%02x", c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// newRegion initializes a region object and places it in the QOM tree
// (R-MRQOM-2): a named region becomes child "<escaped name>[N]" of its owner,
// or of /machine/unattached without an owner; the tree's reference is then
// its only one. An unnamed region has no QOM parent: with an owner it is
// released when its owner is finalized (qmem's addition; QEMU never frees
// it, see keepUnnamed); without one its creator holds it.
func (s *System) newRegion(owner qom.Instance, typeName, name string, kind Kind, size uint64) (*Region, error) {
	var ownerObj *qom.Object
	if owner != nil {
		ownerObj = owner.QOM()
		if !ownerObj.Alive() {
			return nil, &qom.FinalizedError{Object: ownerObj.String(), Op: "new region '" + name + "'"}
		}
		if ownerObj.Registry() != s.reg {
			return nil, fmt.Errorf("memory: owner %s belongs to another registry", ownerObj)
		}
	}
	r := &Region{
		sys:      s,
		owner:    ownerObj,
		name:     name,
		kind:     kind,
		size:     sizeFromUser(size),
		enabled:  true,
		romdMode: true,
	}
	if typeName == "" {
		typeName = TypeRegion
	}
	if err := s.reg.Initialize(r, typeName); err != nil {
		return nil, err
	}
	if ownerObj != nil {
		s.ownedBy(ownerObj).regions[r] = struct{}{}
	}
	if name == "" {
		if ownerObj != nil {
			if err := s.keepUnnamed(r); err != nil {
				return nil, err
			}
		}
		return r, nil
	}
	parent := ownerObj
	if parent == nil {
		parent = s.reg.Unattached()
		if parent == nil {
			r.Unref()
			return nil, fmt.Errorf("memory: ownerless region '%s' needs /machine/unattached: create the machine first", name)
		}
	}
	if _, err := parent.AddChild(EscapeName(name)+"[*]", r); err != nil {
		r.Unref()
		return nil, err
	}
	r.Unref()
	return r, nil
}

// Name returns the region's name ("" for an unnamed region).
func (r *Region) Name() string { return r.name }

// Owner returns the owner object given at creation, nil for none.
func (r *Region) Owner() *qom.Object { return r.owner }

// QOMParent returns the object holding the region's child property: the
// owner, /machine/unattached for a named ownerless region, nil for an unnamed
// one (R-MRQOM-3, R-MRQOM-6).
func (r *Region) QOMParent() *qom.Object {
	if r.name == "" {
		return nil // an owned one is kept under the internal root (keepUnnamed)
	}
	return r.Parent()
}

// System returns the memory system the region belongs to.
func (r *Region) System() *System { return r.sys }

// Kind returns what the region was created as.
func (r *Region) Kind() Kind { return r.kind }

// Size returns the size; 2^64 reads as math.MaxUint64 (R-MR-2).
func (r *Region) Size() uint64 { return sizeToUser(r.size) }

// SizeIs64 reports whether the size is exactly 2^64.
func (r *Region) SizeIs64() bool { return r.size.hi != 0 }

// Addr returns the offset of the region inside its container.
func (r *Region) Addr() uint64 { return r.addr }

// Priority returns the priority among siblings.
func (r *Region) Priority() int32 { return r.priority }

// Enabled reports whether the region is enabled.
func (r *Region) Enabled() bool { return r.enabled }

// Readonly reports the region's own readonly flag.
func (r *Region) Readonly() bool { return r.readonly }

// Nonvolatile reports the region's own nonvolatile flag.
func (r *Region) Nonvolatile() bool { return r.nonvolatile }

// RomdMode reports the romd mode flag (meaningful for ROM devices).
func (r *Region) RomdMode() bool { return r.romdMode }

// Unmergeable reports the unmergeable flag.
func (r *Region) Unmergeable() bool { return r.unmergeable }

// Terminates reports whether the region itself can be the target of an
// access (R-MR-3).
func (r *Region) Terminates() bool { return r.terminates }

// Alias returns the alias target, nil when the region is not an alias.
func (r *Region) Alias() *Region { return r.alias }

// AliasOffset returns the offset of an alias into its target.
func (r *Region) AliasOffset() uint64 { return r.aliasOffset }

// Container returns the region's container, nil when it has none.
func (r *Region) Container() *Region { return r.container }

// Subregions returns the subregions in list order: priority descending,
// newest first among equal priorities (R-SUB-4).
func (r *Region) Subregions() []*Region { return append([]*Region(nil), r.subregions...) }

// IsMapped reports whether the region has a container or is the target of a
// mapped alias (R-SUB-9).
func (r *Region) IsMapped() bool { return r.container != nil || r.mappedViaAlias > 0 }

// IsRAM reports whether the region is backed by host memory accessed
// directly (RAM, ROM, RAM device).
func (r *Region) IsRAM() bool {
	return r.kind == KindRAM || r.kind == KindROM || r.kind == KindRAMDevice
}

// IsROMDevice reports whether the region is a ROM device.
func (r *Region) IsROMDevice() bool { return r.kind == KindROMDevice }

// IsRAMDevice reports whether the region is a RAM device.
func (r *Region) IsRAMDevice() bool { return r.kind == KindRAMDevice }

// IsIOMMU reports whether the region is an IOMMU region.
func (r *Region) IsIOMMU() bool { return r.kind == KindIOMMU }

// Ops returns the region's access callbacks (nil for none).
func (r *Region) Ops() *Ops { return r.ops }

// finalTarget follows aliases to the last region of the chain.
func (r *Region) finalTarget() *Region {
	for r.alias != nil {
		r = r.alias
	}
	return r
}

// TypeLabel returns the label QEMU prints for the region (R-KIND-9): the
// final alias target's "ramd", "romd" (ROM device in romd mode), "rom" (RAM
// and readonly), "ram", or "i/o" for everything else.
func (r *Region) TypeLabel() string {
	t := r.finalTarget()
	switch {
	case t.kind == KindRAMDevice:
		return "ramd"
	case t.kind == KindROMDevice && t.romdMode:
		return "romd"
	case t.hasRAM() && t.readonly:
		return "rom"
	case t.hasRAM():
		return "ram"
	}
	return "i/o"
}

// hasRAM is QEMU's mr->ram: RAM, ROM and RAM devices.
func (r *Region) hasRAM() bool { return r.IsRAM() }

// String names the region for messages.
func (r *Region) String() string {
	if r.name == "" {
		return "(unnamed region)"
	}
	return "'" + r.name + "'"
}

// live reports an error when the region cannot be used any more.
func (r *Region) live(op string) error {
	if !r.Alive() {
		return &qom.FinalizedError{Object: r.describe(), Op: op}
	}
	return nil
}

func (r *Region) describe() string {
	if p := r.CanonicalPath(); p != "" {
		return p
	}
	return "region " + r.String()
}
