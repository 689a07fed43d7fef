package mtree

import (
	"fmt"
	"slices"
	"strconv"

	"qmem.dev/qmem/memory"
	"qmem.dev/qmem/mtree/dump"
)

// flatGroup is one FlatView block of `info mtree -f`: a view and the
// address spaces that currently use it, in creation order.
type flatGroup struct {
	view   *memory.FlatView
	spaces []*memory.AddressSpace
}

// flatGroups groups sys's address spaces by the flat view object they use
// (R-MTREEF-1), in the creation order of each group's first space.
func flatGroups(sys *memory.System) []*flatGroup {
	var groups []*flatGroup
	byView := map[*memory.FlatView]*flatGroup{}
	for _, as := range sys.AddressSpaces() {
		v := as.View()
		g := byView[v]
		if g == nil {
			g = &flatGroup{view: v}
			byView[v] = g
			groups = append(groups, g)
		}
		g.spaces = append(g.spaces, as)
	}
	return groups
}

// asLine returns the " AS" line of as in `info mtree -f`, without newline:
// ` AS "<name>", root: <root name>` and `, alias <target name>` when the
// root is an alias (R-MTREEF-2).
func asLine(as *memory.AddressSpace) string {
	r := as.Root()
	s := ` AS "` + as.Name() + `", root: ` + regionName(r)
	if t := r.Alias(); t != nil {
		s += ", alias " + regionName(t)
	}
	return s
}

// rootLine returns the " Root memory region:" line of a view, without
// newline: the flat-view root's name, or "(none)" when the view was rendered
// from nothing (R-FVROOT-1).
func rootLine(v *memory.FlatView) string {
	if r := v.Root(); r != nil {
		return " Root memory region: " + regionName(r)
	}
	return " Root memory region: (none)"
}

// appendFlat appends `info mtree -f` (SPEC A.21): per group "FlatView #n"
// (numbered in print order), its " AS" lines (creation order unless
// opt.ASOrder reorders them), the " Root memory region:" line, then either
// "  No rendered FlatView" or one line per range, and an empty line. A range
// line shows the leaf region's own priority, "nv-" when the range is
// nonvolatile, "rom" when it is read-only (else the leaf's type label), the
// leaf's name, " @offset" only for a non-zero offset in the leaf, and with
// opt.Owners the leaf's owner suffix, and with opt.Accel the accelerator's
// name once per space of the group that it maps the range in (R-MTREEF-2
// item 7). No -d dispatch dump is printed (item 8).
func appendFlat(b []byte, sys *memory.System, opt Options) ([]byte, error) {
	for n, g := range flatGroups(sys) {
		b = append(b, "FlatView #"...)
		b = strconv.AppendInt(b, int64(n), 10)
		b = append(b, '\n')
		lines := make([]string, len(g.spaces))
		for i, as := range g.spaces {
			lines[i] = asLine(as)
		}
		root := rootLine(g.view)
		if opt.ASOrder != nil && len(lines) > 1 {
			ordered, err := opt.ASOrder(root, slices.Clone(lines))
			if err != nil {
				return nil, err
			}
			if !slices.Equal(slices.Sorted(slices.Values(ordered)), slices.Sorted(slices.Values(lines))) {
				return nil, fmt.Errorf("mtree: ASOrder for %q returned %q: not a permutation of %q", root, ordered, lines)
			}
			lines = ordered
		}
		for _, l := range lines {
			b = append(b, l...)
			b = append(b, '\n')
		}
		b = append(b, root...)
		b = append(b, '\n')
		ranges := g.view.Ranges()
		if len(ranges) == 0 {
			b = append(b, "  No rendered FlatView\n\n"...)
			continue
		}
		for i := range ranges {
			b = appendRangeLine(b, &ranges[i], opt.Owners)
			if a := opt.Accel; a != nil && a.HasMemory != nil {
				// R-MTREEF-2 item 7: once per space of the group that the
				// accelerator maps the range in, in creation order.
				b = b[:len(b)-1]
				for _, as := range g.spaces {
					if a.HasMemory(as, ranges[i].Start, ranges[i].Len()) {
						b = append(b, ' ')
						b = append(b, a.Name...)
					}
				}
				b = append(b, '\n')
			}
		}
		b = append(b, '\n')
	}
	return b, nil
}

// appendRangeLine appends one range line of `info mtree -f` with its
// newline.
func appendRangeLine(b []byte, fr *memory.FlatRange, owners bool) []byte {
	leaf := fr.Region
	label := leaf.TypeLabel()
	if fr.Readonly {
		label = "rom"
	}
	b = append(b, "  "...)
	b = appendRange(b, fr.Start, fr.Last)
	b = appendPrio(b, leaf.Priority(), fr.Nonvolatile, label)
	b = append(b, regionName(leaf)...)
	if fr.Offset != 0 {
		b = append(b, " @"...)
		b = dump.AppendAddr(b, fr.Offset)
	}
	if owners {
		b = appendOwner(b, leaf)
	}
	return append(b, '\n')
}
