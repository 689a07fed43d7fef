package board

import (
	"strings"
	"testing"

	"qmem.dev/qmem/board/guest"
)

// TestBuiltinBoardsParse checks every embedded board and that the demo
// board matches the test guest's layout.
func TestBuiltinBoardsParse(t *testing.T) {
	for _, name := range Builtins() {
		if _, err := Builtin(name); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	d := Demo()
	if d.RAMBase != guest.RAMBase || d.RAMSize != guest.RAMSize || d.Guest != "demo" {
		t.Fatalf("demo board RAM %#x+%#x guest %q", d.RAMBase, d.RAMSize, d.Guest)
	}
}

// TestSpecErrors: bad descriptions are refused with the file and line of
// the problem.
func TestSpecErrors(t *testing.T) {
	cases := []struct{ name, text, want string }{
		{"not yaml", "name: [", "b.yaml:1: invalid YAML"},
		{"empty", "", "b.yaml: expected one YAML document"},
		{"list", "- a\n", "b.yaml:1: the board must be a mapping, not a list"},
		{"no name", "ram: {size: 1M}\n", "b.yaml:1: the board has no 'name'"},
		{"unknown key", "name: x\nram: {size: 1M}\ncpus: 2\n", "b.yaml:3: unknown key 'cpus' in the board (known: name, ram, guest, devices)"},
		{"dup key", "name: x\nname: y\nram: {size: 1M}\n", "b.yaml:2:"},
		{"no ram", "name: x\n", "b.yaml:1: board x has no 'ram'"},
		{"ram size text", "name: x\nram:\n  size: lots\n", "b.yaml:3: ram size: \"lots\" is not a size"},
		{"ram size negative", "name: x\nram:\n  size: -4096\n", "b.yaml:3: ram size must not be negative"},
		{"ram size zero", "name: x\nram:\n  size: 0\n", "RAM size 0x0 must be a non-zero multiple of 4 KiB"},
		{"ram unaligned", "name: x\nram:\n  size: 1000\n", "must be a non-zero multiple of 4 KiB"},
		{"bad guest", "name: x\nram: {size: 1M}\nguest: linux\n", "unknown guest \"linux\""},
		{"devices not list", "name: x\nram: {size: 1M}\ndevices: 3\n", "b.yaml:3: devices must be a list, not an integer"},
		{"device no type", "name: x\nram: {size: 1M}\ndevices:\n  - id: a\n", "b.yaml:4: device has no 'type'"},
		{"device bad key", "name: x\nram: {size: 1M}\ndevices:\n  - type: t\n    addr: 1\n", "b.yaml:5: unknown key 'addr' in a device"},
		{"device bad id", "name: x\nram: {size: 1M}\ndevices:\n  - type: t\n    id: 9lives\n", "b.yaml:5: device id '9lives' must start with a letter"},
		{"device dup id", "name: x\nram: {size: 1M}\ndevices:\n  - {type: t, id: a}\n  - {type: t, id: a}\n", "b.yaml:5: Duplicate device ID 'a' (first used at line 4)"},
		{"prop list", "name: x\nram: {size: 1M}\ndevices:\n  - type: t\n    props:\n      p: [1, 2]\n", "b.yaml:6: property 'p' must be an integer, a string or a boolean, not a list"},
		{"anchor", "name: x\nram: &r {size: 1M}\n", "b.yaml:2: YAML anchors, aliases, tags and merge keys are not supported"},
	}
	for _, tc := range cases {
		_, err := ParseSpec([]byte(tc.text), "b.yaml")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want it to contain %q", tc.name, err, tc.want)
		}
	}
}

// TestBuildErrorsNameTheDevice: a description that parses but names an
// unknown type or a bad property fails to build, naming the device and its
// line; nothing is half built.
func TestBuildErrorsNameTheDevice(t *testing.T) {
	cases := []struct{ text, want string }{
		{"name: x\nram: {size: 1M}\ndevices:\n  - type: nope\n", "device nope at line 4: 'nope' is not a valid device model name"},
		{"name: x\nram: {size: 1M}\ndevices:\n  - type: qmem-testdev\n    props: {addr: yes}\n", "device qmem-testdev at line 4"},
		{"name: x\nram: {size: 1M}\ndevices:\n  - type: qmem-testdev\n    props: {colour: red}\n", "Property 'qmem-testdev.colour' not found"},
		{"name: x\nram: {size: 1M}\ndevices:\n  - type: qmem-ram\n    props: {addr: 0x100000, size: 0}\n", "size 0x0 must be a non-zero multiple of 4 KiB"},
		{"name: x\nram: {size: 1M}\ndevices:\n  - type: qmem-remap\n", "property 'flash' is not set"},
	}
	for _, tc := range cases {
		spec, err := ParseSpec([]byte(tc.text), "b.yaml")
		if err != nil {
			t.Fatalf("%q: %v", tc.text, err)
		}
		_, err = Build(spec, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.text, err, tc.want)
		}
	}
}

// FuzzParseSpec: arbitrary bytes never panic the parser, and whatever it
// accepts validates.
func FuzzParseSpec(f *testing.F) {
	for _, name := range Builtins() {
		data, _ := builtinFS.ReadFile("boards/" + name + ".yaml")
		f.Add(data)
	}
	f.Add([]byte("name: x\nram: {size: 1M}\ndevices:\n  - {type: t, id: a, props: {p: 1}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseSpec(data, "fuzz.yaml")
		if err != nil {
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("accepted but invalid: %v", err)
		}
	})
}
