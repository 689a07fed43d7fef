package dump

import (
	"fmt"
	"strings"
)

// ownersFile is the Error.File of errors found in the -o text by
// ParseWithOwners (LoadDump replaces it by the real file name).
const ownersFile = "-o dump"

// ParseWithOwners parses the -D dump dText (see Parse) and takes every
// region's owner suffix from oText, the `info mtree -o` dump of the same
// QEMU run. The -o dump hides disabled regions, so their Owner stays nil.
//
// Each section of the -o dump must be a section of the -D dump as
// `info mtree` prints it without -D, every region line followed by a
// non-empty owner suffix; sections may come in another order (QEMU prints
// them in hash-table order), and a section is matched to the first unused
// -D section, in -D order, that fits. Owners take part in the identity of
// regions (two places with different owners are different regions).
func ParseWithOwners(dText, oText []byte) (*Dump, error) {
	d, err := parseText(string(dText), false)
	if err != nil {
		return nil, err
	}
	if err := d.attachOwners(string(oText)); err != nil {
		return nil, err
	}
	if err := d.link(); err != nil {
		return nil, err
	}
	return d, nil
}

// plainLine is one line `info mtree` prints without -D and -o; node is the
// region line it shows, nil for header and empty lines.
type plainLine struct {
	text string
	node *Node
}

// plainSection returns the lines of sec as printed without -D and -o,
// ending with the line that closes the section (empty, unless a hidden
// line's overflow marker landed on it).
func plainSection(sec *Section) []plainLine {
	var out []plainLine
	for _, name := range sec.ASNames {
		out = append(out, plainLine{text: headerAS + name})
	}
	if !sec.IsAddressSpace() {
		out = append(out, plainLine{text: headerMR + sec.Target})
	}
	pending := ""
	var walk func(n *Node)
	walk = func(n *Node) {
		if n.Overflow {
			pending += overflowMark
		}
		if !n.Disabled {
			out = append(out, plainLine{text: pending + string(nodeFields(n).append(nil)), node: n})
			pending = ""
		}
		for _, c := range n.Children {
			walk(c)
		}
	}
	walk(sec.Root)
	return append(out, plainLine{text: pending})
}

// attachOwners matches the sections of the -o text to d's sections and
// sets Node.Owner of every region line it prints.
func (d *Dump) attachOwners(o string) error {
	oerr := func(line int, format string, args ...any) error {
		return &Error{File: ownersFile, Line: line, Msg: fmt.Sprintf(format, args...)}
	}
	if i := strings.IndexByte(o, '\r'); i >= 0 {
		return oerr(1+strings.Count(o[:i], "\n"), "carriage return: expected LF line ends")
	}
	if !strings.HasSuffix(o, "\n") {
		return oerr(1+strings.Count(o, "\n"), "truncated: the last line has no newline")
	}
	lines := strings.Split(o[:len(o)-1], "\n")
	secs := append(append([]*Section(nil), d.Groups...), d.Targets...)
	want := make([][]plainLine, len(secs))
	for k, s := range secs {
		want[k] = plainSection(s)
	}
	used := make([]bool, len(secs))
	pos := 0
	for pos < len(lines) {
		k := -1
		for j := range secs {
			if !used[j] && sectionFits(want[j], lines, pos) {
				k = j
				break
			}
		}
		if k < 0 {
			first := -1
			for j := range secs {
				if !used[j] {
					first = j
					break
				}
			}
			if first < 0 {
				return oerr(pos+1, "extra text after every section of the -D dump was matched: found %q", clip(lines[pos]))
			}
			for j, w := range want[first] {
				if pos+j >= len(lines) {
					return oerr(len(lines), "truncated after this line: expected %q next (section of -D line %d)", clip(w.text), secs[first].Line)
				}
				if !lineFits(w, lines[pos+j]) {
					what := "the line"
					if w.node != nil {
						what = fmt.Sprintf("-D line %d without [disabled], then an owner suffix", w.node.Line)
					}
					return oerr(pos+j+1, "expected %q (%s), found %q; no section of the -D dump fits here", clip(w.text), what, clip(lines[pos+j]))
				}
			}
			return oerr(pos+1, "no section of the -D dump fits here")
		}
		for j, w := range want[k] {
			if w.node != nil {
				w.node.Owner = parseOwner(lines[pos+j][len(w.text):])
			}
		}
		used[k] = true
		pos += len(want[k])
	}
	for j := range secs {
		if !used[j] {
			return oerr(len(lines), "truncated: the -o dump has no section for the -D section at line %d", secs[j].Line)
		}
	}
	return nil
}

// sectionFits reports whether the lines from pos on start with section w.
func sectionFits(w []plainLine, lines []string, pos int) bool {
	if pos+len(w) > len(lines) {
		return false
	}
	for j := range w {
		if !lineFits(w[j], lines[pos+j]) {
			return false
		}
	}
	return true
}

// lineFits reports whether an -o line shows the plain line w: equal for
// header and empty lines, w's text plus a non-empty owner suffix for a
// region line.
func lineFits(w plainLine, line string) bool {
	if w.node == nil {
		return line == w.text
	}
	rest, ok := strings.CutPrefix(line, w.text)
	return ok && rest != "" && ownOnly.MatchString(rest)
}
