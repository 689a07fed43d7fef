package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"qmem.dev/qmem/board"
	"qmem.dev/qmem/memory"
	"qmem.dev/qmem/mtree"
	"qmem.dev/qmem/mtree/dump"
	"qmem.dev/qmem/qom"
)

func init() {
	commands["mtree"] = command{summary: "print a board's memory map (or a QEMU dump's) as info mtree [-f] [-o] [-D]", run: mtreeCmd}
}

// exampleBoard names the built-in machine of SPEC A.20 (mtree.NewSpecExample).
const exampleBoard = "spec-a20"

// machineView is what the printing commands need of a machine.
type machineView struct {
	sys   *memory.System
	reg   *qom.Registry
	close func()
}

// exampleMachine returns the machine of SPEC A.20 (mtree.NewSpecExample).
func exampleMachine() (*machineView, error) {
	m, err := mtree.NewSpecExample()
	if err != nil {
		return nil, err
	}
	return &machineView{sys: m.System, reg: m.Registry, close: m.Close}, nil
}

// boardMachine builds the named board: spec-a20 is exampleMachine, any
// other name a board of package board (built-in or a YAML file). The
// board's serial output goes to io.Discard: nothing runs.
func boardMachine(name string) (*machineView, error) {
	if name == exampleBoard {
		return exampleMachine()
	}
	spec, err := board.Load(name)
	if err != nil {
		return nil, err
	}
	m, err := board.Build(spec, io.Discard)
	if err != nil {
		return nil, err
	}
	return &machineView{sys: m.MemorySystem(), reg: m.Registry(), close: func() {}}, nil
}

// mtreeCmd is `qmem mtree [-f] [-o] [-D] [--board NAME]`, printing the
// board's memory as QEMU's `info mtree` does, and `qmem mtree [flags]
// --dump DIR [--step NN]`, rebuilding the machine of a QEMU dump folder
// (its -D and -o dumps and mtree-facts.json, see mtree.Build) and printing
// it again. Without a facts file the dump's defaults apply (said on
// stderr).
func mtreeCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mtree", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var opt mtree.Options
	fs.BoolVar(&opt.Flat, "f", false, "print the flat views (info mtree -f)")
	fs.BoolVar(&opt.Owners, "o", false, "print owners and parents (-o)")
	fs.BoolVar(&opt.Disabled, "D", false, "print disabled regions too (-D; ignored with -f)")
	name := fs.String("board", "demo", "board to print (a built-in board, a YAML file, or "+exampleBoard+")")
	dir := fs.String("dump", "", "re-render the QEMU dump folder `DIR` instead of a board")
	step := fs.String("step", "", "with --dump: the step `NN` of a dynamic folder (step-NN-mtree-D.txt)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "qmem mtree: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *dir != "" {
		return mtreeDump(*dir, *step, opt, stdout, stderr)
	}
	if *step != "" {
		fmt.Fprintln(stderr, "qmem mtree: --step needs --dump")
		return 2
	}
	return withBoard(*name, stderr, func(m *machineView) error { return mtree.Write(stdout, m.sys, opt) })
}

// withBoard builds the named board (boardMachine), runs print on it and
// closes it; errors go to stderr with status 1.
func withBoard(name string, stderr io.Writer, print func(*machineView) error) int {
	m, err := boardMachine(name)
	if err == nil {
		err = print(m)
		m.close()
	}
	if err != nil {
		fmt.Fprintln(stderr, "qmem:", err)
		return 1
	}
	return 0
}

// mtreeDump prints the machine of one run of a QEMU dump folder.
func mtreeDump(dir, step string, opt mtree.Options, stdout, stderr io.Writer) int {
	prefix := ""
	if step != "" {
		prefix = "step-" + step + "-"
	}
	key := prefix + "mtree-D.txt"
	fsys := os.DirFS(dir)
	var d *dump.Dump
	data, err := fs.ReadFile(fsys, mtree.FactsFile)
	switch {
	case err == nil:
		facts, err := dump.ParseFacts(data)
		if err != nil {
			fmt.Fprintf(stderr, "qmem: %s: %v\n", filepath.Join(dir, mtree.FactsFile), err)
			return 2
		}
		e := facts.Dumps[key]
		if e == nil {
			fmt.Fprintf(stderr, "qmem: %s has no entry for %s\n", filepath.Join(dir, mtree.FactsFile), key)
			return 2
		}
		if d, err = dump.LoadDump(fsys, ".", e); err != nil {
			fmt.Fprintln(stderr, "qmem:", err)
			return 2
		}
		opt.ASOrder = d.ASOrder.Order
	case errors.Is(err, fs.ErrNotExist):
		fmt.Fprintf(stderr, "qmem: %s has no %s: default facts and creation order (see FACTS-FORMAT.md section 3)\n", dir, mtree.FactsFile)
		e := &dump.FactsEntry{Files: dump.FactsFiles{D: key, O: prefix + "mtree-o.txt"}}
		if d, err = dump.LoadDump(fsys, ".", e); err != nil {
			fmt.Fprintln(stderr, "qmem:", err)
			return 2
		}
	default:
		fmt.Fprintln(stderr, "qmem:", err)
		return 2
	}
	m, err := mtree.Build(d)
	if err != nil {
		fmt.Fprintf(stderr, "qmem: %s: %v\n", filepath.Join(dir, key), err)
		return 1
	}
	defer m.Close()
	for _, n := range m.Notes {
		fmt.Fprintln(stderr, "qmem: note:", n)
	}
	if err := mtree.Write(stdout, m.System, opt); err != nil {
		fmt.Fprintln(stderr, "qmem:", err)
		return 1
	}
	return 0
}
