package dump

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Error is a malformed dump or facts file. Line is the 1-based line of the
// dump it refers to (0 when it refers to no line); File names the file when
// the caller knows it. Msg says what was found and what was expected.
type Error struct {
	File string
	Line int
	Msg  string
}

// Error returns "FILE:LINE: MSG", or "line LINE: MSG" without a file,
// leaving out the parts that are unknown.
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(":")
	} else if e.Line > 0 {
		b.WriteString("line ")
	}
	if e.Line > 0 {
		b.WriteString(strconv.Itoa(e.Line))
		b.WriteString(":")
	}
	if b.Len() > 0 {
		b.WriteString(" ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

func errorf(line int, format string, args ...any) *Error {
	return &Error{Line: line, Msg: fmt.Sprintf(format, args...)}
}

// Options says how the parsed text was printed.
type Options struct {
	// Owners: the text was printed with -o, so every region line ends with
	// an owner suffix (" orphan", " owner:{...}", " parent:{...}"). Without
	// it nothing is taken for an owner suffix: a region named "x orphan"
	// stays "x orphan".
	Owners bool
}

const (
	headerAS     = "address-space: "
	headerMR     = "memory-region: "
	overflowMark = "[DETECTED OVERFLOW!] "
	disabledMark = " [disabled]"
	lineSyntax   = "<2*level spaces><start>-<end> (prio <n>, [nv-]<type>): <name>"
)

// Parse parses the text of `info mtree -D` (with -o as well when
// opt.Owners is set) into a Dump: sections, lines, and regions with alias
// targets resolved and repeated places merged (see the package doc).
//
// The text must have LF line ends and end with the empty line that closes
// the last section, as QEMU prints it. Any deviation from QEMU's format
// returns an *Error naming the line and what was expected; Parse never
// panics and runs in time about linear in the text size for every input
// QEMU can print.
//
// A dump printed without -D hides disabled regions and then usually fails
// with an indentation error: parse the -D dump and take owners from the -o
// dump with ParseWithOwners.
func Parse(text []byte, opt Options) (*Dump, error) {
	d, err := parseText(string(text), opt.Owners)
	if err != nil {
		return nil, err
	}
	if err := d.link(); err != nil {
		return nil, err
	}
	return d, nil
}

// parseText splits the text into sections and builds the printed tree of
// each, checking the line grammar and indentation (no identities yet).
func parseText(s string, owners bool) (*Dump, error) {
	if s == "" {
		return nil, errorf(1, "empty dump: expected an %q header line", headerAS)
	}
	if i := strings.IndexByte(s, '\r'); i >= 0 {
		return nil, errorf(1+strings.Count(s[:i], "\n"), "carriage return: expected LF line ends (QEMU's monitor prints CRLF; convert it first)")
	}
	if !strings.HasSuffix(s, "\n") {
		return nil, errorf(1+strings.Count(s, "\n"), "truncated: the last line has no newline (a dump ends with an empty line)")
	}
	lines := strings.Split(s[:len(s)-1], "\n")
	d := &Dump{Lines: lines, nodes: make([]*Node, len(lines))}
	for i := 0; i < len(lines); {
		ln := lines[i]
		sec := &Section{Line: i + 1}
		switch {
		case strings.HasPrefix(ln, headerAS):
			if len(d.Targets) > 0 {
				return nil, errorf(i+1, "address-space group after a memory-region section: QEMU prints every group before the alias targets")
			}
			sec.ASNames = []string{}
			for i < len(lines) && strings.HasPrefix(lines[i], headerAS) {
				sec.ASNames = append(sec.ASNames, lines[i][len(headerAS):])
				i++
			}
			d.Groups = append(d.Groups, sec)
		case strings.HasPrefix(ln, headerMR):
			sec.Target = ln[len(headerMR):]
			i++
			d.Targets = append(d.Targets, sec)
		case ln == "":
			return nil, errorf(i+1, "unexpected empty line: expected an %q or %q header (sections are separated by one empty line)", headerAS, headerMR)
		default:
			return nil, errorf(i+1, "expected an %q or %q header line, found %q", headerAS, headerMR, clip(ln))
		}
		next, err := d.parseTree(sec, owners, i)
		if err != nil {
			return nil, err
		}
		i = next
	}
	return d, nil
}

// parseTree reads the region lines of sec starting at index i up to and
// including the empty line that ends the section, and returns the index
// after it.
func (d *Dump) parseTree(sec *Section, owners bool, i int) (int, error) {
	lines := d.Lines
	if i >= len(lines) {
		return 0, errorf(i, "truncated: the section has no region line")
	}
	if lines[i] == "" || strings.HasPrefix(lines[i], headerMR) || strings.HasPrefix(lines[i], headerAS) {
		return 0, errorf(i+1, "expected the section's root region line (level 1, two spaces of indentation); a -D dump prints every root")
	}
	var stack []*Node // stack[k] is the last line seen at level k+1
	for ; i < len(lines) && lines[i] != ""; i++ {
		n, err := parseRegionLine(lines[i], owners)
		if err != nil {
			err.Line = i + 1
			return 0, err
		}
		n.Line = i + 1
		n.Section = sec
		switch {
		case sec.Root == nil && n.Level != 1:
			return 0, errorf(i+1, "the section's first region line has level %d (%d spaces): expected the root at level 1 (2 spaces)", n.Level, 2*n.Level)
		case sec.Root == nil:
			sec.Root = n
		case n.Level == 1:
			return 0, errorf(i+1, "second level-1 line in one section: expected a subregion (level 2 to %d) or an empty line", len(stack)+1)
		case n.Level > len(stack)+1:
			return 0, errorf(i+1, "inconsistent indentation: level %d (%d spaces) after level %d: expected at most level %d (a dump without -D hides disabled regions: parse the -D dump)", n.Level, 2*n.Level, len(stack), len(stack)+1)
		default:
			n.Parent = stack[n.Level-2]
			if sib := n.Parent.Children; len(sib) > 0 && !printedBefore(sib[len(sib)-1], n) {
				return 0, errorf(i+1, "subregion out of order after line %d: expected ascending offsets in the parent, equal offsets by descending priority", sib[len(sib)-1].Line)
			}
			n.Parent.Children = append(n.Parent.Children, n)
		}
		stack = append(stack[:n.Level-1], n)
		if err := checkNode(n); err != nil {
			return 0, err
		}
		d.nodes[i] = n
	}
	if i >= len(lines) {
		return 0, errorf(len(lines), "truncated: the last section does not end with an empty line")
	}
	if sec.Target != "" && sec.Target != sec.Root.Name {
		return 0, errorf(sec.Root.Line, "memory-region section %q prints a region named %q: expected the same name", sec.Target, sec.Root.Name)
	}
	return i + 1, nil
}

// printedBefore reports whether QEMU may print sibling a before sibling b
// (SPEC R-MTREE-7): lower offset first, higher priority first at equal
// offsets, list order otherwise.
func printedBefore(a, b *Node) bool {
	if a.Addr() != b.Addr() {
		return a.Addr() < b.Addr()
	}
	return a.Priority >= b.Priority
}

// checkNode checks what a line implies about its neighbours: the overflow
// marker and the length of an alias's offset range.
func checkNode(n *Node) *Error {
	base := uint64(0)
	if n.Parent != nil {
		base = n.Parent.Start
	}
	if want := n.Start < base || n.End < n.Start; want != n.Overflow {
		if want {
			return errorf(n.Line, "expected the %q prefix: start %016x is below the parent's start %016x or end %016x is below start", overflowMark, n.Start, base, n.End)
		}
		return errorf(n.Line, "unexpected %q prefix: start %016x is not below the parent's start %016x and end %016x is not below start", overflowMark, n.Start, base, n.End)
	}
	if n.IsAlias && n.AliasEnd-n.AliasStart != n.End-n.Start {
		return errorf(n.Line, "alias offset range %016x-%016x has a different length than the region range %016x-%016x: expected both to span the alias size", n.AliasStart, n.AliasEnd, n.Start, n.End)
	}
	return nil
}

const ownPattern = ` orphan|(?: owner:\{(?:dev|obj) (?:id|path|type)=[^}]*\})?(?: parent:\{(?:dev|obj) (?:id|path|type)=[^}]*\})?`

// The part of a region line after "): ", as in FORMAT-NOTES.md section 6.
// Names are non-greedy, so the shortest name that lets the rest match wins.
var (
	tailPlain = regexp.MustCompile(`^(?:alias (.+?) @(.+?) ([0-9a-f]{16})-([0-9a-f]{16})|(.+?))( \[disabled\])?$`)
	tailOwned = regexp.MustCompile(`^(?:alias (.+?) @(.+?) ([0-9a-f]{16})-([0-9a-f]{16})|(.+?))( \[disabled\])?(` + ownPattern + `)$`)
	ownOnly   = regexp.MustCompile(`^(?:` + ownPattern + `)$`)
)

// parseRegionLine parses one region line; the returned error has no line
// number yet.
func parseRegionLine(s string, owners bool) (*Node, *Error) {
	n := &Node{}
	if strings.HasPrefix(s, overflowMark) {
		n.Overflow = true
		s = s[len(overflowMark):]
	}
	sp := len(s) - len(strings.TrimLeft(s, " "))
	switch {
	case sp == 0:
		return nil, &Error{Msg: fmt.Sprintf("expected a region line %q or an empty line ending the section, found %q", lineSyntax, clip(s))}
	case sp%2 != 0:
		return nil, &Error{Msg: fmt.Sprintf("odd indentation (%d spaces): expected two spaces per level", sp)}
	}
	n.Level = sp / 2
	p := lineParser{s: s, i: sp}
	n.Start = p.hex("start address")
	p.lit("-")
	n.End = p.hex("end address")
	p.lit(" (prio ")
	n.Priority = p.prio()
	p.lit(", ")
	if p.err == nil && strings.HasPrefix(p.s[p.i:], "nv-") {
		n.NV = true
		p.i += 3
	}
	n.Kind = p.kind()
	p.lit("): ")
	if p.err != nil {
		return nil, p.err
	}
	re := tailPlain
	if owners {
		re = tailOwned
	}
	tail := s[p.i:]
	m := re.FindStringSubmatchIndex(tail)
	if m == nil {
		return nil, &Error{Msg: fmt.Sprintf("expected a region name or \"alias NAME @TARGET <offset>-<end>\" after \"): \", found %q", clip(tail))}
	}
	group := func(k int) string {
		if m[2*k] < 0 {
			return ""
		}
		return tail[m[2*k]:m[2*k+1]]
	}
	if m[2] >= 0 {
		n.IsAlias = true
		n.Name = group(1)
		n.Target = group(2)
		n.AliasStart, _ = strconv.ParseUint(group(3), 16, 64)
		n.AliasEnd, _ = strconv.ParseUint(group(4), 16, 64)
	} else {
		n.Name = group(5)
	}
	n.Disabled = m[12] >= 0
	if owners {
		own := group(7)
		if own == "" {
			return nil, &Error{Msg: fmt.Sprintf("expected an owner suffix (\" orphan\", \" owner:{...}\" or \" parent:{...}\") at the end of a -o line, found %q", clip(tail))}
		}
		n.Owner = parseOwner(own)
	}
	return n, nil
}

// parseOwner decodes an owner suffix already matched by ownPattern (non-empty).
func parseOwner(s string) *Owner {
	if s == " orphan" {
		return &Owner{Orphan: true}
	}
	o := &Owner{}
	for _, part := range []struct {
		label string
		dst   **ObjRef
	}{{" owner:{", &o.Owner}, {" parent:{", &o.Parent}} {
		if !strings.HasPrefix(s, part.label) {
			continue
		}
		body := s[len(part.label):]
		end := strings.IndexByte(body, '}')
		body, s = body[:end], body[end+1:]
		kind, kv, _ := strings.Cut(body, " ")
		key, val, _ := strings.Cut(kv, "=")
		*part.dst = &ObjRef{Dev: kind == "dev", Key: key, Value: val}
	}
	return o
}

// lineParser reads the fixed-format prefix of a region line; the first
// failure sticks in err and makes later calls no-ops.
type lineParser struct {
	s   string
	i   int
	err *Error
}

func (p *lineParser) fail(what string) {
	if p.err == nil {
		p.err = &Error{Msg: fmt.Sprintf("column %d: expected %s (%s), found %q", p.i+1, what, lineSyntax, clip(p.s[p.i:]))}
	}
}

func (p *lineParser) lit(want string) {
	if p.err != nil {
		return
	}
	if !strings.HasPrefix(p.s[p.i:], want) {
		p.fail(strconv.Quote(want))
		return
	}
	p.i += len(want)
}

func (p *lineParser) hex(what string) uint64 {
	if p.err != nil {
		return 0
	}
	if len(p.s)-p.i < 16 {
		p.fail("a 16-digit lower-case hex " + what)
		return 0
	}
	var v uint64
	for _, c := range []byte(p.s[p.i : p.i+16]) {
		switch {
		case '0' <= c && c <= '9':
			v = v<<4 | uint64(c-'0')
		case 'a' <= c && c <= 'f':
			v = v<<4 | uint64(c-'a'+10)
		default:
			p.fail("a 16-digit lower-case hex " + what)
			return 0
		}
	}
	p.i += 16
	return v
}

func (p *lineParser) prio() int32 {
	if p.err != nil {
		return 0
	}
	j := p.i
	if j < len(p.s) && p.s[j] == '-' {
		j++
	}
	for j < len(p.s) && '0' <= p.s[j] && p.s[j] <= '9' {
		j++
	}
	v, err := strconv.ParseInt(p.s[p.i:j], 10, 32)
	if err != nil || strconv.FormatInt(v, 10) != p.s[p.i:j] {
		p.fail("a priority in canonical signed decimal that fits 32 bits")
		return 0
	}
	p.i = j
	return int32(v)
}

func (p *lineParser) kind() Kind {
	if p.err != nil {
		return 0
	}
	for _, k := range []Kind{KindROMD, KindRAMD, KindROM, KindRAM, KindIO} {
		if strings.HasPrefix(p.s[p.i:], k.String()+")") {
			p.i += len(k.String())
			return k
		}
	}
	p.fail("a type label i/o, ram, rom, romd or ramd")
	return 0
}

// clip shortens s for an error message.
func clip(s string) string {
	const max = 80
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}
