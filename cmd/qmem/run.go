package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"qmem.dev/qmem/mtree"
	"qmem.dev/qmem/qom"
)

func init() {
	commands["run"] = command{summary: "boot the board's guest under KVM (the default command)", run: runCmd}
}

func runCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	board := fs.String("board", "demo", "board to run")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	_ = board
	// Until the board package exists: print the QOM tree of an empty machine.
	reg := qom.NewRegistry()
	if err := reg.Register(qom.TypeInfo{Name: "qmem-empty-machine", Parent: qom.TypeMachine}); err != nil {
		fmt.Fprintln(stderr, "qmem:", err)
		return 1
	}
	if _, err := reg.NewMachine("qmem-empty-machine"); err != nil {
		fmt.Fprintln(stderr, "qmem:", err)
		return 1
	}
	if err := mtree.WriteQOMTree(stdout, reg, ""); err != nil {
		fmt.Fprintln(stderr, "qmem:", err)
		return 1
	}
	_ = os.Stdout
	return 0
}
