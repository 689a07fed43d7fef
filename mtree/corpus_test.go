package mtree

import (
	"os"
	"path/filepath"
	"qmem.dev/qmem/mtree/dump"
	"strings"
	"testing"
)

const corpusDir = "testdata/qemu-7.2"

// corpusFolders lists the configuration folders of the corpus copy.
func corpusFolders(t testing.TB) []string {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(corpusDir, "*", "mtree-facts.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) < 35 {
		t.Fatalf("corpus copy has %d folders with facts: expected the whole corpus in %s", len(dirs), corpusDir)
	}
	for i, d := range dirs {
		dirs[i] = filepath.Dir(d)
	}
	return dirs
}

// corpusExceptions are the runs of the corpus that cannot pass, each with
// its reason and a text its error must contain. TestCorpus checks that each
// still fails for that reason, so that the entry is removed as soon as the
// reason goes away.
var corpusExceptions = map[string]struct{ reason, err string }{
	// None. arm-mps2-an505 was one until memory accepted loops through
	// aliases that end by clipping (memory/cycle.go): ARM SSE-200 maps
	// aliases of armsse-container inside armsse-container itself.
}

// TestCorpus runs every configuration of the corpus, the static dump and
// every step of the dynamic ones, through parse, build, render and print,
// and compares all five variants with QEMU's files after section-order
// canonicalisation (CheckDir).
func TestCorpus(t *testing.T) {
	runs := 0
	for _, dir := range corpusFolders(t) {
		res := CheckDir(dir)
		if res.Err != nil {
			t.Errorf("%s: %v", dir, res.Err)
			continue
		}
		for _, r := range res.Runs {
			runs++
			name := filepath.Base(dir) + "/" + r.Dump
			t.Run(name, func(t *testing.T) {
				if x, ok := corpusExceptions[name]; ok {
					if r.Err == nil || !strings.Contains(r.Err.Error(), x.err) {
						t.Fatalf("exception %q (%s) no longer fails with %q: got %v; remove it from corpusExceptions", name, x.reason, x.err, r.Err)
					}
					t.Skipf("exception: %s", x.reason)
				}
				if r.Err != nil {
					t.Fatal(r.Err)
				}
				if len(r.Files) != len(Variants) {
					t.Errorf("%d files compared: expected %d", len(r.Files), len(Variants))
				}
				for _, f := range r.Files {
					if f.Diff != "" {
						t.Errorf("%s differs:\n%s", f.File, f.Diff)
					}
				}
				if len(r.Notes) > 0 {
					t.Errorf("build notes: %q", r.Notes)
				}
			})
		}
	}
	if runs < 47 {
		t.Errorf("%d runs checked: expected every -D dump of the corpus (47)", runs)
	}
}

// TestCorpusCreationOrder: Build creates the address spaces in an order
// that agrees with every as_order fact, so `info mtree -f` printed in plain
// creation order (no Options.ASOrder) equals the print that takes the
// order from the facts, for every run of the corpus.
func TestCorpusCreationOrder(t *testing.T) {
	for _, dir := range corpusFolders(t) {
		data, err := os.ReadFile(filepath.Join(dir, FactsFile))
		if err != nil {
			t.Fatal(err)
		}
		facts, err := dump.ParseFacts(data)
		if err != nil {
			t.Fatal(err)
		}
		for key, e := range facts.Dumps {
			name := filepath.Base(dir) + "/" + key
			if _, ok := corpusExceptions[name]; ok {
				continue
			}
			d, err := dump.LoadDump(os.DirFS(dir), ".", e)
			if err != nil {
				t.Fatal(err)
			}
			m, err := Build(d)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			var plain, ordered strings.Builder
			if err := Write(&plain, m.System, Options{Flat: true}); err != nil {
				t.Fatal(err)
			}
			if err := Write(&ordered, m.System, Options{Flat: true, ASOrder: d.ASOrder.Order}); err != nil {
				t.Fatal(err)
			}
			if plain.String() != ordered.String() {
				t.Errorf("%s: creation order differs from the facts' order:\n%s", name, dump.FirstDiff("facts", "creation", ordered.String(), plain.String()))
			}
			m.Close()
		}
	}
}
