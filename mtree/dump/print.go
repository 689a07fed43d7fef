package dump

import (
	"io"
	"strconv"
)

// PrintOptions selects the `info mtree` flags to reproduce.
type PrintOptions struct {
	// Disabled (-D): print disabled regions, tagged " [disabled]".
	// Without it their lines are hidden but their subregions still print.
	Disabled bool
	// Owners (-o): append each region's owner suffix; a region whose owner
	// is unknown (nil) prints none.
	Owners bool
}

// Print writes `info mtree` (with -D and -o as opt says) for the regions of
// d, following SPEC A.20: every address-space group in d.Groups order (its
// header lines, the root tree at level 1, an empty line), then the alias
// targets in queue order, each as a memory-region section. It prints from
// the Region values, not from the parsed lines: a region's subregions come
// in Children order, positions are computed from Addr and Size, alias
// targets are queued when an alias is met even if it is disabled, disabled
// lines are hidden without -D while their subregions still print, and the
// "[DETECTED OVERFLOW!] " marker is written before the indentation whenever
// a start wraps below its parent's start or an end below its start (even for
// a hidden line: it then prefixes whatever is printed next).
//
// For a Dump returned by Parse or ParseWithOwners the output with the
// flags the text was printed with is the parsed text, byte for byte.
func (d *Dump) Print(w io.Writer, opt PrintOptions) error {
	p := &printer{opt: opt, queued: map[*Region]bool{}}
	for _, g := range d.Groups {
		for _, name := range g.ASNames {
			p.b = append(p.b, headerAS...)
			p.b = append(p.b, name...)
			p.b = append(p.b, '\n')
		}
		p.region(g.Root.Region, 1, 0)
		p.b = append(p.b, '\n')
	}
	for i := 0; i < len(p.queue); i++ {
		r := p.queue[i]
		p.b = append(p.b, headerMR...)
		p.b = append(p.b, r.Name...)
		p.b = append(p.b, '\n')
		p.region(r, 1, 0)
		p.b = append(p.b, '\n')
	}
	_, err := w.Write(p.b)
	return err
}

type printer struct {
	opt    PrintOptions
	b      []byte
	queue  []*Region
	queued map[*Region]bool
}

// region prints r at level with the parent's printed start base, then its
// subregions (QEMU's mtree_print_mr).
func (p *printer) region(r *Region, level int, base uint64) {
	start := base + r.Addr
	end := r.Size.Last(start)
	if start < base || end < start {
		p.b = append(p.b, overflowMark...)
	}
	if r.Alias != nil && !p.queued[r.Alias] {
		p.queued[r.Alias] = true
		p.queue = append(p.queue, r.Alias)
	}
	if r.Enabled || p.opt.Disabled {
		f := lineFields{
			level: level, start: start, end: end, prio: r.Priority, nv: r.NV, kind: r.Kind,
			name: r.Name, disabled: !r.Enabled,
		}
		if r.Alias != nil {
			f.alias, f.target = true, r.Alias.Name
			f.aliasStart, f.aliasEnd = r.AliasOffset, r.Size.Last(r.AliasOffset)
		}
		p.b = f.append(p.b)
		if p.opt.Owners {
			p.b = append(p.b, r.Owner.String()...)
		}
		p.b = append(p.b, '\n')
	}
	for _, c := range r.Children {
		p.region(c, level+1, start)
	}
}

// lineFields is what one region line shows, before any owner suffix.
type lineFields struct {
	level                int
	start, end           uint64
	prio                 int32
	nv                   bool
	kind                 Kind
	name                 string
	alias                bool
	target               string
	aliasStart, aliasEnd uint64
	disabled             bool
}

// nodeFields returns the fields printed on n's line.
func nodeFields(n *Node) lineFields {
	return lineFields{
		level: n.Level, start: n.Start, end: n.End, prio: n.Priority, nv: n.NV, kind: n.Kind,
		name: n.Name, alias: n.IsAlias, target: n.Target, aliasStart: n.AliasStart, aliasEnd: n.AliasEnd,
		disabled: n.Disabled,
	}
}

// append appends the line (SPEC R-MTREE-4, -5) without marker, owner
// suffix or newline.
func (f lineFields) append(b []byte) []byte {
	for i := 0; i < f.level; i++ {
		b = append(b, "  "...)
	}
	b = AppendAddr(b, f.start)
	b = append(b, '-')
	b = AppendAddr(b, f.end)
	b = append(b, " (prio "...)
	b = strconv.AppendInt(b, int64(f.prio), 10)
	b = append(b, ", "...)
	if f.nv {
		b = append(b, "nv-"...)
	}
	b = append(b, f.kind.String()...)
	b = append(b, "): "...)
	if f.alias {
		b = append(b, "alias "...)
		b = append(b, f.name...)
		b = append(b, " @"...)
		b = append(b, f.target...)
		b = append(b, ' ')
		b = AppendAddr(b, f.aliasStart)
		b = append(b, '-')
		b = AppendAddr(b, f.aliasEnd)
	} else {
		b = append(b, f.name...)
	}
	if f.disabled {
		b = append(b, disabledMark...)
	}
	return b
}

// AppendAddr appends v as QEMU's monitor prints addresses: 16 lower-case
// hex digits (%016" PRIx64 ").
func AppendAddr(b []byte, v uint64) []byte {
	const digits = "0123456789abcdef"
	for shift := 60; shift >= 0; shift -= 4 {
		b = append(b, digits[v>>uint(shift)&0xf])
	}
	return b
}
