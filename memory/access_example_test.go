package memory_test

import (
	"fmt"
	"math"

	"qmem.dev/qmem/memory"
)

// exampleMachine returns a memory system (newMachine, in
// topo_example_test.go) with a system container at the root of the
// "memory" address space, 4 KiB of RAM at 0 and a one-register device at
// 0x1000 that answers 0x2a.
func exampleMachine() (*memory.System, *memory.AddressSpace) {
	s := newMachine()
	s.Lock() // the machine lock: topology changes need it
	defer s.Unlock()
	root, _ := s.NewContainer(nil, "system", math.MaxUint64)
	ram, _ := s.NewRAM(nil, "ram", 0x1000)
	dev, _ := s.NewIO(nil, "answer", 4, &memory.Ops{
		Read: func(offset uint64, size uint, _ memory.Attrs) (uint64, memory.Result) {
			return 0x2a, memory.OK
		},
		Endianness: memory.LittleEndian,
		Valid:      memory.AccessSizes{Min: 1, Max: 4},
	})
	if err := root.AddSubregion(0, ram); err != nil {
		panic(err)
	}
	if err := root.AddSubregion(0x1000, dev); err != nil {
		panic(err)
	}
	as, err := s.NewAddressSpace(root, "memory")
	if err != nil {
		panic(err)
	}
	return s, as
}

// A vCPU or DMA engine owns a Reader: accesses through it take no lock and
// allocate nothing. RAM is copied, MMIO goes to the device's callbacks, and
// nothing mapped answers with a decode error.
func ExampleReader_Read() {
	s, as := exampleMachine()
	rd := s.NewReader()
	defer rd.Close()

	rd.Write(as, 0x10, []byte("hello"), memory.Attrs{})
	buf := make([]byte, 5)
	res := rd.Read(as, 0x10, buf, memory.Attrs{})
	fmt.Printf("%s %v\n", buf, res)

	v, res := rd.Load(as, 0x1000, 4, memory.LittleEndian, memory.Attrs{})
	fmt.Printf("%#x %v\n", v, res)

	res = rd.Read(as, 0x8000, buf, memory.Attrs{})
	fmt.Println(res)
	// Output:
	// hello ok
	// 0x2a ok
	// decode-error
}

// Map gives a device direct access to guest RAM (or a bounce buffer for
// anything else); Unmap says how much was written, which marks it dirty or
// writes the bounce buffer back.
func ExampleAddressSpace_Map() {
	s, as := exampleMachine()

	m, err := as.Map(0x100, 16, true, memory.Attrs{})
	if err != nil {
		panic(err)
	}
	n := copy(m.Bytes(), "DMA was here")
	fmt.Println(len(m.Bytes()), m.Bounce())
	if err := m.Unmap(uint64(n)); err != nil {
		panic(err)
	}

	buf := make([]byte, n)
	as.Read(0x100, buf, memory.Attrs{})
	fmt.Printf("%s\n", buf)

	mmio, _ := as.Map(0x1000, 4, false, memory.Attrs{})
	fmt.Println(mmio.Bytes(), mmio.Bounce())
	_ = mmio.Unmap(0)

	// Unmap releases the mapping's reference at the next reclaim.
	s.Lock()
	s.Synchronize()
	s.Unlock()
	// Output:
	// 16 false
	// DMA was here
	// [42 0 0 0] true
}
