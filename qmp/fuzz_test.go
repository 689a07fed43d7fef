package qmp

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"strings"
	"testing"
	"time"
)

// FuzzConn feeds arbitrary bytes to a connection and checks that the
// server never panics, answers only with well-formed messages, is still
// usable afterwards (a control character and one more command always get
// their reply), and meanwhile serves another client.
func FuzzConn(f *testing.F) {
	for _, tt := range protocolTests {
		f.Add([]byte(tt.in))
		f.Add([]byte(`{"execute": "qmp_capabilities"}` + "\n" + tt.in))
	}
	for _, s := range []string{
		"", "{", "}", "[[[[", `"`, `{"execute": "qmp_capabilities"}{"execute": "echo", "arguments": {"n": 1e400}}`,
		"\xff\xfe\x00", strings.Repeat("{\"a\":", 3000), `{"execute": "add", "arguments": {"a": 1, "b": -9223372036854775809}}`,
		`{'execute': 'qmp_capabilities'}`, "{\"execute\": \"qmp_capabilities\"}\r\n{\"execute\": \"boom\"}\r\n",
	} {
		f.Add([]byte(s))
	}
	s := newTestServer(f, Config{MaxMessageSize: 4096, MaxQueueBytes: 16 << 10, ErrorLog: log.New(io.Discard, "", 0)})

	f.Fuzz(func(t *testing.T, data []byte) {
		cc, sc := net.Pipe()
		served := make(chan struct{})
		go func() { s.ServeConn(sc); close(served) }()
		defer func() {
			cc.Close()
			select {
			case <-served:
			case <-time.After(10 * time.Second):
				t.Fatal("connection not released")
			}
		}()
		cc.SetDeadline(time.Now().Add(10 * time.Second))

		outcome := make(chan error, 1)
		go func() { outcome <- checkOutput(cc) }()
		go func() {
			// A control character resets the parser, whatever data left it
			// in; the sentinel must then be answered, negotiated or not.
			cc.Write(append(data, "\x01{\"execute\": \"query-version\", \"id\": \"end\"}\n"...))
		}()

		other := pipeClient(t, s)
		other.negotiate()
		if got := other.roundTrip(`{"execute": "add", "arguments": {"a": 1, "b": 2}}`); got != `{"return": 3}` {
			t.Fatalf("other client: %s", got)
		}
		other.conn.Close()

		if err := <-outcome; err != nil {
			t.Fatalf("input %q: %v", data, err)
		}
	})
}

// checkOutput reads a fuzzed connection's output up to the reply to the
// sentinel: every line must be a CRLF-terminated ASCII JSON object that is
// the greeting (first), a reply or an event.
func checkOutput(r io.Reader) error {
	br := bufio.NewReader(r)
	for n := 0; ; n++ {
		l, err := br.ReadString('\n')
		if err != nil {
			return fmt.Errorf("after %d lines: %v (partial %q)", n, err, l)
		}
		if !strings.HasSuffix(l, "\r\n") || strings.Count(l, "\n") != 1 {
			return fmt.Errorf("bad line end: %q", l)
		}
		for _, c := range []byte(l) {
			if c >= 0x80 || (c < 0x20 && c != '\r' && c != '\n') {
				return fmt.Errorf("not ASCII: %q", l)
			}
		}
		var m map[string]json.RawMessage
		dec := json.NewDecoder(bytes.NewReader([]byte(l)))
		if err := dec.Decode(&m); err != nil {
			return fmt.Errorf("not a JSON object: %q: %v", l, err)
		}
		if n == 0 {
			if l != testGreeting+"\r\n" {
				return fmt.Errorf("greeting %q", l)
			}
			continue
		}
		_, isReturn := m["return"]
		errObj, isError := m["error"]
		if isReturn == isError {
			return fmt.Errorf("neither a reply nor an error: %q", l)
		}
		if isError {
			var e struct{ Class, Desc string }
			if json.Unmarshal(errObj, &e) != nil || e.Class == "" || e.Desc == "" {
				return fmt.Errorf("malformed error: %q", l)
			}
		}
		for k := range m {
			if k != "return" && k != "error" && k != "id" {
				return fmt.Errorf("unexpected member %s: %q", k, l)
			}
		}
		if string(m["id"]) == `"end"` {
			return nil
		}
	}
}
