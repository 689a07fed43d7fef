package mtree

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"qmem.dev/qmem/mtree/dump"
)

// factsDump is a -D dump whose `info mtree -f` depends on every kind of
// fact (SPEC A.22).
const factsDump = `address-space: I/O
address-space: memory
  0000000000000000-000000000000ffff (prio 0, i/o): io
    0000000000000010-0000000000000011 (prio 0, i/o): dev
    0000000000001000-0000000000001fff (prio 0, ram): alias win @ram 0000000000000000-0000000000000fff
    0000000000002000-0000000000002fff (prio 0, i/o): a
    0000000000002800-0000000000002fff (prio 0, i/o): b
    0000000000003000-0000000000003000 (prio 0, i/o): tiny

memory-region: ram
  0000000000000000-0000000000000fff (prio 0, ram): ram

`

// ref is a facts region reference to line n of factsDump.
func ref(n int) map[string]any {
	return map[string]any{"line": n, "text": strings.Split(factsDump, "\n")[n-1]}
}

func with(r map[string]any, k string, v any) map[string]any {
	r[k] = v
	return r
}

// TestBuildFacts: each fact kind of SPEC A.22 changes what Build makes and
// therefore `info mtree -f`, while the tree variants stay the dump; the
// golden file shows -f with the defaults and with each fact.
func TestBuildFacts(t *testing.T) {
	var out strings.Builder
	for _, tc := range []struct {
		rule  string
		key   string
		facts any
	}{
		{"defaults (FACTS-FORMAT.md section 3)", "", nil},
		{"R-DUMP-1 io terminates: it fills the gaps between its children", "terminates", []any{with(ref(3), "terminates", true)}},
		{"R-DUMP-2 the alias win is read-only: its range prints rom", "readonly", []any{with(ref(5), "readonly", true)}},
		{"R-DUMP-3 b was added after a: b wins where they overlap", "order", []any{map[string]any{"container": ref(3), "first": ref(6), "later": ref(7)}}},
		{"R-DUMP-4 memory was created before I/O", "as_order", []any{map[string]any{
			"root": " Root memory region: io", "as": []string{` AS "memory", root: io`, ` AS "I/O", root: io`}}}},
		{"R-DUMP-5 tiny has size 0: it renders nothing", "zero_size", []any{with(ref(8), "size", 0)}},
	} {
		entry := map[string]any{"files": map[string]string{"D": "mtree-D.txt"}}
		for _, k := range []string{"terminates", "readonly", "order", "zero_size", "as_order"} {
			entry[k] = []any{}
		}
		if tc.key != "" {
			entry[tc.key] = tc.facts
		}
		data, err := json.Marshal(map[string]any{"format": dump.FactsFormat, "dumps": map[string]any{"mtree-D.txt": entry}})
		if err != nil {
			t.Fatal(err)
		}
		facts, err := dump.ParseFacts(data)
		if err != nil {
			t.Fatal(err)
		}
		d, err := dump.Parse([]byte(factsDump), dump.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := d.ApplyFacts(facts.Dumps["mtree-D.txt"]); err != nil {
			t.Fatal(err)
		}
		m, err := Build(d)
		if err != nil {
			t.Fatalf("%s: %v", tc.rule, err)
		}
		var tree, flat strings.Builder
		if err := Write(&tree, m.System, Options{Disabled: true}); err != nil {
			t.Fatal(err)
		}
		if err := Write(&flat, m.System, Options{Flat: true}); err != nil {
			t.Fatal(err)
		}
		m.Close()
		if notes := len(m.Notes); tc.key == "as_order" && notes != 0 || tc.key != "as_order" && notes != 1 {
			t.Errorf("%s: notes %q", tc.rule, m.Notes)
		}
		if tree.String() != factsDump {
			t.Errorf("%s: -D differs:\n%s", tc.rule, dump.FirstDiff("dump", "printed", factsDump, tree.String()))
		}
		fmt.Fprintf(&out, "== %s ==\n%s", tc.rule, flat.String())
	}
	golden(t, "R-DUMP", out.String())
}

// TestBuildRefuses: what memory cannot express is an error naming the
// region or address space, never a panic or a silent change.
func TestBuildRefuses(t *testing.T) {
	for _, tc := range []struct{ name, dump, owners, err string }{
		{"size 2^64-1", "address-space: memory\n  0000000000000000-fffffffffffffffe (prio 0, i/o): big\n\n", "", "size 2^64-1"},
		{"RAM of 2^64 bytes", "address-space: memory\n  0000000000000000-ffffffffffffffff (prio 0, ram): huge\n\n", "", "cannot have size 2^64"},
		{"empty address-space name", "address-space: \n  0000000000000000-00000000000000ff (prio 0, i/o): x\n\n", "", "empty name"},
		{"named orphan", "address-space: memory\n  0000000000000000-00000000000000ff (prio 0, i/o): x\n\n",
			"address-space: memory\n  0000000000000000-00000000000000ff (prio 0, i/o): x orphan\n\n", "printed as an orphan"},
		{"parent other than the owner", "address-space: memory\n  0000000000000000-00000000000000ff (prio 0, i/o): x\n\n",
			"address-space: memory\n  0000000000000000-00000000000000ff (prio 0, i/o): x owner:{dev id=a} parent:{obj path=/machine}\n\n", "differs from the owner"},
		{"parent without owner", "address-space: memory\n  0000000000000000-00000000000000ff (prio 0, i/o): x\n\n",
			"address-space: memory\n  0000000000000000-00000000000000ff (prio 0, i/o): x parent:{obj path=/machine}\n\n", "without owner"},
		{"object id", "address-space: memory\n  0000000000000000-00000000000000ff (prio 0, i/o): x\n\n",
			"address-space: memory\n  0000000000000000-00000000000000ff (prio 0, i/o): x owner:{obj id=a}\n\n", "only devices have ids"},
		{"machine as a device", "address-space: memory\n  0000000000000000-00000000000000ff (prio 0, i/o): x\n\n",
			"address-space: memory\n  0000000000000000-00000000000000ff (prio 0, i/o): x owner:{dev path=/machine}\n\n", "is a non-device object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var d *dump.Dump
			var err error
			if tc.owners == "" {
				d, err = dump.Parse([]byte(tc.dump), dump.Options{})
			} else {
				d, err = dump.ParseWithOwners([]byte(tc.dump), []byte(tc.owners))
			}
			if err != nil {
				t.Fatal(err)
			}
			m, err := Build(d)
			if err == nil {
				m.Close()
				t.Fatal("built")
			}
			if !strings.Contains(err.Error(), tc.err) {
				t.Errorf("error %q: want %q", err, tc.err)
			}
		})
	}
}

// TestClose: a closed machine leaves no live object in its registry apart
// from the root containers.
func TestClose(t *testing.T) {
	m, err := NewSpecExample()
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
	if leaks := m.Registry.Leaks(); len(leaks) > 0 {
		t.Errorf("leaks after Close: %v", leaks)
	}
}
