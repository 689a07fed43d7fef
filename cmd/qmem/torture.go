package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"qmem.dev/qmem/torture"
)

func init() {
	commands["torture"] = command{summary: "random plug/unplug and topology changes under concurrent readers, checked", run: tortureCmd}
}

// tortureCmd runs the torture engine. Exit status 0 when nothing went
// wrong, 1 with the seed and the first failure otherwise, 2 for bad
// arguments.
func tortureCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("torture", flag.ContinueOnError)
	fs.SetOutput(stderr)
	ops := fs.Int("ops", 10000, "number of operations")
	readers := fs.Int("readers", 4, "reader goroutines")
	seed := fs.Uint64("seed", 1, "seed of the operation sequence")
	boardName := fs.String("board", "demo", "board: a built-in name or a YAML file")
	kvmOn := fs.Bool("kvm", true, "run the board's guest under KVM meanwhile, when available")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *ops < 0 || *readers < 0 || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "qmem torture: --ops and --readers must not be negative; no other arguments")
		return 2
	}
	cfg := torture.Config{Ops: *ops, Readers: *readers, Seed: *seed, Board: *boardName, KVM: *kvmOn}
	if isTerminal(stdout) {
		cfg.Progress = progressBar(stdout)
	}
	rep, err := torture.Run(cfg)
	if cfg.Progress != nil {
		fmt.Fprint(stdout, "\r\033[K")
	}
	if err != nil {
		fmt.Fprintln(stderr, "qmem torture:", err)
		return 2
	}
	fmt.Fprintln(stdout, rep.Line())
	if rep.Failed() {
		fmt.Fprintf(stdout, "seed %d: first failure: %s\n", rep.Seed, rep.First)
		return 1
	}
	return 0
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// progressBar returns a Progress callback drawing a bar on a terminal,
// redrawn at most every 1% of the work.
func progressBar(w io.Writer) func(done, total int) {
	last := -1
	return func(done, total int) {
		if total == 0 {
			return
		}
		pct := done * 100 / total
		if pct == last {
			return
		}
		last = pct
		const width = 40
		filled := width * done / total
		fmt.Fprintf(w, "\r[%s%s] %3d%% %d/%d ops", strings.Repeat("=", filled), strings.Repeat(" ", width-filled), pct, done, total)
	}
}
