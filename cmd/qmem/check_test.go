package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const corpus = "../../mtree/testdata/qemu-7.2"

// run runs the command line and returns its stdout, stderr and status.
func run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := dispatch(args, &out, &errOut)
	return out.String(), errOut.String(), code
}

// TestCheckCorpus runs `qmem check` over every folder of the corpus: all
// pass, byte for byte (after canonicalising section order).
func TestCheckCorpus(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join(corpus, "*", "mtree-facts.json"))
	if err != nil || len(dirs) < 35 {
		t.Fatalf("corpus: %d folders, %v", len(dirs), err)
	}
	var all []string
	for _, f := range dirs {
		all = append(all, filepath.Dir(f)+"/")
	}
	out, _, code := run(t, append([]string{"check"}, all...)...)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if want := fmt.Sprintf("%d passed, 0 failed", len(all)); code != 0 || lines[len(lines)-1] != want {
		t.Errorf("status %d, want %q, output:\n%s", code, want, out)
	}
	for _, l := range lines[:len(lines)-1] {
		if !strings.HasPrefix(l, "ok   ") {
			t.Errorf("line %q: expected ok", l)
		}
	}
	for _, want := range []string{"ok   x86_64-q35-seabios-run (4 runs, 20 files)\n", "ok   x86_64-pc (5 files)\n", "ok   arm-mps2-an505 (5 files)\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("no line %q in:\n%s", want, out)
		}
	}
}

// copyDir copies the files of a corpus folder into a temporary one.
func copyDir(t *testing.T, name string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), name)
	if err := os.Mkdir(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	files, err := os.ReadDir(filepath.Join(corpus, name))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(corpus, name, f.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, f.Name()), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func edit(t *testing.T, file, old, new string) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), old) {
		t.Fatalf("%s has no %q", file, old)
	}
	if err := os.WriteFile(file, []byte(strings.Replace(string(data), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestCheckOutcomes: a changed line fails with a unified diff and status
// 1; an unusable folder is an ERROR with status 2; a folder without facts
// says it used the defaults.
func TestCheckOutcomes(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, dir string)
		code  int
		want  []string
	}{
		{"passes", func(*testing.T, string) {}, 0, []string{"ok   x86_64-isapc (5 files)\n", "\n1 passed, 0 failed\n"}},
		{"a flat range differs", func(t *testing.T, dir string) {
			edit(t, filepath.Join(dir, "mtree-f.txt"), "(prio 0, i/o): dma-chan\n", "(prio 0, i/o): dma-chan2\n")
		}, 1, []string{
			"FAIL x86_64-isapc (1 of 5 files differ)\n",
			"--- mtree-f.txt\n+++ qmem\n@@ ",
			"-  0000000000000000-0000000000000007 (prio 0, i/o): dma-chan2\n+  0000000000000000-0000000000000007 (prio 0, i/o): dma-chan\n",
			"\n0 passed, 1 failed\n",
		}},
		{"a blank line is missing", func(t *testing.T, dir string) {
			edit(t, filepath.Join(dir, "mtree.txt"), "\n\n", "\n")
		}, 1, []string{"FAIL x86_64-isapc (1 of 5 files differ)\n", "--- mtree.txt\n+++ qmem\n"}},
		{"no facts file", func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, "mtree-facts.json")); err != nil {
				t.Fatal(err)
			}
		}, 1, []string{"no mtree-facts.json: default facts and creation order", "\n0 passed, 1 failed\n"}},
		{"facts of another run", func(t *testing.T, dir string) {
			edit(t, filepath.Join(dir, "mtree-D.txt"), "(prio 0, i/o): io\n", "(prio 0, i/o): io2\n")
		}, 2, []string{"ERROR x86_64-isapc: ", "\n0 passed, 0 failed, 1 unusable\n"}},
		{"no dumps", func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, "mtree-D.txt")); err != nil {
				t.Fatal(err)
			}
		}, 2, []string{"ERROR x86_64-isapc: ", "\n0 passed, 0 failed, 1 unusable\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyDir(t, "x86_64-isapc")
			tc.setup(t, dir)
			out, _, code := run(t, "check", dir)
			if code != tc.code {
				t.Errorf("status %d, want %d; output:\n%s", code, tc.code, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
	if _, _, code := run(t, "check"); code != 2 {
		t.Errorf("check without folders: status %d, want 2", code)
	}
}
