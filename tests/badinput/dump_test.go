package badinput_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"qmem.dev/qmem/mtree"
	"qmem.dev/qmem/mtree/dump"
)

// dumpCase is a refused dump, -o dump or facts file.
type dumpCase struct {
	entry
	op func(t *testing.T) error
}

// okDump is a valid `info mtree -D` dump the cases start from.
const okDump = `address-space: memory
  0000000000000000-ffffffffffffffff (prio 0, i/o): system
    0000000000000000-0000000007ffffff (prio 0, ram): alias ram-lo @ram 0000000000000000-0000000007ffffff
    00000000fe000000-00000000fe000fff (prio 0, i/o): mmio

memory-region: ram
  0000000000000000-0000000007ffffff (prio 0, ram): ram

`

// okOwners is the -o dump of okDump.
const okOwners = `address-space: memory
  0000000000000000-ffffffffffffffff (prio 0, i/o): system parent:{obj path=/machine/unattached}
    0000000000000000-0000000007ffffff (prio 0, ram): alias ram-lo @ram 0000000000000000-0000000007ffffff parent:{obj path=/machine/unattached}
    00000000fe000000-00000000fe000fff (prio 0, i/o): mmio parent:{obj path=/machine/unattached}

memory-region: ram
  0000000000000000-0000000007ffffff (prio 0, ram): ram parent:{obj path=/machine/unattached}

`

// edit replaces old by new in okDump (old must occur).
func edit(old, new string) string {
	if !strings.Contains(okDump, old) {
		panic("edit: " + old)
	}
	return strings.Replace(okDump, old, new, 1)
}

// parse runs dump.Parse and checks that a refusal returns no dump.
func parse(t *testing.T, text string) error {
	d, err := dump.Parse([]byte(text), dump.Options{})
	if err != nil && d != nil {
		t.Errorf("Parse returned a dump with error %v", err)
	}
	return err
}

// build parses text (which must parse) and builds it; a refusal must
// return no machine.
func build(t *testing.T, text string) error {
	d, err := dump.Parse([]byte(text), dump.Options{})
	if err != nil {
		t.Fatalf("the dump does not even parse: %v", err)
	}
	m, err := mtree.Build(d)
	if m != nil {
		defer m.Close()
		if err != nil {
			t.Errorf("Build returned a machine with error %v", err)
		}
	}
	return err
}

// facts parses a facts file and applies its only entry to okDump.
func facts(t *testing.T, json string) error {
	f, err := dump.ParseFacts([]byte(json))
	if err != nil {
		if f != nil {
			t.Errorf("ParseFacts returned facts with error %v", err)
		}
		return err
	}
	d, err := dump.Parse([]byte(okDump), dump.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range f.Dumps {
		if err := d.ApplyFacts(e); err != nil {
			return err
		}
	}
	return errors.New("<no error>")
}

const factsHead = `{"format": "qemu-mtree-facts/1", "dumps": {"mtree-D.txt": {"files": {"tree": "mtree.txt", "D": "mtree-D.txt", "o": "mtree-o.txt", "f": "mtree-f.txt", "fo": "mtree-f-o.txt"}`

var dumpCases = []dumpCase{
	{entry{"empty dump", "an empty text",
		"line 1: empty dump: expected an \"address-space: \" header line", ""},
		func(t *testing.T) error { return parse(t, "") }},
	{entry{"truncated dump: cut inside a line", "the valid dump cut after `(prio 0, i/o): mm`",
		"line 4: truncated: the last line has no newline (a dump ends with an empty line)", ""},
		func(t *testing.T) error { return parse(t, okDump[:strings.Index(okDump, "mmio")+2]) }},
	{entry{"truncated dump: last section not closed", "the valid dump without its final empty line",
		"line 7: truncated: the last section does not end with an empty line", ""},
		func(t *testing.T) error { return parse(t, strings.TrimSuffix(okDump, "\n")) }},
	{entry{"truncated dump: header only", "`address-space: memory` and nothing else",
		"line 1: truncated: the section has no region line", ""},
		func(t *testing.T) error { return parse(t, "address-space: memory\n") }},
	{entry{"CRLF line ends", "the valid dump with \\r\\n line ends",
		"line 1: carriage return: expected LF line ends (QEMU's monitor prints CRLF; convert it first)", ""},
		func(t *testing.T) error { return parse(t, strings.ReplaceAll(okDump, "\n", "\r\n")) }},
	{entry{"bad indentation: odd", "the `mmio` line indented by 5 spaces",
		"line 4: odd indentation (5 spaces): expected two spaces per level", ""},
		func(t *testing.T) error { return parse(t, edit("    00000000fe000000", "     00000000fe000000")) }},
	{entry{"bad indentation: a level skipped", "the `mmio` line indented by 8 spaces after a level-2 line",
		"line 4: inconsistent indentation: level 4 (8 spaces) after level 2: expected at most level 3 (a dump without -D hides disabled regions: parse the -D dump)", ""},
		func(t *testing.T) error { return parse(t, edit("    00000000fe000000", "        00000000fe000000")) }},
	{entry{"priority beyond 32 bits", "`(prio 2147483648, i/o): mmio`",
		"line 4: column 45: expected a priority in canonical signed decimal that fits 32 bits (<2*level spaces><start>-<end> (prio <n>, [nv-]<type>): <name>), found \"2147483648, i/o): mmio\"", ""},
		func(t *testing.T) error { return parse(t, edit("(prio 0, i/o): mmio", "(prio 2147483648, i/o): mmio")) }},
	{entry{"negative priority beyond 32 bits", "`(prio -2147483649, i/o): mmio`",
		"line 4: column 45: expected a priority in canonical signed decimal that fits 32 bits (<2*level spaces><start>-<end> (prio <n>, [nv-]<type>): <name>), found \"-2147483649, i/o): mmio\"", ""},
		func(t *testing.T) error {
			return parse(t, edit("(prio 0, i/o): mmio", "(prio -2147483649, i/o): mmio"))
		}},
	{entry{"priority not in canonical form", "`(prio +1, i/o): mmio`",
		"line 4: column 45: expected a priority in canonical signed decimal that fits 32 bits (<2*level spaces><start>-<end> (prio <n>, [nv-]<type>): <name>), found \"+1, i/o): mmio\"", ""},
		func(t *testing.T) error { return parse(t, edit("(prio 0, i/o): mmio", "(prio +1, i/o): mmio")) }},
	{entry{"unknown type label", "`(prio 0, rwm): mmio`",
		"line 4: column 48: expected a type label i/o, ram, rom, romd or ramd (<2*level spaces><start>-<end> (prio <n>, [nv-]<type>): <name>), found \"rwm): mmio\"", ""},
		func(t *testing.T) error { return parse(t, edit("(prio 0, i/o): mmio", "(prio 0, rwm): mmio")) }},
	{entry{"upper-case address", "`00000000FE000000-...`",
		"line 4: column 5: expected a 16-digit lower-case hex start address (<2*level spaces><start>-<end> (prio <n>, [nv-]<type>): <name>), found \"00000000FE000000-00000000fe000fff (prio 0, i/o): mmio\"", ""},
		func(t *testing.T) error { return parse(t, edit("00000000fe000000-", "00000000FE000000-")) }},
	{entry{"address range that wraps, unmarked", "`00000000fe000fff-00000000fe000000` without the overflow marker",
		"line 4: expected the \"[DETECTED OVERFLOW!] \" prefix: start 00000000fe000fff is below the parent's start 0000000000000000 or end 00000000fe000000 is below start", ""},
		func(t *testing.T) error {
			return parse(t, edit("00000000fe000000-00000000fe000fff", "00000000fe000fff-00000000fe000000"))
		}},
	{entry{"alias range of another length", "`alias ram-lo @ram 0000000000000000-0000000000000fff` for a 128 MiB alias",
		"line 3: alias offset range 0000000000000000-0000000000000fff has a different length than the region range 0000000000000000-0000000007ffffff: expected both to span the alias size", ""},
		func(t *testing.T) error {
			return parse(t, edit("@ram 0000000000000000-0000000007ffffff", "@ram 0000000000000000-0000000000000fff"))
		}},
	{entry{"second root in a section", "two level-1 lines in the `memory` group",
		"line 4: second level-1 line in one section: expected a subregion (level 2 to 3) or an empty line", ""},
		func(t *testing.T) error { return parse(t, edit("    00000000fe000000", "  00000000fe000000")) }},
	{entry{"subregions out of order", "`mmio` at 0xfe000000 printed before `ram-lo` at 0",
		"line 4: subregion out of order after line 3: expected ascending offsets in the parent, equal offsets by descending priority", ""},
		func(t *testing.T) error {
			lines := strings.Split(okDump, "\n")
			lines[2], lines[3] = lines[3], lines[2]
			return parse(t, strings.Join(lines, "\n"))
		}},
	{entry{"alias whose target is never printed", "`alias ram-lo @nope ...`, no `memory-region: nope` section",
		"line 3: alias \"ram-lo\" targets \"nope\" with type ram: expected a memory-region section \"nope\" of type ram for it (queued now or before), but the next one (line 6) prints \"ram\" with type ram", ""},
		func(t *testing.T) error { return parse(t, edit("@ram 0", "@nope 0")) }},
	{entry{"alias loop", "alias `a` (line 3) of `loop`, whose section's root (line 6) is `alias loop @loop`",
		"line 6: alias loop: alias \"loop\" leads back to itself",
		""},
		func(t *testing.T) error {
			return parse(t, "address-space: memory\n  0000000000000000-ffffffffffffffff (prio 0, i/o): system\n    0000000000000000-0000000000000fff (prio 0, i/o): alias a @loop 0000000000000000-0000000000000fff\n\n"+
				"memory-region: loop\n  0000000000000000-0000000000000fff (prio 0, i/o): alias loop @loop 0000000000000000-0000000000000fff\n\n")
		}},
	{entry{"section header naming another region", "`memory-region: ram` printing a region named `rom`",
		"line 7: memory-region section \"ram\" prints a region named \"rom\": expected the same name", ""},
		func(t *testing.T) error { return parse(t, edit("(prio 0, ram): ram\n", "(prio 0, ram): rom\n")) }},
	{entry{"address-space group after a memory-region section", "`address-space: io` after `memory-region: ram`",
		"line 9: address-space group after a memory-region section: QEMU prints every group before the alias targets", ""},
		func(t *testing.T) error {
			return parse(t, okDump+"address-space: io\n  0000000000000000-000000000000ffff (prio 0, i/o): io\n\n")
		}},
	{entry{"-o dump of another machine", "ParseWithOwners(valid -D dump, -o dump whose mmio is mmio2)",
		"-o dump:4: expected \"    00000000fe000000-00000000fe000fff (prio 0, i/o): mmio\" (-D line 4 without [disabled], then an owner suffix), found \"    00000000fe000000-00000000fe000fff (prio 0, i/o): mmio2 parent:{obj path=/mac...\"; no section of the -D dump fits here", ""},
		func(t *testing.T) error {
			d, err := dump.ParseWithOwners([]byte(okDump), []byte(strings.Replace(okOwners, "mmio ", "mmio2 ", 1)))
			if err != nil && d != nil {
				t.Errorf("ParseWithOwners returned a dump with error %v", err)
			}
			return err
		}},
	{entry{"-o line without an owner", "ParseWithOwners(valid -D dump, -o dump whose mmio line has no owner suffix)",
		"-o dump:4: expected \"    00000000fe000000-00000000fe000fff (prio 0, i/o): mmio\" (-D line 4 without [disabled], then an owner suffix), found \"    00000000fe000000-00000000fe000fff (prio 0, i/o): mmio\"; no section of the -D dump fits here", ""},
		func(t *testing.T) error {
			_, err := dump.ParseWithOwners([]byte(okDump), []byte(strings.Replace(okOwners, "mmio parent:{obj path=/machine/unattached}", "mmio", 1)))
			return err
		}},
	{entry{"facts file of another format", "`{\"format\": \"qemu-mtree-facts/2\", \"dumps\": {}}`",
		"facts: format \"qemu-mtree-facts/2\": expected \"qemu-mtree-facts/1\"", ""},
		func(t *testing.T) error { return facts(t, `{"format": "qemu-mtree-facts/2", "dumps": {}}`) }},
	{entry{"facts file with an unknown field", "an entry with `\"colour\": 1`",
		"facts: json: unknown field \"colour\"", ""},
		func(t *testing.T) error { return facts(t, factsHead+`, "colour": 1}}}`) }},
	{entry{"facts file that is not JSON", "`{\"format\": `",
		"facts: unexpected EOF", ""},
		func(t *testing.T) error { return facts(t, `{"format": `) }},
	{entry{"facts entry under the wrong key", "entry `mtree-D.txt` whose files.D is `step-01-mtree-D.txt`",
		"facts: dump \"mtree-D.txt\": files.D is \"step-01-mtree-D.txt\": expected the key", ""},
		func(t *testing.T) error {
			return facts(t, strings.Replace(factsHead, `"D": "mtree-D.txt"`, `"D": "step-01-mtree-D.txt"`, 1)+`}}}`)
		}},
	{entry{"facts of another run", "a read_only fact naming line 4 as `rom`",
		"line 4: fact text \"    00000000fe000000-00000000fe000fff (prio 0, rom): mmio\" differs from the dump's line \"    00000000fe000000-00000000fe000fff (prio 0, i/o): mmio\": the facts belong to another QEMU run", ""},
		func(t *testing.T) error {
			return facts(t, factsHead+`, "readonly": [{"line": 4, "text": "    00000000fe000000-00000000fe000fff (prio 0, rom): mmio", "readonly": true}]}}}`)
		}},
	{entry{"facts file of a corpus folder", "CheckDir(DIR), DIR/mtree-facts.json of format `x`",
		"DIR/mtree-facts.json: facts: format \"x\": expected \"qemu-mtree-facts/1\"", ""},
		func(t *testing.T) error {
			dir := t.TempDir()
			for name, text := range map[string]string{"mtree-D.txt": okDump, "mtree-o.txt": okOwners, mtree.FactsFile: `{"format": "x", "dumps": {}}`} {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			res := mtree.CheckDir(dir)
			if len(res.Runs) != 0 {
				t.Errorf("CheckDir compared %d runs", len(res.Runs))
			}
			if res.Err == nil {
				return nil
			}
			return errors.New(strings.ReplaceAll(res.Err.Error(), dir, "DIR"))
		}},
	{entry{"region of size 2^64-1 (at build)", "a level-2 line 0000000000000000-fffffffffffffffe",
		"region \"mmio\" (-D line 4): size 2^64-1 cannot be given to the memory API, which reads math.MaxUint64 as 2^64", ""},
		func(t *testing.T) error {
			return build(t, edit("    00000000fe000000-00000000fe000fff (prio 0, i/o): mmio", "    0000000000000000-fffffffffffffffe (prio 0, i/o): mmio"))
		}},
}

func dumpArea() area {
	a := area{Prefix: "D", Title: "mtree dumps and facts files",
		Intro: "`dump.Parse` of an `info mtree -D` text, `dump.ParseWithOwners` with its `-o` text, " +
			"`dump.ParseFacts` and `Dump.ApplyFacts` of an mtree-facts.json, `mtree.CheckDir` of a corpus folder and " +
			"`mtree.Build` of a parsed dump. The cases start from a valid dump: address space `memory` with root " +
			"`system` (line 2), alias `ram-lo` of `ram` (line 3), I/O region `mmio` at 0xfe000000 (line 4), and " +
			"section `memory-region: ram` (lines 6-7). Unchanged: a refused text gives no dump (and no facts), " +
			"a refused dump builds no machine, CheckDir compares nothing."}
	a.Entries = entries(dumpCases)
	return a
}

// TestDumps runs the mtree dump and facts cases.
func TestDumps(t *testing.T) {
	for i, c := range dumpCases {
		t.Run(caseName("D", i, c.entry), func(t *testing.T) {
			expectErr(t, c.entry, c.op(t))
		})
	}
}

// TestDumpBase checks that the cases' starting dump, -o dump and facts
// head are valid and build, so that each case fails for its own reason.
func TestDumpBase(t *testing.T) {
	d, err := dump.ParseWithOwners([]byte(okDump), []byte(okOwners))
	if err != nil {
		t.Fatal(err)
	}
	f, err := dump.ParseFacts([]byte(factsHead + `}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.ApplyFacts(f.Dumps["mtree-D.txt"]); err != nil {
		t.Fatal(err)
	}
	m, err := mtree.Build(d)
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
}
