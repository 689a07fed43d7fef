package main

import (
	"flag"
	"fmt"
	"io"

	"qmem.dev/qmem/mtree"
)

func init() {
	commands["qom-tree"] = command{summary: "print a board's QOM tree as info qom-tree [PATH]", run: qomTreeCmd}
}

// qomTreeCmd is `qmem qom-tree [--board NAME] [PATH]`: QEMU's
// `info qom-tree` of the board, from /machine or from PATH.
func qomTreeCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("qom-tree", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("board", "demo", "board to print (a built-in board, a YAML file, or "+exampleBoard+")")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 1 {
		fmt.Fprintf(stderr, "qmem qom-tree: unexpected argument %q\n", fs.Arg(1))
		return 2
	}
	return withBoard(*name, stderr, func(m *machineView) error { return mtree.WriteQOMTree(stdout, m.reg, fs.Arg(0)) })
}
