package badinput_test

import (
	"fmt"
	"io"
	"strings"
	"testing"

	"qmem.dev/qmem/board"
)

// boardCase is a refused board description. Parse errors come from
// board.ParseSpec; a description that parses is built with board.Build,
// which must refuse it.
type boardCase struct {
	entry
	yaml string
}

// okBoard is a valid description the cases start from.
const okBoard = `name: bi
ram:
  size: 1M
devices:
  - type: qmem-testdev
    id: td0
    props:
      addr: 0xfe000000
`

// withDevice returns okBoard with one more device (YAML lines at the
// device list's indentation).
func withDevice(lines string) string { return okBoard + lines }

// manyDevices returns a board with n anonymous test devices.
func manyDevices(n int) string {
	var b strings.Builder
	b.WriteString("name: bi\nram:\n  size: 1M\ndevices:\n")
	for i := 0; i < n; i++ {
		b.WriteString("  - type: x\n")
	}
	return b.String()
}

var boardCases = []boardCase{
	{entry{"unknown key", "top-level `colour: blue`",
		"bi.yaml:4: unknown key 'colour' in the board (known: name, ram, guest, devices)", ""},
		"name: bi\nram:\n  size: 1M\ncolour: blue\n"},
	{entry{"unknown key in a device", "a device with `prop:` instead of `props:`",
		"bi.yaml:10: unknown key 'prop' in a device (known: type, id, props)", ""},
		withDevice("  - type: qmem-testdev\n    prop:\n      addr: 0xfe001000\n")},
	{entry{"unknown key in ram", "`ram: {size: 1M, speed: 3}`",
		"bi.yaml:4: unknown key 'speed' in ram (known: base, size)", ""},
		"name: bi\nram:\n  size: 1M\n  speed: 3\n"},
	{entry{"YAML anchor and alias", "`ram: &r {size: 1M}` then `props: *r`",
		"bi.yaml:2: YAML anchors, aliases, tags and merge keys are not supported", ""},
		"name: bi\nram: &r\n  size: 1M\ndevices:\n  - type: qmem-testdev\n    props: *r\n"},
	{entry{"YAML tag", "`name: !!str bi`",
		"bi.yaml:1: YAML anchors, aliases, tags and merge keys are not supported", ""},
		"name: !!str bi\nram:\n  size: 1M\n"},
	{entry{"oversized description", "1 MiB + 1 byte (a comment)",
		"bi.yaml: description is larger than 1048576 bytes", ""},
		okBoard + "#" + strings.Repeat("x", board.MaxSpecSize-len(okBoard)-1) + "\n"},
	{entry{"duplicate key", "`name:` twice",
		"bi.yaml:2: invalid YAML: mapping key \"name\" already defined at [1:1]", ""},
		"name: bi\nname: bo\nram:\n  size: 1M\n"},
	{entry{"duplicate device id", "two devices with id td0",
		"bi.yaml:10: Duplicate device ID 'td0' (first used at line 6)", ""},
		withDevice("  - type: qmem-testdev\n    id: td0\n")},
	{entry{"device id that is not an identifier", "`id: 0td`",
		"bi.yaml:10: device id '0td' must start with a letter and hold only letters, digits, '-', '.' and '_'", ""},
		withDevice("  - type: qmem-testdev\n    id: 0td\n")},
	{entry{"no name", "a board with `ram:` only",
		"bi.yaml:1: the board has no 'name'", ""},
		"ram:\n  size: 1M\n"},
	{entry{"no ram", "`name: bi` only",
		"bi.yaml:1: board bi has no 'ram'", ""},
		"name: bi\n"},
	{entry{"RAM of size 0", "`ram: {size: 0}`",
		"bi.yaml: board bi: RAM size 0x0 must be a non-zero multiple of 4 KiB", ""},
		"name: bi\nram:\n  size: 0\n"},
	{entry{"RAM of size 2^64", "`ram: {size: 16E}`",
		"bi.yaml:3: ram size: \"16E\" is not a size (e.g. 4096, 0x1000, 64K, 16M)", ""},
		"name: bi\nram:\n  size: 16E\n"},
	{entry{"RAM base + size wraps past 2^64", "`ram: {base: 0xfffffffffffff000, size: 8K}`",
		"bi.yaml: board bi: RAM at 0xfffffffffffff000+0x2000 is misaligned or wraps", ""},
		"name: bi\nram:\n  base: 0xfffffffffffff000\n  size: 8K\n"},
	{entry{"negative RAM size", "`ram: {size: -4096}`",
		"bi.yaml:3: ram size must not be negative", ""},
		"name: bi\nram:\n  size: -4096\n"},
	{entry{"RAM size of the wrong kind", "`ram: {size: [1M]}`",
		"bi.yaml:3: ram size must be an integer or a size, not a list", ""},
		"name: bi\nram:\n  size: [1M]\n"},
	{entry{"malformed YAML", "`ram: {size: 1M` (unclosed flow mapping)",
		"bi.yaml:2: invalid YAML: could not find flow mapping end token '}'", ""},
		"name: bi\nram: {size: 1M\n"},
	{entry{"two documents", "a second document after `---`",
		"bi.yaml: expected one YAML document holding a board description", ""},
		okBoard + "---\nname: bo\n"},
	{entry{"empty description", "an empty file",
		"bi.yaml: expected one YAML document holding a board description", ""},
		""},
	{entry{"devices not a list", "`devices: {type: qmem-testdev}`",
		"bi.yaml:5: devices must be a list, not a mapping", ""},
		"name: bi\nram:\n  size: 1M\ndevices:\n  type: qmem-testdev\n"},
	{entry{"property value that is not a scalar", "`props: {addr: [1, 2]}`",
		"bi.yaml:11: property 'addr' must be an integer, a string or a boolean, not a list", ""},
		withDevice("  - type: qmem-testdev\n    props:\n      addr: [1, 2]\n")},
	{entry{"too many devices", "4097 devices",
		"bi.yaml:5: too many devices (4097, at most 4096)", ""},
		manyDevices(4097)},
	{entry{"unknown guest", "`guest: dos`",
		"bi.yaml: board bi: unknown guest \"dos\" (known: demo)", ""},
		"name: bi\nram:\n  size: 1M\nguest: dos\n"},
	{entry{"unknown device type (at build)", "`type: qmem-nope`",
		"board bi: device qmem-nope at line 9: 'qmem-nope' is not a valid device model name", ""},
		withDevice("  - type: qmem-nope\n")},
	{entry{"abstract device type (at build)", "`type: device`",
		"board bi: device device at line 9: 'device' is not a valid device model name", ""},
		withDevice("  - type: device\n")},
	{entry{"property of the wrong type (at build)", "`props: {addr: hello}`",
		"board bi: device qmem-testdev at line 9: Parameter 'addr' expects uint64", ""},
		withDevice("  - type: qmem-testdev\n    props:\n      addr: hello\n")},
	{entry{"unknown property (at build)", "`props: {colour: blue}`",
		"board bi: device qmem-testdev at line 9: Property 'qmem-testdev.colour' not found", ""},
		withDevice("  - type: qmem-testdev\n    props:\n      colour: blue\n")},
	{entry{"realize error (at build)", "a test device at 0xfffffffffffff800",
		"board bi: device qmem-testdev (id td1) at line 9: memory: region 'testdev' at 0xfffffffffffff800 with size 0x1000 wraps past 2^64", ""},
		withDevice("  - type: qmem-testdev\n    id: td1\n    props:\n      addr: 0xfffffffffffff800\n")},
	{entry{"link to a missing path (at build)", "a qmem-remap whose `flash` is /machine/peripheral/nope",
		"board bi: device qmem-remap at line 9: Device '/machine/peripheral/nope' not found", ""},
		withDevice("  - type: qmem-remap\n    props:\n      flash: /machine/peripheral/nope\n")},
	{entry{"link of the wrong type (at build)", "a qmem-remap whose `flash` is the test device td0",
		"board bi: device qmem-remap at line 9: Invalid parameter type for 'flash', expected: qmem-flash", ""},
		withDevice("  - type: qmem-remap\n    props:\n      flash: /machine/peripheral/td0\n")},
}

func boardArea() area {
	a := area{Prefix: "B", Title: "YAML boards",
		Intro: "`board.ParseSpec(data, \"bi.yaml\")`, then `board.Build` for a description that parses " +
			"(the \"at build\" cases). The cases start from a valid board: `name: bi`, 1 MiB of RAM, a test device " +
			"`td0` at 0xfe000000 (lines 1-8). Unchanged: ParseSpec returns no description, or Build returns no " +
			"machine; a board is only ever built whole."}
	a.Entries = entries(boardCases)
	return a
}

// TestBoards runs the YAML board cases.
func TestBoards(t *testing.T) {
	for i, c := range boardCases {
		t.Run(caseName("B", i, c.entry), func(t *testing.T) {
			spec, err := board.ParseSpec([]byte(c.yaml), "bi.yaml")
			if err == nil {
				var m *board.Machine
				m, err = board.Build(spec, io.Discard)
				if m != nil {
					t.Errorf("Build returned a machine with error %v", err)
				}
			} else if spec != nil {
				t.Errorf("ParseSpec returned a description with error %v", err)
			}
			expectErr(t, c.entry, err)
		})
	}
}

// TestBoardBase checks that the cases' starting board is valid, so that
// each case fails for its own reason.
func TestBoardBase(t *testing.T) {
	spec, err := board.ParseSpec([]byte(okBoard), "bi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m, err := board.Build(spec, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(len(m.Spec().Devices)); got != "1" {
		t.Fatalf("%s devices", got)
	}
}
