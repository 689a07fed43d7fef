package memory_test

import (
	"fmt"
	"math"

	"qmem.dev/qmem/memory"
	"qmem.dev/qmem/qom"
)

// newMachine returns a memory system in a registry with a machine, so that
// ownerless regions have a home (/machine/unattached).
func newMachine() *memory.System {
	reg := qom.NewRegistry()
	if err := reg.Register(qom.TypeInfo{Name: "example-machine", Parent: qom.TypeMachine}); err != nil {
		panic(err)
	}
	if _, err := reg.NewMachine("example-machine"); err != nil {
		panic(err)
	}
	s, err := memory.NewSystem(reg)
	if err != nil {
		panic(err)
	}
	return s
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func printView(as *memory.AddressSpace) {
	for _, fr := range as.View().Ranges() {
		fmt.Printf("%08x-%08x %-4s %s @%#x\n", fr.Start, fr.Last, fr.Region.TypeLabel(), fr.Region.Name(), fr.Offset)
	}
}

// An address space renders the tree under its root into a flat view of
// disjoint ranges.
func ExampleSystem_NewAddressSpace() {
	s := newMachine()
	system := must(s.NewContainer(nil, "system", math.MaxUint64))
	ram := must(s.NewRAM(nil, "ram", 0x4000))
	uart := must(s.NewIO(nil, "uart", 0x8, nil))
	_ = system.AddSubregion(0, ram)
	_ = system.AddSubregion(0x10000, uart)
	as := must(s.NewAddressSpace(system, "memory"))
	printView(as)
	fmt.Println(system.CanonicalPath())
	// Output:
	// 00000000-00003fff ram  ram @0x0
	// 00010000-00010007 i/o  uart @0x0
	// /machine/unattached/system[0]
}

// Overlapping siblings: the higher priority wins; holes in a winner let the
// lower-priority sibling show through.
func ExampleRegion_AddSubregionOverlap() {
	s := newMachine()
	root := must(s.NewContainer(nil, "root", 0x10000))
	ram := must(s.NewRAM(nil, "ram", 0x8000))
	rom := must(s.NewROM(nil, "bios", 0x1000))
	_ = root.AddSubregion(0, ram)
	_ = root.AddSubregionOverlap(0x2000, rom, 1)
	as := must(s.NewAddressSpace(root, "memory"))
	printView(as)
	// Output:
	// 00000000-00001fff ram  ram @0x0
	// 00002000-00002fff rom  bios @0x0
	// 00003000-00007fff ram  ram @0x3000
}

// An alias is a window into another region; offsets are measured in the
// region that finally answers.
func ExampleSystem_NewAlias() {
	s := newMachine()
	root := must(s.NewContainer(nil, "root", 0x100000))
	ram := must(s.NewRAM(nil, "ram", 0x10000))
	low := must(s.NewAlias(nil, "ram-below-4g", ram, 0, 0x8000))
	high := must(s.NewAlias(nil, "ram-above-4g", ram, 0x8000, 0x8000))
	_ = root.AddSubregion(0, low)
	_ = root.AddSubregion(0x80000, high)
	printView(must(s.NewAddressSpace(root, "memory")))
	// Output:
	// 00000000-00007fff ram  ram @0x0
	// 00080000-00087fff ram  ram @0x8000
}

// Changes inside a transaction are rendered once, at the outermost Commit,
// and listeners hear only the net difference.
func ExampleSystem_Begin() {
	s := newMachine()
	root := must(s.NewContainer(nil, "root", 0x10000))
	as := must(s.NewAddressSpace(root, "memory"))
	_ = as.AddListener(&memory.Listener{
		Name:      "printer",
		Begin:     func() { fmt.Println("begin") },
		Commit:    func() { fmt.Println("commit") },
		RegionAdd: func(sec memory.Section) { fmt.Printf("add %#x+%#x %s\n", sec.Addr, sec.Size, sec.Region.Name()) },
		RegionDel: func(sec memory.Section) { fmt.Printf("del %#x+%#x %s\n", sec.Addr, sec.Size, sec.Region.Name()) },
	})
	fmt.Println("-- transaction")
	before := s.Stats()
	s.Begin()
	for i := uint64(0); i < 3; i++ {
		_ = root.AddSubregion(i*0x1000, must(s.NewIO(nil, fmt.Sprint("dev", i), 0x100, nil)))
	}
	_ = root.Subregions()[0].SetEnabled(false) // dev2 (newest first): never seen
	_ = s.Commit()
	after := s.Stats()
	fmt.Println("renders:", after.Renders-before.Renders)
	// Output:
	// begin
	// commit
	// -- transaction
	// begin
	// add 0x0+0x100 dev0
	// add 0x1000+0x100 dev1
	// commit
	// renders: 1
}

// A listener hears the current view when it registers, then every change:
// removals first, in reverse priority order, then additions.
func ExampleAddressSpace_AddListener() {
	s := newMachine()
	root := must(s.NewContainer(nil, "root", 0x10000))
	bar := must(s.NewIO(nil, "bar", 0x1000, nil))
	_ = root.AddSubregion(0x1000, bar)
	_ = root.AddSubregion(0x8000, must(s.NewRAM(nil, "ram", 0x1000)))
	as := must(s.NewAddressSpace(root, "pci"))
	for _, name := range []string{"kvm", "vhost"} {
		_ = as.AddListener(&memory.Listener{
			Name:      name,
			Priority:  map[string]int{"kvm": memory.ListenerPriorityAccel, "vhost": memory.ListenerPriorityMin}[name],
			RegionAdd: func(sec memory.Section) { fmt.Printf("%s add %#x %s\n", name, sec.Addr, sec.Region.Name()) },
			RegionDel: func(sec memory.Section) { fmt.Printf("%s del %#x %s\n", name, sec.Addr, sec.Region.Name()) },
		})
	}
	fmt.Println("-- move the BAR")
	_ = bar.SetAddress(0x4000)
	// Output:
	// kvm add 0x1000 bar
	// kvm add 0x8000 ram
	// vhost add 0x1000 bar
	// vhost add 0x8000 ram
	// -- move the BAR
	// kvm del 0x1000 bar
	// vhost del 0x1000 bar
	// vhost add 0x4000 bar
	// kvm add 0x4000 bar
}

// Spaces whose roots resolve to the same region share one flat view: here
// every bus master sees system memory through its own container and alias.
func ExampleAddressSpace_View() {
	s := newMachine()
	system := must(s.NewContainer(nil, "system", math.MaxUint64))
	_ = system.AddSubregion(0, must(s.NewRAM(nil, "ram", 0x1000)))
	_ = system.AddSubregion(0x4000, must(s.NewRAM(nil, "ram2", 0x1000)))
	var spaces []*memory.AddressSpace
	for i := 0; i < 3; i++ {
		bm := must(s.NewContainer(nil, fmt.Sprint("bus master ", i), math.MaxUint64))
		_ = bm.AddSubregion(0, must(s.NewAlias(nil, fmt.Sprint("bus master alias ", i), system, 0, math.MaxUint64)))
		spaces = append(spaces, must(s.NewAddressSpace(bm, fmt.Sprint("dev", i))))
	}
	fmt.Println(spaces[0].View() == spaces[2].View(), spaces[0].View().Root().Name())
	// Output:
	// true system
}
