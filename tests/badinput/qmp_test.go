package badinput_test

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"qmem.dev/qmem/board"
	"qmem.dev/qmem/device"
	"qmem.dev/qmem/monitor"
	"qmem.dev/qmem/qmp"
	"qmem.dev/qmem/qom"
)

// qmpCase is a refused QMP message. Input is sent as it is, on a fresh
// connection (negotiated unless Raw); the first reply must be Want.
type qmpCase struct {
	entry
	input string
	raw   bool // do not negotiate first
}

// qmpServer is the QMP fixture: the demo board (no guest) with a second
// test device and a RAM backend mem0, served by a monitor on an in-process
// QMP server.
type qmpServer struct {
	t   *testing.T
	m   *board.Machine
	srv *qmp.Server
}

func newQMPServer(t *testing.T) *qmpServer {
	t.Helper()
	spec := board.Demo()
	spec.Guest = ""
	spec.Devices = append(spec.Devices,
		board.DeviceSpec{Type: device.TypeTestDev, ID: "testdev1", Props: map[string]any{"addr": "0xfe001000"}})
	m, err := board.Build(spec, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	srv := qmp.NewServer(qmp.Config{Version: monitor.Version})
	t.Cleanup(func() { srv.Close() })
	if _, err := monitor.New(m, srv); err != nil {
		t.Fatal(err)
	}
	s := &qmpServer{t: t, m: m, srv: srv}
	c := s.dial(true)
	defer c.close()
	c.expect(`{"execute": "object-add", "arguments": {"qom-type": "memory-backend-ram", "id": "mem0", "size": 65536}}`, `{"return": {}}`)
	return s
}

// lineClient speaks QMP line by line over an in-memory pipe.
type lineClient struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

// dial connects, reads the greeting and negotiates when asked.
func (s *qmpServer) dial(negotiate bool) *lineClient {
	s.t.Helper()
	a, b := net.Pipe()
	go s.srv.ServeConn(a)
	c := &lineClient{t: s.t, conn: b, r: bufio.NewReader(b)}
	if g := c.line(); !strings.HasPrefix(g, `{"QMP": `) {
		s.t.Fatalf("greeting %q", g)
	}
	if negotiate {
		c.expect(`{"execute": "qmp_capabilities"}`, `{"return": {}}`)
	}
	return c
}

func (c *lineClient) close() { c.conn.Close() }

// line reads one message line, skipping events.
func (c *lineClient) line() string {
	c.t.Helper()
	for {
		_ = c.conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		s, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("reading a reply: %v", err)
		}
		s = strings.TrimRight(s, "\r\n")
		if !strings.HasPrefix(s, `{"timestamp"`) && !strings.HasPrefix(s, `{"event"`) {
			return s
		}
	}
}

// send writes raw input (on its own goroutine: a pipe write waits for the
// server to read, and the server may be writing a reply meanwhile) and
// returns the next reply.
func (c *lineClient) send(input string) string {
	c.t.Helper()
	werr := make(chan error, 1)
	go func() {
		_, err := io.WriteString(c.conn, input)
		werr <- err
	}()
	reply := c.line()
	if err := <-werr; err != nil {
		c.t.Fatalf("writing: %v", err)
	}
	return reply
}

// expect sends one command line and checks the reply.
func (c *lineClient) expect(cmd, want string) {
	c.t.Helper()
	if got := c.send(cmd + "\n"); got != want {
		c.t.Fatalf("%s\n got %s\nwant %s", cmd, got, want)
	}
}

// snapshot returns what a refused message must leave as it was: the
// QOM tree, the memory trees and flat views with owners, the properties
// of the objects the cases touch, the live-object count and the leaks.
func (s *qmpServer) snapshot(c *lineClient) string {
	var b strings.Builder
	for _, cmd := range []string{
		`{"execute": "human-monitor-command", "arguments": {"command-line": "info qom-tree /"}}`,
		`{"execute": "human-monitor-command", "arguments": {"command-line": "info mtree -D -o"}}`,
		`{"execute": "human-monitor-command", "arguments": {"command-line": "info mtree -f -o"}}`,
		`{"execute": "qom-get", "arguments": {"path": "/machine/peripheral/remap0", "property": "flash"}}`,
		`{"execute": "qom-get", "arguments": {"path": "/machine/peripheral/testdev0", "property": "addr"}}`,
		`{"execute": "qom-get", "arguments": {"path": "/objects/mem0", "property": "size"}}`,
		`{"execute": "query-status"}`,
		`{"execute": "x-query-live-objects"}`,
		`{"execute": "x-query-leaks"}`,
	} {
		b.WriteString(c.send(cmd + "\n"))
		b.WriteString("\n")
	}
	return b.String()
}

var qmpCases = []qmpCase{
	{entry{"malformed JSON", `{"execute": "query-status",}`,
		`{"error": {"class": "GenericError", "desc": "JSON parse error, expecting value"}}`, ""},
		`{"execute": "query-status",}` + "\n", false},
	{entry{"JSON that is not an object", `[1, 2]`,
		`{"error": {"class": "GenericError", "desc": "QMP input must be a JSON object"}}`, ""},
		"[1, 2]\n", false},
	{entry{"no execute member", `{"arguments": {}}`,
		`{"error": {"class": "GenericError", "desc": "QMP input lacks member 'execute'"}}`, ""},
		`{"arguments": {}}` + "\n", false},
	{entry{"execute that is not a string", `{"execute": 1}`,
		`{"error": {"class": "GenericError", "desc": "QMP input member 'execute' must be a string"}}`, ""},
		`{"execute": 1}` + "\n", false},
	{entry{"non-object arguments", `{"execute": "qom-list", "arguments": ["/machine"]}`,
		`{"error": {"class": "GenericError", "desc": "QMP input member 'arguments' must be an object"}}`, ""},
		`{"execute": "qom-list", "arguments": ["/machine"]}` + "\n", false},
	{entry{"unexpected member", `{"execute": "query-status", "colour": 1}`,
		`{"error": {"class": "GenericError", "desc": "QMP input member 'colour' is unexpected"}}`, ""},
		`{"execute": "query-status", "colour": 1}` + "\n", false},
	{entry{"out-of-band execution", `{"exec-oob": "query-status"}`,
		`{"error": {"class": "GenericError", "desc": "QMP input member 'exec-oob' is unexpected"}}`, ""},
		`{"exec-oob": "query-status"}` + "\n", false},
	{entry{"unknown command", `{"execute": "bi-nope", "id": 7}`,
		`{"error": {"class": "CommandNotFound", "desc": "The command bi-nope has not been found"}, "id": 7}`, ""},
		`{"execute": "bi-nope", "id": 7}` + "\n", false},
	{entry{"command before qmp_capabilities", `{"execute": "query-status"}` + " on a new connection",
		`{"error": {"class": "CommandNotFound", "desc": "Expecting capabilities negotiation with 'qmp_capabilities'"}}`, ""},
		`{"execute": "query-status"}` + "\n", true},
	{entry{"capability that is not offered", `{"execute": "qmp_capabilities", "arguments": {"enable": ["oob"]}}` + " on a new connection",
		`{"error": {"class": "GenericError", "desc": "Capability oob not available"}}`, ""},
		`{"execute": "qmp_capabilities", "arguments": {"enable": ["oob"]}}` + "\n", true},
	{entry{"qmp_capabilities twice", `{"execute": "qmp_capabilities"}` + " after negotiation",
		`{"error": {"class": "CommandNotFound", "desc": "Capabilities negotiation is already complete, command ignored"}}`, ""},
		`{"execute": "qmp_capabilities"}` + "\n", false},
	{entry{"missing argument", `{"execute": "qom-list"}`,
		`{"error": {"class": "GenericError", "desc": "Parameter 'path' is missing"}}`, ""},
		`{"execute": "qom-list"}` + "\n", false},
	{entry{"unknown argument", `{"execute": "qom-list", "arguments": {"path": "/machine", "depth": 2}}`,
		`{"error": {"class": "GenericError", "desc": "Parameter 'depth' is unexpected"}}`, ""},
		`{"execute": "qom-list", "arguments": {"path": "/machine", "depth": 2}}` + "\n", false},
	{entry{"argument of the wrong type", `{"execute": "qom-list", "arguments": {"path": 1}}`,
		`{"error": {"class": "GenericError", "desc": "Invalid parameter type for 'path', expected: string"}}`, ""},
		`{"execute": "qom-list", "arguments": {"path": 1}}` + "\n", false},
	{entry{"oversized message", `{"execute": "qom-list", "arguments": {"path": "` + "<1 MiB of a>" + `"}}`,
		`{"error": {"class": "GenericError", "desc": "JSON token size limit exceeded"}}`, ""},
		`{"execute": "qom-list", "arguments": {"path": "` + strings.Repeat("a", qmp.DefaultMaxMessageSize) + `"}}` + "\n", false},
	{entry{"nesting too deep", "1025 nested arrays",
		`{"error": {"class": "GenericError", "desc": "JSON nesting depth limit exceeded"}}`, ""},
		strings.Repeat("[", 1025) + strings.Repeat("]", 1025) + "\n", false},
	{entry{"bad escape in a string", `{"execute": "query-st\qtus"}`,
		`{"error": {"class": "GenericError", "desc": "JSON parse error, invalid escape sequence in string"}}`, ""},
		`{"execute": "query-st\qtus"}` + "\n", false},
	{entry{"device_add of an abstract type", `{"execute": "device_add", "arguments": {"driver": "device"}}`,
		`{"error": {"class": "GenericError", "desc": "'device' is not a valid device model name"}}`, ""},
		`{"execute": "device_add", "arguments": {"driver": "device"}}` + "\n", false},
	{entry{"device_add of an unknown type", `{"execute": "device_add", "arguments": {"driver": "bi-nope"}}`,
		`{"error": {"class": "GenericError", "desc": "'bi-nope' is not a valid device model name"}}`, ""},
		`{"execute": "device_add", "arguments": {"driver": "bi-nope"}}` + "\n", false},
	{entry{"device_add with a duplicate id", `{"execute": "device_add", "arguments": {"driver": "qmem-testdev", "id": "testdev0", "addr": 4244643840}}`,
		`{"error": {"class": "GenericError", "desc": "Duplicate device ID 'testdev0'"}}`, ""},
		`{"execute": "device_add", "arguments": {"driver": "qmem-testdev", "id": "testdev0", "addr": 4244643840}}` + "\n", false},
	{entry{"device_add with an id that is not an identifier", `{"execute": "device_add", "arguments": {"driver": "qmem-testdev", "id": "0td"}}`,
		`{"error": {"class": "GenericError", "desc": "Parameter 'id' expects an identifier"}}`, ""},
		`{"execute": "device_add", "arguments": {"driver": "qmem-testdev", "id": "0td"}}` + "\n", false},
	{entry{"device_add property of the wrong type", `{"execute": "device_add", "arguments": {"driver": "qmem-testdev", "id": "td9", "addr": "0x1000"}}`,
		`{"error": {"class": "GenericError", "desc": "Parameter 'addr' expects uint64"}}`, ""},
		`{"execute": "device_add", "arguments": {"driver": "qmem-testdev", "id": "td9", "addr": "0x1000"}}` + "\n", false},
	{entry{"device_add integer beyond 64 bits", `{"execute": "device_add", "arguments": {"driver": "qmem-testdev", "id": "td9", "addr": 18446744073709551616}}`,
		`{"error": {"class": "GenericError", "desc": "Parameter 'addr' expects uint64"}}`, ""},
		`{"execute": "device_add", "arguments": {"driver": "qmem-testdev", "id": "td9", "addr": 18446744073709551616}}` + "\n", false},
	{entry{"device_add unknown property", `{"execute": "device_add", "arguments": {"driver": "qmem-testdev", "id": "td9", "colour": "blue"}}`,
		`{"error": {"class": "GenericError", "desc": "Property 'qmem-testdev.colour' not found"}}`, ""},
		`{"execute": "device_add", "arguments": {"driver": "qmem-testdev", "id": "td9", "colour": "blue"}}` + "\n", false},
	{entry{"device_add whose address + size wraps (negative address)", `{"execute": "device_add", "arguments": {"driver": "qmem-testdev", "id": "td9", "addr": -2048}}`,
		`{"error": {"class": "GenericError", "desc": "memory: region 'testdev' at 0xfffffffffffff800 with size 0x1000 wraps past 2^64"}}`, ""},
		`{"execute": "device_add", "arguments": {"driver": "qmem-testdev", "id": "td9", "addr": -2048}}` + "\n", false},
	{entry{"device_add of RAM of size 0", `{"execute": "device_add", "arguments": {"driver": "qmem-ram", "id": "r9", "addr": 1073741824, "size": 0}}`,
		`{"error": {"class": "GenericError", "desc": "qmem-ram: size 0x0 must be a non-zero multiple of 4 KiB"}}`, ""},
		`{"execute": "device_add", "arguments": {"driver": "qmem-ram", "id": "r9", "addr": 1073741824, "size": 0}}` + "\n", false},
	{entry{"device_add of RAM of a huge size (negative)", `{"execute": "device_add", "arguments": {"driver": "qmem-ram", "id": "r9", "addr": 1073741824, "size": -4096}}`,
		`{"error": {"class": "GenericError", "desc": "memory: RAM region 'ram' (0xfffffffffffff000 bytes): too large for host memory"}}`, ""},
		`{"execute": "device_add", "arguments": {"driver": "qmem-ram", "id": "r9", "addr": 1073741824, "size": -4096}}` + "\n", false},
	{entry{"device_add on a bus", `{"execute": "device_add", "arguments": {"driver": "qmem-testdev", "id": "td9", "bus": "pci.0"}}`,
		`{"error": {"class": "DeviceNotFound", "desc": "Bus 'pci.0' not found"}}`, ""},
		`{"execute": "device_add", "arguments": {"driver": "qmem-testdev", "id": "td9", "bus": "pci.0"}}` + "\n", false},
	{entry{"device_del of an unknown id", `{"execute": "device_del", "arguments": {"id": "bi-nope"}}`,
		`{"error": {"class": "DeviceNotFound", "desc": "Device 'bi-nope' not found"}}`, ""},
		`{"execute": "device_del", "arguments": {"id": "bi-nope"}}` + "\n", false},
	{entry{"device_del of a non-hot-pluggable device", `{"execute": "device_del", "arguments": {"id": "serial0"}}`,
		`{"error": {"class": "GenericError", "desc": "Device 'qmem-uart16550a' does not support hotplugging"}}`, ""},
		`{"execute": "device_del", "arguments": {"id": "serial0"}}` + "\n", false},
	{entry{"device_del of an object that is not a device", `{"execute": "device_del", "arguments": {"id": "/objects/mem0"}}`,
		`{"error": {"class": "GenericError", "desc": "/objects/mem0 is not a hotpluggable device"}}`, ""},
		`{"execute": "device_del", "arguments": {"id": "/objects/mem0"}}` + "\n", false},
	{entry{"object-add with a bad id", `{"execute": "object-add", "arguments": {"qom-type": "memory-backend-ram", "id": "0mem", "size": 65536}}`,
		`{"error": {"class": "GenericError", "desc": "Parameter 'id' expects an identifier"}}`, ""},
		`{"execute": "object-add", "arguments": {"qom-type": "memory-backend-ram", "id": "0mem", "size": 65536}}` + "\n", false},
	{entry{"object-add with a duplicate id", `{"execute": "object-add", "arguments": {"qom-type": "memory-backend-ram", "id": "mem0", "size": 65536}}`,
		`{"error": {"class": "GenericError", "desc": "attempt to add duplicate property 'mem0' to object (type 'container')"}}`, ""},
		`{"execute": "object-add", "arguments": {"qom-type": "memory-backend-ram", "id": "mem0", "size": 65536}}` + "\n", false},
	{entry{"object-add of an unknown type", `{"execute": "object-add", "arguments": {"qom-type": "bi-nope", "id": "x"}}`,
		`{"error": {"class": "GenericError", "desc": "invalid object type: bi-nope"}}`, ""},
		`{"execute": "object-add", "arguments": {"qom-type": "bi-nope", "id": "x"}}` + "\n", false},
	{entry{"object-add of a type that is not user-creatable", `{"execute": "object-add", "arguments": {"qom-type": "qmem-testdev", "id": "x"}}`,
		`{"error": {"class": "GenericError", "desc": "object type 'qmem-testdev' isn't supported by object-add"}}`, ""},
		`{"execute": "object-add", "arguments": {"qom-type": "qmem-testdev", "id": "x"}}` + "\n", false},
	{entry{"object-add of a backend of size 0", `{"execute": "object-add", "arguments": {"qom-type": "memory-backend-ram", "id": "mem9", "size": 0}}`,
		`{"error": {"class": "GenericError", "desc": "can't create backend with size 0"}}`, ""},
		`{"execute": "object-add", "arguments": {"qom-type": "memory-backend-ram", "id": "mem9", "size": 0}}` + "\n", false},
	{entry{"object-del of a missing object", `{"execute": "object-del", "arguments": {"id": "bi-nope"}}`,
		`{"error": {"class": "GenericError", "desc": "object 'bi-nope' not found"}}`, ""},
		`{"execute": "object-del", "arguments": {"id": "bi-nope"}}` + "\n", false},
	{entry{"qom-set of a link to a missing path", `{"execute": "qom-set", "arguments": {"path": "/machine/peripheral/remap0", "property": "flash", "value": "/machine/bi-nope"}}`,
		`{"error": {"class": "DeviceNotFound", "desc": "Device '/machine/bi-nope' not found"}}`, ""},
		`{"execute": "qom-set", "arguments": {"path": "/machine/peripheral/remap0", "property": "flash", "value": "/machine/bi-nope"}}` + "\n", false},
	{entry{"qom-set of a link to an object of the wrong type", `{"execute": "qom-set", "arguments": {"path": "/machine/peripheral/remap0", "property": "flash", "value": "/objects/mem0"}}`,
		`{"error": {"class": "GenericError", "desc": "Invalid parameter type for 'flash', expected: qmem-flash"}}`, ""},
		`{"execute": "qom-set", "arguments": {"path": "/machine/peripheral/remap0", "property": "flash", "value": "/objects/mem0"}}` + "\n", false},
	{entry{"qom-set of a read-only property", `{"execute": "qom-set", "arguments": {"path": "/machine/peripheral/testdev0", "property": "type", "value": "x"}}`,
		`{"error": {"class": "GenericError", "desc": "Property 'qmem-testdev.type' is not writable"}}`, ""},
		`{"execute": "qom-set", "arguments": {"path": "/machine/peripheral/testdev0", "property": "type", "value": "x"}}` + "\n", false},
	{entry{"qom-set of a huge region priority", `{"execute": "qom-set", "arguments": {"path": "/machine/peripheral/testdev0/testdev[0]", "property": "priority", "value": 1099511627776}}`,
		`{"error": {"class": "GenericError", "desc": "Property 'memory-region.priority' is not writable"}}`, ""},
		`{"execute": "qom-set", "arguments": {"path": "/machine/peripheral/testdev0/testdev[0]", "property": "priority", "value": 1099511627776}}` + "\n", false},
	{entry{"qom-set of a property of the wrong type", `{"execute": "qom-set", "arguments": {"path": "/objects/mem0", "property": "size", "value": "64K"}}`,
		`{"error": {"class": "GenericError", "desc": "Parameter 'size' expects uint64"}}`, ""},
		`{"execute": "qom-set", "arguments": {"path": "/objects/mem0", "property": "size", "value": "64K"}}` + "\n", false},
	{entry{"qom-set of a property in use", `{"execute": "qom-set", "arguments": {"path": "/objects/mem0", "property": "size", "value": 4096}}`,
		`{"error": {"class": "GenericError", "desc": "cannot change property 'size' of /objects/mem0: it is in use"}}`, ""},
		`{"execute": "qom-set", "arguments": {"path": "/objects/mem0", "property": "size", "value": 4096}}` + "\n", false},
	{entry{"qom-list of an ambiguous partial path", `{"execute": "qom-list", "arguments": {"path": "testdev[0]"}}` + " (a region of testdev0 and of testdev1)",
		`{"error": {"class": "GenericError", "desc": "Path 'testdev[0]' is ambiguous"}}`, ""},
		`{"execute": "qom-list", "arguments": {"path": "testdev[0]"}}` + "\n", false},
	{entry{"qom-get of an unknown property", `{"execute": "qom-get", "arguments": {"path": "/machine", "property": "bi-nope"}}`,
		`{"error": {"class": "GenericError", "desc": "Property 'qmem-machine.bi-nope' not found"}}`, ""},
		`{"execute": "qom-get", "arguments": {"path": "/machine", "property": "bi-nope"}}` + "\n", false},
	{entry{"qom-list-properties of an unknown type", `{"execute": "qom-list-properties", "arguments": {"typename": "bi-nope"}}`,
		`{"error": {"class": "DeviceNotFound", "desc": "Class 'bi-nope' not found"}}`, ""},
		`{"execute": "qom-list-properties", "arguments": {"typename": "bi-nope"}}` + "\n", false},
	{entry{"human monitor: unknown command", `{"execute": "human-monitor-command", "arguments": {"command-line": "savevm x"}}`,
		`{"return": "unknown command: 'savevm'\r\n"}`, ""},
		`{"execute": "human-monitor-command", "arguments": {"command-line": "savevm x"}}` + "\n", false},
	{entry{"human monitor: unknown option", `{"execute": "human-monitor-command", "arguments": {"command-line": "info mtree -x"}}`,
		`{"return": "info mtree: unsupported option '-x'\r\n"}`, ""},
		`{"execute": "human-monitor-command", "arguments": {"command-line": "info mtree -x"}}` + "\n", false},
}

func qmpArea() area {
	a := area{Prefix: "P", Title: "QMP",
		Intro: "Messages sent to the monitor of the demo board (no guest) with a second test device `testdev1` " +
			"and a RAM backend `/objects/mem0`, each on a new connection, negotiated unless the case says otherwise; " +
			"the error column is the reply line as sent (without its \\r\\n). HMP's own refusals are text " +
			"returned by human-monitor-command, as in QEMU. Unchanged: the same connection answers a following " +
			"command (query-status, or qmp_capabilities before negotiation), and `info qom-tree /`, " +
			"`info mtree -D -o`, `info mtree -f -o`, the properties the cases aim at, query-status, " +
			"x-query-live-objects and x-query-leaks (always `[]`) read the same before and after, on another " +
			"connection."}
	a.Entries = entries(qmpCases)
	return a
}

// TestQMP runs the QMP cases against one server.
func TestQMP(t *testing.T) {
	s := newQMPServer(t)
	watch := s.dial(true)
	defer watch.close()
	if leaks := watch.send(`{"execute": "x-query-leaks"}` + "\n"); leaks != `{"return": []}` {
		t.Fatalf("the fixture leaks: %s", leaks)
	}
	for i, c := range qmpCases {
		t.Run(caseName("P", i, c.entry), func(t *testing.T) {
			watch.t = t
			before := s.snapshot(watch)
			cl := s.dial(!c.raw)
			cl.t = t
			defer cl.close()
			got := cl.send(c.input)
			var err error
			if got != "" {
				err = errorString(got)
			}
			expectErr(t, c.entry, err)
			if c.raw {
				cl.expect(`{"execute": "qmp_capabilities"}`, `{"return": {}}`)
			} else {
				cl.expect(`{"execute": "query-status"}`, `{"return": {"running": true, "singlestep": false, "status": "running"}}`)
			}
			if after := s.snapshot(watch); after != before {
				t.Errorf("the machine changed after the refused message:\n%s", firstDiff(before, after))
			}
		})
	}
	watch.t = t
	s.m.MemorySystem().Lock()
	defer s.m.MemorySystem().Unlock()
	if leaks := s.m.Registry().Leaks(); len(leaks) != 0 {
		t.Errorf("leaks:\n%s", qom.FormatLeaks(leaks))
	}
}

type errorString string

func (e errorString) Error() string { return string(e) }
