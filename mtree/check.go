package mtree

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"qmem.dev/qmem/mtree/dump"
)

// FactsFile is the name of the facts file in a corpus folder.
const FactsFile = "mtree-facts.json"

// Variant is one `info mtree` variant that CheckDir compares: the options
// that print it and the facts entry's file holding QEMU's output of it.
type Variant struct {
	Name string // "mtree", "mtree -D", "mtree -o", "mtree -f", "mtree -f -o"
	Opt  Options
	File func(dump.FactsFiles) string
}

// Variants are the five variants CheckDir compares, in this order. The -d
// dispatch dump (mtree-f-d.txt) is not compared: it shows QEMU's internal
// page tables (R-MTREEF-3).
var Variants = []Variant{
	{"info mtree", Options{}, func(f dump.FactsFiles) string { return f.Tree }},
	{"info mtree -D", Options{Disabled: true}, func(f dump.FactsFiles) string { return f.D }},
	{"info mtree -o", Options{Owners: true}, func(f dump.FactsFiles) string { return f.O }},
	{"info mtree -f", Options{Flat: true}, func(f dump.FactsFiles) string { return f.F }},
	{"info mtree -f -o", Options{Flat: true, Owners: true}, func(f dump.FactsFiles) string { return f.FO }},
}

// FileResult is the comparison of one printed variant with QEMU's file.
type FileResult struct {
	// File is QEMU's file, relative to the folder.
	File string
	// Diff is "" when qmem's text equals QEMU's up to section order, else a
	// unified diff of the first difference (dump.FirstDiff) between the
	// canonical forms, QEMU's side first.
	Diff string
}

// RunResult is the check of one QEMU run: the static dump or one step.
type RunResult struct {
	// Dump is the -D file of the run ("mtree-D.txt", "step-02-mtree-D.txt").
	Dump string
	// Err is set when the run's files cannot be used (missing, malformed,
	// facts of another run: Unusable is then set) or Build refused the
	// dump; Files is then empty.
	Err error
	// Unusable: Err comes from the input, not from qmem.
	Unusable bool
	// Files are the compared files, in Variants order; a variant whose file
	// does not exist is left out.
	Files []FileResult
	// Notes are Build's notes (see Machine.Notes).
	Notes []string
}

// Failed reports whether qmem failed the run: Build refused the dump or a
// file differs. An unusable run is not failed.
func (r *RunResult) Failed() bool {
	return r.Err != nil && !r.Unusable || slices.ContainsFunc(r.Files, func(f FileResult) bool { return f.Diff != "" })
}

// DirResult is the check of one corpus folder.
type DirResult struct {
	// Dir is the folder as given.
	Dir string
	// Err is set when the folder cannot be used at all: no -D dump, or a
	// facts file that does not parse.
	Err error
	// DefaultFacts is set when the folder has no mtree-facts.json: every
	// run then uses the default facts (FACTS-FORMAT.md section 3) and
	// address-space creation order, and -f may differ where QEMU depends on
	// what the dumps do not print.
	DefaultFacts bool
	// Runs are the runs, static dump first, then steps in order.
	Runs []RunResult
}

// Failed reports whether any run failed (see RunResult.Failed).
func (r *DirResult) Failed() bool {
	return slices.ContainsFunc(r.Runs, func(x RunResult) bool { return x.Failed() })
}

// Unusable reports whether the folder or one of its runs could not be
// used (see Err and RunResult.Unusable).
func (r *DirResult) Unusable() bool {
	return r.Err != nil || slices.ContainsFunc(r.Runs, func(x RunResult) bool { return x.Unusable })
}

// FileCount returns the number of compared files.
func (r *DirResult) FileCount() int {
	n := 0
	for _, x := range r.Runs {
		n += len(x.Files)
	}
	return n
}

// CheckDir compares qmem with the QEMU dumps of a corpus folder: for the
// static dump (mtree-D.txt) and every step-NN-mtree-D.txt, it loads the -D
// and -o dumps and the run's facts entry (dump.LoadDump), builds the
// machine (Build), prints the five Variants and compares each with QEMU's
// file after putting both in canonical section order: the sections (each
// ends with an empty line) sorted and "FlatView #N" numbers replaced, so
// only QEMU's hash order is ignored, never the text inside a section nor
// the blank lines. The -f variants print the " AS" lines of shared views in
// the order of the facts' as_order (Options.ASOrder).
//
// Without mtree-facts.json it uses the defaults, the file names of the
// corpus convention and creation order (DefaultFacts).
func CheckDir(dir string) *DirResult {
	res := &DirResult{Dir: dir}
	fsys := os.DirFS(dir)
	var facts *dump.Facts
	data, err := fs.ReadFile(fsys, FactsFile)
	switch {
	case err == nil:
		if facts, err = dump.ParseFacts(data); err != nil {
			res.Err = fmt.Errorf("%s: %w", filepath.Join(dir, FactsFile), err)
			return res
		}
	case errors.Is(err, fs.ErrNotExist):
		res.DefaultFacts = true
	default:
		res.Err = err
		return res
	}
	keys, err := dumpFiles(fsys)
	if err != nil {
		res.Err = err
		return res
	}
	if len(keys) == 0 {
		res.Err = fmt.Errorf("%s: no mtree-D.txt or step-NN-mtree-D.txt", dir)
		return res
	}
	if facts != nil {
		for k := range facts.Dumps {
			if !slices.Contains(keys, k) {
				res.Err = fmt.Errorf("%s: %s names %s, which does not exist", dir, FactsFile, k)
				return res
			}
		}
	}
	for _, key := range keys {
		var e *dump.FactsEntry
		if facts != nil {
			if e = facts.Dumps[key]; e == nil {
				res.Err = fmt.Errorf("%s: %s has no entry for %s", dir, FactsFile, key)
				return res
			}
		} else {
			p := strings.TrimSuffix(key, "mtree-D.txt")
			e = &dump.FactsEntry{Files: dump.FactsFiles{
				Tree: p + "mtree.txt", D: key, O: p + "mtree-o.txt", F: p + "mtree-f.txt", FO: p + "mtree-f-o.txt",
			}}
		}
		res.Runs = append(res.Runs, checkRun(fsys, e, facts != nil))
	}
	return res
}

// dumpFiles lists the -D dumps of a folder: mtree-D.txt first, then the
// steps in name order.
func dumpFiles(fsys fs.FS) ([]string, error) {
	steps, err := fs.Glob(fsys, "step-*-mtree-D.txt")
	if err != nil {
		return nil, err
	}
	sort.Strings(steps)
	if _, err := fs.Stat(fsys, "mtree-D.txt"); err == nil {
		steps = append([]string{"mtree-D.txt"}, steps...)
	}
	return steps, nil
}

// checkRun checks one QEMU run.
func checkRun(fsys fs.FS, e *dump.FactsEntry, haveFacts bool) RunResult {
	res := RunResult{Dump: e.Files.D}
	d, err := dump.LoadDump(fsys, ".", e)
	if err != nil {
		res.Err, res.Unusable = err, true
		return res
	}
	m, err := Build(d)
	if err != nil {
		res.Err = fmt.Errorf("%s: build: %w", e.Files.D, err)
		return res
	}
	defer m.Close()
	res.Notes = m.Notes
	for _, v := range Variants {
		name := v.File(e.Files)
		want, err := fs.ReadFile(fsys, name)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			res.Err, res.Unusable = err, true
			return res
		}
		opt := v.Opt
		if opt.Flat && haveFacts {
			opt.ASOrder = d.ASOrder.Order
		}
		var got bytes.Buffer
		if err := Write(&got, m.System, opt); err != nil {
			res.Files = append(res.Files, FileResult{File: name, Diff: fmt.Sprintf("%s: %s: %v\n", name, v.Name, err)})
			continue
		}
		res.Files = append(res.Files, FileResult{File: name, Diff: Compare(name, string(want), got.String())})
	}
	return res
}

// Compare returns "" when got (qmem's output) equals want (QEMU's file
// name) up to the order of top-level sections, and otherwise a unified
// diff of the first difference. Sections are what `info mtree` prints
// between empty lines: each ends with "\n\n" and they are compared as a
// sorted multiset with "FlatView #N" lines numbered "#*" (SectionCanon).
// The diff is taken between dump.Canon forms (the corpus's canon.py),
// falling back to the SectionCanon forms when only blank lines differ.
func Compare(name, want, got string) string {
	if SectionCanon(want) == SectionCanon(got) {
		return ""
	}
	if d := dump.FirstDiff(name, "qmem", dump.Canon(want), dump.Canon(got)); d != "" {
		return d
	}
	return dump.FirstDiff(name, "qmem", SectionCanon(want), SectionCanon(got))
}

// SectionCanon returns text with its sections sorted: the text is cut
// after every "\n\n" (QEMU ends every section with an empty line), each
// piece's "FlatView #<digits>" line becomes "FlatView #*", and the pieces
// are sorted bytewise and joined. Unlike dump.Canon it keeps every blank
// line and whitespace character, so two texts have equal forms exactly when
// one is the other with its sections reordered.
func SectionCanon(text string) string {
	secs := strings.SplitAfter(text, "\n\n")
	for i, s := range secs {
		if rest, ok := strings.CutPrefix(s, "FlatView #"); ok {
			if j := strings.IndexByte(rest, '\n'); j > 0 && strings.Trim(rest[:j], "0123456789") == "" {
				secs[i] = "FlatView #*" + rest[j:]
			}
		}
	}
	if secs[len(secs)-1] == "" {
		secs = secs[:len(secs)-1]
	}
	sort.Strings(secs)
	return strings.Join(secs, "")
}
