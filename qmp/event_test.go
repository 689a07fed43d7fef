package qmp

import (
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestEmit(t *testing.T) {
	s := newTestServer(t, Config{})
	s.now = func() time.Time { return time.Unix(1700000000, 123456789) }
	before := pipeClient(t, s) // never negotiates
	after := pipeClient(t, s)
	after.negotiate()

	if err := s.Emit("STOP", nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Emit("DEVICE_DELETED", map[string]any{"device": "virtio-disk0", "path": "/machine/peripheral/virtio-disk0"}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`{"event": "STOP", "timestamp": {"seconds": 1700000000, "microseconds": 123456}}`,
		`{"event": "DEVICE_DELETED", "data": {"device": "virtio-disk0", "path": "/machine/peripheral/virtio-disk0"}, "timestamp": {"seconds": 1700000000, "microseconds": 123456}}`,
	}
	for _, w := range want {
		if got := after.line(); got != w {
			t.Errorf("event:\n got %s\nwant %s", got, w)
		}
	}
	// The client that has not negotiated got nothing: its next line is
	// the reply to its next command.
	if got := before.roundTrip(`{"execute": "stop"}`); !strings.HasPrefix(got, `{"error": {"class": "CommandNotFound"`) {
		t.Errorf("un-negotiated client read %s", got)
	}
}

func TestEmitErrors(t *testing.T) {
	s := newTestServer(t, Config{})
	for _, tt := range []struct {
		name string
		data any
	}{
		{"", nil},
		{"X", []int{1}},
		{"X", "string"},
		{"X", func() {}},
	} {
		if err := s.Emit(tt.name, tt.data); err == nil {
			t.Errorf("Emit(%q, %#v) succeeded", tt.name, tt.data)
		}
	}
	if err := s.Emit("X", struct{}{}); err != nil {
		t.Errorf("Emit with an empty object: %v", err)
	}
}

// TestEventsAfterNegotiationReply negotiates while events are emitted
// without pause: the reply to qmp_capabilities comes first, and then
// events without a gap or a tear.
func TestEventsAfterNegotiationReply(t *testing.T) {
	s := newTestServer(t, Config{})
	c := pipeClient(t, s)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			s.Emit("TICK", map[string]int{"n": i})
			time.Sleep(50 * time.Microsecond)
		}
	}()
	defer func() { close(stop); wg.Wait() }()
	c.send(`{"execute": "qmp_capabilities"}` + "\n")
	if l := c.line(); l != `{"return": {}}` {
		t.Fatalf("first line after the greeting: %s", l)
	}
	last := -1
	for i := 0; i < 50; i++ {
		var ev struct {
			Event string
			Data  struct{ N int }
		}
		l := c.line()
		if err := json.Unmarshal([]byte(l), &ev); err != nil || ev.Event != "TICK" {
			t.Fatalf("not an event: %s", l)
		}
		if last >= 0 && ev.Data.N != last+1 {
			t.Fatalf("event %d after %d", ev.Data.N, last)
		}
		last = ev.Data.N
	}
}

// TestEventOrderAcrossClients emits from several goroutines while clients
// also run commands: every client receives every event whole, and all in
// the same order.
func TestEventOrderAcrossClients(t *testing.T) {
	const clients, emitters, perEmitter = 5, 4, 100
	s := newTestServer(t, Config{})
	cs := make([]*testClient, clients)
	for i := range cs {
		cs[i] = pipeClient(t, s)
		cs[i].negotiate()
	}
	var wg sync.WaitGroup
	for e := 0; e < emitters; e++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perEmitter; i++ {
				if err := s.Emit("E", map[string]string{"id": fmt.Sprintf("%d-%d", e, i), "pad": strings.Repeat("x", i)}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	orders := make([][]string, clients)
	var rwg sync.WaitGroup
	for i, c := range cs {
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			// Interleave a command with the events.
			go c.conn.Write([]byte(`{"execute": "stop", "id": "cmd"}` + "\n"))
			sawReply := false
			for len(orders[i]) < emitters*perEmitter || !sawReply {
				l := c.line()
				var m struct {
					Event string
					Data  struct{ ID string }
					ID    string
				}
				if err := json.Unmarshal([]byte(l), &m); err != nil {
					t.Errorf("torn message %q: %v", l, err)
					return
				}
				if m.Event == "" {
					sawReply = m.ID == "cmd"
					continue
				}
				orders[i] = append(orders[i], m.Data.ID)
			}
		}()
	}
	wg.Wait()
	rwg.Wait()
	for i := 1; i < clients; i++ {
		if strings.Join(orders[i], ",") != strings.Join(orders[0], ",") {
			t.Fatalf("client %d saw another order than client 0", i)
		}
	}
	// Per emitter, events arrive in emission order.
	next := make([]int, emitters)
	for _, id := range orders[0] {
		var e, i int
		fmt.Sscanf(id, "%d-%d", &e, &i)
		if i != next[e] {
			t.Fatalf("emitter %d: event %d arrived before %d", e, i, next[e])
		}
		next[e]++
	}
}

// TestSlowClientDisconnected: a client that never reads is disconnected
// once its queue overflows, Emit never blocks, and a reading client gets
// every event.
func TestSlowClientDisconnected(t *testing.T) {
	const limit = 64 << 10
	s := newTestServer(t, Config{MaxQueueBytes: limit})
	path := filepath.Join(t.TempDir(), "qmp.sock")
	ln, err := Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	slow := dialClient(t, "unix", path)
	slow.negotiate()
	fast := dialClient(t, "unix", path)
	fast.negotiate()

	const events = 20000 // ~2 MB: more than the queue and the socket buffers
	var read atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for read.Load() < events {
			l := fast.line()
			if !strings.HasPrefix(l, `{"event": "BIG"`) {
				t.Errorf("fast client read %s", l)
				return
			}
			read.Add(1)
		}
	}()
	pad := strings.Repeat("p", 80)
	var slowest time.Duration
	for i := 0; i < events; i++ {
		start := time.Now()
		s.Emit("BIG", map[string]any{"i": i, "pad": pad})
		slowest = max(slowest, time.Since(start))
		// Pace the emitter to the fast client, which must not overflow.
		for int64(i)-read.Load() > 100 {
			time.Sleep(10 * time.Microsecond)
		}
	}
	<-done
	if n := read.Load(); n != events {
		t.Errorf("fast client got %d events, want %d", n, events)
	}
	t.Logf("slowest Emit: %v", slowest)
	if slowest > time.Second {
		t.Errorf("an Emit took %v: it waited for a client", slowest)
	}
	// The slow client was cut off: reading what the kernel buffered ends
	// in EOF, not in a complete event stream.
	slow.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	n := 0
	for {
		l, err := slow.r.ReadString('\n')
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("slow client still connected")
			}
			break
		}
		if strings.HasSuffix(l, "\r\n") {
			n++
		}
	}
	if n >= events {
		t.Errorf("slow client received all %d events", n)
	}
	t.Logf("slow client received %d of %d events before being disconnected", n, events)
}
