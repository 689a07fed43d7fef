package qmp_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net"
	"os"
	"path/filepath"
	"strings"

	"qmem.dev/qmem/qmp"
)

// session sends each request on conn and prints the line that answers it.
func session(conn net.Conn, requests ...string) {
	r := bufio.NewReader(conn)
	greeting, _ := r.ReadString('\n')
	fmt.Print("<- ", strings.TrimSuffix(greeting, "\r\n"), "\n")
	for _, req := range requests {
		fmt.Println("->", req)
		fmt.Fprintln(conn, req)
		reply, _ := r.ReadString('\n')
		fmt.Print("<- ", strings.TrimSuffix(reply, "\r\n"), "\n")
	}
}

// A server on a unix socket with one command, and a client session.
func Example() {
	s := qmp.NewServer(qmp.Config{Version: qmp.Version{Major: 0, Minor: 1, Micro: 0, Package: "qmem"}})
	defer s.Close()
	err := s.Register("query-memsize", func(ctx context.Context, args qmp.Args) (any, error) {
		return map[string]uint64{"base-memory": 128 << 20}, nil
	})
	if err != nil {
		log.Fatal(err)
	}

	dir, _ := os.MkdirTemp("", "qmp")
	defer os.RemoveAll(dir)
	ln, err := qmp.Listen("unix", filepath.Join(dir, "qmp.sock"))
	if err != nil {
		log.Fatal(err)
	}
	go s.Serve(ln)

	conn, err := net.Dial("unix", filepath.Join(dir, "qmp.sock"))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	session(conn,
		`{"execute": "query-memsize"}`,
		`{"execute": "qmp_capabilities"}`,
		`{"execute": "query-memsize", "id": 1}`,
		`{"execute": "cont"}`,
	)
	// Output:
	// <- {"QMP": {"version": {"qemu": {"micro": 0, "minor": 1, "major": 0}, "package": "qmem"}, "capabilities": []}}
	// -> {"execute": "query-memsize"}
	// <- {"error": {"class": "CommandNotFound", "desc": "Expecting capabilities negotiation with 'qmp_capabilities'"}}
	// -> {"execute": "qmp_capabilities"}
	// <- {"return": {}}
	// -> {"execute": "query-memsize", "id": 1}
	// <- {"return": {"base-memory": 134217728}, "id": 1}
	// -> {"execute": "cont"}
	// <- {"error": {"class": "CommandNotFound", "desc": "The command cont has not been found"}}
}

// Parameters are declared once and checked before the handler runs, with
// QEMU's error texts.
func ExampleServer_Register() {
	s := qmp.NewServer(qmp.Config{})
	defer s.Close()
	err := s.Register("object-add", func(ctx context.Context, args qmp.Args) (any, error) {
		props := args.Object("props")
		return fmt.Sprintf("%s %s: size %d, share %v", args.String("qom-type"), args.String("id"),
			props.Uint("size"), props.Bool("share")), nil
	},
		qmp.Param{Name: "qom-type", Type: qmp.Enum("memory-backend-ram", "memory-backend-file")},
		qmp.Param{Name: "id", Type: qmp.String},
		qmp.Param{Name: "props", Type: qmp.Object(
			qmp.Param{Name: "size", Type: qmp.Size},
			qmp.Param{Name: "share", Type: qmp.Bool, Optional: true},
		)},
	)
	if err != nil {
		log.Fatal(err)
	}
	client, server := net.Pipe()
	defer client.Close()
	go s.ServeConn(server)
	session(client,
		`{"execute": "qmp_capabilities"}`,
		`{"execute": "object-add", "arguments": {"qom-type": "memory-backend-ram", "id": "ram0", "props": {"size": 1048576}}}`,
		`{"execute": "object-add", "arguments": {"qom-type": "memory-backend-ram", "id": "ram0"}}`,
		`{"execute": "object-add", "arguments": {"qom-type": "memory-backend-ram", "id": 0, "props": {}}}`,
		`{"execute": "object-add", "arguments": {"qom-type": "memory-backend-ram", "id": "ram0", "props": {"size": 1, "shared": true}}}`,
		`{"execute": "object-add", "arguments": {"qom-type": "ram", "id": "ram0", "props": {"size": 1}}}`,
	)
	// Output:
	// <- {"QMP": {"version": {"qemu": {"micro": 0, "minor": 0, "major": 0}, "package": ""}, "capabilities": []}}
	// -> {"execute": "qmp_capabilities"}
	// <- {"return": {}}
	// -> {"execute": "object-add", "arguments": {"qom-type": "memory-backend-ram", "id": "ram0", "props": {"size": 1048576}}}
	// <- {"return": "memory-backend-ram ram0: size 1048576, share false"}
	// -> {"execute": "object-add", "arguments": {"qom-type": "memory-backend-ram", "id": "ram0"}}
	// <- {"error": {"class": "GenericError", "desc": "Parameter 'props' is missing"}}
	// -> {"execute": "object-add", "arguments": {"qom-type": "memory-backend-ram", "id": 0, "props": {}}}
	// <- {"error": {"class": "GenericError", "desc": "Invalid parameter type for 'id', expected: string"}}
	// -> {"execute": "object-add", "arguments": {"qom-type": "memory-backend-ram", "id": "ram0", "props": {"size": 1, "shared": true}}}
	// <- {"error": {"class": "GenericError", "desc": "Parameter 'props.shared' is unexpected"}}
	// -> {"execute": "object-add", "arguments": {"qom-type": "ram", "id": "ram0", "props": {"size": 1}}}
	// <- {"error": {"class": "GenericError", "desc": "Parameter 'qom-type' does not accept value 'ram'"}}
}

// Events go to every client that has negotiated.
func ExampleServer_Emit() {
	s := qmp.NewServer(qmp.Config{})
	defer s.Close()
	client, server := net.Pipe()
	defer client.Close()
	go s.ServeConn(server)
	r := bufio.NewReader(client)
	r.ReadString('\n') // greeting
	fmt.Fprintln(client, `{"execute": "qmp_capabilities"}`)
	r.ReadString('\n') // {"return": {}}

	s.Emit("DEVICE_DELETED", map[string]string{"device": "nic0", "path": "/machine/peripheral/nic0"})
	line, _ := r.ReadString('\n')
	var ev struct {
		Event     string
		Data      map[string]string
		Timestamp struct{ Seconds, Microseconds int64 }
	}
	json.Unmarshal([]byte(line), &ev)
	fmt.Println(ev.Event, ev.Data["device"], ev.Timestamp.Seconds > 0)
	// Output: DEVICE_DELETED nic0 true
}

// A handler's error picks the reply's class.
func ExampleClassOf() {
	notFound := fmt.Errorf("device_del: %w", qmp.Errorf(qmp.DeviceNotFound, "Device 'nic1' not found"))
	fmt.Println(qmp.ClassOf(notFound))
	fmt.Println(qmp.ClassOf(errors.New("anything else")))
	// Output:
	// DeviceNotFound
	// GenericError
}

// TCP is served on loopback addresses only.
func ExampleListen() {
	ln, err := qmp.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	ln.Close()
	_, err = qmp.Listen("tcp", "0.0.0.0:4444")
	fmt.Println(err)
	// Output: qmp: listen tcp 0.0.0.0:4444: not a loopback address
}
