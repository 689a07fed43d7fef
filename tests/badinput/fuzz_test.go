package badinput_test

import (
	"errors"
	"math"
	"sort"
	"testing"

	"qmem.dev/qmem/memory"
	"qmem.dev/qmem/mtree/dump"
	"qmem.dev/qmem/qom"
)

// opValues are the addresses, sizes and offsets the operation fuzzer
// draws from: edges of the fixture and of 2^64.
var opValues = []uint64{0, 1, 0xfff, 0x1000, 0x2000, 0x4000, 0x5000, 0x8000, 0x10000,
	0x8000_0000, 0xfe00_0000, math.MaxUint64 - 0xfff, math.MaxUint64 - 0xffe, math.MaxUint64}

// opPriorities are the priorities it draws from.
var opPriorities = []int32{0, 1, -1, math.MaxInt32, math.MinInt32}

// opReader reads an operation sequence from fuzz input, yielding zeros
// when it runs out.
type opReader struct{ b []byte }

func (r *opReader) next() int {
	if len(r.b) == 0 {
		return 0
	}
	v := int(r.b[0])
	r.b = r.b[1:]
	return v
}

// FuzzOps applies random sequences of memory-API operations (subregions,
// moves, resizes, flags, aliases, transactions, finalization) to the
// fixture of the API cases, each op drawn from the fixture's regions and
// from edge values. It checks DESIGN §5 and the rendering under churn:
// no operation panics; an operation that returns an error leaves the
// snapshot (trees, views, properties, every fixture region, live objects,
// counters) exactly as it was; outside transactions every address space's
// view agrees with memory.Verify's brute force; at the end nothing leaks.
func FuzzOps(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 4, 3, 0, 0, 2, 5, 1, 7, 6, 0, 3, 13})       // add, move, resize
	f.Add([]byte{10, 0, 0, 0, 3, 2, 1, 4, 11, 12, 12})          // transactions
	f.Add([]byte{7, 1, 5, 3, 8, 1, 3, 9, 2, 0, 0, 2, 1, 11, 0}) // aliases, finalize
	f.Fuzz(func(t *testing.T, data []byte) {
		m := newMachine(t)
		names := make([]string, 0, len(m.regions))
		for n := range m.regions {
			names = append(names, n)
		}
		sort.Strings(names)
		regions := []*memory.Region{m.m.SystemMemory()}
		for _, n := range names {
			regions = append(regions, m.regions[n])
		}
		in := &opReader{b: data}
		pick := func() *memory.Region { return regions[in.next()%len(regions)] }
		value := func() uint64 { return opValues[in.next()%len(opValues)] }
		m.sys.Lock()
		defer m.sys.Unlock()
		depth := 0
		for step := 0; step < 16 && len(in.b) > 0; step++ {
			before := m.snapshot()
			var err error
			switch op := in.next() % 14; op {
			case 0:
				err = pick().AddSubregion(value(), pick())
			case 1:
				c, off, sub := pick(), value(), pick()
				err = c.AddSubregionOverlap(off, sub, opPriorities[in.next()%len(opPriorities)])
			case 2:
				err = pick().DelSubregion(pick())
			case 3:
				err = pick().SetAddress(value())
			case 4:
				err = pick().SetSize(value())
			case 5:
				err = pick().SetEnabled(in.next()%2 == 0)
			case 6:
				err = pick().SetReadonly(in.next()%2 == 0)
			case 7:
				err = pick().SetAlias(pick(), value())
			case 8:
				err = pick().SetAliasOffset(value())
			case 9:
				// Finalize a fixture region (never the board's system).
				if r := pick(); r != m.m.SystemMemory() {
					r.Unparent()
				}
			case 10:
				m.sys.Begin()
				depth++
				continue
			case 11:
				err = m.sys.Commit()
				if err == nil {
					depth--
				}
			case 12:
				var a *memory.Region
				a, err = m.sys.NewAlias(nil, "fz-alias", pick(), value(), value())
				if err == nil {
					regions = append(regions, a)
				}
			case 13:
				_, res := m.m.Memory.Load(value(), uint(in.next()%9), memory.LittleEndian, memory.Attrs{})
				_ = res
				continue
			}
			if err != nil {
				if after := m.snapshot(); after != before {
					t.Fatalf("step %d: refused with %q, yet the machine changed:\n%s", step, err, firstDiff(before, after))
				}
			}
			if r := containerCycle(regions); r != nil {
				t.Fatalf("step %d (error %v): %s is its own container's descendant (a container cycle)", step, err, r)
			}
			if depth == 0 {
				verifyAll(t, m.sys)
			}
		}
		for ; depth > 0; depth-- {
			if err := m.sys.Commit(); err != nil {
				t.Fatal(err)
			}
		}
		verifyAll(t, m.sys)
		m.sys.Synchronize()
		if leaks := m.reg.Leaks(); len(leaks) != 0 {
			t.Fatalf("leaks:\n%s", qom.FormatLeaks(leaks))
		}
	})
}

// containerCycle returns a region whose chain of containers leads back to
// itself, or nil. (Printing or detaching such a tree never ends.)
func containerCycle(regions []*memory.Region) *memory.Region {
	for _, r := range regions {
		c := r.Container()
		for i := 0; c != nil && i <= len(regions); i++ {
			if c == r {
				return r
			}
			c = c.Container()
		}
	}
	return nil
}

// verifyAll checks every address space's view against the brute force.
func verifyAll(t *testing.T, sys *memory.System) {
	t.Helper()
	for _, as := range sys.AddressSpaces() {
		if err := memory.Verify(as); err != nil {
			t.Fatal(err)
		}
	}
}

// FuzzParseFacts: arbitrary bytes never panic the facts parser, its
// errors are *dump.Error, and whatever it accepts is applied to the
// catalogue's dump without a panic, failing only with a *dump.Error.
func FuzzParseFacts(f *testing.F) {
	f.Add([]byte(factsHead + `}}}`))
	f.Add([]byte(`{"format": "qemu-mtree-facts/1", "dumps": {}}`))
	f.Add([]byte(factsHead + `, "readonly": [{"line": 4, "text": "    00000000fe000000-00000000fe000fff (prio 0, i/o): mmio", "readonly": true}]}}}`))
	f.Add([]byte(factsHead + `, "zero_size": [{"line": 3, "text": "x", "size": 1}], "order": [{"container": {"line": 2, "text": "y"}, "first": {"line": 3, "text": "z"}, "later": {"line": 4, "text": "w"}}]}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		facts, err := dump.ParseFacts(data)
		if err != nil {
			var de *dump.Error
			if !errors.As(err, &de) {
				t.Fatalf("error %v is %T, not *dump.Error", err, err)
			}
			return
		}
		for _, e := range facts.Dumps {
			d, err := dump.Parse([]byte(okDump), dump.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if err := d.ApplyFacts(e); err != nil {
				var de *dump.Error
				if !errors.As(err, &de) {
					t.Fatalf("ApplyFacts error %v is %T, not *dump.Error", err, err)
				}
			}
		}
	})
}
