package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"qmem.dev/qmem/board"
)

func init() {
	commands["run"] = command{summary: "boot the board's guest under KVM (the default command)", run: runCmd}
}

// runCmd boots a board's guest and passes its serial output through. Exit
// status: 0 when the guest reports no failure, 1 when it reports failures or
// ends badly, 2 for bad arguments, 3 when KVM is not available.
func runCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("board", "demo", "board to run: a built-in name or a YAML file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "qmem run: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	spec, err := board.Load(*name)
	if err != nil {
		fmt.Fprintln(stderr, "qmem:", err)
		return 2
	}
	if spec.Guest == "" {
		fmt.Fprintf(stderr, "qmem: board %s has no guest to run (use qmem serve to run it idle)\n", spec.Name)
		return 2
	}
	m, err := board.Build(spec, stdout)
	if err != nil {
		fmt.Fprintln(stderr, "qmem:", err)
		return 1
	}
	status, err := m.Run()
	switch {
	case errors.Is(err, board.ErrNoKVM):
		fmt.Fprintln(stderr, "qmem: cannot run the guest:", err)
		return 3
	case err != nil:
		fmt.Fprintln(stderr, "qmem:", err)
		return 1
	case status != 0:
		fmt.Fprintf(stderr, "qmem: guest exited with status %d\n", status)
		return 1
	}
	return 0
}
