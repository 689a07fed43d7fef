package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"qmem.dev/qmem/mtree"
	"qmem.dev/qmem/mtree/dump"
)

// TestMtreeExample: `qmem mtree --board spec-a20` prints the machine of
// SPEC A.20; with -D it shows the disabled alias, with -f SPEC A.21's
// Example 1 (sections compared in any order).
func TestMtreeExample(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "../../mtree/testdata/dump/spec-a20.txt"},
		{[]string{"-D"}, "../../mtree/testdata/dump/spec-a20-D.txt"},
	} {
		out, errOut, code := run(t, append([]string{"mtree", "--board", "spec-a20"}, tc.args...)...)
		want, err := os.ReadFile(tc.want)
		if err != nil {
			t.Fatal(err)
		}
		if code != 0 || mtree.Compare(tc.want, string(want), out) != "" {
			t.Errorf("%v: status %d, stderr %q\n%s", tc.args, code, errOut, mtree.Compare(tc.want, string(want), out))
		}
	}
	out, _, code := run(t, "mtree", "--board", "spec-a20", "-f")
	if code != 0 || !strings.Contains(out, " Root memory region: system\n  0000000000000000-0000000007ffffff (prio 0, ram): ram\n") {
		t.Errorf("-f: status %d:\n%s", code, out)
	}
}

// TestMtreeDump: `qmem mtree --dump DIR [--step NN]` reprints QEMU's
// files (up to section order).
func TestMtreeDump(t *testing.T) {
	for _, tc := range []struct {
		dir, step string
		args      []string
		file      string
	}{
		{"x86_64-pc", "", []string{"-f", "-o"}, "mtree-f-o.txt"},
		{"x86_64-pc", "", []string{"-D"}, "mtree-D.txt"},
		{"x86_64-q35-seabios-run", "02", []string{"-f"}, "step-02-mtree-f.txt"},
		{"aarch64-virt-hotplug-rootport", "03", []string{"-o"}, "step-03-mtree-o.txt"},
	} {
		dir := filepath.Join(corpus, tc.dir)
		args := append([]string{"mtree", "--dump", dir}, tc.args...)
		if tc.step != "" {
			args = append(args, "--step", tc.step)
		}
		out, errOut, code := run(t, args...)
		want, err := os.ReadFile(filepath.Join(dir, tc.file))
		if err != nil {
			t.Fatal(err)
		}
		if code != 0 || errOut != "" || dump.Canon(out) != dump.Canon(string(want)) {
			t.Errorf("%v: status %d, stderr %q\n%s", args, code, errOut, mtree.Compare(tc.file, string(want), out))
		}
	}
	if _, errOut, code := run(t, "mtree", "--dump", filepath.Join(corpus, "x86_64-pc"), "--step", "09"); code != 2 || !strings.Contains(errOut, "no entry for step-09-mtree-D.txt") {
		t.Errorf("missing step: status %d, %q", code, errOut)
	}
	if _, _, code := run(t, "mtree", "--step", "02"); code != 2 {
		t.Errorf("--step without --dump: status %d", code)
	}
}

// TestQOMTree: `qmem qom-tree` prints the board's composition tree from
// /machine (R-QOMTREE-1, -2), from a path, or QEMU's message for a path
// that does not resolve (R-QOMTREE-3).
func TestQOMTree(t *testing.T) {
	out, _, code := run(t, "qom-tree", "--board", "spec-a20")
	want := "/machine (qmem-spec-example-machine)\n" +
		"  /peripheral (container)\n" +
		"  /peripheral-anon (container)\n" +
		"  /unattached (container)\n" +
		"    /bootrom[0] (memory-region)\n" +
		"    /flash[0] (memory-region)\n" +
		"    /io[0] (memory-region)\n" +
		"    /periph[0] (memory-region)\n" +
		"    /ram-lo[0] (memory-region)\n" +
		"    /ram[0] (memory-region)\n" +
		"    /shadow[0] (memory-region)\n" +
		"    /sysbus (System)\n" +
		"    /system[0] (memory-region)\n" +
		"    /timer[0] (memory-region)\n" +
		"    /uart[0] (memory-region)\n"
	if code != 0 || out != want {
		t.Errorf("status %d:\n%s", code, dump.FirstDiff("want", "got", want, out))
	}
	out, _, _ = run(t, "qom-tree", "--board", "spec-a20", "/machine/unattached/sysbus")
	if out != "/sysbus (System)\n" {
		t.Errorf("from a path: %q", out)
	}
	out, _, _ = run(t, "qom-tree", "--board", "spec-a20", "/nowhere")
	if out != "Path '/nowhere' could not be resolved.\n" {
		t.Errorf("unresolved: %q", out)
	}
}
