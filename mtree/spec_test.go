package mtree

import (
	"os"
	"strings"
	"testing"
)

// TestSpecExamples prints the constructed examples of SPEC A.20 and A.21
// and compares them with the SPEC's text (section order aside: the SPEC
// prints the I/O group first, qmem in creation order).
func TestSpecExamples(t *testing.T) {
	m, err := NewSpecExample()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, tc := range []struct {
		file string
		opt  Options
	}{
		{"testdata/dump/spec-a20.txt", Options{}},
		{"testdata/dump/spec-a20-D.txt", Options{Disabled: true}},
	} {
		want, err := os.ReadFile(tc.file)
		if err != nil {
			t.Fatal(err)
		}
		var got strings.Builder
		if err := Write(&got, m.System, tc.opt); err != nil {
			t.Fatal(err)
		}
		if d := Compare(tc.file, string(want), got.String()); d != "" {
			t.Errorf("A.20:\n%s", d)
		}
	}
	example1 := "FlatView #0\n" +
		" AS \"memory\", root: system\n" +
		" AS \"cpu-memory-0\", root: system\n" +
		" Root memory region: system\n" +
		"  0000000000000000-0000000007ffffff (prio 0, ram): ram\n" +
		"  0000000010001000-00000000100010ff (prio 0, i/o): uart\n" +
		"  0000000010002000-00000000100020ff (prio 0, i/o): timer\n" +
		"  0000000020000000-00000000200fffff (prio 0, romd): flash\n" +
		"  00000000fff00000-00000000ffffffff (prio 0, rom): bootrom\n" +
		"\n" +
		"FlatView #1\n" +
		" AS \"I/O\", root: io\n" +
		" Root memory region: io\n" +
		"  0000000000000000-000000000000ffff (prio 0, i/o): io\n" +
		"\n"
	var got strings.Builder
	if err := Write(&got, m.System, Options{Flat: true}); err != nil {
		t.Fatal(err)
	}
	if got.String() != example1 {
		t.Errorf("A.21 example 1:\n%s", Compare("spec", example1, got.String()))
	}
}

// TestSpecFlatExamples builds SPEC A.21's examples 2 (the A/B/C/D/E
// diagram of QEMU's docs, R-SUB-6) and 3 (a bus-master space that renders
// nothing, R-FVROOT-4) and compares `info mtree -f` exactly.
func TestSpecFlatExamples(t *testing.T) {
	e := newEnv(t)
	a := e.container(nil, "A", size64)
	b := e.container(nil, "B", 0x4000)
	e.add(b, 0, e.io(nil, "D", 0x1000), 0)
	e.add(b, 0x2000, e.io(nil, "E", 0x1000), 0)
	e.add(a, 0x2000, b, 2)
	e.add(a, 0, e.io(nil, "C", 0x6000), 1)
	e.as(a, "demo")
	want := "FlatView #0\n" +
		" AS \"demo\", root: A\n" +
		" Root memory region: A\n" +
		"  0000000000000000-0000000000001fff (prio 1, i/o): C\n" +
		"  0000000000002000-0000000000002fff (prio 0, i/o): D\n" +
		"  0000000000003000-0000000000003fff (prio 1, i/o): C @0000000000003000\n" +
		"  0000000000004000-0000000000004fff (prio 0, i/o): E\n" +
		"  0000000000005000-0000000000005fff (prio 1, i/o): C @0000000000005000\n" +
		"\n"
	if got := e.print(Options{Flat: true}); got != want {
		t.Errorf("example 2:\n%s", Compare("spec", want, got))
	}

	e = newEnv(t)
	sys := e.container(nil, "system", size64)
	e.add(sys, 0x1000, e.ram(nil, "ram", 0x1000), 0)
	bm := e.container(nil, "bus master container", size64)
	alias := e.alias(nil, "bus master", sys, 0, size64)
	e.add(bm, 0, alias, 0)
	e.check(alias.SetEnabled(false))
	e.as(sys, "memory")
	e.as(bm, "gpex-root")
	want = "FlatView #1\n" +
		" AS \"gpex-root\", root: bus master container\n" +
		" Root memory region: (none)\n" +
		"  No rendered FlatView\n" +
		"\n"
	if got := e.print(Options{Flat: true}); !strings.HasSuffix(got, want) {
		t.Errorf("example 3:\n%s", got)
	}
}

// TestQOMTree checks WriteQOMTree (SPEC B.12) on a machine with devices
// and regions.
func TestQOMTree(t *testing.T) {
	e := newEnv(t)
	nic := e.device("net0")
	e.io(nic, "mmio", 0x100)
	e.io(e.device("net1"), "mmio", 0x100)
	e.io(nic, "/rom@etc/acpi/rsdp", 0x10)
	for i := 0; i < 11; i++ {
		e.io(nil, "x", 1)
	}
	for _, tc := range []struct {
		rule, path, want string
	}{
		{"R-QOMTREE-1, R-QOMTREE-2, R-QOMTREE-4 from /machine, sorted bytewise, regions escaped", "", "/machine (test-machine)\n" +
			"  /peripheral (container)\n" +
			"    /net0 (test-device)\n" +
			"      /\\x2from@etc\\x2facpi\\x2frsdp[0] (memory-region)\n" +
			"      /mmio[0] (memory-region)\n" +
			"    /net1 (test-device)\n" +
			"      /mmio[0] (memory-region)\n" +
			"  /peripheral-anon (container)\n" +
			"  /unattached (container)\n" +
			"    /sysbus (System)\n" +
			"    /x[0] (memory-region)\n" +
			"    /x[10] (memory-region)\n" +
			"    /x[1] (memory-region)\n" +
			"    /x[2] (memory-region)\n" +
			"    /x[3] (memory-region)\n" +
			"    /x[4] (memory-region)\n" +
			"    /x[5] (memory-region)\n" +
			"    /x[6] (memory-region)\n" +
			"    /x[7] (memory-region)\n" +
			"    /x[8] (memory-region)\n" +
			"    /x[9] (memory-region)\n"},
		{"R-QOMTREE-1 the root prints an empty component", "/", "/ (container)\n"},
		{"R-QOMTREE-1 a start below the root shows its last component", "/machine/peripheral/net0", "/net0 (test-device)\n" +
			"  /\\x2from@etc\\x2facpi\\x2frsdp[0] (memory-region)\n" +
			"  /mmio[0] (memory-region)\n"},
		{"R-QOMTREE-3 unresolved", "/machine/nowhere", "Path '/machine/nowhere' could not be resolved.\n"},
		{"R-QOMTREE-3 ambiguous partial path", "mmio[0]", "Path 'mmio[0]' could not be resolved.\n"},
		{"R-QOMTREE-3 unambiguous partial path", "net1", "/net1 (test-device)\n  /mmio[0] (memory-region)\n"},
	} {
		var b strings.Builder
		if err := WriteQOMTree(&b, e.reg, tc.path); err != nil {
			t.Fatal(err)
		}
		got := b.String()
		if tc.path == "/" {
			got = strings.SplitAfter(got, "\n")[0]
		}
		if got != tc.want {
			t.Errorf("%s:\n%s", tc.rule, Compare("want", tc.want, got))
		}
	}
}
