package mtree

import (
	"bytes"
	"io"
	"math"
	"slices"
	"sort"
	"strconv"

	"qmem.dev/qmem/memory"
	"qmem.dev/qmem/mtree/dump"
)

// Options selects the variant of `info mtree` to print (SPEC A.20, A.21).
type Options struct {
	// Flat (-f) prints the flat views instead of the region trees.
	Flat bool
	// Owners (-o) appends each region's owner suffix (R-MTREE-11).
	Owners bool
	// Disabled (-D) prints disabled regions too, tagged " [disabled]". It is
	// ignored with Flat, as in QEMU.
	Disabled bool
	// ASOrder, when set and Flat is set, decides the order of the " AS"
	// lines of every FlatView that two or more address spaces share. It
	// receives the view's " Root memory region: ..." line and its " AS ..."
	// lines in creation order, both exactly as printed, and returns the same
	// lines in the order to print; a result that is not a permutation of as,
	// or an error, makes Write fail. dump.ASOrders.Order fits: it supplies
	// QEMU's order from a facts file. Nil means address-space creation
	// order, which is what QEMU prints (R-MTREEF-2).
	ASOrder func(root string, as []string) ([]string, error)
	// Accel, when set, adds the accelerator column of `info mtree -f`
	// (R-MTREEF-2 item 7): QEMU prints it for KVM only.
	Accel *Accel
}

// Accel describes an accelerator for the column of `info mtree -f`.
type Accel struct {
	Name string // printed after the range, e.g. "kvm"
	// HasMemory reports whether the accelerator maps every byte of
	// [start, start+size) of the space (size 0 means 2^64).
	HasMemory func(as *memory.AddressSpace, start, size uint64) bool
}

// Text markers QEMU prints.
const (
	headerAS     = "address-space: "
	headerMR     = "memory-region: "
	overflowMark = "[DETECTED OVERFLOW!] "
	disabledMark = " [disabled]"
	// nullName is what glibc prints for the NULL name of an unnamed region
	// that has no QOM parent (R-MR-5).
	nullName = "(null)"
)

// Write prints the `info mtree` variant opt selects for sys, taking the
// System's lock for the duration. See WriteLocked.
func Write(w io.Writer, sys *memory.System, opt Options) error {
	sys.Lock()
	defer sys.Unlock()
	return WriteLocked(w, sys, opt)
}

// WriteLocked prints the `info mtree` variant opt selects for sys. The
// caller holds the System's lock.
//
// Without Flat it prints the region trees (SPEC A.20): address spaces
// grouped by root region identity, each group its `address-space:` lines
// sorted with strcmp, its root at level 1 and one empty line; groups in the
// creation order of each group's first address space (QEMU uses hash order,
// R-MTREE-2); then one `memory-region:` section per alias target in the
// order the aliases were met, even disabled ones (R-MTREE-3, -8). Children
// print by address, then priority (higher first), then subregion-list
// order (R-MTREE-7); a disabled region's line is hidden without -D but its
// subregions still print at their depth (R-MTREE-9, -12); an alias line
// shows its final target's type label and its direct target's name
// (R-MTREE-5); "[DETECTED OVERFLOW!] " precedes the indentation of a line
// whose start wraps below its parent's or whose end wraps below its start,
// or, when that line is hidden, whatever is printed next (R-MTREE-10).
//
// With Flat it prints the flat views (SPEC A.21): address spaces grouped
// by the flat view they share, see writeFlat.
//
// The text is built in memory and written with one Write call; nothing is
// written when an error is returned, except the error of w itself.
func WriteLocked(w io.Writer, sys *memory.System, opt Options) error {
	var b []byte
	var err error
	if opt.Flat {
		b, err = appendFlat(nil, sys, opt)
	} else {
		b = appendTree(nil, sys, opt)
	}
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// treePrinter holds the state of one `info mtree` print: the output and the
// queue of alias targets (QEMU's ml_head).
type treePrinter struct {
	opt    Options
	b      []byte
	queue  []*memory.Region
	queued map[*memory.Region]bool
	// lines, when not nil, records which region each region line prints,
	// by 1-based line number (for tests that match a parse to the regions
	// it came from).
	lines map[int]*memory.Region
}

func appendTree(b []byte, sys *memory.System, opt Options) []byte {
	return newTreePrinter(opt, b).print(sys)
}

func newTreePrinter(opt Options, b []byte) *treePrinter {
	return &treePrinter{opt: opt, b: b, queued: map[*memory.Region]bool{}}
}

// print appends the trees of sys's address spaces and the alias-target
// sections.
func (p *treePrinter) print(sys *memory.System) []byte {
	var roots []*memory.Region
	names := map[*memory.Region][]string{}
	for _, as := range sys.AddressSpaces() {
		r := as.Root()
		if _, ok := names[r]; !ok {
			roots = append(roots, r)
		}
		names[r] = append(names[r], as.Name())
	}
	for _, r := range roots {
		ns := names[r]
		sort.Strings(ns) // byte order, as strcmp
		for _, n := range ns {
			p.text(headerAS)
			p.text(n)
			p.text("\n")
		}
		p.region(r, 1, 0)
		p.text("\n")
	}
	for i := 0; i < len(p.queue); i++ {
		r := p.queue[i]
		p.text(headerMR)
		p.text(regionName(r))
		p.text("\n")
		p.region(r, 1, 0)
		p.text("\n")
	}
	return p.b
}

// text appends s.
func (p *treePrinter) text(s string) { p.b = append(p.b, s...) }

// region prints r at level, base being the printed start of its parent
// line (0 for a section root), then its subregions (QEMU's mtree_print_mr).
func (p *treePrinter) region(r *memory.Region, level int, base uint64) {
	start := base + r.Addr()
	end := lastAddr(start, r)
	if start < base || end < start {
		// QEMU prints the marker at once, so when the line is then hidden
		// it lands before whatever is printed next.
		p.text(overflowMark)
	}
	if t := r.Alias(); t != nil && !p.queued[t] {
		p.queued[t] = true
		p.queue = append(p.queue, t)
	}
	if r.Enabled() || p.opt.Disabled {
		if p.lines != nil {
			p.lines[1+bytes.Count(p.b, []byte{'\n'})] = r
		}
		p.b = appendLine(p.b, level, start, end, r)
		if p.opt.Owners {
			p.b = appendOwner(p.b, r)
		}
		p.b = append(p.b, '\n')
	}
	for _, c := range printOrder(r) {
		p.region(c, level+1, start)
	}
}

// printOrder returns r's subregions in the order `info mtree` prints them
// (R-MTREE-7): a stable sort of the subregion list by ascending address,
// then descending priority, so that equal ones keep list order.
func printOrder(r *memory.Region) []*memory.Region {
	subs := r.Subregions()
	slices.SortStableFunc(subs, func(a, b *memory.Region) int {
		switch {
		case a.Addr() != b.Addr():
			if a.Addr() < b.Addr() {
				return -1
			}
			return 1
		case a.Priority() != b.Priority():
			if a.Priority() > b.Priority() {
				return -1
			}
			return 1
		}
		return 0
	})
	return subs
}

// appendLine appends one region line without marker, owner suffix or
// newline (R-MTREE-4, -5).
func appendLine(b []byte, level int, start, end uint64, r *memory.Region) []byte {
	for i := 0; i < level; i++ {
		b = append(b, "  "...)
	}
	b = appendRange(b, start, end)
	b = appendPrio(b, r.Priority(), r.Nonvolatile(), r.TypeLabel())
	if t := r.Alias(); t != nil {
		b = append(b, "alias "...)
		b = append(b, regionName(r)...)
		b = append(b, " @"...)
		b = append(b, regionName(t)...)
		b = append(b, ' ')
		b = appendRange(b, r.AliasOffset(), lastAddr(r.AliasOffset(), r))
	} else {
		b = append(b, regionName(r)...)
	}
	if !r.Enabled() {
		b = append(b, disabledMark...)
	}
	return b
}

// appendPrio appends " (prio P, [nv-]TYPE): ".
func appendPrio(b []byte, prio int32, nv bool, label string) []byte {
	b = append(b, " (prio "...)
	b = strconv.AppendInt(b, int64(prio), 10)
	b = append(b, ", "...)
	if nv {
		b = append(b, "nv-"...)
	}
	b = append(b, label...)
	return append(b, "): "...)
}

// appendRange appends "START-END" in 16 lower-case hex digits each.
func appendRange(b []byte, start, end uint64) []byte {
	b = dump.AppendAddr(b, start)
	b = append(b, '-')
	return dump.AppendAddr(b, end)
}

// lastAddr is the inclusive end QEMU prints for r starting at start:
// start + size - 1 in 64 bits (wrapping), start itself for size 0
// (MR_SIZE). A size of 2^64 adds 2^64-1.
func lastAddr(start uint64, r *memory.Region) uint64 {
	switch {
	case r.SizeIs64():
		return start + math.MaxUint64
	case r.Size() == 0:
		return start
	}
	return start + r.Size() - 1
}

// regionName is QEMU's memory_region_name as printed: the name, or
// "(null)" for an unnamed region (R-MR-5).
func regionName(r *memory.Region) string {
	if n := r.Name(); n != "" {
		return n
	}
	return nullName
}
