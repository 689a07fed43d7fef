package dump

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

const corpusDir = "../testdata/qemu-7.2"

// corpusDump is one QEMU run of the corpus: a folder and the file-name
// prefix of its dumps ("" or "step-NN-").
type corpusDump struct {
	dir, prefix string
}

func (c corpusDump) name() string { return filepath.Base(c.dir) + "/" + c.prefix + "mtree-D.txt" }

func (c corpusDump) read(t testing.TB, suffix string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(c.dir, c.prefix+suffix))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// corpusDumps lists every -D dump of the corpus copy: each static folder's
// mtree-D.txt and every step-NN-mtree-D.txt.
func corpusDumps(t testing.TB) []corpusDump {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(corpusDir, "*", "*mtree-D.txt"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	var out []corpusDump
	for _, f := range files {
		out = append(out, corpusDump{dir: filepath.Dir(f), prefix: strings.TrimSuffix(filepath.Base(f), "mtree-D.txt")})
	}
	if len(out) < 40 {
		t.Fatalf("corpus copy has %d -D dumps: expected the whole corpus in %s", len(out), corpusDir)
	}
	return out
}

func printed(t testing.TB, d *Dump, opt PrintOptions) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := d.Print(&b, opt); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestCorpusRoundTrip parses every dump's -D text with its -o owners and
// prints it again as info mtree, -D and -o: byte-exact, and so equal after
// canon as well.
func TestCorpusRoundTrip(t *testing.T) {
	for _, c := range corpusDumps(t) {
		t.Run(c.name(), func(t *testing.T) {
			d, err := ParseWithOwners(c.read(t, "mtree-D.txt"), c.read(t, "mtree-o.txt"))
			if err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				file string
				opt  PrintOptions
			}{
				{"mtree-D.txt", PrintOptions{Disabled: true}},
				{"mtree.txt", PrintOptions{}},
				{"mtree-o.txt", PrintOptions{Owners: true}},
			} {
				want := string(c.read(t, tc.file))
				got := string(printed(t, d, tc.opt))
				if Canon(got) != Canon(want) {
					t.Errorf("%s differs after canon:\n%s", tc.file, FirstDiff(c.prefix+tc.file, "printed", Canon(want), Canon(got)))
				} else if got != want {
					t.Errorf("%s differs in section order only:\n%s", tc.file, FirstDiff(c.prefix+tc.file, "printed", want, got))
				}
			}
			if n := d.Notes(); len(n) > 0 {
				t.Errorf("identity guesses: %q", n)
			}
		})
	}
}

// TestCorpusFacts loads every entry of every mtree-facts.json and checks
// that the parser's region identity is the facts' one: every line a fact
// names (plus its also lines) is exactly the list of places of one region,
// first place first.
func TestCorpusFacts(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(corpusDir, "*", "mtree-facts.json"))
	if err != nil || len(files) < 35 {
		t.Fatalf("facts files: %d, %v", len(files), err)
	}
	entries := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		facts, err := ParseFacts(data)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		dir := filepath.Dir(f)
		for key, e := range facts.Dumps {
			entries++
			t.Run(filepath.Base(dir)+"/"+key, func(t *testing.T) {
				d, err := LoadDump(os.DirFS(dir), ".", e)
				if err != nil {
					t.Fatal(err)
				}
				for _, ref := range e.refs() {
					r := d.NodeAt(ref.Line).Region
					var got []int
					for _, p := range r.Places {
						got = append(got, p.Line)
					}
					want := append([]int{ref.Line}, ref.Also...)
					if !slices.Equal(got, want) {
						t.Errorf("line %d (%s): places %v, facts say %v", ref.Line, r.Name, got, want)
					}
				}
			})
		}
	}
	if entries < 47 {
		t.Errorf("%d facts entries: expected one per -D dump (47)", entries)
	}
}

// TestCorpusOwnersShuffled gives ParseWithOwners each -o dump with its
// sections in reverse order, as another QEMU hash order could print them:
// the owners must still attach, and -o print equal the file after canon.
func TestCorpusOwnersShuffled(t *testing.T) {
	for _, c := range corpusDumps(t) {
		o := string(c.read(t, "mtree-o.txt"))
		secs := strings.Split(strings.TrimSuffix(o, "\n\n"), "\n\n")
		slices.Reverse(secs)
		reversed := strings.Join(secs, "\n\n") + "\n\n"
		d, err := ParseWithOwners(c.read(t, "mtree-D.txt"), []byte(reversed))
		if err != nil {
			t.Errorf("%s: %v", c.name(), err)
			continue
		}
		if got := string(printed(t, d, PrintOptions{Owners: true})); Canon(got) != Canon(o) {
			t.Errorf("%s: -o print differs after canon:\n%s", c.name(), FirstDiff("mtree-o.txt", "printed", Canon(o), Canon(got)))
		}
	}
}
