package dump

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// addSeeds adds the parse cases and the smallest corpus dumps (small seeds
// keep minimizing new inputs short) to f's seed corpus.
func addSeeds(f *testing.F, add func(d, o []byte)) {
	data, err := os.ReadFile("../testdata/dump/parse-cases.txt")
	if err != nil {
		f.Fatal(err)
	}
	for _, ch := range strings.Split(string(data), "\n=== ")[1:] {
		_, rest, _ := strings.Cut(ch, "\n")
		input, _, _ := strings.Cut(rest, "--- want\n")
		add([]byte(input), nil)
	}
	for _, dir := range []string{"riscv64-spike", "ppc64-mac99", "x86_64-isapc", "riscv32-virt"} {
		d, err1 := os.ReadFile(filepath.Join(corpusDir, dir, "mtree-D.txt"))
		o, err2 := os.ReadFile(filepath.Join(corpusDir, dir, "mtree-o.txt"))
		if err1 != nil || err2 != nil {
			f.Fatal(err1, err2)
		}
		add(d, o)
	}
}

// FuzzParse: Parse never panics, fails only with an *Error whose line is
// within the text, and whatever it accepts prints back byte for byte.
func FuzzParse(f *testing.F) {
	addSeeds(f, func(d, o []byte) {
		f.Add(d, false)
		if o != nil {
			f.Add(o, true)
		}
	})
	f.Fuzz(func(t *testing.T, data []byte, owners bool) {
		d, err := Parse(data, Options{Owners: owners})
		if err != nil {
			pe, ok := err.(*Error)
			if !ok {
				t.Fatalf("error %v is %T, not *Error", err, err)
			}
			if pe.Line < 0 || pe.Line > bytes.Count(data, []byte("\n"))+1 {
				t.Fatalf("error line %d outside the text: %v", pe.Line, err)
			}
			return
		}
		var out bytes.Buffer
		if err := d.Print(&out, PrintOptions{Disabled: true, Owners: owners}); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out.Bytes(), data) {
			t.Fatalf("accepted text does not print back:\n%s", FirstDiff("input", "printed", string(data), out.String()))
		}
		out.Reset()
		_ = d.Print(&out, PrintOptions{})
		_ = Canon(out.String())
		if err := d.ApplyFacts(&FactsEntry{}); err != nil {
			t.Fatalf("empty facts: %v", err)
		}
	})
}

// FuzzOwners: never panics, fails only with an *Error; when a
// -D dump parses, its own -o print is accepted as its owners.
func FuzzOwners(f *testing.F) {
	addSeeds(f, func(d, o []byte) { f.Add(d, o) })
	f.Fuzz(func(t *testing.T, dText, oText []byte) {
		d, err := ParseWithOwners(dText, oText)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error %v is %T, not *Error", err, err)
			}
		}
		if d == nil {
			if d, err = Parse(dText, Options{}); err != nil {
				return
			}
		}
		var o bytes.Buffer
		for _, r := range d.Regions {
			r.Owner = &Owner{Orphan: true}
		}
		_ = d.Print(&o, PrintOptions{Owners: true})
		if _, err := ParseWithOwners(dText, o.Bytes()); err != nil {
			t.Fatalf("own -o print refused: %v", err)
		}
	})
}
