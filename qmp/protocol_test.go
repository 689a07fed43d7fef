package qmp

import (
	"strings"
	"testing"
)

// The expected lines are what QEMU sends for the same input, with QEMU's
// texts (texts.go); where qmem must differ, the case says why.
var protocolTests = []struct {
	name      string
	negotiate bool   // send qmp_capabilities first
	in        string // raw bytes sent
	want      []string
}{
	// Capabilities negotiation (monitor/qmp.c, qmp-cmds-control.c).
	{"negotiation: other command", false, `{"execute": "stop"}` + "\n",
		[]string{`{"error": {"class": "CommandNotFound", "desc": "Expecting capabilities negotiation with 'qmp_capabilities'"}}`}},
	{"negotiation: unknown command", false, `{"execute": "nope", "id": 1}` + "\n",
		[]string{`{"error": {"class": "CommandNotFound", "desc": "Expecting capabilities negotiation with 'qmp_capabilities'"}, "id": 1}`}},
	{"negotiation: query-commands refused", false, `{"execute": "query-commands"}` + "\n",
		[]string{`{"error": {"class": "CommandNotFound", "desc": "Expecting capabilities negotiation with 'qmp_capabilities'"}}`}},
	{"negotiation: generic errors keep their text", false, `{"arguments": {}}` + "\n",
		[]string{`{"error": {"class": "GenericError", "desc": "QMP input lacks member 'execute'"}}`}},
	{"negotiation: success with id", false, `{"execute": "qmp_capabilities", "id": "c1"}` + "\n",
		[]string{`{"return": {}, "id": "c1"}`}},
	{"negotiation: empty enable list", false, `{"execute": "qmp_capabilities", "arguments": {"enable": []}}` + "\n",
		[]string{`{"return": {}}`}},
	{"negotiation: oob not offered", false, `{"execute": "qmp_capabilities", "arguments": {"enable": ["oob"]}}` + "\n" +
		`{"execute": "stop"}` + "\n",
		[]string{`{"error": {"class": "GenericError", "desc": "Capability oob not available"}}`,
			`{"error": {"class": "CommandNotFound", "desc": "Expecting capabilities negotiation with 'qmp_capabilities'"}}`}},
	{"negotiation: unknown capability", false, `{"execute": "qmp_capabilities", "arguments": {"enable": ["foo"]}}` + "\n",
		[]string{`{"error": {"class": "GenericError", "desc": "Parameter 'null' does not accept value 'foo'"}}`}},
	{"negotiation: bad argument", false, `{"execute": "qmp_capabilities", "arguments": {"x": 1}}` + "\n",
		[]string{`{"error": {"class": "GenericError", "desc": "Parameter 'x' is unexpected"}}`}},
	{"negotiation: then commands work", false, `{"execute": "qmp_capabilities"}` + "\n" + `{"execute": "stop"}` + "\n",
		[]string{`{"return": {}}`, `{"return": {}}`}},
	{"negotiation: twice", true, `{"execute": "qmp_capabilities", "id": 2}` + "\n",
		[]string{`{"error": {"class": "CommandNotFound", "desc": "Capabilities negotiation is already complete, command ignored"}, "id": 2}`}},

	// Commands and results.
	{"command without arguments", true, `{"execute": "stop"}` + "\n", []string{`{"return": {}}`}},
	{"empty arguments", true, `{"execute": "stop", "arguments": {}}` + "\n", []string{`{"return": {}}`}},
	{"result", true, `{"execute": "add", "arguments": {"a": 2, "b": 40}}` + "\n", []string{`{"return": 42}`}},
	{"no newline needed", true, `{"execute":"add","arguments":{"a":1,"b":1}}`, []string{`{"return": 2}`}},
	{"several per line", true, `{"execute":"stop"}{"execute":"stop","id":2} {"execute":"stop","id":3}` + "\n",
		[]string{`{"return": {}}`, `{"return": {}, "id": 2}`, `{"return": {}, "id": 3}`}},
	{"message over several lines", true, "{\n  \"execute\": \"add\",\n  \"arguments\": {\"a\": 1,\n \"b\": 2}\n}\n",
		[]string{`{"return": 3}`}},
	{"command not found", true, `{"execute": "nope"}` + "\n",
		[]string{`{"error": {"class": "CommandNotFound", "desc": "The command nope has not been found"}}`}},
	{"query-version", true, `{"execute": "query-version"}` + "\n",
		[]string{`{"return": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": "qmem-test"}}`}},
	{"query-commands", true, `{"execute": "query-commands"}` + "\n",
		[]string{`{"return": [{"name": "add"}, {"name": "bad-result"}, {"name": "boom"}, {"name": "device-fail"}, {"name": "echo"}, {"name": "plain-fail"}, {"name": "qmp_capabilities"}, {"name": "qom-fail"}, {"name": "query-commands"}, {"name": "query-version"}, {"name": "stop"}]}`}},

	// id is echoed as sent, whatever JSON value it is.
	{"id string", true, `{"execute": "stop", "id": "libvirt-1"}` + "\n", []string{`{"return": {}, "id": "libvirt-1"}`}},
	{"id number kept exactly", true, `{"id": 1.50e3, "execute": "stop"}` + "\n", []string{`{"return": {}, "id": 1.50e3}`}},
	{"id big integer", true, `{"execute": "stop", "id": 123456789012345678901234567890}` + "\n",
		[]string{`{"return": {}, "id": 123456789012345678901234567890}`}},
	{"id object keeps member order", true, `{"execute": "stop", "id": {"b": [1, {"z": null}], "a": true}}` + "\n",
		[]string{`{"return": {}, "id": {"b": [1, {"z": null}], "a": true}}`}},
	{"id null", true, `{"execute": "stop", "id": null}` + "\n", []string{`{"return": {}, "id": null}`}},
	{"id non-ASCII escaped", true, `{"execute": "stop", "id": "é😀/"}` + "\n", []string{`{"return": {}, "id": "\u00E9\uD83D\uDE00/"}`}},
	{"id on error", true, `{"execute": "nope", "id": [1]}` + "\n",
		[]string{`{"error": {"class": "CommandNotFound", "desc": "The command nope has not been found"}, "id": [1]}`}},
	{"id on request error", true, `{"id": 7}` + "\n",
		[]string{`{"error": {"class": "GenericError", "desc": "QMP input lacks member 'execute'"}, "id": 7}`}},

	// Malformed requests (qapi/qmp-dispatch.c).
	{"not an object: array", true, `[1, 2]` + "\n", []string{`{"error": {"class": "GenericError", "desc": "QMP input must be a JSON object"}}`}},
	{"not an object: string", true, `"execute"` + "\n", []string{`{"error": {"class": "GenericError", "desc": "QMP input must be a JSON object"}}`}},
	{"not an object: number", true, "42\n", []string{`{"error": {"class": "GenericError", "desc": "QMP input must be a JSON object"}}`}},
	{"not an object: null", true, "null\n", []string{`{"error": {"class": "GenericError", "desc": "QMP input must be a JSON object"}}`}},
	{"empty object", true, "{}\n", []string{`{"error": {"class": "GenericError", "desc": "QMP input lacks member 'execute'"}}`}},
	{"execute not a string", true, `{"execute": 1, "id": "x"}` + "\n",
		[]string{`{"error": {"class": "GenericError", "desc": "QMP input member 'execute' must be a string"}, "id": "x"}`}},
	{"execute null", true, `{"execute": null}` + "\n",
		[]string{`{"error": {"class": "GenericError", "desc": "QMP input member 'execute' must be a string"}}`}},
	{"arguments not an object", true, `{"execute": "stop", "arguments": [1]}` + "\n",
		[]string{`{"error": {"class": "GenericError", "desc": "QMP input member 'arguments' must be an object"}}`}},
	{"arguments null", true, `{"execute": "stop", "arguments": null}` + "\n",
		[]string{`{"error": {"class": "GenericError", "desc": "QMP input member 'arguments' must be an object"}}`}},
	{"unknown member", true, `{"execute": "stop", "foo": 1}` + "\n",
		[]string{`{"error": {"class": "GenericError", "desc": "QMP input member 'foo' is unexpected"}}`}},
	{"exec-oob without oob", true, `{"exec-oob": "stop", "id": 1}` + "\n",
		[]string{`{"error": {"class": "GenericError", "desc": "QMP input member 'exec-oob' is unexpected"}, "id": 1}`}},
	{"exec-oob with execute", true, `{"execute": "stop", "exec-oob": "stop"}` + "\n",
		[]string{`{"error": {"class": "GenericError", "desc": "QMP input member 'exec-oob' is unexpected"}}`}},
	{"control member rejected", true, `{"execute": "stop", "control": {}}` + "\n",
		[]string{`{"error": {"class": "GenericError", "desc": "QMP input member 'control' is unexpected"}}`}},

	// Argument checking (qapi/qobject-input-visitor.c).
	{"argument missing", true, `{"execute": "add", "arguments": {"a": 1}}` + "\n",
		[]string{`{"error": {"class": "GenericError", "desc": "Parameter 'b' is missing"}}`}},
	{"arguments missing", true, `{"execute": "add"}` + "\n",
		[]string{`{"error": {"class": "GenericError", "desc": "Parameter 'a' is missing"}}`}},
	{"argument unexpected", true, `{"execute": "add", "arguments": {"a": 1, "b": 2, "c": 3}}` + "\n",
		[]string{`{"error": {"class": "GenericError", "desc": "Parameter 'c' is unexpected"}}`}},
	{"argument to a command without parameters", true, `{"execute": "stop", "arguments": {"x": 1}}` + "\n",
		[]string{`{"error": {"class": "GenericError", "desc": "Parameter 'x' is unexpected"}}`}},
	{"missing reported before unexpected", true, `{"execute": "add", "arguments": {"c": 3}}` + "\n",
		[]string{`{"error": {"class": "GenericError", "desc": "Parameter 'a' is missing"}}`}},
	{"argument wrong type", true, `{"execute": "add", "arguments": {"a": "1", "b": 2}}` + "\n",
		[]string{`{"error": {"class": "GenericError", "desc": "Invalid parameter type for 'a', expected: integer"}}`}},
	{"float is not an integer", true, `{"execute": "add", "arguments": {"a": 1.0, "b": 2}}` + "\n",
		[]string{`{"error": {"class": "GenericError", "desc": "Invalid parameter type for 'a', expected: integer"}}`}},
	{"string argument", true, `{"execute": "echo", "arguments": {"s": true}}` + "\n",
		[]string{`{"error": {"class": "GenericError", "desc": "Invalid parameter type for 's', expected: string"}}`}},
	{"optional absent", true, `{"execute": "echo"}` + "\n", []string{`{"return": {}}`}},
	{"any argument kept as sent", true, `{"execute": "echo", "arguments": {"n": [1.0, 18446744073709551616, "<&>"], "s": "x"}}` + "\n",
		[]string{`{"return": {"n": [1.0, 18446744073709551616, "<&>"], "s": "x"}}`}},

	// Handler errors and their classes.
	{"qmp.Error class", true, `{"execute": "device-fail", "arguments": {"id": "disk0"}}` + "\n",
		[]string{`{"error": {"class": "DeviceNotFound", "desc": "Device 'disk0' not found"}}`}},
	{"qom.Error class", true, `{"execute": "qom-fail"}` + "\n",
		[]string{`{"error": {"class": "DeviceNotFound", "desc": "wrapped: no such object"}}`}},
	{"plain error is GenericError", true, `{"execute": "plain-fail"}` + "\n",
		[]string{`{"error": {"class": "GenericError", "desc": "it failed"}}`}},
	{"panic recovered", true, `{"execute": "boom"}` + "\n" + `{"execute": "stop"}` + "\n",
		[]string{`{"error": {"class": "GenericError", "desc": "internal error in command 'boom': kaboom"}}`, `{"return": {}}`}},
	{"unencodable result", true, `{"execute": "bad-result"}` + "\n",
		[]string{`{"error": {"class": "GenericError", "desc": "internal error encoding the result of 'bad-result': json: unsupported type: func()"}}`}},

	// Malformed JSON: answered without id, then the next line is parsed
	// (qobject/json-parser.c texts; recovery as in stream.go).
	{"parse: expecting value", true, `{ "execute": }` + "\n" + `{"execute": "stop"}` + "\n",
		[]string{`{"error": {"class": "GenericError", "desc": "JSON parse error, expecting value"}}`, `{"return": {}}`}},
	{"parse: stray closing brace", true, "}\n" + `{"execute": "stop"}` + "\n",
		[]string{`{"error": {"class": "GenericError", "desc": "JSON parse error, expecting value"}}`, `{"return": {}}`}},
	{"parse: invalid keyword", true, "foo\n" + `{"execute": "stop"}` + "\n",
		[]string{`{"error": {"class": "GenericError", "desc": "JSON parse error, invalid keyword 'foo'"}}`, `{"return": {}}`}},
	{"parse: misspelt literal", true, `{"execute": "stop", "id": tru}` + "\n" + `{"execute": "stop"}` + "\n",
		[]string{`{"error": {"class": "GenericError", "desc": "JSON parse error, invalid keyword 'tru'"}}`, `{"return": {}}`}},
	{"parse: missing colon", true, `{"execute" "stop"}` + "\n",
		[]string{`{"error": {"class": "GenericError", "desc": "JSON parse error, missing : in object pair"}}`}},
	{"parse: missing comma", true, `{"execute": "stop" "id": 1}` + "\n",
		[]string{`{"error": {"class": "GenericError", "desc": "JSON parse error, expected separator in dict"}}`}},
	{"parse: list separator", true, `{"execute": "stop", "id": [1 2]}` + "\n",
		[]string{`{"error": {"class": "GenericError", "desc": "JSON parse error, expected separator in list"}}`}},
	{"parse: key not a string", true, `{1: 2}` + "\n",
		[]string{`{"error": {"class": "GenericError", "desc": "JSON parse error, key is not a string in object"}}`}},
	{"parse: bad escape", true, `{"execute": "\q"}` + "\n",
		[]string{`{"error": {"class": "GenericError", "desc": "JSON parse error, invalid escape sequence in string"}}`}},
	{"parse: upper-case letters are stray", true, "Foo\n",
		[]string{`{"error": {"class": "GenericError", "desc": "JSON parse error, stray 'F'"}}`}},
	{"parse: stray character", true, "@\n",
		[]string{`{"error": {"class": "GenericError", "desc": "JSON parse error, stray '@'"}}`}},
	{"parse: stray control character resets", true, `{"execute": "stop", "id":` + "\x01" + `{"execute": "stop"}` + "\n",
		[]string{`{"error": {"class": "GenericError", "desc": "JSON parse error, stray '\u0001'"}}`, `{"return": {}}`}},
	{"parse: 0xFF resets", true, `{"execute": ` + "\xff" + `{"execute": "stop"}` + "\n",
		[]string{`{"error": {"class": "GenericError", "desc": "JSON parse error, stray '\uFFFD'"}}`, `{"return": {}}`}},
	{"parse: unterminated line is discarded", true, `{"execute": "stop" ` + "\n" + `"x"}` + "\n" + `{"execute": "stop", "id": 9}` + "\n",
		[]string{`{"error": {"class": "GenericError", "desc": "JSON parse error, expected separator in dict"}}`, `{"return": {}, "id": 9}`}},
	{"parse: error on a later line of a message", true, "{\"execute\":\n \"stop\",\n ]\n" + `{"execute": "stop"}` + "\n",
		[]string{`{"error": {"class": "GenericError", "desc": "JSON parse error, expecting value"}}`, `{"return": {}}`}},
	{"parse: raw newline in string", true, "{\"execute\": \"st\nop\"}\n" + `{"execute": "stop"}` + "\n",
		[]string{`{"error": {"class": "GenericError", "desc": "JSON parse error, invalid character '\\n' in string literal"}}`,
			`{"error": {"class": "GenericError", "desc": "JSON parse error, invalid keyword 'op'"}}`,
			`{"return": {}}`}},
	{"parse: before negotiation too", false, "{]\n" + `{"execute": "qmp_capabilities"}` + "\n",
		[]string{`{"error": {"class": "GenericError", "desc": "JSON parse error, expecting value"}}`, `{"return": {}}`}},
	{"nesting: 1024 levels accepted", true, `{"execute": "echo", "arguments": {"n": ` + strings.Repeat("[", 1022) + strings.Repeat("]", 1022) + "}}\n",
		[]string{`{"return": {"n": ` + strings.Repeat("[", 1022) + strings.Repeat("]", 1022) + "}}"}},
	{"nesting: 1025 levels refused", true, `{"execute": "echo", "arguments": {"n": ` + strings.Repeat("[", 1023) + strings.Repeat("]", 1023) + "}}\n" +
		`{"execute": "stop"}` + "\n",
		[]string{`{"error": {"class": "GenericError", "desc": "JSON nesting depth limit exceeded"}}`, `{"return": {}}`}},
	{"nesting: beyond encoding/json's limit", true, strings.Repeat("[", 20000) + "\n" + `{"execute": "stop"}` + "\n",
		[]string{`{"error": {"class": "GenericError", "desc": "JSON nesting depth limit exceeded"}}`, `{"return": {}}`}},
}

func TestProtocol(t *testing.T) {
	s := newTestServer(t, Config{})
	for _, tt := range protocolTests {
		t.Run(tt.name, func(t *testing.T) {
			c := pipeClient(t, s)
			if tt.negotiate {
				c.negotiate()
			}
			go func() { c.conn.Write([]byte(tt.in)) }()
			for i, want := range tt.want {
				if got := c.line(); got != want {
					t.Errorf("reply %d:\n got %s\nwant %s", i, got, want)
				}
			}
		})
	}
}
