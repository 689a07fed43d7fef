package dump

import (
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCanonGolden compares Canon with the output of golden/canon.py's
// canon() for the same text, stored in testdata/dump/canon.
func TestCanonGolden(t *testing.T) {
	for _, tc := range []struct{ input, want string }{
		{"../testdata/dump/canon/tricky.txt", "tricky.canon"},
		{corpusDir + "/x86_64-pc/mtree-f.txt", "x86_64-pc-mtree-f.canon"},
		{corpusDir + "/arm-mps2-an505/mtree-D.txt", "arm-mps2-an505-mtree-D.canon"},
	} {
		in, err := os.ReadFile(tc.input)
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(filepath.Join("../testdata/dump/canon", tc.want))
		if err != nil {
			t.Fatal(err)
		}
		if got := Canon(string(in)); got != string(want) {
			t.Errorf("Canon(%s) differs from canon.py:\n%s", tc.input, FirstDiff("canon.py", "Canon", string(want), got))
		}
	}
}

// TestCanonOrderFree shuffles the sections of every corpus mtree file of
// the static folders and renumbers FlatViews: the canonical form must not
// change, and it must differ once a line inside a section changes.
func TestCanonOrderFree(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(corpusDir, "*", "mtree*.txt"))
	if err != nil || len(files) < 100 {
		t.Fatalf("%d files, %v", len(files), err)
	}
	rng := rand.New(rand.NewSource(2))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		text := string(data)
		secs := strings.Split(strings.TrimSuffix(text, "\n\n"), "\n\n")
		rng.Shuffle(len(secs), func(i, j int) { secs[i], secs[j] = secs[j], secs[i] })
		for i, s := range secs {
			if strings.HasPrefix(s, "FlatView #") {
				_, rest, _ := strings.Cut(s, "\n")
				secs[i] = "FlatView #" + string(rune('0'+i%10)) + "\n" + rest
			}
		}
		shuffled := strings.Join(secs, "\n\n") + "\n\n"
		if Canon(shuffled) != Canon(text) {
			t.Errorf("%s: canonical form depends on section order", f)
		}
		changed := strings.Replace(text, "(prio 0,", "(prio 9,", 1)
		if changed != text && Canon(changed) == Canon(text) {
			t.Errorf("%s: canonical form hides a changed line", f)
		}
	}
}
