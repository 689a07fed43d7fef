package faults_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"qmem.dev/qmem/board"
	"qmem.dev/qmem/device"
	"qmem.dev/qmem/memory"
	"qmem.dev/qmem/monitor"
	"qmem.dev/qmem/qmp"
)

// lineConn is a raw QMP client on a unix socket. Events read while
// waiting for a reply are kept in events.
type lineConn struct {
	conn   net.Conn
	r      *bufio.Reader
	events []string
}

func dialLine(sock string) (*lineConn, error) {
	c, err := net.Dial("unix", sock)
	if err != nil {
		return nil, err
	}
	lc := &lineConn{conn: c, r: bufio.NewReader(c)}
	if _, err := lc.reply(); err != nil { // the greeting
		c.Close()
		return nil, err
	}
	return lc, nil
}

// reply reads the next line that is not an event.
func (c *lineConn) reply() (string, error) {
	for {
		_ = c.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		s, err := c.r.ReadString('\n')
		if err != nil {
			return "", err
		}
		s = strings.TrimRight(s, "\r\n")
		if !strings.HasPrefix(s, `{"timestamp"`) && !strings.HasPrefix(s, `{"event"`) {
			return s, nil
		}
		c.events = append(c.events, s)
	}
}

// cmd sends one command and returns its reply.
func (c *lineConn) cmd(req string) (string, error) {
	if _, err := io.WriteString(c.conn, req+"\n"); err != nil {
		return "", err
	}
	return c.reply()
}

// inProcess serves the rig's machine over QMP on a unix socket.
func (r *rig) serveQMP() (sock string, mon *monitor.Monitor, srv *qmp.Server) {
	r.t.Helper()
	sock = filepath.Join(r.t.TempDir(), "qmp.sock")
	srv = qmp.NewServer(qmp.Config{Version: monitor.Version, ErrorLog: log.New(io.Discard, "", 0)})
	mon, err := monitor.New(r.m, srv)
	if err != nil {
		r.t.Fatal(err)
	}
	ln, err := qmp.Listen("unix", sock)
	if err != nil {
		r.t.Fatal(err)
	}
	go srv.Serve(ln)
	r.t.Cleanup(func() { srv.Close() })
	return sock, mon, srv
}

// TestQMPClientsHangUp: clients that hang up in the middle of commands —
// right after sending a slow `info mtree -f -o` of a machine with 1500
// devices, halfway through a message, after a device_add and device_del,
// while reading a long reply, and right after a device_del whose device
// has a reader blocked in its callback (so its deletion completes only
// later) — do not disturb the server: a steady client's commands all
// succeed meanwhile, new clients are served afterwards, the deferred
// deletion completes with DEVICE_DELETED for whoever listens, and the
// server's goroutines, the live objects and the leak report come back to
// where they were.
func TestQMPClientsHangUp(t *testing.T) {
	r := newRig(t)
	entered := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	registerFault(t, r.reg, "fault-block", faultOps{
		read: func(*faultDev, uint64, uint, memory.Attrs) (uint64, memory.Result) {
			once.Do(func() { close(entered) })
			<-release
			return 0, memory.OK
		},
	})
	const big = 1500
	r.sys.Lock()
	for i := 0; i < big; i++ {
		if _, err := r.m.AddDevice(&board.DeviceSpec{Type: device.TypeTestDev, ID: fmt.Sprintf("big%d", i), Props: map[string]any{"addr": uint64(0x1_0000_0000 + i*0x1000)}, Typed: true}); err != nil {
			r.sys.Unlock()
			t.Fatal(err)
		}
	}
	r.sys.Unlock()
	sock, mon, _ := r.serveQMP()
	baseLive := liveObjects(r)
	baseGoroutines := runtime.NumGoroutine()

	// A steady client works all along.
	steady, err := dialLine(sock)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := steady.cmd(`{"execute": "qmp_capabilities"}`); err != nil || got != `{"return": {}}` {
		t.Fatalf("negotiation: %s, %v", got, err)
	}
	stopSteady := make(chan struct{})
	steadyDone := make(chan error, 1)
	var steadyOK atomic.Int64
	go func() {
		for {
			select {
			case <-stopSteady:
				steadyDone <- nil
				return
			default:
			}
			for _, req := range []string{`{"execute": "query-status"}`, `{"execute": "qom-list", "arguments": {"path": "/machine/peripheral/testdev0"}}`} {
				got, err := steady.cmd(req)
				if err != nil || !strings.HasPrefix(got, `{"return": `) {
					steadyDone <- fmt.Errorf("steady client: %s: %q, %v", req, got, err)
					return
				}
				steadyOK.Add(1)
			}
		}
	}()

	// A device with a reader blocked inside its callback.
	blocker := r.plug("fault-block", "blocker", faultAddr)
	blockedDone := make(chan struct{})
	go func() {
		defer close(blockedDone)
		rd := r.sys.NewReader()
		defer rd.Close()
		rd.Load(r.m.Memory, faultAddr, 4, le, memory.Attrs{})
	}()
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	if !done(entered, 10*time.Second) {
		t.Fatal("the reader never entered the blocking callback")
	}
	// A listener for the deferred DEVICE_DELETED.
	listener, err := dialLine(sock)
	if err != nil {
		t.Fatal(err)
	}
	defer listener.conn.Close()
	if got, err := listener.cmd(`{"execute": "qmp_capabilities"}`); err != nil || got != `{"return": {}}` {
		t.Fatalf("negotiation: %s, %v", got, err)
	}

	caps := `{"execute": "qmp_capabilities"}` + "\n"
	hangUps := []struct {
		name string
		send func(i int) string
		read int // bytes of the reply to read before hanging up
	}{
		{"after a slow info mtree -f -o", func(int) string {
			return caps + `{"execute": "human-monitor-command", "arguments": {"command-line": "info mtree -f -o"}}` + "\n"
		}, 0},
		{"in the middle of a message", func(int) string {
			return caps + `{"execute": "human-monitor-command", "argum`
		}, 0},
		{"after device_add and device_del", func(i int) string {
			return caps + fmt.Sprintf(`{"execute": "device_add", "arguments": {"driver": "qmem-testdev", "id": "h%d", "addr": %d}}`+"\n"+
				`{"execute": "device_del", "arguments": {"id": "h%d"}}`+"\n", i, 0xc000_0000+i*0x1000, i)
		}, 0},
		{"while reading a long reply", func(int) string {
			return caps + `{"execute": "human-monitor-command", "arguments": {"command-line": "info mtree -D -o"}}` + "\n"
		}, 200},
		{"after device_del of a big device", func(i int) string {
			return caps + fmt.Sprintf(`{"execute": "device_del", "arguments": {"id": "big%d"}}`, i) + "\n"
		}, 0},
	}
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := 0; i < 60; i++ {
		h := hangUps[i%len(hangUps)]
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c, err := net.Dial("unix", sock)
			if err != nil {
				errs <- fmt.Errorf("%s: %v", h.name, err)
				return
			}
			defer c.Close()
			if _, err := io.WriteString(c, h.send(i)); err != nil {
				errs <- fmt.Errorf("%s: %v", h.name, err)
				return
			}
			if h.read > 0 {
				_, _ = io.ReadFull(c, make([]byte, h.read))
			}
		}(i)
	}
	// The slowest hang-up: device_del of the device a reader is blocked in.
	if c, err := net.Dial("unix", sock); err != nil {
		t.Fatal(err)
	} else {
		_, _ = io.WriteString(c, caps+`{"execute": "device_del", "arguments": {"id": "blocker"}}`+"\n")
		_, _ = io.ReadFull(bufio.NewReader(c), make([]byte, 10))
		c.Close()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	// The blocked device's deletion waits for its reader, then completes.
	deadline := time.Now().Add(10 * time.Second)
	for {
		r.sys.Lock()
		_, err := r.reg.FindDevice("blocker")
		r.sys.Unlock()
		if err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("device_del of the blocked device was never carried out")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if blocker.Finalized() {
		t.Fatal("the blocked device was finalized while a reader was inside its callback")
	}
	close(release)
	if !done(blockedDone, 10*time.Second) {
		t.Fatal("the blocked reader did not return")
	}
	if err := waitEventLine(listener, "DEVICE_DELETED", `"device": "blocker"`); err != nil {
		t.Error(err)
	}
	expectFinalizedOnce(t, faultOf(blocker))

	close(stopSteady)
	if err := <-steadyDone; err != nil {
		t.Error(err)
	}
	if steadyOK.Load() == 0 {
		t.Error("the steady client got no reply")
	}

	// New clients are served; remove what the hang-ups left plugged.
	c, err := dialLine(sock)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.cmd(`{"execute": "qmp_capabilities"}`); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 60; i++ {
		id := fmt.Sprintf("h%d", i)
		got, err := c.cmd(fmt.Sprintf(`{"execute": "device_del", "arguments": {"id": "%s"}}`, id))
		if err != nil || (got != `{"return": {}}` && !strings.Contains(got, "not found")) {
			t.Errorf("device_del %s: %s, %v", id, got, err)
		}
	}
	mon.Wait()
	if got, err := c.cmd(`{"execute": "x-query-leaks"}`); err != nil || got != `{"return": []}` {
		t.Errorf("x-query-leaks: %s, %v", got, err)
	}
	c.conn.Close()
	steady.conn.Close()
	listener.conn.Close()

	r.settle()
	deleted := 0
	r.sys.Lock()
	for i := 0; i < big; i++ {
		if _, err := r.reg.FindDevice(fmt.Sprintf("big%d", i)); err != nil {
			deleted++
		}
	}
	r.sys.Unlock()
	if live := liveObjects(r); live != baseLive-2*deleted {
		t.Errorf("live objects: %d, want %d (%d before, %d big devices deleted, 2 objects each)", live, baseLive-2*deleted, baseLive, deleted)
	}
	// Every goroutine of the hung-up clients has ended.
	for deadline := time.Now().Add(10 * time.Second); ; {
		n := runtime.NumGoroutine()
		if n <= baseGoroutines {
			break
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, %d before the clients:\n%s", n, baseGoroutines, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitEventLine reads c until an event named name whose line contains
// with arrives.
func waitEventLine(c *lineConn, name, with string) error {
	match := func(s string) bool {
		return strings.Contains(s, `"event": "`+name+`"`) && strings.Contains(s, with)
	}
	for i, s := range c.events {
		if match(s) {
			c.events = c.events[i+1:]
			return nil
		}
	}
	c.events = nil
	for {
		_ = c.conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		s, err := c.r.ReadString('\n')
		if err != nil {
			return fmt.Errorf("waiting for %s %s: %v", name, with, err)
		}
		if match(s) {
			return nil
		}
	}
}

// liveObjects returns the number of live QOM objects after the releases
// that are due.
func liveObjects(r *rig) int {
	r.sys.Lock()
	defer r.sys.Unlock()
	r.sys.Reclaim()
	return r.reg.LiveObjects()
}

// qmemBinary builds cmd/qmem into a temporary folder.
func qmemBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "qmem")
	out, err := exec.Command("go", "build", "-o", bin, "qmem.dev/qmem/cmd/qmem").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// run sends a command with JSON arguments and returns its "return"
// value, or the error reply as an error.
func (c *lineConn) run(cmd string, args map[string]any) (any, error) {
	req := map[string]any{"execute": cmd}
	if args != nil {
		req["arguments"] = args
	}
	b, _ := json.Marshal(req)
	got, err := c.cmd(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %v", cmd, err)
	}
	var reply struct {
		Return any             `json:"return"`
		Error  json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal([]byte(got), &reply); err != nil || reply.Error != nil {
		return nil, fmt.Errorf("%s: %s", cmd, got)
	}
	return reply.Return, nil
}

// dialNegotiated connects (retrying while the server starts) and
// negotiates.
func dialNegotiated(sock string) (*lineConn, error) {
	var c *lineConn
	var err error
	for i := 0; i < 500; i++ {
		if c, err = dialLine(sock); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		return nil, err
	}
	if _, err := c.run("qmp_capabilities", nil); err != nil {
		c.conn.Close()
		return nil, err
	}
	return c, nil
}

// TestHundredQMPClients runs `qmem serve --board demo` (the built binary;
// its guest runs under KVM when there is KVM) and 100 clients at
// once, each listing /machine, plugging its own qmem-testdev at its own
// address, finding it in `info mtree -f`, unplugging it, getting
// DEVICE_DELETED for it and asking x-query-leaks. All of that succeeds;
// afterwards x-query-leaks is [] and x-query-live-objects is back where it
// started, and the process, which stayed up throughout, exits 0 on quit.
func TestHundredQMPClients(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the qmem binary")
	}
	bin := qmemBinary(t)
	sock := filepath.Join(t.TempDir(), "qmp.sock")
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, "serve", "--board", "demo", "--qmp", "unix:"+sock)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{}) // closed when the process has exited, waitErr set
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	defer func() {
		select {
		case <-exited:
		default:
			_ = cmd.Process.Kill() // the process this test started
			<-exited
		}
	}()

	first, err := dialNegotiated(sock)
	if err != nil {
		t.Fatal(err)
	}
	defer first.conn.Close()
	v, err := first.run("x-query-live-objects", nil)
	if err != nil {
		t.Fatal(err)
	}
	baseLive := v.(map[string]any)["count"]

	const clients = 100
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if err := hundredClient(sock, i); err != nil {
				errs <- fmt.Errorf("client %d: %v", i, err)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	select {
	case <-exited:
		t.Fatalf("qmem serve exited during the test: %v\nstderr: %s", waitErr, stderr.String())
	default:
	}

	leaks, err := first.run("x-query-leaks", nil)
	if err != nil || fmt.Sprint(leaks) != "[]" {
		t.Errorf("x-query-leaks at the end: %v, %v", leaks, err)
	}
	v, err = first.run("x-query-live-objects", nil)
	if err != nil || v.(map[string]any)["count"] != baseLive {
		t.Errorf("x-query-live-objects at the end: %v, %v; %v at the start", v, err, baseLive)
	}
	if _, err := first.run("quit", nil); err != nil {
		t.Error(err)
	}
	select {
	case <-exited:
		if waitErr != nil {
			t.Errorf("qmem serve: %v\nstderr: %s", waitErr, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Error("qmem serve did not exit after quit")
	}
}

// hundredClient is one client of TestHundredQMPClients.
func hundredClient(sock string, i int) error {
	c, err := dialNegotiated(sock)
	if err != nil {
		return err
	}
	defer c.conn.Close()
	id := fmt.Sprintf("c%d", i)
	addr := uint64(0xd000_0000 + i*0x1000)
	props, err := c.run("qom-list", map[string]any{"path": "/machine"})
	if err != nil {
		return err
	}
	if l, _ := props.([]any); len(l) == 0 {
		return fmt.Errorf("qom-list /machine: %v", props)
	}
	if _, err := c.run("device_add", map[string]any{"driver": "qmem-testdev", "id": id, "addr": addr}); err != nil {
		return err
	}
	flat, err := c.run("human-monitor-command", map[string]any{"command-line": "info mtree -f"})
	if err != nil {
		return err
	}
	want := fmt.Sprintf("%016x-%016x (prio 0, i/o): testdev\r\n", addr, addr+0xfff)
	if s, _ := flat.(string); !strings.Contains(s, want) {
		return fmt.Errorf("info mtree -f lacks %q", want)
	}
	if _, err := c.run("device_del", map[string]any{"id": id}); err != nil {
		return err
	}
	if err := waitEventLine(c, "DEVICE_DELETED", fmt.Sprintf(`"device": "%s"`, id)); err != nil {
		return err
	}
	if _, err := c.run("x-query-leaks", nil); err != nil {
		return err
	}
	return nil
}
