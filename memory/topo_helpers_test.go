package memory

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"qmem.dev/qmem/qom"
)

// Helpers of the topology tests (topo_*_test.go): a recording listener, a
// printout of the whole tree for "nothing changed" checks, finalization
// counters and the leak check.

// recorder collects the callbacks of several listeners in one log, in the
// order they happen.
type recorder struct {
	log []string
}

// secText prints a section: its addresses, leaf, offset and the flags that
// are part of the range identity (R-LSN-6, R-LSN-7).
func secText(s Section) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[%#x,%#x] %s@%#x", s.Addr, s.Last(), s.Region.Name(), s.OffsetInRegion)
	if s.Readonly {
		b.WriteString(" ro")
	}
	if s.Nonvolatile {
		b.WriteString(" nv")
	}
	if s.Unmergeable {
		b.WriteString(" um")
	}
	if !s.RomdMode {
		b.WriteString(" !romd")
	}
	return b.String()
}

// listener returns a listener named name that records every callback as
// "<name> <callback> <details>".
func (rec *recorder) listener(name string, prio int) *Listener {
	add := func(format string, args ...any) {
		rec.log = append(rec.log, name+" "+fmt.Sprintf(format, args...))
	}
	return &Listener{
		Name:     name,
		Priority: prio,
		Begin:    func() { add("begin") },
		Commit:   func() { add("commit") },
		RegionAdd: func(s Section) {
			add("region_add %s", secText(s))
		},
		RegionDel: func(s Section) { add("region_del %s", secText(s)) },
		RegionNop: func(s Section) { add("region_nop %s", secText(s)) },
		LogStart: func(s Section, o, n uint8) {
			add("log_start %s %d->%d", secText(s), o, n)
		},
		LogStop: func(s Section, o, n uint8) {
			add("log_stop %s %d->%d", secText(s), o, n)
		},
		EventfdAdd: func(s Section, match bool, data uint64, _ *EventNotifier) {
			add("eventfd_add %#x+%d match=%v data=%#x", s.Addr, s.Size, match, data)
		},
		EventfdDel: func(s Section, match bool, data uint64, _ *EventNotifier) {
			add("eventfd_del %#x+%d match=%v data=%#x", s.Addr, s.Size, match, data)
		},
		CoalescedIOAdd: func(s Section, addr, size uint64) {
			add("coalesced_add %#x+%#x", addr, size)
		},
		CoalescedIODel: func(s Section, addr, size uint64) {
			add("coalesced_del %#x+%#x", addr, size)
		},
		LogGlobalStart: func() error { add("log_global_start"); return nil },
		LogGlobalStop:  func() { add("log_global_stop") },
	}
}

// take returns the log so far and clears it.
func (rec *recorder) take() []string {
	l := rec.log
	rec.log = nil
	return l
}

// expectLog compares a log with the expected lines.
func expectLog(t testing.TB, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("callbacks:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// systemMemory returns an ownerless 2^64 container "system" and the
// address space "memory" rooted at it (R-AS-3).
func systemMemory(t testing.TB, s *System) (*Region, *AddressSpace) {
	t.Helper()
	sysmem, err := s.NewContainer(nil, "system", math.MaxUint64)
	check(t, err)
	as, err := s.NewAddressSpace(sysmem, "memory")
	check(t, err)
	return sysmem, as
}

// expectView compares the space's view, printed by viewText, with want.
func expectView(t testing.TB, as *AddressSpace, want string) {
	t.Helper()
	if got := viewText(as.View()); got != want {
		t.Fatalf("view of %s:\n%s\nwant:\n%s", as.Name(), got, want)
	}
}

// treeText prints everything about the trees under roots that rendering,
// lifetime and listeners depend on: per region its kind, address, size,
// priority, flags, alias target and offset, container, mapped count, and
// its subregions in list order. Together with the views of every address
// space it is the "state" that a failed operation must leave unchanged.
func treeText(s *System, roots ...*Region) string {
	var b strings.Builder
	seen := map[*Region]bool{}
	var walk func(r *Region, depth int)
	walk = func(r *Region, depth int) {
		ind := strings.Repeat("  ", depth)
		fmt.Fprintf(&b, "%s%s %s addr=%#x size=%s prio=%d", ind, r, r.kind, r.addr, sizeString(r.size), r.priority)
		for _, f := range []struct {
			on   bool
			name string
		}{{!r.enabled, "disabled"}, {r.readonly, "ro"}, {r.nonvolatile, "nv"}, {r.unmergeable, "um"}, {!r.romdMode, "!romd"}, {!r.Alive(), "dead"}} {
			if f.on {
				b.WriteString(" " + f.name)
			}
		}
		if r.mappedViaAlias != 0 {
			fmt.Fprintf(&b, " mapped-via-alias=%d", r.mappedViaAlias)
		}
		if r.container != nil {
			fmt.Fprintf(&b, " in=%s", r.container)
		}
		if r.alias != nil {
			fmt.Fprintf(&b, " alias=%s+%#x", r.alias, r.aliasOffset)
		}
		b.WriteByte('\n')
		if seen[r] {
			return
		}
		seen[r] = true
		for _, c := range r.subregions {
			walk(c, depth+1)
		}
		if r.alias != nil {
			walk(r.alias, depth+1)
		}
	}
	for _, r := range roots {
		walk(r, 0)
	}
	for _, as := range s.spaces {
		fmt.Fprintf(&b, "space %s root=%s:\n%s", as.name, as.root, viewText(as.View()))
	}
	return b.String()
}

// finalizeCounter counts the finalizations of each region (DESIGN L6).
type finalizeCounter map[*Region]*int

func (fc finalizeCounter) watch(t testing.TB, rs ...*Region) {
	t.Helper()
	for _, r := range rs {
		n := new(int)
		fc[r] = n
		if err := r.OnFinalize(func() { *n++ }); err != nil {
			t.Fatal(err)
		}
	}
}

// expectOnce checks that every watched region was finalized exactly once.
func (fc finalizeCounter) expectOnce(t testing.TB) {
	t.Helper()
	for r, n := range fc {
		if *n != 1 || !r.Finalized() {
			t.Errorf("region %s finalized %d times (Finalized()=%v), want once", r, *n, r.Finalized())
		}
	}
}

// noLeaks fails the test when the leak report is not empty (DESIGN L8).
func noLeaks(t testing.TB, reg *qom.Registry) {
	t.Helper()
	if leaks := reg.Leaks(); len(leaks) != 0 {
		t.Fatalf("leaks:\n%s", qom.FormatLeaks(leaks))
	}
}

// stats returns the difference of the system's counters since before.
func statsSince(s *System, before Stats) Stats {
	now := s.Stats()
	return Stats{Commits: now.Commits - before.Commits, Renders: now.Renders - before.Renders}
}
