package mtree

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"qmem.dev/qmem/mtree/dump"
)

// maxFuzzRAM bounds the host memory a fuzzed dump may ask for (it is only
// reserved, but the address space of a fuzzing process is finite).
const maxFuzzRAM = 1 << 30

// FuzzBuild: whatever dump text mtree/dump accepts, Build never panics: it
// returns a machine or an error, and a machine prints all five variants
// without error; the tree variants of a built dump print back the parsed
// text when the dump has no identity guesses and its address-space names
// are in strcmp order.
func FuzzBuild(f *testing.F) {
	data, err := os.ReadFile("testdata/dump/parse-cases.txt")
	if err != nil {
		f.Fatal(err)
	}
	for _, ch := range strings.Split(string(data), "\n=== ")[1:] {
		_, rest, _ := strings.Cut(ch, "\n")
		input, _, _ := strings.Cut(rest, "--- want\n")
		f.Add([]byte(input))
	}
	for _, dir := range []string{"riscv64-spike", "ppc64-mac99", "x86_64-isapc", "riscv32-virt"} {
		d, err := os.ReadFile(filepath.Join(corpusDir, dir, "mtree-D.txt"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(d)
	}
	for _, c := range ruleCases {
		e := newEnv(f)
		c.build(e)
		f.Add([]byte(e.print(Options{Disabled: true})))
	}
	f.Fuzz(func(t *testing.T, text []byte) {
		d, err := dump.Parse(text, dump.Options{})
		if err != nil {
			return
		}
		ram := uint64(0)
		for _, r := range d.Regions {
			if r.Alias == nil && r.Kind != dump.KindIO {
				ram += r.Size.Bytes
				if r.Size.Full || ram > maxFuzzRAM {
					return
				}
			}
		}
		// QEMU sorts the names of a group; the parser takes them as given.
		sorted := true
		for _, g := range d.Groups {
			sorted = sorted && slices.IsSorted(g.ASNames)
		}
		m, err := Build(d)
		if err != nil {
			return
		}
		defer m.Close()
		for _, v := range Variants {
			var b strings.Builder
			if err := Write(&b, m.System, v.Opt); err != nil {
				t.Fatalf("%s: %v", v.Name, err)
			}
			if v.Opt.Disabled && sorted && len(d.Notes()) == 0 && b.String() != string(text) {
				t.Fatalf("built dump prints differently:\n%s", dump.FirstDiff("input", "printed", string(text), b.String()))
			}
		}
	})
}
