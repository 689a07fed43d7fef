package dump

import (
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Canon returns the order-insensitive canonical form of an `info mtree`
// or `info mtree -f` text, exactly as golden/canon.py computes it: split the
// text into blocks at every run of whitespace that holds two or more
// newlines (Python's re.split(r"\n\s*\n")), strip newlines from both ends
// of each block, drop blocks that are only whitespace, replace every line
// "FlatView #<digits>" by "FlatView #*", sort the blocks bytewise, and join
// them with one empty line, ending with a newline. Two dumps of one QEMU
// state have equal canonical forms whatever hash order QEMU printed their
// sections in.
//
// Whitespace and digits follow Python's str semantics (Unicode whitespace
// including U+001C..U+001F; Unicode decimal digits), so Canon agrees with
// canon.py on any UTF-8 text.
func Canon(text string) string {
	blocks := splitBlocks(text)
	out := blocks[:0]
	for _, b := range blocks {
		b = strings.Trim(b, "\n")
		if strings.TrimFunc(b, pySpace) == "" {
			continue
		}
		out = append(out, starFlatViews(b))
	}
	sort.Strings(out)
	return strings.Join(out, "\n\n") + "\n"
}

// pySpace reports whether Python's str.isspace (and re's \s) holds for r.
func pySpace(r rune) bool {
	return unicode.IsSpace(r) || 0x1c <= r && r <= 0x1f
}

// splitBlocks splits text at every separator: within each maximal run of
// whitespace, from its first "\n" to its last "\n" when those differ.
func splitBlocks(text string) []string {
	var out []string
	last := 0
	for i := 0; i < len(text); {
		r, n := utf8.DecodeRuneInString(text[i:])
		if !pySpace(r) {
			i += n
			continue
		}
		j, first, final := i, -1, -1
		for j < len(text) {
			r, n := utf8.DecodeRuneInString(text[j:])
			if !pySpace(r) {
				break
			}
			if r == '\n' {
				if first < 0 {
					first = j
				}
				final = j
			}
			j += n
		}
		if first >= 0 && final > first {
			out = append(out, text[last:first])
			last = final + 1
		}
		i = j
	}
	return append(out, text[last:])
}

// starFlatViews replaces every line that is exactly "FlatView #<digits>"
// (at least one digit) by "FlatView #*".
func starFlatViews(b string) string {
	if !strings.Contains(b, "FlatView #") {
		return b
	}
	lines := strings.Split(b, "\n")
	for i, l := range lines {
		num, ok := strings.CutPrefix(l, "FlatView #")
		if ok && num != "" && strings.IndexFunc(num, func(r rune) bool { return !unicode.IsDigit(r) }) < 0 {
			lines[i] = "FlatView #*"
		}
	}
	return strings.Join(lines, "\n")
}
