package dump

import (
	"strconv"
	"strings"
)

// Kind is the type label QEMU prints for a region (memory_region_type): the
// part after "prio N, " and an optional "nv-". For an alias it is the label
// of the alias's final target.
type Kind uint8

// The five labels, in the order QEMU tests them (ramd, romd, rom, ram, i/o).
// KindIO is the zero value: pure containers, MMIO/PIO and IOMMU regions all
// print "i/o".
const (
	KindIO   Kind = iota // "i/o"
	KindRAM              // "ram"
	KindROM              // "rom"
	KindROMD             // "romd"
	KindRAMD             // "ramd"
)

var kindNames = [...]string{KindIO: "i/o", KindRAM: "ram", KindROM: "rom", KindROMD: "romd", KindRAMD: "ramd"}

// String returns the label exactly as QEMU prints it ("i/o", "ram", ...).
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// parseKind maps a printed label to its Kind.
func parseKind(s string) (Kind, bool) {
	for k, n := range kindNames {
		if n == s {
			return Kind(k), true
		}
	}
	return 0, false
}

// Size is a region size in bytes, from 0 to 2^64 inclusive (QEMU keeps sizes
// in 128 bits). The zero value is size 0.
type Size struct {
	// Bytes is the size modulo 2^64.
	Bytes uint64
	// Full is set when the size is exactly 2^64; Bytes is then 0.
	Full bool
}

// SizeFromRange returns the size of an inclusive printed range start-end:
// end-start+1 computed in 65 bits, so 0000000000000000-ffffffffffffffff is
// 2^64. A range with end < start is taken as wrapped (QEMU marks such lines
// with [DETECTED OVERFLOW!]).
func SizeFromRange(start, end uint64) Size {
	d := end - start
	if d == ^uint64(0) {
		return Size{Full: true}
	}
	return Size{Bytes: d + 1}
}

// IsZero reports whether the size is 0.
func (s Size) IsZero() bool { return s.Bytes == 0 && !s.Full }

// Last returns the inclusive end QEMU prints for a range of this size that
// starts at start: start + size - 1 in 64 bits (wrapping), or start itself
// for size 0 (MR_SIZE).
func (s Size) Last(start uint64) uint64 {
	if s.IsZero() {
		return start
	}
	return start + s.Bytes - 1 // Full: Bytes is 0, so this adds 2^64-1.
}

// String returns the size in hex with 0x, or "0x10000000000000000" for 2^64.
func (s Size) String() string {
	if s.Full {
		return "0x10000000000000000"
	}
	return "0x" + strconv.FormatUint(s.Bytes, 16)
}

// ObjRef is one `{...}` object reference of the `-o` suffix: `{dev id=n1}`,
// `{obj path=/objects/pc.ram}`, `{dev type=isa-i8259}`.
type ObjRef struct {
	// Dev is true for `dev` (the object is a device), false for `obj`.
	Dev bool
	// Key is "id", "path" or "type".
	Key string
	// Value is the text after '='; it never contains '}'.
	Value string
}

// String returns the reference as printed, braces included.
func (o ObjRef) String() string {
	kind := "obj"
	if o.Dev {
		kind = "dev"
	}
	return "{" + kind + " " + o.Key + "=" + o.Value + "}"
}

// Owner is the suffix `info mtree -o` appends to a region line (SPEC
// R-MTREE-11). Exactly one of the following holds: Orphan is set and both
// pointers are nil; or at least one of Owner and Parent is non-nil.
type Owner struct {
	// Orphan: the region has neither owner nor QOM parent (" orphan").
	Orphan bool
	// Owner is the " owner:{...}" part, nil when not printed.
	Owner *ObjRef
	// Parent is the " parent:{...}" part, nil when not printed (no QOM parent,
	// or the parent is the owner).
	Parent *ObjRef
}

// String returns the suffix exactly as QEMU prints it, leading space
// included: " orphan", " owner:{...}", " owner:{...} parent:{...}" or
// " parent:{...}". A nil Owner prints as "".
func (o *Owner) String() string {
	if o == nil {
		return ""
	}
	if o.Orphan {
		return " orphan"
	}
	var b strings.Builder
	if o.Owner != nil {
		b.WriteString(" owner:")
		b.WriteString(o.Owner.String())
	}
	if o.Parent != nil {
		b.WriteString(" parent:")
		b.WriteString(o.Parent.String())
	}
	return b.String()
}

func (o *Owner) equal(p *Owner) bool { return o.String() == p.String() }

// Node is one printed region line of a dump: one place where a region is
// printed. The same region can be printed at several places (an address-space
// root printed again as a `memory-region:` section, a tree nested inside
// another tree); all its places share one *Region.
//
// Invariants after a successful Parse: Level is Parent.Level+1 (1 for a
// section root); Children are in printed order; End-Start equals
// AliasEnd-AliasStart for an alias; Overflow is set exactly when Start is
// below the parent's Start (0 for a root) or End is below Start.
type Node struct {
	// Line is the 1-based line number in the parsed (-D) text.
	Line int
	// Level is the indentation level: 1 for a section root, +1 per nesting.
	Level int
	// Overflow: the line carries the "[DETECTED OVERFLOW!] " prefix.
	Overflow bool
	// Start and End are the printed inclusive absolute range.
	Start, End uint64
	// Priority is the printed priority (the region's own, signed).
	Priority int32
	// NV: the label carries the "nv-" prefix (the region's own flag).
	NV bool
	// Kind is the printed type label (for an alias: its final target's).
	Kind Kind
	// Name is the region name, exactly as printed.
	Name string
	// IsAlias: the line is an alias line ("alias NAME @TARGET OFF-END").
	IsAlias bool
	// Target is the printed alias target name ("" for a non-alias).
	Target string
	// AliasStart and AliasEnd are the printed offset range inside the target.
	AliasStart, AliasEnd uint64
	// Disabled: the line ends with " [disabled]".
	Disabled bool
	// Owner is the -o suffix, nil when unknown (the text had no owners, or
	// the line is a disabled region that the -o dump does not print).
	Owner *Owner

	// Parent is the enclosing printed line, nil for a section root.
	Parent *Node
	// Children are the lines printed directly below, in printed order.
	Children []*Node
	// Section is the section that prints this line.
	Section *Section
	// Region is the region this line prints (shared by all its places).
	Region *Region
}

// Addr returns the region's offset in its printed parent (Start minus the
// parent's Start, wrapping), or Start for a section root (printed at base 0).
func (n *Node) Addr() uint64 {
	if n.Parent == nil {
		return n.Start
	}
	return n.Start - n.Parent.Start
}

// Section is one top-level block of a dump: an address-space group (one or
// more `address-space:` header lines and the root tree) or a
// `memory-region:` section (one header line and the alias target's tree).
type Section struct {
	// Line is the 1-based line number of the first header line.
	Line int
	// ASNames are the address-space names of a group, in printed order (QEMU
	// sorts them with strcmp); nil for a memory-region section.
	ASNames []string
	// Target is the name printed after "memory-region: " ("" for a group).
	Target string
	// Root is the level-1 line of the section.
	Root *Node
}

// IsAddressSpace reports whether the section is an address-space group.
func (s *Section) IsAddressSpace() bool { return s.ASNames != nil }

// Region is one memory region of the dump: the identity behind one or more
// printed lines (Places). Everything here is what QEMU's MemoryRegion holds
// that the dump tells, plus the facts that the dump does not print (see
// Dump.ApplyFacts and the package doc for defaults).
//
// Invariants: every place prints the same name, offset, size, priority,
// flags, alias and owner, and the same children; Container is the region
// of the parent line of every nested place (a region has one container);
// RenderOrder is a permutation of Children.
type Region struct {
	// ID is the index in Dump.Regions (order of the first printed place).
	ID int
	// Name is the region's name.
	Name string
	// Addr is the offset inside Container; for a region printed only as a
	// section root (no container) it is the printed start, i.e. the region's
	// own addr field.
	Addr uint64
	// Size is derived from the printed range; for an "X-X" line it is 0 for
	// an alias and 1 otherwise unless a zero_size fact says otherwise.
	Size Size
	// Priority is the region's priority in its container.
	Priority int32
	// NV is the region's own nonvolatile flag.
	NV bool
	// Kind is the printed label; for an alias it is its final target's.
	Kind Kind
	// Enabled is false for a region printed with " [disabled]".
	Enabled bool
	// Owner is the -o suffix, nil when unknown.
	Owner *Owner

	// Alias is the direct alias target, nil when the region is no alias.
	Alias *Region
	// AliasOffset is the alias's offset inside Alias.
	AliasOffset uint64

	// Container is the region this one is a subregion of, nil when it is
	// printed only as a root (address-space root or alias target).
	Container *Region
	// Children are the subregions in printed order (address ascending, then
	// priority descending, then subregion-list order).
	Children []*Region
	// RenderOrder is the subregion list order, the order QEMU's renderer
	// walks (earlier wins where siblings overlap): a stable sort of Children
	// by descending priority, then rearranged by order facts.
	RenderOrder []*Region

	// Terminates: rendering stops here (RAM, ROM, MMIO, IOMMU) instead of
	// descending only into children (pure container). Default: see package
	// doc; overridden by terminates facts.
	Terminates bool
	// ReadOnly is the region's own readonly flag. Default: a non-alias
	// labelled rom; overridden by readonly facts.
	ReadOnly bool

	// Places are the lines that print this region, in file order.
	Places []*Node
}

// IsAlias reports whether the region is an alias.
func (r *Region) IsAlias() bool { return r.Alias != nil }

// Dump is a parsed `info mtree -D` text: its sections, its printed lines,
// and the regions behind them with alias targets resolved and repeated
// places merged.
type Dump struct {
	// Groups are the address-space groups in file order.
	Groups []*Section
	// Targets are the memory-region sections in file order, which is the
	// order QEMU queued the alias targets.
	Targets []*Section
	// Regions are the distinct regions, in order of their first place.
	Regions []*Region
	// Lines is the parsed text split on "\n" (without the empty string after
	// the final newline); Lines[n-1] is line n.
	Lines []string
	// ASOrder holds the as_order facts once ApplyFacts ran (nil before).
	ASOrder *ASOrders

	nodes []*Node // by line: nodes[line-1], nil for header and empty lines
	notes []string
}

// NodeAt returns the region line printed at the 1-based line number, or nil
// if that line is a header, an empty line or out of range.
func (d *Dump) NodeAt(line int) *Node {
	if line < 1 || line > len(d.nodes) {
		return nil
	}
	return d.nodes[line-1]
}

// Notes returns the identity decisions the parser had to guess (ambiguous
// merges, see the package doc), one sentence each; empty for every dump of
// the corpus.
func (d *Dump) Notes() []string { return d.notes }
