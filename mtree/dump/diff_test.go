package dump

import (
	"fmt"
	"math/rand"
	"strings"
	"testing"
)

func TestFirstDiff(t *testing.T) {
	for _, tc := range []struct {
		name, a, b, want string
	}{
		{"equal", "x\ny\n", "x\ny\n", ""},
		{"changed line", "a\nb\nc\nd\ne\nf\ng\nh\n", "a\nb\nc\nd\nE\nf\ng\nh\n",
			"--- A\n+++ B\n@@ -2,7 +2,7 @@\n b\n c\n d\n-e\n+E\n f\n g\n h\n"},
		{"first hunk only", "1\nx\n3\n4\n5\n6\n7\n8\n9\n10\ny\n12\n", "1\nX\n3\n4\n5\n6\n7\n8\n9\n10\nY\n12\n",
			"--- A\n+++ B\n@@ -1,5 +1,5 @@\n 1\n-x\n+X\n 3\n 4\n 5\n"},
		{"near changes joined", "1\nx\n3\n4\ny\n6\n", "1\nX\n3\n4\nY\n6\n",
			"--- A\n+++ B\n@@ -1,6 +1,6 @@\n 1\n-x\n+X\n 3\n 4\n-y\n+Y\n 6\n"},
		{"insert at start", "b\n", "a\nb\n", "--- A\n+++ B\n@@ -1 +1,2 @@\n+a\n b\n"},
		{"missing newline", "a\nb", "a\nb\n", "--- A\n+++ B\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+b\n"},
		{"empty side", "", "a\n", "--- A\n+++ B\n@@ -0,0 +1 @@\n+a\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := FirstDiff("A", "B", tc.a, tc.b); got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

// TestFirstEditsMinimal checks the edit script on random texts: applying it
// to x gives y, and its length equals the LCS bound.
func TestFirstEditsMinimal(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for iter := 0; iter < 2000; iter++ {
		x, y := randLines(rng), randLines(rng)
		ops := firstEdits(x, y)
		var got []string
		i, j, edits := 0, 0, 0
		for _, op := range ops {
			switch op {
			case '=':
				if x[i] != y[j] {
					t.Fatalf("%q -> %q: '=' on unequal lines", x, y)
				}
				got = append(got, x[i])
				i, j = i+1, j+1
			case '-':
				i, edits = i+1, edits+1
			case '+':
				got = append(got, y[j])
				j, edits = j+1, edits+1
			}
		}
		if i != len(x) || strings.Join(got, "|") != strings.Join(y, "|") {
			t.Fatalf("%q -> %q: script %s does not produce y", x, y, ops)
		}
		if want := len(x) + len(y) - 2*lcs(x, y); edits != want {
			t.Fatalf("%q -> %q: %d edits, want %d", x, y, edits, want)
		}
	}
}

func randLines(rng *rand.Rand) []string {
	out := make([]string, rng.Intn(12))
	for i := range out {
		out[i] = string(rune('a' + rng.Intn(3)))
	}
	return out
}

func lcs(x, y []string) int {
	dp := make([][]int, len(x)+1)
	for i := range dp {
		dp[i] = make([]int, len(y)+1)
	}
	for i := len(x) - 1; i >= 0; i-- {
		for j := len(y) - 1; j >= 0; j-- {
			if x[i] == y[j] {
				dp[i][j] = dp[i+1][j+1] + 1
			} else {
				dp[i][j] = max(dp[i+1][j], dp[i][j+1])
			}
		}
	}
	return dp[0][0]
}

// TestFirstDiffCut: texts too different for the bounded search still get
// a short hunk starting at the first difference.
func TestFirstDiffCut(t *testing.T) {
	var a, b strings.Builder
	a.WriteString("same\n")
	b.WriteString("same\n")
	for i := 0; i < 3000; i++ {
		fmt.Fprintf(&a, "a%d\n", i)
		fmt.Fprintf(&b, "b%d\n", i)
	}
	got := FirstDiff("A", "B", a.String(), b.String())
	if !strings.HasPrefix(got, "--- A\n+++ B\n@@ -1,21 +1,21 @@\n same\n-a0\n") || strings.Count(got, "\n") != 3+1+40 {
		t.Errorf("cut hunk:\n%s", got)
	}
}
