package memory

import (
	"math"
	"strings"
	"testing"

	"qmem.dev/qmem/qom"
)

// R-MR-1: the defaults of a new region.
func TestRegionDefaults(t *testing.T) {
	reg, s := newTestSystem(t)
	r := must[*Region](t)(s.NewIO(nil, "r", 0x1000, nil))
	switch {
	case !r.Enabled(), r.Readonly(), r.Nonvolatile(), !r.RomdMode(), r.Unmergeable():
		t.Fatalf("flags: enabled=%v readonly=%v nonvolatile=%v romd=%v unmergeable=%v",
			r.Enabled(), r.Readonly(), r.Nonvolatile(), r.RomdMode(), r.Unmergeable())
	case r.Addr() != 0, r.Priority() != 0, r.Size() != 0x1000:
		t.Fatalf("addr=%#x priority=%d size=%#x", r.Addr(), r.Priority(), r.Size())
	case r.Alias() != nil, r.AliasOffset() != 0, r.Container() != nil, len(r.Subregions()) != 0:
		t.Fatal("a new region has an alias, a container or subregions")
	case r.Owner() != nil, r.Name() != "r", r.System() != s:
		t.Fatal("owner, name or system wrong")
	case r.IsMapped():
		t.Fatal("a new region is mapped")
	}
	noLeaks(t, reg)
}

// R-MR-1, R-MR-2, R-ATTR-2: size 2^64 is requested with math.MaxUint64 and
// read back as math.MaxUint64; a region may end exactly at 2^64 but not
// beyond.
func TestRegionSize2To64(t *testing.T) {
	reg, s := newTestSystem(t)
	m := must[*Region](t)
	root := m(s.NewContainer(nil, "root", math.MaxUint64))
	if !root.SizeIs64() || root.Size() != math.MaxUint64 {
		t.Fatalf("size %#x, SizeIs64 %v", root.Size(), root.SizeIs64())
	}
	almost := m(s.NewContainer(nil, "almost", math.MaxUint64-1))
	if almost.SizeIs64() || almost.Size() != math.MaxUint64-1 {
		t.Fatalf("size 2^64-2 reads %#x, SizeIs64 %v", almost.Size(), almost.SizeIs64())
	}
	top := m(s.NewIO(nil, "top", 0x1000, nil))
	check(t, root.AddSubregion(math.MaxUint64-0xfff, top)) // ends exactly at 2^64
	as := must[*AddressSpace](t)(s.NewAddressSpace(root, "as"))
	fr := as.View().Find(math.MaxUint64)
	if fr == nil || fr.Region != top || fr.Start != math.MaxUint64-0xfff || fr.Last != math.MaxUint64 {
		t.Fatalf("range at 2^64-1: %+v", fr)
	}
	check(t, root.DelSubregion(top))
	if err := root.AddSubregion(math.MaxUint64-0xffe, top); err == nil {
		t.Fatal("a region ending past 2^64 was added")
	}
	// A 2^64 region renders as one range of length "0" (2^64).
	ram := m(s.NewIO(nil, "all", math.MaxUint64, nil))
	check(t, root.AddSubregion(0, ram))
	if v := as.View().Ranges(); len(v) != 1 || v[0].Len() != 0 || v[0].Start != 0 || v[0].Last != math.MaxUint64 {
		t.Fatalf("view of a 2^64 leaf: %+v", v)
	}
	check(t, ram.SetSize(0x10))
	if ram.SizeIs64() || ram.Size() != 0x10 {
		t.Fatalf("SetSize(0x10): %#x", ram.Size())
	}
	check(t, ram.SetSize(math.MaxUint64))
	if !ram.SizeIs64() {
		t.Fatal("SetSize(MaxUint64) is not 2^64")
	}
	noLeaks(t, reg)
}

// R-MR-3, R-KIND-1..9: what each constructor makes: whether it terminates,
// its kind, its flags and its label (R-KIND-9: follow aliases, then ramd,
// romd, rom, ram, else i/o; no container label).
func TestRegionKinds(t *testing.T) {
	reg, s := newTestSystem(t)
	if err := reg.Register(qom.TypeInfo{Name: "test-iommu", Parent: TypeIOMMURegion, New: func() qom.Instance { return new(Region) }}); err != nil {
		t.Fatal(err)
	}
	m := must[*Region](t)
	host := make([]byte, 0x1000)
	container := m(s.NewContainer(nil, "container", 0x1000))
	io := m(s.NewIO(nil, "io", 0x1000, &Ops{}))
	reservation := m(s.NewIO(nil, "reservation", 0x1000, nil))
	ram := m(s.NewRAM(nil, "ram", 0x1000))
	rom := m(s.NewROM(nil, "rom", 0x1000))
	romd := m(s.NewROMDevice(nil, "romd", 0x1000, &Ops{}))
	ramd := m(s.NewRAMDevice(nil, "ramd", 0x1000, host))
	iommu := m(s.NewIOMMU(nil, "test-iommu", "iommu", 0x1000, identityIOMMU{}))
	alias := m(s.NewAlias(nil, "alias", rom, 0, 0x1000))
	aliasOfAlias := m(s.NewAlias(nil, "alias2", alias, 0, 0x1000))
	for _, c := range []struct {
		r          *Region
		kind       Kind
		terminates bool
		readonly   bool
		ram        bool
		label      string
	}{
		{container, KindContainer, false, false, false, "i/o"}, // R-KIND-1
		{io, KindIO, true, false, false, "i/o"},                // R-KIND-2
		{reservation, KindIO, true, false, false, "i/o"},       // R-KIND-2: ops == nil
		{ram, KindRAM, true, false, true, "ram"},               // R-KIND-3
		{rom, KindROM, true, true, true, "rom"},                // R-KIND-4
		{romd, KindROMDevice, true, false, false, "romd"},      // R-KIND-5
		{ramd, KindRAMDevice, true, false, true, "ramd"},       // R-KIND-6
		{alias, KindAlias, false, false, false, "rom"},         // R-KIND-7, R-KIND-9
		{aliasOfAlias, KindAlias, false, false, false, "rom"},  // R-KIND-9
		{iommu, KindIOMMU, true, false, false, "i/o"},          // R-KIND-8
	} {
		r := c.r
		if r.Kind() != c.kind || r.Terminates() != c.terminates || r.Readonly() != c.readonly || r.IsRAM() != c.ram || r.TypeLabel() != c.label {
			t.Errorf("%s: kind %v terminates %v readonly %v ram %v label %q; want %v %v %v %v %q",
				r, r.Kind(), r.Terminates(), r.Readonly(), r.IsRAM(), r.TypeLabel(), c.kind, c.terminates, c.readonly, c.ram, c.label)
		}
	}
	if reservation.Ops() != nil || io.Ops() == nil || ramd.Ops() == nil {
		t.Error("ops: a reservation has none, MMIO and RAM devices have some")
	}
	if !romd.IsROMDevice() || !ramd.IsRAMDevice() || !iommu.IsIOMMU() || iommu.TypeName() != "test-iommu" {
		t.Error("kind predicates")
	}
	if len(ram.Host()) != 0x1000 || len(ramd.Host()) != 0x1000 || &ramd.Host()[0] != &host[0] || io.Host() != nil {
		t.Error("host memory of RAM kinds")
	}
	// R-KIND-5, R-KIND-9: a ROM device with romd mode off is labelled i/o.
	check(t, romd.SetRomdMode(false))
	if romd.TypeLabel() != "i/o" || romd.RomdMode() {
		t.Errorf("romd off: label %q", romd.TypeLabel())
	}
	if err := ram.SetRomdMode(false); err == nil {
		t.Error("SetRomdMode on RAM succeeded")
	}
	// R-KIND-9: a RAM region made readonly is labelled rom.
	check(t, ram.SetReadonly(true))
	if ram.TypeLabel() != "rom" {
		t.Errorf("readonly RAM: label %q", ram.TypeLabel())
	}
	// R-KIND-8: an IOMMU region needs an IOMMU type and a translator.
	if _, err := s.NewIOMMU(nil, TypeRegion, "x", 0x1000, identityIOMMU{}); err == nil {
		t.Error("NewIOMMU of a non-IOMMU type succeeded")
	}
	if _, err := s.NewIOMMU(nil, "test-iommu", "x", 0x1000, nil); err == nil {
		t.Error("NewIOMMU without a translator succeeded")
	}
	// RAM kinds cannot be 2^64; a RAM device needs a large enough buffer.
	if _, err := s.NewRAM(nil, "huge", math.MaxUint64); err == nil {
		t.Error("2^64 RAM was created")
	}
	if _, err := s.NewRAMDevice(nil, "short", 0x2000, host); err == nil {
		t.Error("RAM device larger than its buffer was created")
	}
	noLeaks(t, reg)
}

type identityIOMMU struct{}

func (identityIOMMU) Translate(addr uint64, _ IOMMUAccess, _ int) IOTLBEntry {
	return IOTLBEntry{IOVA: addr, TranslatedAddr: addr, AddrMask: 0xfff, Perm: IOMMURW}
}

// R-KIND-2, R-KIND-3, R-KIND-6, R-KIND-8, R-FLAT-6: every terminating kind
// is a leaf of the flat view, containers and aliases never are.
func TestRegionKindsInView(t *testing.T) {
	reg, s := newTestSystem(t)
	if err := reg.Register(qom.TypeInfo{Name: "test-iommu", Parent: TypeIOMMURegion, New: func() qom.Instance { return new(Region) }}); err != nil {
		t.Fatal(err)
	}
	m := must[*Region](t)
	root := m(s.NewContainer(nil, "root", 0x10000))
	leaves := []*Region{
		m(s.NewIO(nil, "io", 0x1000, nil)),
		m(s.NewRAM(nil, "ram", 0x1000)),
		m(s.NewROM(nil, "rom", 0x1000)),
		m(s.NewROMDevice(nil, "romd", 0x1000, nil)),
		m(s.NewRAMDevice(nil, "ramd", 0x1000, make([]byte, 0x1000))),
		m(s.NewIOMMU(nil, "test-iommu", "iommu", 0x1000, identityIOMMU{})),
	}
	for i, l := range leaves {
		check(t, root.AddSubregion(uint64(i)*0x1000, l))
	}
	inner := m(s.NewContainer(nil, "inner", 0x1000))
	check(t, inner.AddSubregion(0, m(s.NewAlias(nil, "alias", leaves[1], 0, 0x1000))))
	check(t, root.AddSubregion(0x8000, inner))
	as := must[*AddressSpace](t)(s.NewAddressSpace(root, "as"))
	want := "" +
		"0000000000000000-0000000000000fff (prio 0, i/o): io\n" +
		"0000000000001000-0000000000001fff (prio 0, ram): ram\n" +
		"0000000000002000-0000000000002fff (prio 0, rom): rom\n" +
		"0000000000003000-0000000000003fff (prio 0, romd): romd\n" +
		"0000000000004000-0000000000004fff (prio 0, ramd): ramd\n" +
		"0000000000005000-0000000000005fff (prio 0, i/o): iommu\n" +
		"0000000000008000-0000000000008fff (prio 0, ram): ram\n"
	expectView(t, as, want)
	noLeaks(t, reg)
}

// R-MR-4, R-MRQOM-2: a named region is child "<escaped name>[N]" of its
// owner, N the first free index; monitor names stay unescaped.
func TestRegionQOMNames(t *testing.T) {
	reg, s := newTestSystem(t)
	registerTestDevice(t, reg)
	d := newTestDevice(t, reg, "dev0")
	m := must[*Region](t)
	for _, c := range []struct{ name, escaped string }{
		{"/rom@etc/acpi/rsdp", `\x2from@etc\x2facpi\x2frsdp`},
		{"a[1]", `a\x5b1\x5d`},
		{`back\slash`, `back\x5cslash`},
		{"plain name", "plain name"},
		{"pci@0000:00:02.0/bar0", `pci@0000:00:02.0\x2fbar0`},
	} {
		if got := EscapeName(c.name); got != c.escaped {
			t.Errorf("EscapeName(%q) = %q, want %q", c.name, got, c.escaped)
		}
		r := m(s.NewIO(d, c.name, 0x10, nil))
		if got := r.PathComponent(); got != c.escaped+"[0]" {
			t.Errorf("child name of %q: %q, want %q", c.name, got, c.escaped+"[0]")
		}
		if r.Name() != c.name {
			t.Errorf("Name() = %q, want the unescaped %q", r.Name(), c.name)
		}
		// The escaped path resolves back to the region.
		if o, _ := reg.ResolvePath(r.CanonicalPath()); o != &r.Object {
			t.Errorf("path %q does not resolve to the region", r.CanonicalPath())
		}
	}
	// [N] numbering: first free index, per owner.
	a := m(s.NewRAM(d, "ram", 0x1000))
	b := m(s.NewRAM(d, "ram", 0x1000))
	c := m(s.NewRAM(d, "ram", 0x1000))
	if a.PathComponent() != "ram[0]" || b.PathComponent() != "ram[1]" || c.PathComponent() != "ram[2]" {
		t.Fatalf("numbering: %s %s %s", a.PathComponent(), b.PathComponent(), c.PathComponent())
	}
	b.Unparent()
	b2 := m(s.NewRAM(d, "ram", 0x1000))
	if b2.PathComponent() != "ram[1]" {
		t.Fatalf("freed index not reused: %s", b2.PathComponent())
	}
	if got := a.CanonicalPath(); got != "/machine/peripheral/dev0/ram[0]" {
		t.Fatalf("canonical path %q", got)
	}
	check(t, reg.Unplug(&d.Device))
	noLeaks(t, reg)
}

// R-AS-3, R-MRQOM-2, R-MRQOM-3, R-MRQOM-6: a named region without an owner
// lives under /machine/unattached; its owner is nil while its QOM parent is
// the unattached container.
func TestRegionOwnerless(t *testing.T) {
	reg, s := newTestSystem(t)
	m := must[*Region](t)
	system := m(s.NewContainer(nil, "system", math.MaxUint64))
	io := m(s.NewIO(nil, "io", 0x10000, nil))
	if system.CanonicalPath() != "/machine/unattached/system[0]" || io.CanonicalPath() != "/machine/unattached/io[0]" {
		t.Fatalf("paths %q %q", system.CanonicalPath(), io.CanonicalPath())
	}
	if system.Owner() != nil || system.QOMParent() != reg.Unattached() {
		t.Fatalf("owner %v, QOM parent %v", system.Owner(), system.QOMParent())
	}
	noLeaks(t, reg)
}

// R-MR-5, R-MRQOM-2, R-MRQOM-6: an unnamed region has no QOM parent and no
// path. Owned, it is finalized with its owner (qmem's addition) and is not a
// leak while the owner lives; ownerless, it lives until its creator drops
// the creation reference.
func TestRegionUnnamed(t *testing.T) {
	reg, s := newTestSystem(t)
	registerTestDevice(t, reg)
	d := newTestDevice(t, reg, "dev0")
	fc := finalizeCounter{}
	owned := must[*Region](t)(s.NewRAM(d, "", 0x1000))
	fc.watch(t, owned)
	if owned.QOMParent() != nil || owned.CanonicalPath() != "" || owned.Name() != "" || owned.String() != "(unnamed region)" {
		t.Fatalf("unnamed region: parent %v path %q name %q", owned.QOMParent(), owned.CanonicalPath(), owned.Name())
	}
	if owned.Owner() != d.QOM() {
		t.Fatal("owner lost")
	}
	for _, c := range d.QOM().Children() {
		if c == &owned.Object {
			t.Fatal("an unnamed region is a child of its owner")
		}
	}
	noLeaks(t, reg) // the owner is alive and will release it
	check(t, reg.Unplug(&d.Device))
	fc.expectOnce(t)

	loose := must[*Region](t)(s.NewIO(nil, "", 0x10, nil))
	leaks := reg.Leaks()
	if len(leaks) != 1 || leaks[0].Object != &loose.Object {
		t.Fatalf("an unnamed ownerless region is held by its creator only; leaks:\n%s", qom.FormatLeaks(leaks))
	}
	loose.Unref()
	if !loose.Finalized() {
		t.Fatal("dropping the creation reference did not finalize it")
	}
	noLeaks(t, reg)
}

// R-MRQOM-1, R-MRQOM-4: the region type and its properties: container
// (link, canonical path or "", resolvable), addr, priority (declared uint32,
// visited signed), size (2^64 reads as MaxUint64), plus type.
func TestRegionQOMProperties(t *testing.T) {
	reg, s := newTestSystem(t)
	m := must[*Region](t)
	c, err := reg.Class(TypeRegion)
	if err != nil || c.Parent() == nil || c.Parent().TypeName() != qom.TypeObject {
		t.Fatalf("type %s: %v", TypeRegion, err)
	}
	ic, err := reg.Class(TypeIOMMURegion)
	if err != nil || !ic.Abstract() || ic.Parent() != c {
		t.Fatalf("type %s: %v", TypeIOMMURegion, err)
	}
	root := m(s.NewContainer(nil, "root", math.MaxUint64))
	r := m(s.NewIO(nil, "r", 0x1000, nil))
	check(t, root.AddSubregionOverlap(0x4000, r, -3))

	var names []string
	types := map[string]string{}
	for _, p := range r.Properties() {
		names = append(names, p.Name)
		types[p.Name] = p.Type
	}
	for _, n := range []string{"type", "container", "addr", "priority", "size"} {
		if _, ok := types[n]; !ok {
			t.Errorf("property %q missing (have %v)", n, names)
		}
	}
	if len(names) != 5 {
		t.Errorf("properties %v, want exactly type, container, addr, priority, size", names)
	}
	for n, typ := range map[string]string{"container": "link<memory-region>", "addr": "uint64", "priority": "uint32", "size": "uint64"} {
		if types[n] != typ {
			t.Errorf("property %s has type %q, want %q", n, types[n], typ)
		}
	}
	get := func(o *Region, name string) any {
		t.Helper()
		v, err := o.GetProperty(name)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if v := get(r, "container"); v != root.CanonicalPath() {
		t.Errorf("container = %v, want %q", v, root.CanonicalPath())
	}
	if v := get(root, "container"); v != "" {
		t.Errorf("container of a root = %v, want \"\"", v)
	}
	if v, _ := r.GetUint("addr"); v != 0x4000 {
		t.Errorf("addr = %#x", v)
	}
	if v, err := r.GetInt("priority"); err != nil || v != -3 {
		t.Errorf("priority = %d (%v), want -3 (signed despite the uint32 type)", v, err)
	}
	if v, _ := r.GetUint("size"); v != 0x1000 {
		t.Errorf("size = %#x", v)
	}
	if v, _ := root.GetUint("size"); v != math.MaxUint64 {
		t.Errorf("size of a 2^64 region = %#x", v)
	}
	if v := get(r, "type"); v != TypeRegion {
		t.Errorf("type = %v", v)
	}
	// The container link is a path component.
	if o, _ := reg.ResolvePath(r.CanonicalPath() + "/container"); o != &root.Object {
		t.Errorf("%s/container resolves to %v", r.CanonicalPath(), o)
	}
	// The properties are read-only.
	for _, n := range []string{"container", "addr", "priority", "size"} {
		if err := r.SetProperty(n, uint64(1)); err == nil {
			t.Errorf("property %s is writable", n)
		}
	}
	check(t, r.SetAddress(0x8000))
	if v, _ := r.GetUint("addr"); v != 0x8000 {
		t.Errorf("addr after SetAddress = %#x", v)
	}
	check(t, root.DelSubregion(r))
	if v := get(r, "container"); v != "" {
		t.Errorf("container after DelSubregion = %v", v)
	}
	noLeaks(t, reg)
}

// R-SUB-2: there is no may_overlap: AddSubregion is AddSubregionOverlap
// with priority 0, overlap is always allowed, and no may-overlap property
// exists.
func TestNoMayOverlap(t *testing.T) {
	reg, s := newTestSystem(t)
	m := must[*Region](t)
	root := m(s.NewContainer(nil, "root", 0x4000))
	a := m(s.NewIO(nil, "a", 0x2000, nil))
	b := m(s.NewIO(nil, "b", 0x2000, nil))
	check(t, root.AddSubregionOverlap(0, a, 5))
	check(t, root.DelSubregion(a))
	check(t, root.AddSubregion(0, a))
	check(t, root.AddSubregion(0x1000, b)) // overlaps a: fine
	if a.Priority() != 0 || b.Priority() != 0 {
		t.Fatalf("AddSubregion priorities %d %d, want 0", a.Priority(), b.Priority())
	}
	if a.FindProperty("may-overlap") != nil {
		t.Fatal("may-overlap property exists")
	}
	noLeaks(t, reg)
}

// R-MRQOM-5, R-LIFE-2: the region object's own reference count is the one
// its QOM parent holds; the topology references owners, never regions.
func TestRegionOwnRefcount(t *testing.T) {
	reg, s := newTestSystem(t)
	registerTestDevice(t, reg)
	d := newTestDevice(t, reg, "dev0")
	m := must[*Region](t)
	sysmem := m(s.NewContainer(nil, "system", math.MaxUint64))
	c := m(s.NewContainer(d, "c", 0x2000))
	r := m(s.NewRAM(d, "r", 0x1000))
	alias := m(s.NewAlias(nil, "alias", r, 0, 0x1000))
	check(t, c.AddSubregion(0, r))
	check(t, sysmem.AddSubregion(0, c))
	check(t, sysmem.AddSubregion(0x10000, alias))
	as := must[*AddressSpace](t)(s.NewAddressSpace(c, "as"))
	for _, x := range []*Region{sysmem, c, r, alias} {
		if x.RefCount() != 1 {
			t.Errorf("%s has %d references, want 1 (its QOM parent's)", x, x.RefCount())
		}
	}
	check(t, as.Destroy())
	alias.Unparent()
	check(t, reg.Unplug(&d.Device))
	synchronize(s)
	noLeaks(t, reg)
	if !strings.Contains(treeText(s, sysmem), "system") || len(sysmem.Subregions()) != 0 {
		t.Fatalf("system memory after unplug:\n%s", treeText(s, sysmem))
	}
}
