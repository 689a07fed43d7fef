package main

import (
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"qmem.dev/qmem/mtree"
)

func init() {
	commands["check"] = command{summary: "compare qmem's info mtree (-D, -o, -f, -f -o) with QEMU dump folders", run: checkCmd}
}

// checkCmd is `qmem check DIR...`: for each folder holding QEMU dumps
// (mtree-D.txt, mtree-o.txt, mtree-facts.json and the other variants, or
// step-NN-* files), build the machine the dumps describe, print the five
// `info mtree` variants and compare them with QEMU's files up to section
// order (mtree.CheckDir). One line per folder ("ok   NAME (...)",
// "FAIL NAME (...)" followed by the first difference of each differing
// file, or "ERROR NAME: ..." for a folder that cannot be used), then
// "N passed, N failed" (and ", N unusable" when some were). Exit status:
// 2 when a folder was unusable, else 1 when one failed, else 0.
func checkCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: qmem check DIR...")
		fmt.Fprintln(stderr, "  compares each QEMU dump folder (see mtree/testdata/qemu-7.2/README.md) with qmem's output")
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	passed, failed, unusable := 0, 0, 0
	for _, dir := range fs.Args() {
		res := mtree.CheckDir(dir)
		name := filepath.Base(filepath.Clean(dir))
		switch {
		case res.Unusable():
			unusable++
			writeUnusable(stdout, name, res)
		case res.Failed():
			failed++
			writeFailed(stdout, name, res)
		default:
			passed++
			fmt.Fprintf(stdout, "ok   %s (%s)\n", name, checkDetail(res))
			writeNotes(stdout, res)
		}
	}
	fmt.Fprintf(stdout, "%d passed, %d failed", passed, failed)
	if unusable > 0 {
		fmt.Fprintf(stdout, ", %d unusable", unusable)
	}
	fmt.Fprintln(stdout)
	switch {
	case unusable > 0:
		return 2
	case failed > 0:
		return 1
	}
	return 0
}

// checkDetail says what was compared: "5 files" for a static folder,
// "3 runs, 15 files" for a sequence, and whether the defaults replaced a
// missing facts file.
func checkDetail(res *mtree.DirResult) string {
	s := fmt.Sprintf("%d files", res.FileCount())
	if len(res.Runs) > 1 {
		s = fmt.Sprintf("%d runs, %s", len(res.Runs), s)
	}
	if res.DefaultFacts {
		s += "; no " + mtree.FactsFile + ": default facts and creation order"
	}
	return s
}

func writeNotes(w io.Writer, res *mtree.DirResult) {
	for _, r := range res.Runs {
		for _, n := range r.Notes {
			fmt.Fprintf(w, "     note: %s: %s\n", r.Dump, n)
		}
	}
}

func writeFailed(w io.Writer, name string, res *mtree.DirResult) {
	bad, total := 0, 0
	for _, r := range res.Runs {
		for _, f := range r.Files {
			total++
			if f.Diff != "" {
				bad++
			}
		}
	}
	var what []string
	if bad > 0 {
		what = append(what, fmt.Sprintf("%d of %d files differ", bad, total))
	}
	for _, r := range res.Runs {
		if r.Err != nil {
			what = append(what, r.Err.Error())
		}
	}
	detail := strings.Join(what, "; ")
	if res.DefaultFacts {
		detail += "; no " + mtree.FactsFile + ": default facts and creation order"
	}
	fmt.Fprintf(w, "FAIL %s (%s)\n", name, detail)
	writeNotes(w, res)
	for _, r := range res.Runs {
		for _, f := range r.Files {
			if f.Diff != "" {
				io.WriteString(w, f.Diff)
			}
		}
	}
}

func writeUnusable(w io.Writer, name string, res *mtree.DirResult) {
	if res.Err != nil {
		fmt.Fprintf(w, "ERROR %s: %v\n", name, res.Err)
		return
	}
	for _, r := range res.Runs {
		if r.Unusable {
			fmt.Fprintf(w, "ERROR %s: %v\n", name, r.Err)
		}
	}
}
