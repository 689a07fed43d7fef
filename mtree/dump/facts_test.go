package dump

import (
	"strings"
	"testing"
)

// factsDump is a small -D dump for facts tests; line numbers matter.
const factsDump = `address-space: memory
  0000000000000000-ffffffffffffffff (prio 0, i/o): system
    0000000000000000-0000000000000fff (prio 0, i/o): a
    0000000000000000-0000000000001fff (prio 0, i/o): b
    0000000000000800-0000000000000fff (prio 0, i/o): c
    0000000000001000-0000000000001000 (prio 1, i/o): one
    0000000000002000-0000000000002000 (prio 0, ram): alias z @ram 0000000000000000-0000000000000000
    0000000000003000-0000000000003fff (prio 0, rom): rom

memory-region: ram
  0000000000000000-0000000000000fff (prio 0, ram): ram

`

func factsJSON(entry string) string {
	return `{"format": "qemu-mtree-facts/1", "dumps": {"mtree-D.txt": {"files": {"tree": "mtree.txt", "D": "mtree-D.txt", "o": "mtree-o.txt", "f": "mtree-f.txt", "fo": "mtree-f-o.txt"}` + entry + `}}}`
}

func TestApplyFacts(t *testing.T) {
	entry := `, "terminates": [` + `{"line": 3, "text": "    0000000000000000-0000000000000fff (prio 0, i/o): a", "terminates": false, "source": "x"}` + `],
	  "readonly": [{"line": 7, "text": "` + line(7) + `", "readonly": true, "source": "y"}],
	  "zero_size": [{"line": 6, "text": "` + line(6) + `", "size": 0}, {"line": 7, "text": "` + line(7) + `", "size": 1}],
	  "order": [{"container": {"line": 2, "text": "` + line(2) + `"}, "first": {"line": 3, "text": "` + line(3) + `"}, "later": {"line": 5, "text": "` + line(5) + `"}},
	            {"container": {"line": 2, "text": "` + line(2) + `"}, "first": {"line": 4, "text": "` + line(4) + `"}, "later": {"line": 3, "text": "` + line(3) + `"}}],
	  "as_order": [{"root": " Root memory region: system", "as": [" AS \"memory\", root: system", " AS \"cpu-memory-0\", root: system"]}]`
	f, err := ParseFacts([]byte(factsJSON(entry)))
	if err != nil {
		t.Fatal(err)
	}
	d, err := Parse([]byte(factsDump), Options{})
	if err != nil {
		t.Fatal(err)
	}
	names := func(rs []*Region) string {
		var s []string
		for _, r := range rs {
			s = append(s, r.Name)
		}
		return strings.Join(s, " ")
	}
	sys := d.NodeAt(2).Region
	if got, want := names(sys.RenderOrder), "one a b c z rom"; got != want {
		t.Errorf("default render order %q, want %q", got, want)
	}
	if r := d.NodeAt(6).Region; r.Size != (Size{Bytes: 1}) || !r.Terminates {
		t.Errorf("default X-X non-alias: size %v terminates %v, want 1 and true", r.Size, r.Terminates)
	}
	if r := d.NodeAt(7).Region; !r.Size.IsZero() || r.Terminates || r.ReadOnly {
		t.Errorf("default X-X alias: size %v terminates %v readonly %v, want 0, false, false", r.Size, r.Terminates, r.ReadOnly)
	}
	if r := d.NodeAt(8).Region; !r.ReadOnly || !r.Terminates {
		t.Errorf("default rom leaf: readonly %v terminates %v, want true", r.ReadOnly, r.Terminates)
	}
	if err := d.ApplyFacts(f.Dumps["mtree-D.txt"]); err != nil {
		t.Fatal(err)
	}
	// c moves before a; a already precedes b, so the second fact changes nothing.
	if got, want := names(sys.RenderOrder), "one c a b z rom"; got != want {
		t.Errorf("render order %q, want %q", got, want)
	}
	if got, want := names(sys.Children), "a b c one z rom"; got != want {
		t.Errorf("children %q, want printed order %q", got, want)
	}
	if r := d.NodeAt(3).Region; r.Terminates {
		t.Error("terminates fact not applied")
	}
	if r := d.NodeAt(7).Region; !r.ReadOnly || r.Size != (Size{Bytes: 1}) {
		t.Errorf("alias z: readonly %v size %v, want true and 1", r.ReadOnly, r.Size)
	}
	if r := d.NodeAt(6).Region; !r.Size.IsZero() {
		t.Errorf("one: size %v, want 0", r.Size)
	}
	as := []string{` AS "cpu-memory-0", root: system`, ` AS "memory", root: system`}
	got, err := d.ASOrder.Order(" Root memory region: system", as)
	if err != nil || got[0] != ` AS "memory", root: system` {
		t.Errorf("ASOrder.Order = %q, %v", got, err)
	}
	if u := d.ASOrder.Unused(); len(u) != 0 {
		t.Errorf("unused as_order facts after use: %v", u)
	}
	if _, err := d.ASOrder.Order(" Root memory region: io", as); err == nil {
		t.Error("ASOrder.Order matched a view with another root")
	}
}

func line(n int) string { return strings.Split(factsDump, "\n")[n-1] }

// TestFactsErrors checks that facts that do not fit the dump are refused
// with the line and the reason, and leave the model unchanged.
func TestFactsErrors(t *testing.T) {
	for _, tc := range []struct {
		name, entry, want string
		parseErr          bool // ParseFacts itself must refuse
	}{
		{"text differs", `, "readonly": [{"line": 3, "text": "    0000000000000000-0000000000000fff (prio 0, i/o): A", "readonly": true}]`, "line 3: fact text", false},
		{"line out of range", `, "readonly": [{"line": 99, "text": "x", "readonly": true}]`, "the dump has 12 lines", false},
		{"header line", `, "readonly": [{"line": 1, "text": "address-space: memory", "readonly": true}]`, "prints no region", false},
		{"also another region", `, "readonly": [{"line": 3, "text": "` + line(3) + `", "also": [4], "readonly": true}]`, "line 4: fact for line 3 lists line 4 under also", false},
		{"zero_size not X-X", `, "zero_size": [{"line": 3, "text": "` + line(3) + `", "size": 0}]`, "is not X-X", false},
		{"zero_size 2", `, "zero_size": [{"line": 6, "text": "` + line(6) + `", "size": 2}]`, "expected 0 or 1", true},
		{"terminates alias", `, "terminates": [{"line": 7, "text": "` + line(7) + `", "terminates": true}]`, "an alias never terminates", false},
		{"order non-child", `, "order": [{"container": {"line": 3, "text": "` + line(3) + `"}, "first": {"line": 4, "text": "` + line(4) + `"}, "later": {"line": 5, "text": "` + line(5) + `"}}]`, "is not a subregion of", false},
		{"order priorities", `, "order": [{"container": {"line": 2, "text": "` + line(2) + `"}, "first": {"line": 3, "text": "` + line(3) + `"}, "later": {"line": 6, "text": "` + line(6) + `"}}]`, "equal priority", false},
		{"as_order single", `, "as_order": [{"root": " Root memory region: system", "as": [" AS \"memory\", root: system"]}]`, "expected 2 or more", false},
		{"as_order bad line", `, "as_order": [{"root": "Root", "as": []}]`, "Root memory region", true},
		{"unknown field", `, "readonly": [{"line": 3, "text": "` + line(3) + `", "read_only": true}]`, "unknown field", true},
		{"zero line", `, "readonly": [{"line": 0, "text": "", "readonly": true}]`, "1-based", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Parse([]byte(factsDump), Options{})
			if err != nil {
				t.Fatal(err)
			}
			before := describe(d)
			f, err := ParseFacts([]byte(factsJSON(tc.entry)))
			if tc.parseErr {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("ParseFacts error %v, want one containing %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			err = d.ApplyFacts(f.Dumps["mtree-D.txt"])
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ApplyFacts error %v, want one containing %q", err, tc.want)
			}
			if after := describe(d); after != before {
				t.Errorf("failed ApplyFacts changed the model:\n%s", FirstDiff("before", "after", before, after))
			}
		})
	}
	for _, tc := range []struct{ name, json, want string }{
		{"format", `{"format": "qemu-mtree-facts/2", "dumps": {}}`, "format"},
		{"key", `{"format": "qemu-mtree-facts/1", "dumps": {"x.txt": {"files": {"D": "mtree-D.txt"}}}}`, "expected the key"},
		{"trailing", `{"format": "qemu-mtree-facts/1", "dumps": {}} {}`, "after the JSON"},
		{"not json", `[`, "facts:"},
	} {
		if _, err := ParseFacts([]byte(tc.json)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: ParseFacts error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}
