package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	goqmp "github.com/digitalocean/go-qemu/qmp"
)

// qmpClient wraps go-qemu's monitor: commands as maps, events drained on
// the side (go-qemu's reader blocks until each event is taken).
type qmpClient struct {
	t      *testing.T
	mon    *goqmp.SocketMonitor
	events chan goqmp.Event
}

func dialQMP(t *testing.T, path string) *qmpClient {
	t.Helper()
	var mon *goqmp.SocketMonitor
	var err error
	for i := 0; i < 200; i++ { // the server may not be listening yet
		if mon, err = goqmp.NewSocketMonitor("unix", path, 5*time.Second); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := mon.Connect(); err != nil {
		t.Fatal(err)
	}
	stream, err := mon.Events(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c := &qmpClient{t: t, mon: mon, events: make(chan goqmp.Event, 1024)}
	go func() {
		for ev := range stream {
			c.events <- ev
		}
	}()
	return c
}

// run executes a command and returns its "return" value; an error reply
// fails the test unless wantErr is set, in which case the error is returned.
func (c *qmpClient) run(cmd string, args map[string]any) (any, error) {
	c.t.Helper()
	req := map[string]any{"execute": cmd}
	if args != nil {
		req["arguments"] = args
	}
	b, _ := json.Marshal(req)
	out, err := c.mon.Run(b)
	if err != nil {
		return nil, err
	}
	var reply struct {
		Return any `json:"return"`
	}
	if err := json.Unmarshal(out, &reply); err != nil {
		c.t.Fatalf("%s: %v in %s", cmd, err, out)
	}
	return reply.Return, nil
}

func (c *qmpClient) must(cmd string, args map[string]any) any {
	c.t.Helper()
	v, err := c.run(cmd, args)
	if err != nil {
		c.t.Fatalf("%s %v: %v", cmd, args, err)
	}
	return v
}

func (c *qmpClient) waitEvent(name string) goqmp.Event {
	c.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev := <-c.events:
			if ev.Event == name {
				return ev
			}
		case <-timeout:
			c.t.Fatalf("no %s event", name)
		}
	}
}

// TestServeGoQEMU drives `qmem serve` with go-qemu's QMP client: list
// /machine, hot-plug qmem-testdev and qmem-ram, see their regions in
// `info mtree -f`, unplug them, get DEVICE_DELETED for each and [] from
// x-query-leaks; 200 cycles leave the live-object count where it started.
//
// The board is "minimal" (no guest): go-qemu's client hands its reader's
// reused buffer to Run, so an event arriving right after a reply (the
// guest's SHUTDOWN) can corrupt the reply under the race detector.
func TestServeGoQEMU(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "qmp.sock")
	done := make(chan int, 1)
	go func() {
		done <- dispatch([]string{"serve", "--board", "minimal", "--qmp", "unix:" + sock}, io.Discard, io.Discard)
	}()
	c := dialQMP(t, sock)
	defer c.mon.Disconnect()

	props := c.must("qom-list", map[string]any{"path": "/machine"}).([]any)
	if len(props) == 0 {
		t.Fatal("qom-list /machine is empty")
	}
	base := c.must("x-query-live-objects", nil).(map[string]any)["count"].(float64)
	cycles := 200
	if testing.Short() {
		cycles = 20
	}
	for i := 0; i < cycles; i++ {
		c.must("device_add", map[string]any{"driver": "qmem-testdev", "id": "td", "addr": 0xfd000000})
		c.must("device_add", map[string]any{"driver": "qmem-ram", "id": "hr", "addr": 0x40000000, "size": 0x10000})
		flat := c.must("human-monitor-command", map[string]any{"command-line": "info mtree -f"}).(string)
		for _, want := range []string{
			"00000000fd000000-00000000fd000fff (prio 0, i/o): testdev\r\n",
			"0000000040000000-000000004000ffff (prio 0, ram): ram\r\n",
		} {
			if !strings.Contains(flat, want) {
				t.Fatalf("cycle %d: info mtree -f lacks %q:\n%s", i, want, flat)
			}
		}
		c.must("device_del", map[string]any{"id": "td"})
		c.must("device_del", map[string]any{"id": "hr"})
		got := map[string]bool{}
		for len(got) < 2 {
			ev := c.waitEvent("DEVICE_DELETED")
			got[fmt.Sprint(ev.Data["device"])] = true
		}
		if !got["td"] || !got["hr"] {
			t.Fatalf("cycle %d: DEVICE_DELETED for %v", i, got)
		}
		if leaks := c.must("x-query-leaks", nil).([]any); len(leaks) != 0 {
			t.Fatalf("cycle %d: leaks %v", i, leaks)
		}
	}
	if n := c.must("x-query-live-objects", nil).(map[string]any)["count"].(float64); n != base {
		t.Fatalf("live objects: %v after %d cycles, %v before", n, cycles, base)
	}
	c.must("quit", nil)
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("serve exited with %d", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop after quit")
	}
}
