package dump

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the expected results of golden files in testdata")

// describe prints the model of d in a form a reviewer can read: sections,
// then one line per region with its identity-relevant fields.
func describe(d *Dump) string {
	var b strings.Builder
	id := func(r *Region) string {
		if r == nil {
			return "-"
		}
		return fmt.Sprintf("r%d", r.ID)
	}
	ids := func(rs []*Region) string {
		var s []string
		for _, r := range rs {
			s = append(s, id(r))
		}
		return "[" + strings.Join(s, " ") + "]"
	}
	for _, s := range d.Groups {
		fmt.Fprintf(&b, "group line %d %q root %s\n", s.Line, s.ASNames, id(s.Root.Region))
	}
	for _, s := range d.Targets {
		fmt.Fprintf(&b, "target line %d %q root %s\n", s.Line, s.Target, id(s.Root.Region))
	}
	for _, r := range d.Regions {
		fmt.Fprintf(&b, "%s %q addr=%#x size=%s prio=%d %s%s", id(r), r.Name, r.Addr, r.Size, r.Priority, map[bool]string{true: "nv-"}[r.NV], r.Kind)
		if !r.Enabled {
			b.WriteString(" disabled")
		}
		if r.Alias != nil {
			fmt.Fprintf(&b, " alias=%s+%#x", id(r.Alias), r.AliasOffset)
		}
		if r.Owner != nil {
			fmt.Fprintf(&b, " owner=%q", r.Owner.String())
		}
		var places []string
		for _, p := range r.Places {
			places = append(places, fmt.Sprint(p.Line))
		}
		fmt.Fprintf(&b, " in=%s places=[%s]", id(r.Container), strings.Join(places, " "))
		if len(r.Children) > 0 {
			fmt.Fprintf(&b, " children=%s", ids(r.Children))
			if ids(r.RenderOrder) != ids(r.Children) {
				fmt.Fprintf(&b, " render=%s", ids(r.RenderOrder))
			}
		}
		fmt.Fprintf(&b, " term=%v ro=%v\n", r.Terminates, r.ReadOnly)
	}
	for _, n := range d.Notes() {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	return b.String()
}

// parseCase is one case of a data-driven file: "=== NAME [ARGS]", the input
// up to "--- want", and the expected result up to the next "===".
type parseCase struct {
	name, args, input, want string
}

func readCases(t *testing.T, file string) (header string, cases []parseCase) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	chunks := strings.Split(string(data), "\n=== ")
	header = chunks[0]
	for _, ch := range chunks[1:] {
		title, rest, _ := strings.Cut(ch, "\n")
		input, want, ok := strings.Cut(rest, "--- want\n")
		if !ok {
			t.Fatalf("%s: case %q has no \"--- want\" line", file, title)
		}
		if s, ok := strings.CutSuffix(input, "\\ no newline at end\n"); ok {
			input = strings.TrimSuffix(s, "\n")
		}
		name, args, _ := strings.Cut(title, " ")
		// Case names use '_' for spaces in the title's first word.
		cases = append(cases, parseCase{name: name, args: args, input: input, want: want})
	}
	return header, cases
}

func writeCases(t *testing.T, file, header string, cases []parseCase) {
	t.Helper()
	var b strings.Builder
	b.WriteString(header)
	for _, c := range cases {
		b.WriteString("\n=== " + c.name)
		if c.args != "" {
			b.WriteString(" " + c.args)
		}
		b.WriteString("\n" + c.input)
		if !strings.HasSuffix(c.input, "\n") {
			b.WriteString("\n\\ no newline at end\n")
		}
		b.WriteString("--- want\n" + c.want)
	}
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestParseCases runs testdata/dump/parse-cases.txt: malformed dumps must
// fail with the line and what was expected; valid ones must print back
// byte for byte and give the model summary written there.
func TestParseCases(t *testing.T) {
	const file = "../testdata/dump/parse-cases.txt"
	header, cases := readCases(t, file)
	for i, c := range cases {
		owners := strings.Contains(c.args, "owners")
		var got string
		d, err := Parse([]byte(c.input), Options{Owners: owners})
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Errorf("%s: error %v is not an *Error", c.name, err)
			}
			got = "error: " + err.Error() + "\n"
		} else {
			got = "ok\n" + describe(d)
			var out bytes.Buffer
			if err := d.Print(&out, PrintOptions{Disabled: true, Owners: owners}); err != nil {
				t.Fatal(err)
			}
			if out.String() != c.input {
				t.Errorf("%s: reprint differs:\n%s", c.name, FirstDiff("input", "printed", c.input, out.String()))
			}
		}
		if *update {
			cases[i].want = got
			continue
		}
		if got != c.want {
			t.Errorf("%s:\ngot:\n%swant:\n%s", c.name, got, c.want)
		}
	}
	if *update {
		writeCases(t, file, header, cases)
	}
}
