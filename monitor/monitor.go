// Package monitor gives a running qmem machine its QMP commands: QOM
// inspection and changes (qom-list, qom-get, qom-set, qom-list-types,
// qom-list-properties), device hot-plug by type name (device_add,
// device_del, device-list-properties), user objects (object-add,
// object-del), run control (query-status, stop, cont, quit), the human
// monitor (`info mtree`, `info qom-tree`) and qmem's own x-query-leaks, with
// QEMU's events DEVICE_DELETED, STOP, RESUME and SHUTDOWN.
//
// Every command takes the machine lock for what it reads or changes; none
// waits for vCPUs or readers while holding it.
package monitor

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"qmem.dev/qmem/board"
	"qmem.dev/qmem/memory"
	"qmem.dev/qmem/qmp"
	"qmem.dev/qmem/qom"
)

// Version is what query-version reports for qmem.
var Version = qmp.Version{Major: 0, Minor: 1, Micro: 0, Package: "qmem"}

// Monitor serves one machine's commands on a QMP server.
type Monitor struct {
	m   *board.Machine
	sys *memory.System
	reg *qom.Registry
	srv *qmp.Server

	mu       sync.Mutex
	status   string // "running", "paused", "shutdown"
	quit     chan struct{}
	quitOnce sync.Once
	pending  sync.WaitGroup // device_del completions in flight
}

// New registers the machine commands on srv and returns the monitor. The
// machine's status starts as "running" (an idle machine runs, as QEMU's
// does without -S).
func New(m *board.Machine, srv *qmp.Server) (*Monitor, error) {
	mon := &Monitor{m: m, sys: m.MemorySystem(), reg: m.Registry(), srv: srv, status: "running", quit: make(chan struct{})}
	for _, c := range mon.commands() {
		if err := srv.RegisterCommand(c); err != nil {
			return nil, err
		}
	}
	return mon, nil
}

// Quit is closed when a client sent quit.
func (mon *Monitor) Quit() <-chan struct{} { return mon.quit }

// Wait waits for device deletions in progress to complete.
func (mon *Monitor) Wait() { mon.pending.Wait() }

// SetStatus records a run-state change made outside the monitor (e.g. the
// guest ended): "shutdown" emits SHUTDOWN.
func (mon *Monitor) SetStatus(status string, reason string) {
	mon.mu.Lock()
	changed := mon.status != status
	mon.status = status
	mon.mu.Unlock()
	if changed && status == "shutdown" {
		_ = mon.srv.Emit("SHUTDOWN", map[string]any{"guest": true, "reason": reason})
	}
}

func (mon *Monitor) commands() []qmp.Command {
	str := func(name string) qmp.Param { return qmp.Param{Name: name, Type: qmp.String} }
	opt := func(p qmp.Param) qmp.Param { p.Optional = true; return p }
	return []qmp.Command{
		{Name: "query-status", Handler: mon.queryStatus},
		{Name: "stop", Handler: mon.stop},
		{Name: "cont", Handler: mon.cont},
		{Name: "quit", Handler: mon.quitCmd},
		{Name: "qom-list", Handler: mon.qomList, Params: []qmp.Param{str("path")}},
		{Name: "qom-get", Handler: mon.qomGet, Params: []qmp.Param{str("path"), str("property")}},
		{Name: "qom-set", Handler: mon.qomSet, Params: []qmp.Param{str("path"), str("property"), {Name: "value", Type: qmp.Any}}},
		{Name: "qom-list-types", Handler: mon.qomListTypes, Params: []qmp.Param{opt(str("implements")), opt(qmp.Param{Name: "abstract", Type: qmp.Bool})}},
		{Name: "qom-list-properties", Handler: mon.qomListProperties, Params: []qmp.Param{str("typename")}},
		{Name: "device-list-properties", Handler: mon.deviceListProperties, Params: []qmp.Param{str("typename")}},
		{Name: "device_add", Handler: mon.deviceAdd, Open: true, Params: []qmp.Param{str("driver"), opt(str("id")), opt(str("bus"))}},
		{Name: "device_del", Handler: mon.deviceDel, Params: []qmp.Param{str("id")}},
		{Name: "object-add", Handler: mon.objectAdd, Open: true, Params: []qmp.Param{str("qom-type"), str("id")}},
		{Name: "object-del", Handler: mon.objectDel, Params: []qmp.Param{str("id")}},
		{Name: "human-monitor-command", Handler: mon.hmp, Params: []qmp.Param{str("command-line"), opt(qmp.Param{Name: "cpu-index", Type: qmp.Int})}},
		{Name: "x-query-leaks", Handler: mon.queryLeaks},
		{Name: "x-query-live-objects", Handler: mon.queryLiveObjects},
	}
}

// locked runs fn with the machine lock held.
func (mon *Monitor) locked(fn func() (any, error)) (any, error) {
	mon.sys.Lock()
	defer mon.sys.Unlock()
	return fn()
}

func (mon *Monitor) queryStatus(context.Context, qmp.Args) (any, error) {
	mon.mu.Lock()
	defer mon.mu.Unlock()
	return map[string]any{"status": mon.status, "singlestep": false, "running": mon.status == "running"}, nil
}

func (mon *Monitor) stop(context.Context, qmp.Args) (any, error) {
	mon.mu.Lock()
	was := mon.status
	if was == "running" {
		mon.status = "paused"
	}
	mon.mu.Unlock()
	if was == "running" {
		mon.m.Pause()
		_ = mon.srv.Emit("STOP", nil)
	}
	return nil, nil
}

func (mon *Monitor) cont(context.Context, qmp.Args) (any, error) {
	mon.mu.Lock()
	was := mon.status
	if was == "paused" {
		mon.status = "running"
	}
	mon.mu.Unlock()
	switch was {
	case "paused":
		mon.m.Resume()
		_ = mon.srv.Emit("RESUME", nil)
	case "shutdown":
		return nil, errors.New("Resetting the Virtual Machine is required")
	}
	return nil, nil
}

func (mon *Monitor) quitCmd(context.Context, qmp.Args) (any, error) {
	mon.quitOnce.Do(func() {
		_ = mon.srv.Emit("SHUTDOWN", map[string]any{"guest": false, "reason": "host-qmp-quit"})
		close(mon.quit)
	})
	return nil, nil
}

// resolve finds an object by path with QEMU's qom-list wording.
func (mon *Monitor) resolve(path string) (*qom.Object, error) {
	o, amb := mon.reg.ResolvePath(path)
	if amb {
		return nil, fmt.Errorf("Path '%s' is ambiguous", path)
	}
	if o == nil {
		return nil, &qmp.Error{Class: qmp.DeviceNotFound, Desc: fmt.Sprintf("Device '%s' not found", path)}
	}
	return o, nil
}
