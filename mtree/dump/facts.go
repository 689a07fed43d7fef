package dump

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strings"
)

// FactsFormat is the only facts file format this package reads.
const FactsFormat = "qemu-mtree-facts/1"

// Facts is a parsed mtree-facts.json (golden/FACTS-FORMAT.md): per -D dump
// of a folder, what `info mtree` does not print but `-f` depends on.
type Facts struct {
	Format        string            `json:"format"`
	About         string            `json:"about"`
	Defaults      map[string]string `json:"defaults"`
	SourceVersion string            `json:"source_version"`
	// Dumps maps a -D dump's file name (mtree-D.txt, step-NN-mtree-D.txt)
	// to its entry.
	Dumps map[string]*FactsEntry `json:"dumps"`
}

// FactsEntry is the facts of one dump.
type FactsEntry struct {
	Files      FactsFiles       `json:"files"`
	Terminates []TerminatesFact `json:"terminates"`
	ReadOnly   []ReadOnlyFact   `json:"readonly"`
	Order      []OrderFact      `json:"order"`
	ZeroSize   []ZeroSizeFact   `json:"zero_size"`
	ASOrder    []ASOrder        `json:"as_order"`
}

// FactsFiles names the five files of one QEMU run, relative to the folder.
type FactsFiles struct {
	Tree string `json:"tree"` // info mtree
	D    string `json:"D"`    // info mtree -D
	O    string `json:"o"`    // info mtree -o
	F    string `json:"f"`    // info mtree -f
	FO   string `json:"fo"`   // info mtree -f -o
}

// RegionRef names a region by the -D line that first prints it; Also lists
// the other lines that print the same region.
type RegionRef struct {
	Line int    `json:"line"`
	Text string `json:"text"`
	Also []int  `json:"also,omitempty"`
}

// TerminatesFact overrides the terminates default of one region.
type TerminatesFact struct {
	RegionRef
	Terminates bool   `json:"terminates"`
	Source     string `json:"source"`
}

// ReadOnlyFact overrides the readonly default of one region.
type ReadOnlyFact struct {
	RegionRef
	ReadOnly bool   `json:"readonly"`
	Source   string `json:"source"`
}

// ZeroSizeFact gives the size (0 or 1) of a region printed "X-X".
type ZeroSizeFact struct {
	RegionRef
	Size uint64 `json:"size"`
}

// OrderFact says that, in Container's subregion list, Later was added
// after First (so Later wins where they overlap).
type OrderFact struct {
	Container RegionRef `json:"container"`
	First     RegionRef `json:"first"`
	Later     RegionRef `json:"later"`
}

// ASOrder is the order of the " AS" lines of one FlatView of `-f`: Root
// is its " Root memory region: ..." line and AS its " AS ..." lines, both
// exactly as printed, in QEMU's order.
type ASOrder struct {
	Root string   `json:"root"`
	AS   []string `json:"as"`
}

// ParseFacts decodes and checks a facts file: the format tag, known fields
// only, every key equal to its entry's files.D, positive line numbers,
// zero_size sizes of 0 or 1, and well-formed as_order lines. It does not
// look at any dump; ApplyFacts checks the references.
func ParseFacts(data []byte) (*Facts, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f Facts
	if err := dec.Decode(&f); err != nil {
		return nil, &Error{Msg: "facts: " + err.Error()}
	}
	if dec.More() {
		return nil, &Error{Msg: "facts: unexpected data after the JSON object"}
	}
	if f.Format != FactsFormat {
		return nil, &Error{Msg: fmt.Sprintf("facts: format %q: expected %q", f.Format, FactsFormat)}
	}
	for key, e := range f.Dumps {
		if err := e.check(key); err != nil {
			return nil, &Error{Msg: fmt.Sprintf("facts: dump %q: %s", key, err)}
		}
	}
	return &f, nil
}

func (e *FactsEntry) check(key string) error {
	if e == nil {
		return fmt.Errorf("null entry")
	}
	if e.Files.D != key {
		return fmt.Errorf("files.D is %q: expected the key", e.Files.D)
	}
	for _, r := range e.refs() {
		if r.Line < 1 {
			return fmt.Errorf("region reference with line %d: expected a 1-based line number", r.Line)
		}
		for _, a := range r.Also {
			if a < 1 {
				return fmt.Errorf("line %d: also line %d: expected a 1-based line number", r.Line, a)
			}
		}
	}
	for _, z := range e.ZeroSize {
		if z.Size > 1 {
			return fmt.Errorf("line %d: zero_size %d: expected 0 or 1", z.Line, z.Size)
		}
	}
	for _, a := range e.ASOrder {
		if !strings.HasPrefix(a.Root, " Root memory region: ") {
			return fmt.Errorf("as_order root %q: expected a \" Root memory region: \" line", a.Root)
		}
		for _, l := range a.AS {
			if !strings.HasPrefix(l, ` AS "`) {
				return fmt.Errorf("as_order line %q: expected an ` AS \"` line", l)
			}
		}
	}
	return nil
}

// refs lists every region reference of the entry.
func (e *FactsEntry) refs() []RegionRef {
	var out []RegionRef
	for _, f := range e.Terminates {
		out = append(out, f.RegionRef)
	}
	for _, f := range e.ReadOnly {
		out = append(out, f.RegionRef)
	}
	for _, f := range e.ZeroSize {
		out = append(out, f.RegionRef)
	}
	for _, f := range e.Order {
		out = append(out, f.Container, f.First, f.Later)
	}
	return out
}

// Region returns the region a reference names, after checking it against
// the dump: the line exists, prints a region and equals Text exactly, and
// every Also line prints the same region. A mismatch means the reference
// belongs to another QEMU run and is an *Error.
func (d *Dump) Region(ref RegionRef) (*Region, error) {
	n, err := d.refNode(ref.Line)
	if err != nil {
		return nil, err
	}
	if d.Lines[ref.Line-1] != ref.Text {
		return nil, errorf(ref.Line, "fact text %q differs from the dump's line %q: the facts belong to another QEMU run", clip(ref.Text), clip(d.Lines[ref.Line-1]))
	}
	for _, a := range ref.Also {
		m, err := d.refNode(a)
		if err != nil {
			return nil, err
		}
		if m.Region != n.Region {
			return nil, errorf(a, "fact for line %d lists line %d under also, but line %d prints another region (%q)", ref.Line, a, a, m.Name)
		}
	}
	return n.Region, nil
}

func (d *Dump) refNode(line int) (*Node, error) {
	if line < 1 || line > len(d.Lines) {
		return nil, errorf(line, "fact refers to line %d: the dump has %d lines", line, len(d.Lines))
	}
	n := d.NodeAt(line)
	if n == nil {
		return nil, errorf(line, "fact refers to line %d, which prints no region (%q)", line, clip(d.Lines[line-1]))
	}
	return n, nil
}

// applyDefaults gives every region the default facts of FACTS-FORMAT.md
// section 3.
func (d *Dump) applyDefaults() {
	for _, r := range d.Regions {
		p := r.Places[0]
		r.Size = SizeFromRange(p.Start, p.End)
		if p.Start == p.End && r.IsAlias() {
			r.Size = Size{}
		}
		r.Terminates = !r.IsAlias() && (r.Kind != KindIO || len(r.Children) == 0)
		r.ReadOnly = !r.IsAlias() && r.Kind == KindROM
		r.RenderOrder = slices.Clone(r.Children)
		sort.SliceStable(r.RenderOrder, func(i, j int) bool { return r.RenderOrder[i].Priority > r.RenderOrder[j].Priority })
	}
	d.ASOrder = nil
}

// ApplyFacts resets every region to the default facts and then applies the
// entry (FACTS-FORMAT.md section 4): terminates, readonly and zero_size set
// their field; order facts, in file order, move Later just before First in
// the container's RenderOrder when it comes after it; as_order facts are
// kept in d.ASOrder. Every reference is checked first (see Region), and
// also that zero_size names an "X-X" line, terminates names no alias, and
// order names two children of equal priority of the container; on any
// error nothing is changed.
func (d *Dump) ApplyFacts(e *FactsEntry) error {
	type set struct {
		r *Region
		f func(*Region)
	}
	var sets []set
	for _, f := range e.Terminates {
		r, err := d.Region(f.RegionRef)
		if err != nil {
			return err
		}
		if r.IsAlias() {
			return errorf(f.Line, "terminates fact for alias %q: an alias never terminates", r.Name)
		}
		v := f.Terminates
		sets = append(sets, set{r, func(r *Region) { r.Terminates = v }})
	}
	for _, f := range e.ReadOnly {
		r, err := d.Region(f.RegionRef)
		if err != nil {
			return err
		}
		v := f.ReadOnly
		sets = append(sets, set{r, func(r *Region) { r.ReadOnly = v }})
	}
	for _, f := range e.ZeroSize {
		r, err := d.Region(f.RegionRef)
		if err != nil {
			return err
		}
		if p := r.Places[0]; p.Start != p.End {
			return errorf(f.Line, "zero_size fact for a line whose range %016x-%016x is not X-X", p.Start, p.End)
		}
		if f.Size > 1 {
			return errorf(f.Line, "zero_size %d: expected 0 or 1", f.Size)
		}
		v := Size{Bytes: f.Size}
		sets = append(sets, set{r, func(r *Region) { r.Size = v }})
	}
	type move struct{ c, first, later *Region }
	var moves []move
	for _, f := range e.Order {
		var m move
		for _, x := range []struct {
			dst **Region
			ref RegionRef
		}{{&m.c, f.Container}, {&m.first, f.First}, {&m.later, f.Later}} {
			r, err := d.Region(x.ref)
			if err != nil {
				return err
			}
			*x.dst = r
		}
		for _, ch := range []RegionRef{f.First, f.Later} {
			if r := d.NodeAt(ch.Line).Region; r.Container != m.c || !slices.Contains(m.c.Children, r) {
				return errorf(ch.Line, "order fact: %q is not a subregion of %q (line %d)", r.Name, m.c.Name, f.Container.Line)
			}
		}
		if m.first == m.later || m.first.Priority != m.later.Priority {
			return errorf(f.Later.Line, "order fact: first %q and later %q must be two subregions of equal priority", m.first.Name, m.later.Name)
		}
		moves = append(moves, m)
	}
	for _, a := range e.ASOrder {
		if len(a.AS) < 2 {
			return &Error{Msg: fmt.Sprintf("as_order for %q has %d AS lines: expected 2 or more", a.Root, len(a.AS))}
		}
	}

	d.applyDefaults()
	for _, s := range sets {
		s.f(s.r)
	}
	for _, m := range moves {
		o := m.c.RenderOrder
		i, j := slices.Index(o, m.first), slices.Index(o, m.later)
		if j > i {
			o = slices.Delete(o, j, j+1)
			m.c.RenderOrder = slices.Insert(o, i, m.later)
		}
	}
	d.ASOrder = &ASOrders{list: slices.Clone(e.ASOrder), used: make([]bool, len(e.ASOrder))}
	return nil
}

// LoadDump reads the -D and -o dumps an entry names from dir in fsys,
// parses them with ParseWithOwners and applies the entry. Errors name the
// file they come from.
func LoadDump(fsys fs.FS, dir string, e *FactsEntry) (*Dump, error) {
	dText, err := fs.ReadFile(fsys, path.Join(dir, e.Files.D))
	if err != nil {
		return nil, err
	}
	oText, err := fs.ReadFile(fsys, path.Join(dir, e.Files.O))
	if err != nil {
		return nil, err
	}
	d, err := ParseWithOwners(dText, oText)
	if err == nil {
		err = d.ApplyFacts(e)
	}
	if pe, ok := err.(*Error); ok {
		name := e.Files.D
		if pe.File == ownersFile {
			name = e.Files.O
		}
		pe.File = path.Join(dir, name)
	}
	if err != nil {
		return nil, err
	}
	return d, nil
}

// ASOrders answers, for a FlatView of `-f` with two or more address
// spaces, in which order QEMU prints its " AS" lines.
type ASOrders struct {
	list []ASOrder
	used []bool
}

// Order returns the AS lines of the FlatView whose root line is root in
// QEMU's order. as holds the same lines in any order. A view with fewer than
// two AS lines is returned unchanged. The matching fact has the same root
// line and the same multiset of AS lines (unused facts are preferred when
// several match); none is an error.
func (o *ASOrders) Order(root string, as []string) ([]string, error) {
	if len(as) < 2 {
		return slices.Clone(as), nil
	}
	key := slices.Sorted(slices.Values(as))
	best := -1
	for i, a := range o.list {
		if a.Root == root && slices.Equal(slices.Sorted(slices.Values(a.AS)), key) && (best < 0 || o.used[best] && !o.used[i]) {
			best = i
		}
	}
	if best < 0 {
		return nil, &Error{Msg: fmt.Sprintf("no as_order fact for the FlatView %q with %d AS lines (first %q)", root, len(as), as[0])}
	}
	o.used[best] = true
	return slices.Clone(o.list[best].AS), nil
}

// Unused returns the as_order facts that no call of Order matched; after
// printing every FlatView any such fact is an error (it matches no view).
func (o *ASOrders) Unused() []ASOrder {
	var out []ASOrder
	for i, a := range o.list {
		if !o.used[i] {
			out = append(out, a)
		}
	}
	return out
}
