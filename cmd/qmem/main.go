// Command qmem runs and inspects qmem machines.
//
//	qmem [run] [--board NAME]      boot the board's guest under KVM (default: demo)
//	qmem mtree [-f] [-o] [-D]      print the board's memory map as `info mtree`
//	qmem mtree --dump DIR [...]    re-render a QEMU `info mtree` dump
//	qmem qom-tree [PATH]           print the board's QOM tree as `info qom-tree`
//	qmem check DIR...              compare qmem with QEMU dumps
//	qmem serve --board B --qmp unix:PATH   run a machine with a QMP monitor
//	qmem torture [...]             random operations under concurrent readers
//
// Each subcommand lives in its own file of this package and registers itself
// in commands.
package main

import (
	"fmt"
	"io"
	"os"
	"sort"
)

// command is one subcommand: run parses its arguments and returns the exit
// status.
type command struct {
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
}

// commands is filled by the init functions of the subcommand files.
var commands = map[string]command{}

func main() {
	os.Exit(dispatch(os.Args[1:], os.Stdout, os.Stderr))
}

func dispatch(args []string, stdout, stderr io.Writer) int {
	name := "run"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		name, args = args[0], args[1:]
	}
	if name == "help" || name == "-h" || name == "--help" {
		usage(stdout)
		return 0
	}
	c, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "qmem: unknown command %q\n", name)
		usage(stderr)
		return 2
	}
	return c.run(args, stdout, stderr)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: qmem [command] [arguments]")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
}
