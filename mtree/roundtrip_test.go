package mtree

import (
	"fmt"
	"sort"
	"testing"

	"pgregory.net/rapid"
	"qmem.dev/qmem/memory"
	"qmem.dev/qmem/mtree/dump"
	"qmem.dev/qmem/qom"
)

// randomMachine builds a random machine: up to 24 regions of every kind
// (containers, I/O, RAM, ROM, ROM devices with romd on or off, RAM
// devices, aliases of any region including aliases), with random sizes
// (0, 1, small, 2^64), names (some unnamed), owners (devices with and
// without id, objects in and out of the tree, none), flags (disabled,
// readonly, nonvolatile), nested at random offsets (some near 2^64, which
// may print overflow markers) and priorities, and up to five address
// spaces over random roots, created root by root with names in strcmp
// order (so that the printed group order is the creation order).
func randomMachine(t *rapid.T) *env {
	e := newEnv(t)
	n1, n2, anon := e.device("n1"), e.device("n2"), e.device("")
	owners := []qom.Instance{
		nil, nil, n1, n2, anon,
		e.object("/objects", "mem1", "test-object"),
		e.object("/machine/unattached/device[0]", "lapic", "test-device"),
		e.reg.MustNew("test-object"), // outside the tree: type=
	}
	sizes := []uint64{0, 1, 0x10, 0x100, 0x1000, 0x8000, 0x10000, size64}
	var regions, containers []*memory.Region
	n := rapid.IntRange(1, 24).Draw(t, "regions")
	for i := 0; i < n; i++ {
		kind := rapid.IntRange(0, 7).Draw(t, "kind")
		if kind == 7 && len(regions) == 0 {
			kind = 0
		}
		owner := owners[rapid.IntRange(0, len(owners)-1).Draw(t, "owner")]
		name := fmt.Sprintf("r%d", i)
		if rapid.IntRange(0, 9).Draw(t, "unnamed") == 9 {
			name = ""
		}
		size := sizes[rapid.IntRange(0, len(sizes)-1).Draw(t, "size")]
		if kind >= 2 && kind <= 5 && size == size64 {
			size = 0x1000 // RAM of 2^64 bytes cannot exist
		}
		var r *memory.Region
		var err error
		switch kind {
		case 0:
			r, err = e.sys.NewContainer(owner, name, size)
		case 1:
			r, err = e.sys.NewIO(owner, name, size, nil)
		case 2:
			r, err = e.sys.NewRAM(owner, name, size)
		case 3:
			r, err = e.sys.NewROM(owner, name, size)
		case 4:
			r, err = e.sys.NewROMDevice(owner, name, size, nil)
			if err == nil && rapid.Bool().Draw(t, "romd off") {
				err = r.SetRomdMode(false)
			}
		case 5:
			r, err = e.sys.NewRAMDevice(owner, name, size, make([]byte, size))
		case 6:
			r, err = e.sys.NewContainer(owner, name, size)
		case 7:
			target := regions[rapid.IntRange(0, len(regions)-1).Draw(t, "target")]
			off := sizes[rapid.IntRange(0, 6).Draw(t, "alias offset")]
			r, err = e.sys.NewAlias(owner, name, target, off, size)
		}
		e.check(err)
		if rapid.IntRange(0, 5).Draw(t, "disabled") == 0 {
			e.check(r.SetEnabled(false))
		}
		if rapid.IntRange(0, 5).Draw(t, "readonly") == 0 {
			e.check(r.SetReadonly(true))
		}
		if rapid.IntRange(0, 7).Draw(t, "nv") == 0 {
			e.check(r.SetNonvolatile(true))
		}
		if len(containers) > 0 && rapid.IntRange(0, 4).Draw(t, "nested") > 0 {
			c := containers[rapid.IntRange(0, len(containers)-1).Draw(t, "container")]
			off := uint64(rapid.IntRange(0, 32).Draw(t, "offset")) * 0x800
			if r.SizeIs64() {
				off = 0
			} else if rapid.IntRange(0, 9).Draw(t, "high") == 0 {
				off = -r.Size() - uint64(rapid.IntRange(0, 3).Draw(t, "below top"))*0x1000
			}
			prio := int32(rapid.IntRange(-2, 2).Draw(t, "prio"))
			_ = c.AddSubregionOverlap(off, r, prio) // a loop is refused: r stays a root
		}
		regions = append(regions, r)
		if r.Alias() == nil {
			containers = append(containers, r)
		}
	}
	// Spaces are created root by root, names in strcmp order.
	spaces := rapid.IntRange(1, 5).Draw(t, "spaces")
	names := []string{"I/O", "cpu-memory-0", "dma", "memory", "memory"}
	var roots []*memory.Region
	rootNames := map[*memory.Region][]string{}
	for i := 0; i < spaces; i++ {
		root := regions[rapid.IntRange(0, len(regions)-1).Draw(t, "root")]
		if rootNames[root] == nil {
			roots = append(roots, root)
		}
		rootNames[root] = append(rootNames[root], names[rapid.IntRange(0, len(names)-1).Draw(t, "name")])
	}
	for _, root := range roots {
		ns := rootNames[root]
		sort.Strings(ns)
		for _, name := range ns {
			e.as(root, name)
		}
	}
	return e
}

// TestRoundTripRandom: for random machines, printing, parsing the -D and
// -o text with mtree/dump, giving the parse the facts the dumps do not
// print (taken from the machine: terminates, readonly, sizes, subregion
// list order), building it and printing again gives identical text in all
// five variants; the parse also prints the tree variants back identically.
func TestRoundTripRandom(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		e := randomMachine(t)
		texts := map[string]string{}
		for _, v := range Variants {
			texts[v.Name] = e.print(v.Opt)
		}
		d, err := dump.ParseWithOwners([]byte(texts["info mtree -D"]), []byte(texts["info mtree -o"]))
		if err != nil {
			t.Fatalf("parse: %v\n%s", err, texts["info mtree -D"])
		}
		for _, v := range Variants[:3] {
			var b bytesBuffer
			_ = d.Print(&b, dump.PrintOptions{Disabled: v.Opt.Disabled, Owners: v.Opt.Owners})
			if b.String() != texts[v.Name] {
				t.Fatalf("%s: the parse prints back differently:\n%s", v.Name, dump.FirstDiff("printed", "parse", texts[v.Name], b.String()))
			}
		}
		applyTruth(t, e.sys, d)
		m, err := Build(d)
		if err != nil {
			t.Fatalf("build: %v\n%s", err, texts["info mtree -D"])
		}
		defer m.Close()
		for _, v := range Variants {
			var b bytesBuffer
			if err := Write(&b, m.System, v.Opt); err != nil {
				t.Fatal(err)
			}
			if b.String() != texts[v.Name] {
				t.Fatalf("%s: the rebuilt machine prints differently:\n%s\n-D text:\n%s", v.Name, dump.FirstDiff("printed", "rebuilt", texts[v.Name], b.String()), texts["info mtree -D"])
			}
		}
	})
}

// applyTruth sets on every region of d what the dump cannot tell, from the
// region of sys whose line the region's first place is.
func applyTruth(t *rapid.T, sys *memory.System, d *dump.Dump) {
	p := newTreePrinter(Options{Disabled: true}, nil)
	p.lines = map[int]*memory.Region{}
	p.print(sys)
	toDump := map[*memory.Region]*dump.Region{}
	for _, r := range d.Regions {
		g := p.lines[r.Places[0].Line]
		if g == nil {
			t.Fatalf("no region printed at line %d", r.Places[0].Line)
		}
		for _, n := range r.Places[1:] {
			if p.lines[n.Line] != g {
				// Two regions that print alike (unnamed ones can) and
				// whose places fit one region: the parser merges them
				// (mtree/dump's identity rule), which nothing in the text
				// can contradict.
				t.Skipf("lines %d and %d print two regions that the parse takes as one", r.Places[0].Line, n.Line)
			}
		}
		if other, ok := toDump[g]; ok {
			t.Fatalf("lines %d and %d print one region but parse as two", other.Places[0].Line, r.Places[0].Line)
		}
		toDump[g] = r
	}
	for g, r := range toDump {
		r.Terminates = g.Terminates()
		r.ReadOnly = g.Readonly()
		r.Size = dump.Size{Bytes: g.Size(), Full: g.SizeIs64()}
		if r.Size.Full {
			r.Size.Bytes = 0
		}
		r.RenderOrder = r.RenderOrder[:0]
		for _, s := range g.Subregions() {
			r.RenderOrder = append(r.RenderOrder, toDump[s])
		}
	}
}
