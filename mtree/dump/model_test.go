package dump

import (
	"os"
	"path/filepath"
	"testing"
)

// TestModelGolden prints the model (sections and regions: identity, alias
// targets, containers, children, render order, defaults and facts) of a few
// dumps and compares it with testdata/dump/model-*.txt (-update rewrites).
func TestModelGolden(t *testing.T) {
	for _, tc := range []struct {
		golden   string
		dir, key string // a corpus dump with its facts; or
		d        string // a -D file of testdata/dump
	}{
		{golden: "model-spec-a20.txt", d: "spec-a20-D.txt"},
		{golden: "model-x86_64-pc.txt", dir: "x86_64-pc", key: "mtree-D.txt"},
		{golden: "model-aarch64-virt-secure.txt", dir: "aarch64-virt-secure", key: "mtree-D.txt"},
		{golden: "model-ppc64-mac99.txt", dir: "ppc64-mac99", key: "mtree-D.txt"},
		{golden: "model-x86_64-q35-seabios-run-02.txt", dir: "x86_64-q35-seabios-run", key: "step-02-mtree-D.txt"},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			var d *Dump
			var err error
			if tc.d != "" {
				var text []byte
				if text, err = os.ReadFile(filepath.Join("../testdata/dump", tc.d)); err != nil {
					t.Fatal(err)
				}
				d, err = Parse(text, Options{})
			} else {
				dir := filepath.Join(corpusDir, tc.dir)
				var facts *Facts
				if facts, err = loadFacts(dir); err != nil {
					t.Fatal(err)
				}
				d, err = LoadDump(os.DirFS(dir), ".", facts.Dumps[tc.key])
			}
			if err != nil {
				t.Fatal(err)
			}
			got := describe(d)
			file := filepath.Join("../testdata/dump", tc.golden)
			if *update {
				if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("model differs from %s (-update rewrites):\n%s", file, FirstDiff(tc.golden, "got", string(want), got))
			}
		})
	}
}

func loadFacts(dir string) (*Facts, error) {
	data, err := os.ReadFile(filepath.Join(dir, "mtree-facts.json"))
	if err != nil {
		return nil, err
	}
	return ParseFacts(data)
}

// TestSpecExample parses the -D form of SPEC A.20's example and prints the
// example's plain text: the disabled alias is hidden but still queues its
// target's section.
func TestSpecExample(t *testing.T) {
	dText, err := os.ReadFile("../testdata/dump/spec-a20-D.txt")
	if err != nil {
		t.Fatal(err)
	}
	plain, err := os.ReadFile("../testdata/dump/spec-a20.txt")
	if err != nil {
		t.Fatal(err)
	}
	d, err := Parse(dText, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		opt  PrintOptions
		want []byte
	}{{PrintOptions{}, plain}, {PrintOptions{Disabled: true}, dText}} {
		if got := printed(t, d, tc.opt); string(got) != string(tc.want) {
			t.Errorf("%+v:\n%s", tc.opt, FirstDiff("want", "got", string(tc.want), string(got)))
		}
	}
}
