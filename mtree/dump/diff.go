package dump

import (
	"fmt"
	"strings"
)

// diffContext is the number of unchanged lines shown around a change.
const diffContext = 3

// maxDiffEdits bounds the edit distance FirstDiff searches for (its work
// and memory grow with the square of it); beyond it the hunk shows at most
// cutLines lines of each side from the first differing line on.
const (
	maxDiffEdits = 2000
	cutLines     = 20
)

// FirstDiff returns "" when a and b are equal, and otherwise a unified diff
// (headers "--- aName" and "+++ bName", then one "@@ -l,n +l,n @@" hunk)
// of the first place where they differ: the first run of changes of a
// shortest line edit script, with changes less than 2*3 unchanged lines
// apart joined into it, and up to 3 lines of context. Texts that need more
// than 2000 line edits get a hunk cut to the first 20 lines of each side
// after their common prefix. A text whose last line
// has no newline gets "\ No newline at end of file" after that line, as in
// diff(1).
func FirstDiff(aName, bName, a, b string) string {
	if a == b {
		return ""
	}
	x, y := diffLines(a), diffLines(b)
	ops := firstEdits(x, y)
	var out strings.Builder
	fmt.Fprintf(&out, "--- %s\n+++ %s\n", aName, bName)
	// ops holds equal ('='), delete ('-') and insert ('+') steps from the
	// start of both texts up to somewhat past the first change.
	first := 0
	for ops[first] == '=' {
		first++
	}
	last := first // index of the last change of the hunk
	for i, gap := first, 0; i < len(ops); i++ {
		if ops[i] != '=' {
			last, gap = i, 0
		} else if gap++; gap >= 2*diffContext {
			break
		}
	}
	lo := max(first-diffContext, 0)
	hi := min(last+diffContext+1, len(ops))
	for hi > last+1 && ops[hi-1] != '=' {
		hi--
	}
	// Line numbers where the hunk starts.
	ai, bi := 0, 0
	for _, op := range ops[:lo] {
		ai, bi = ai+boolInt(op != '+'), bi+boolInt(op != '-')
	}
	var body strings.Builder
	na, nb := 0, 0
	i, j := ai, bi
	for _, op := range ops[lo:hi] {
		switch op {
		case '=':
			writeDiffLine(&body, ' ', x[i])
			i, j, na, nb = i+1, j+1, na+1, nb+1
		case '-':
			writeDiffLine(&body, '-', x[i])
			i, na = i+1, na+1
		case '+':
			writeDiffLine(&body, '+', y[j])
			j, nb = j+1, nb+1
		}
	}
	fmt.Fprintf(&out, "@@ -%s +%s @@\n", hunkRange(ai, na), hunkRange(bi, nb))
	out.WriteString(body.String())
	return out.String()
}

// diffLines splits s into lines that keep their "\n" (the last one may
// lack it).
func diffLines(s string) []string {
	var out []string
	for s != "" {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			return append(out, s)
		}
		out = append(out, s[:i+1])
		s = s[i+1:]
	}
	return out
}

func writeDiffLine(b *strings.Builder, tag byte, line string) {
	b.WriteByte(tag)
	b.WriteString(line)
	if !strings.HasSuffix(line, "\n") {
		b.WriteString("\n\\ No newline at end of file\n")
	}
}

// hunkRange formats a hunk side as diff(1) does: "l,n", "l" when n is 1,
// and the line before the hunk with ",0" when it is empty.
func hunkRange(start, n int) string {
	switch n {
	case 0:
		return fmt.Sprintf("%d,0", start)
	case 1:
		return fmt.Sprint(start + 1)
	}
	return fmt.Sprintf("%d,%d", start+1, n)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// firstEdits returns a shortest edit script from x to y as a string of
// '=', '-' and '+' (Myers' O(ND) algorithm), or, when more than
// maxDiffEdits edits are needed, the common prefix followed by up to
// cutLines deletions and insertions (a script for the start of the texts).
func firstEdits(x, y []string) []byte {
	n, m := len(x), len(y)
	// trace[d] holds V for step d, V[k+d] = furthest x on diagonal k.
	var trace [][]int
	prev := []int{0}
	for d := 0; d <= n+m && d <= maxDiffEdits; d++ {
		v := make([]int, 2*d+1)
		for k := -d; k <= d; k += 2 {
			var px int
			switch {
			case d == 0:
				px = 0
			case k == -d || k != d && prev[k-1+d-1] < prev[k+1+d-1]:
				px = prev[k+1+d-1] // down: insertion
			default:
				px = prev[k-1+d-1] + 1 // right: deletion
			}
			py := px - k
			for px < n && py < m && x[px] == y[py] {
				px, py = px+1, py+1
			}
			v[k+d] = px
			if px >= n && py >= m {
				trace = append(trace, v)
				return backtrack(trace, x, y)
			}
		}
		trace = append(trace, v)
		prev = v
	}
	p := 0
	for p < n && p < m && x[p] == y[p] {
		p++
	}
	return []byte(strings.Repeat("=", p) + strings.Repeat("-", min(n-p, cutLines)) + strings.Repeat("+", min(m-p, cutLines)))
}

// backtrack turns Myers' trace into the edit script.
func backtrack(trace [][]int, x, y []string) []byte {
	var rev []byte
	px, py := len(x), len(y)
	for d := len(trace) - 1; d > 0; d-- {
		k := px - py
		prev := trace[d-1]
		var pk int
		if k == -d || k != d && prev[k-1+d-1] < prev[k+1+d-1] {
			pk = k + 1
		} else {
			pk = k - 1
		}
		sx := prev[pk+d-1]
		sy := sx - pk
		mx, op := sx+1, byte('-') // right: delete x[sx]
		if pk == k+1 {
			mx, op = sx, '+' // down: insert y[sy]
		}
		for ; px > mx; px, py = px-1, py-1 {
			rev = append(rev, '=')
		}
		rev = append(rev, op)
		px, py = sx, sy
	}
	for px > 0 {
		rev = append(rev, '=')
		px, py = px-1, py-1
	}
	ops := make([]byte, len(rev))
	for i, op := range rev {
		ops[len(rev)-1-i] = op
	}
	return ops
}
