package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"qmem.dev/qmem/board"
	"qmem.dev/qmem/monitor"
	"qmem.dev/qmem/qmp"
)

func init() {
	commands["serve"] = command{summary: "run a machine with a QMP monitor until quit", run: serveCmd}
}

// qmpAddrs collects repeated --qmp flags.
type qmpAddrs []string

func (a *qmpAddrs) String() string     { return strings.Join(*a, ",") }
func (a *qmpAddrs) Set(v string) error { *a = append(*a, v); return nil }

// serveCmd builds a board, serves QMP on every --qmp address, runs the
// board's guest under KVM when there is one and KVM is available (the
// machine stays idle otherwise) and returns after quit.
func serveCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("board", "demo", "board: a built-in name or a YAML file")
	var addrs qmpAddrs
	fs.Var(&addrs, "qmp", "where to serve QMP: unix:PATH or tcp:127.0.0.1:PORT (repeatable)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if len(addrs) == 0 || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "qmem serve: need --qmp unix:PATH (or tcp:127.0.0.1:PORT), and no other arguments")
		return 2
	}
	spec, err := board.Load(*name)
	if err != nil {
		fmt.Fprintln(stderr, "qmem:", err)
		return 2
	}
	var lns []net.Listener
	for _, a := range addrs {
		ln, err := listen(a)
		if err != nil {
			fmt.Fprintln(stderr, "qmem serve:", err)
			for _, l := range lns {
				l.Close()
			}
			return 2
		}
		lns = append(lns, ln)
	}
	m, err := board.Build(spec, stdout)
	if err != nil {
		fmt.Fprintln(stderr, "qmem:", err)
		return 1
	}
	srv := qmp.NewServer(qmp.Config{Version: monitor.Version})
	mon, err := monitor.New(m, srv)
	if err != nil {
		fmt.Fprintln(stderr, "qmem:", err)
		return 1
	}
	for _, ln := range lns {
		go func(ln net.Listener) {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, qmp.ErrServerClosed) {
				fmt.Fprintln(stderr, "qmem serve:", err)
			}
		}(ln)
	}
	guestDone := make(chan struct{})
	go func() {
		defer close(guestDone)
		if spec.Guest == "" {
			return
		}
		status, err := m.Run()
		switch {
		case errors.Is(err, board.ErrNoKVM):
			fmt.Fprintln(stderr, "qmem serve: running idle:", err)
		case err != nil:
			fmt.Fprintln(stderr, "qmem serve: guest:", err)
			mon.SetStatus("shutdown", "guest-panic")
		default:
			_ = status
			mon.SetStatus("shutdown", "guest-shutdown")
		}
	}()
	<-mon.Quit()
	m.RequestExit(0)
	m.Resume()
	<-guestDone
	mon.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	_ = srv.Shutdown(ctx) // the reply to quit goes out first
	cancel()
	return 0
}

// listen opens a QMP address: unix:PATH (a stale socket file is replaced)
// or tcp:HOST:PORT on loopback.
func listen(addr string) (net.Listener, error) {
	kind, rest, ok := strings.Cut(addr, ":")
	if !ok || rest == "" {
		return nil, fmt.Errorf("bad --qmp %q: want unix:PATH or tcp:HOST:PORT", addr)
	}
	switch kind {
	case "unix":
		if st, err := os.Lstat(rest); err == nil && st.Mode()&os.ModeSocket != 0 {
			_ = os.Remove(rest)
		}
		return qmp.Listen("unix", rest)
	case "tcp":
		return qmp.Listen("tcp", rest)
	}
	return nil, fmt.Errorf("bad --qmp %q: want unix:PATH or tcp:HOST:PORT", addr)
}
