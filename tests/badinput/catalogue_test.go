package badinput_test

import (
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/bad-inputs.md from the tables")

// docPath is the catalogue document, relative to this package.
const docPath = "../../docs/bad-inputs.md"

// entry is one row of the catalogue.
type entry struct {
	Name  string // what is wrong, a short phrase
	Input string // what is given, as the document shows it (one line)
	Want  string // the error qmem gives, exactly (after normalize)
	// Bug, when set, says how qmem falls short of Want today: the test
	// skips with "BUG: " and this text, and the document flags the row.
	Bug string
}

// area is one table of the catalogue.
type area struct {
	Prefix  string // case numbers are Prefix1, Prefix2, ...
	Title   string
	Intro   string // what the cases call, what "unchanged" means
	Entries []entry
}

// ent returns the entry of a case type that embeds entry.
func (e entry) ent() entry { return e }

// entries returns the entries of a table of cases.
func entries[C interface{ ent() entry }](cases []C) []entry {
	out := make([]entry, len(cases))
	for i, c := range cases {
		out[i] = c.ent()
	}
	return out
}

// catalogue returns every area in document order.
func catalogue() []area {
	return []area{apiArea(), qomArea(), boardArea(), dumpArea(), qmpArea()}
}

// caseName is the subtest name of an area's i-th case, e.g. "A3 container cycle".
func caseName(prefix string, i int, e entry) string {
	return fmt.Sprintf("%s%d %s", prefix, i+1, e.Name)
}

// serials matches the creation numbers of objects outside the tree
// ("qmem-testdev#42"), which depend on how many objects a fixture made.
var serials = regexp.MustCompile(`#[0-9]+\b`)

// normalize makes an error text comparable with the catalogue: creation
// numbers become "#N".
func normalize(s string) string { return serials.ReplaceAllString(s, "#N") }

// expectErr checks err against e.Want, or skips the case when it is a
// known bug and still behaves as the bug says.
func expectErr(t *testing.T, e entry, err error) {
	t.Helper()
	got := "<no error>"
	if err != nil {
		got = normalize(err.Error())
	}
	if got == e.Want {
		if e.Bug != "" {
			t.Errorf("fixed? the case behaves as documented now; remove its Bug note: %s", e.Bug)
		}
		return
	}
	if e.Bug != "" {
		t.Skipf("BUG: %s (got %q)", e.Bug, got)
	}
	t.Errorf("error\n got %q\nwant %q", got, e.Want)
}

// TestCatalogueDoc checks that docs/bad-inputs.md is exactly what the
// tables generate, and that the tables are large enough and well named.
func TestCatalogueDoc(t *testing.T) {
	areas := catalogue()
	total := 0
	names := map[string]bool{}
	for _, a := range areas {
		for i, e := range a.Entries {
			total++
			n := caseName(a.Prefix, i, e)
			if names[n] {
				t.Errorf("duplicate case %q", n)
			}
			names[n] = true
			if e.Name == "" || e.Input == "" || e.Want == "" {
				t.Errorf("%s: name, input and error are all required", n)
			}
			if strings.ContainsAny(e.Input+e.Want, "\n\r") {
				t.Errorf("%s: input and error must be one line each", n)
			}
		}
	}
	if total < 40 {
		t.Errorf("the catalogue has %d cases; the issue asks for at least 40", total)
	}
	want := renderDoc(areas)
	if *update {
		if err := os.WriteFile(docPath, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatalf("%v (generate it with: go test ./tests/badinput -run TestCatalogueDoc -update)", err)
	}
	if string(got) != want {
		t.Errorf("%s is not what the tables generate; run: go test ./tests/badinput -run TestCatalogueDoc -update", docPath)
	}
}

const docIntro = `# Bad inputs

Every input below is refused, and after each refusal the machine is exactly
as it was before (DESIGN §5: check first, then mutate). The catalogue is
generated from the tables of the tests in ` + "`tests/badinput`" + `, which
assert each error text and the "unchanged" check of its area, so this file
and qmem's behaviour cannot drift apart. After adding a case or changing an
error text:

` + "```sh" + `
go test ./tests/badinput -run TestCatalogueDoc -update   # rewrite this file
go test ./tests/badinput                                 # check the behaviour
` + "```" + `

Errors are quoted exactly; "#N" stands for the creation number of an
object that has no path. A row marked **bug** is a case where qmem does not
yet give the error shown: its test skips with "BUG:" and the note says what
happens instead.

Not in the catalogue because they are not errors: a region of size 0 (legal,
as in QEMU; it renders nothing), negative priorities (legal: priorities are
` + "`int32`" + `, so a priority beyond 32 bits cannot be passed to the API at all;
the dump parser and QMP cases show how such values are refused where they
can be written), an alias loop whose render ends because the alias windows
clip it (accepted, as QEMU renders it; arm-mps2-an505 has one; only a change
that would make it endless is refused), overlapping subregions (allowed, the
higher priority wins), accesses to unassigned addresses (they complete as
QEMU's rules say, R-UNAS-*). Faults while the machine runs (device callbacks that panic,
block or re-enter themselves, clients that hang up, many clients at once)
are tested in ` + "`tests/faults`" + `; see docs/testing.md.
`

// renderDoc produces docs/bad-inputs.md.
func renderDoc(areas []area) string {
	var b strings.Builder
	b.WriteString(docIntro)
	b.WriteString("\n| area | cases |\n|---|---|\n")
	total := 0
	for _, a := range areas {
		fmt.Fprintf(&b, "| %s (%s1..%s%d) | %d |\n", a.Title, a.Prefix, a.Prefix, len(a.Entries), len(a.Entries))
		total += len(a.Entries)
	}
	fmt.Fprintf(&b, "| total | %d |\n", total)
	for _, a := range areas {
		fmt.Fprintf(&b, "\n## %s\n\n%s\n\n", a.Title, strings.TrimSpace(a.Intro))
		b.WriteString("| # | case | input | error |\n|---|---|---|---|\n")
		for i, e := range a.Entries {
			errText := code(e.Want)
			if e.Bug != "" {
				errText += " **bug**: " + cell(e.Bug)
			}
			input := code(e.Input)
			if strings.Contains(e.Input, "`") {
				input = cell(e.Input) // prose with code spans of its own
			}
			fmt.Fprintf(&b, "| %s%d | %s | %s | %s |\n", a.Prefix, i+1, cell(e.Name), input, errText)
		}
	}
	return b.String()
}

// cell escapes text for a Markdown table cell.
func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// code renders s as a code span inside a table cell.
func code(s string) string {
	fence := "`"
	for strings.Contains(s, fence) {
		fence += "`"
	}
	pad := ""
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") || fence != "`" {
		pad = " "
	}
	return fence + pad + cell(s) + pad + fence
}
