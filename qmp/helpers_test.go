package qmp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"strings"
	"testing"
	"time"

	"qmem.dev/qmem/qom"
)

var testVersion = Version{Major: 7, Minor: 2, Micro: 0, Package: "qmem-test"}

const testGreeting = `{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": "qmem-test"}, "capabilities": []}}`

// newTestServer returns a server with the test commands registered, closed
// when the test ends.
func newTestServer(t testing.TB, cfg Config) *Server {
	t.Helper()
	if cfg.Version == (Version{}) {
		cfg.Version = testVersion
	}
	if cfg.ErrorLog == nil {
		cfg.ErrorLog = log.New(testLog{t}, "", 0)
	}
	s := NewServer(cfg)
	mustRegister(t, s.Register("echo", func(_ context.Context, a Args) (any, error) { return a, nil },
		Param{Name: "s", Type: String, Optional: true},
		Param{Name: "n", Type: Any, Optional: true}))
	mustRegister(t, s.Register("add", func(_ context.Context, a Args) (any, error) {
		return a.Int("a") + a.Int("b"), nil
	}, Param{Name: "a", Type: Int}, Param{Name: "b", Type: Int}))
	mustRegister(t, s.Register("stop", func(context.Context, Args) (any, error) { return nil, nil }))
	mustRegister(t, s.Register("device-fail", func(_ context.Context, a Args) (any, error) {
		return nil, Errorf(DeviceNotFound, "Device '%s' not found", a.String("id"))
	}, Param{Name: "id", Type: String}))
	mustRegister(t, s.Register("qom-fail", func(context.Context, Args) (any, error) {
		return nil, fmt.Errorf("wrapped: %w", &qom.Error{Class: qom.DeviceNotFound, Msg: "no such object"})
	}))
	mustRegister(t, s.Register("plain-fail", func(context.Context, Args) (any, error) {
		return nil, errors.New("it failed")
	}))
	mustRegister(t, s.Register("boom", func(context.Context, Args) (any, error) { panic("kaboom") }))
	mustRegister(t, s.Register("bad-result", func(context.Context, Args) (any, error) { return func() {}, nil }))
	t.Cleanup(func() { s.Close() })
	return s
}

// testLog sends the server's log to the test's.
type testLog struct{ t testing.TB }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

func mustRegister(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// testClient is a raw client reading the server's lines.
type testClient struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
}

// pipeClient connects to s over net.Pipe and reads the greeting.
func pipeClient(t testing.TB, s *Server) *testClient {
	t.Helper()
	cc, sc := net.Pipe()
	go s.ServeConn(sc)
	c := &testClient{t: t, conn: cc, r: bufio.NewReader(cc)}
	t.Cleanup(func() { cc.Close() })
	if g := c.line(); g != testGreeting {
		t.Fatalf("greeting = %s, want %s", g, testGreeting)
	}
	return c
}

// dialClient connects to a listening server and reads the greeting.
func dialClient(t testing.TB, network, addr string) *testClient {
	t.Helper()
	conn, err := net.Dial(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	c := &testClient{t: t, conn: conn, r: bufio.NewReader(conn)}
	t.Cleanup(func() { conn.Close() })
	if g := c.line(); g != testGreeting {
		t.Fatalf("greeting = %s, want %s", g, testGreeting)
	}
	return c
}

func (c *testClient) send(s string) {
	c.t.Helper()
	c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.conn.Write([]byte(s)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// line reads one message line, checks its "\r\n" and returns it without.
func (c *testClient) line() string {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	l, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("read: %v (got %q)", err, l)
	}
	if !strings.HasSuffix(l, "\r\n") {
		c.t.Fatalf("line %q does not end in CRLF", l)
	}
	return strings.TrimSuffix(l, "\r\n")
}

func (c *testClient) negotiate() {
	c.t.Helper()
	c.send(`{"execute": "qmp_capabilities"}` + "\n")
	if l := c.line(); l != `{"return": {}}` {
		c.t.Fatalf("qmp_capabilities: %s", l)
	}
}

// newLineReader returns a function reading one CRLF-terminated line from
// r, for goroutines that must not call t.Fatal.
func newLineReader(r io.Reader) func() (string, error) {
	br := bufio.NewReader(r)
	return func() (string, error) {
		l, err := br.ReadString('\n')
		if err != nil {
			return l, err
		}
		if !strings.HasSuffix(l, "\r\n") {
			return l, fmt.Errorf("line %q does not end in CRLF", l)
		}
		return strings.TrimSuffix(l, "\r\n"), nil
	}
}

// roundTrip sends one line and returns the one reply line.
func (c *testClient) roundTrip(s string) string {
	c.t.Helper()
	c.send(s + "\n")
	return c.line()
}
