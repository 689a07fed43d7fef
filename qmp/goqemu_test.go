package qmp_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"testing"
	"time"

	goqmp "github.com/digitalocean/go-qemu/qmp"
	"github.com/digitalocean/go-qemu/qmp/raw"

	"qmem.dev/qmem/qmp"
)

// TestGoQEMUClient drives the server with go-qemu's QMP client, written
// for QEMU by others: handshake, typed and raw commands, errors, events.
func TestGoQEMUClient(t *testing.T) {
	s := qmp.NewServer(qmp.Config{Version: qmp.Version{Major: 0, Minor: 3, Micro: 1, Package: "qmem-0.3.1"}})
	defer s.Close()
	status := "running"
	if err := s.Register("query-status", func(context.Context, qmp.Args) (any, error) {
		return map[string]any{"running": status == "running", "status": status}, nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Register("stop", func(context.Context, qmp.Args) (any, error) {
		status = "paused"
		return nil, s.Emit("STOP", nil)
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Register("device_del", func(_ context.Context, a qmp.Args) (any, error) {
		return nil, qmp.Errorf(qmp.DeviceNotFound, "Device '%s' not found", a.String("id"))
	}, qmp.Param{Name: "id", Type: qmp.String}); err != nil {
		t.Fatal(err)
	}

	path := filepath.Join(t.TempDir(), "qmp.sock")
	ln, err := qmp.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)

	mon, err := goqmp.NewSocketMonitor("unix", path, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := mon.Connect(); err != nil {
		t.Fatalf("Connect (greeting and qmp_capabilities): %v", err)
	}
	defer mon.Disconnect()
	if v := mon.Version.String(); v != "0.3.1" || mon.Version.Package != "qmem-0.3.1" {
		t.Errorf("version %s %q", v, mon.Version.Package)
	}
	stream, err := mon.Events(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// go-qemu's reader blocks until each event is taken, also while a
	// command waits for its reply (QEMU, like qmem, sends the STOP event
	// before stop's reply): take them on the side.
	events := make(chan goqmp.Event, 16)
	go func() {
		for ev := range stream {
			events <- ev
		}
	}()

	// Generated, typed wrappers.
	rm := raw.NewMonitor(mon)
	vi, err := rm.QueryVersion()
	if err != nil || vi.Qemu.Minor != 3 || vi.Package != "qmem-0.3.1" {
		t.Errorf("QueryVersion = %+v, %v", vi, err)
	}
	cmds, err := rm.QueryCommands()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range cmds {
		names = append(names, c.Name)
	}
	for _, want := range []string{"qmp_capabilities", "query-commands", "query-status", "stop"} {
		if !slices.Contains(names, want) {
			t.Errorf("query-commands lacks %s: %v", want, names)
		}
	}

	// Raw commands and QEMU's error texts.
	out, err := mon.Run([]byte(`{"execute": "query-status"}`))
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Return struct {
			Running bool
			Status  string
		}
	}
	if err := json.Unmarshal(out, &st); err != nil || !st.Return.Running || st.Return.Status != "running" {
		t.Errorf("query-status = %s, %v", out, err)
	}
	if _, err := mon.Run([]byte(`{"execute": "device_del"}`)); err == nil || err.Error() != "Parameter 'id' is missing" {
		t.Errorf("device_del without id: %v", err)
	}
	if _, err := mon.Run([]byte(`{"execute": "device_del", "arguments": {"id": "disk0"}}`)); err == nil || err.Error() != "Device 'disk0' not found" {
		t.Errorf("device_del: %v", err)
	}
	if _, err := mon.Run([]byte(`{"execute": "cont"}`)); err == nil || err.Error() != "The command cont has not been found" {
		t.Errorf("cont: %v", err)
	}

	// An event caused by a command, and one emitted on its own.
	if err := rm.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := s.Emit("DEVICE_DELETED", map[string]string{"device": "nic0", "path": "/machine/peripheral/nic0"}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"STOP", "DEVICE_DELETED"} {
		select {
		case ev := <-events:
			if ev.Event != want || ev.Timestamp.Seconds == 0 {
				t.Errorf("event %+v, want %s", ev, want)
			}
			if want == "DEVICE_DELETED" && ev.Data["device"] != "nic0" {
				t.Errorf("event data %v", ev.Data)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no %s event", want)
		}
	}
}
