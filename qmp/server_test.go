package qmp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func (s *Server) numClients() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.clients)
}

func TestListen(t *testing.T) {
	for _, tt := range []struct {
		network, addr string
		ok            bool
	}{
		{"tcp", "127.0.0.1:0", true},
		{"tcp4", "127.0.0.1:0", true},
		{"tcp", "localhost:0", true},
		{"tcp", "0.0.0.0:0", false},
		{"tcp", ":0", false},
		{"tcp", "192.0.2.1:4444", false},
		{"tcp", "example.com:4444", false},
		{"tcp", "127.0.0.1", false},
		{"udp", "127.0.0.1:0", false},
		{"unix", filepath.Join(t.TempDir(), "s"), true},
	} {
		ln, err := Listen(tt.network, tt.addr)
		if (err == nil) != tt.ok {
			t.Errorf("Listen(%s, %s) = %v, want ok=%v", tt.network, tt.addr, err, tt.ok)
		}
		if ln != nil {
			ln.Close()
		}
	}
}

// TestServeUnixAndTCP serves one server on a unix socket and a loopback
// TCP port at once.
func TestServeUnixAndTCP(t *testing.T) {
	s := newTestServer(t, Config{})
	path := filepath.Join(t.TempDir(), "qmp.sock")
	uln, err := Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	tln, err := Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 2)
	go func() { errs <- s.Serve(uln) }()
	go func() { errs <- s.Serve(tln) }()
	for _, c := range []*testClient{dialClient(t, "unix", path), dialClient(t, "tcp", tln.Addr().String())} {
		c.negotiate()
		if got := c.roundTrip(`{"execute": "add", "arguments": {"a": 20, "b": 22}, "id": "x"}`); got != `{"return": 42, "id": "x"}` {
			t.Errorf("add: %s", got)
		}
	}
	s.Close()
	for range 2 {
		if err := <-errs; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	}
	if err := s.Serve(&fakeListener{}); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve after Close = %v", err)
	}
	if _, err := net.Dial("unix", path); err == nil {
		t.Error("unix socket still accepting after Close")
	}
}

type fakeListener struct{ net.Listener }

func (*fakeListener) Close() error { return nil }

// TestCloseCancelsAndWaits: Close cancels the context of a running
// command and returns only after its handler has.
func TestCloseCancelsAndWaits(t *testing.T) {
	s := newTestServer(t, Config{})
	started, returned := make(chan struct{}), make(chan struct{})
	mustRegister(t, s.Register("wait", func(ctx context.Context, _ Args) (any, error) {
		close(started)
		<-ctx.Done()
		time.Sleep(50 * time.Millisecond) // Close must wait for this
		close(returned)
		return nil, ctx.Err()
	}))
	c := pipeClient(t, s)
	c.negotiate()
	c.send(`{"execute": "wait"}` + "\n")
	<-started
	s.Close()
	select {
	case <-returned:
	default:
		t.Fatal("Close returned before the handler")
	}
	if s.numClients() != 0 {
		t.Errorf("%d clients left after Close", s.numClients())
	}
	// A connection offered after Close is closed at once.
	cc, sc := net.Pipe()
	defer cc.Close()
	s.ServeConn(sc)
	if _, err := cc.Read(make([]byte, 1)); err == nil {
		t.Error("connection served after Close")
	}
}

// TestDisconnectMidCommand: a client that hangs up while its command runs
// leaves nothing behind once the handler returns, and the server keeps
// serving others.
func TestDisconnectMidCommand(t *testing.T) {
	s := newTestServer(t, Config{})
	path := filepath.Join(t.TempDir(), "qmp.sock")
	ln, err := Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	base := runtime.NumGoroutine()

	release := make(chan struct{})
	running := make(chan struct{}, 10)
	mustRegister(t, s.Register("block", func(ctx context.Context, _ Args) (any, error) {
		running <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done():
		}
		return "done", nil
	}))
	for i := 0; i < 10; i++ {
		c := dialClient(t, "unix", path)
		c.negotiate()
		c.send(`{"execute": "block"}` + "\n" + `{"execute": "block"}` + "\n")
		<-running
		c.conn.Close()
	}
	close(release)
	waitFor(t, "clients to go", func() bool { return s.numClients() == 0 })
	waitFor(t, "goroutines to exit", func() bool { return runtime.NumGoroutine() <= base })

	c := dialClient(t, "unix", path)
	c.negotiate()
	if got := c.roundTrip(`{"execute": "stop"}`); got != `{"return": {}}` {
		t.Errorf("after disconnects: %s", got)
	}
}

// TestHalfClose: a client may send its commands, shut down its sending
// side and still read every reply; the server then closes.
func TestHalfClose(t *testing.T) {
	s := newTestServer(t, Config{})
	path := filepath.Join(t.TempDir(), "qmp.sock")
	ln, err := Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	c := dialClient(t, "unix", path)
	c.send(`{"execute": "qmp_capabilities"}` + "\n" + `{"execute": "add", "arguments": {"a": 1, "b": 2}}` + "\n" + `{"execute": "add"`)
	c.conn.(*net.UnixConn).CloseWrite()
	for _, want := range []string{`{"return": {}}`, `{"return": 3}`} {
		if got := c.line(); got != want {
			t.Errorf("got %s, want %s", got, want)
		}
	}
	if l, err := c.r.ReadString('\n'); err == nil {
		t.Errorf("read %q after the last reply, want EOF", l)
	}
}

// TestBackpressure: a client that sends many commands before reading any
// reply gets them all, in order, although they exceed its queue.
func TestBackpressure(t *testing.T) {
	s := newTestServer(t, Config{MaxQueueBytes: 1024})
	c := pipeClient(t, s)
	c.negotiate()
	const n = 2000
	go func() {
		var b strings.Builder
		for i := 0; i < n; i++ {
			fmt.Fprintf(&b, `{"execute": "stop", "id": %d}`+"\n", i)
		}
		c.conn.Write([]byte(b.String()))
	}()
	time.Sleep(50 * time.Millisecond) // let the queue fill up
	for i := 0; i < n; i++ {
		if got, want := c.line(), fmt.Sprintf(`{"return": {}, "id": %d}`, i); got != want {
			t.Fatalf("got %s, want %s", got, want)
		}
	}
}

// TestConcurrentClients runs 100 clients at once over a unix socket, each
// negotiating, running commands and receiving events.
func TestConcurrentClients(t *testing.T) {
	const clients, commands, events = 100, 20, 10
	s := newTestServer(t, Config{})
	path := filepath.Join(t.TempDir(), "qmp.sock")
	ln, err := Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)

	var ready, finished sync.WaitGroup
	ready.Add(clients)
	finished.Add(clients)
	start := make(chan struct{})
	errs := make(chan error, clients)
	for i := 0; i < clients; i++ {
		go func() {
			defer finished.Done()
			err := func() error {
				conn, err := net.Dial("unix", path)
				if err != nil {
					ready.Done()
					return err
				}
				defer conn.Close()
				conn.SetDeadline(time.Now().Add(30 * time.Second))
				r := newLineReader(conn)
				if g, err := r(); err != nil || g != testGreeting {
					ready.Done()
					return fmt.Errorf("greeting %q: %v", g, err)
				}
				fmt.Fprintf(conn, `{"execute": "qmp_capabilities"}`+"\n")
				if l, err := r(); err != nil || l != `{"return": {}}` {
					ready.Done()
					return fmt.Errorf("negotiation %q: %v", l, err)
				}
				ready.Done()
				<-start
				for j := 0; j < commands; j++ {
					fmt.Fprintf(conn, `{"execute": "add", "arguments": {"a": %d, "b": %d}, "id": "%d-%d"}`+"\n", i, j, i, j)
				}
				replies, evs := 0, 0
				for replies < commands || evs < events {
					l, err := r()
					if err != nil {
						return err
					}
					if strings.HasPrefix(l, `{"event": "PING"`) {
						evs++
						continue
					}
					want := fmt.Sprintf(`{"return": %d, "id": "%d-%d"}`, i+replies, i, replies)
					if l != want {
						return fmt.Errorf("got %s, want %s", l, want)
					}
					replies++
				}
				return nil
			}()
			if err != nil {
				errs <- err
			}
		}()
	}
	ready.Wait()
	close(start)
	for e := 0; e < events; e++ {
		s.Emit("PING", map[string]int{"n": e})
	}
	finished.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	waitFor(t, "clients to go", func() bool { return s.numClients() == 0 })
}
