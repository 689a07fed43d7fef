package qmp

import (
	"encoding/json"
	"testing"
	"time"
)

func TestAppendQEMU(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"a":1,"b":[1,2,{}],"c":null}`, `{"a": 1, "b": [1, 2, {}], "c": null}`},
		{"{ \"a\" :\n [ 1 ,\t2 ] }", `{"a": [1, 2]}`},
		{`"a:b, c"`, `"a:b, c"`},
		{`"q\"x\\"`, `"q\"x\\"`},
		{`"\u00e9\ufffd"`, `"\u00E9\uFFFD"`},
		{`"é"`, `"\u00E9"`},
		{`"😀"`, `"\uD83D\uDE00"`},
		{"\"\x7f\"", `"\u007F"`},
		{"\"\xff\"", `"\uFFFD"`},
		{`"<&>/"`, `"<&>/"`},
		{`"\n\t\b\f\r"`, `"\n\t\b\f\r"`},
	}
	for _, tt := range tests {
		if got := string(appendQEMU(nil, []byte(tt.in))); got != tt.want {
			t.Errorf("appendQEMU(%s) = %s, want %s", tt.in, got, tt.want)
		}
		// Restyling is idempotent (events restyle encoded data).
		if got := string(appendQEMU(nil, appendQEMU(nil, []byte(tt.in)))); got != tt.want {
			t.Errorf("appendQEMU twice (%s) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestAppendValue(t *testing.T) {
	tests := []struct {
		v    any
		want string
	}{
		{map[string]any{"b": "<tag>&", "a": []int{1}}, `{"a": [1], "b": "<tag>&"}`},
		{"\x01\b\x7f", `"\u0001\b\u007F"`},
		{json.Number("1.50"), `1.50`},
		{struct {
			X int `json:"x"`
			Y int `json:"y,omitempty"`
		}{X: 3}, `{"x": 3}`},
	}
	for _, tt := range tests {
		got, err := appendValue(nil, tt.v)
		if err != nil || string(got) != tt.want {
			t.Errorf("appendValue(%#v) = %s, %v; want %s", tt.v, got, err, tt.want)
		}
	}
}

func TestMessages(t *testing.T) {
	at := time.Unix(1258551470, 802384123)
	tests := []struct{ got, want string }{
		{string(greeting(testVersion)), testGreeting + "\r\n"},
		{string(greeting(Version{})), `{"QMP": {"version": {"qemu": {"micro": 0, "minor": 0, "major": 0}, "package": ""}, "capabilities": []}}` + "\r\n"},
		{string(errorReply(Errorf(DeviceNotFound, "Device '%s' not found", "x"), json.RawMessage(`"a"`))),
			`{"error": {"class": "DeviceNotFound", "desc": "Device 'x' not found"}, "id": "a"}` + "\r\n"},
		{string(eventMessage("POWERDOWN", nil, at)),
			`{"event": "POWERDOWN", "timestamp": {"seconds": 1258551470, "microseconds": 802384}}` + "\r\n"},
		{string(eventMessage("STOP", json.RawMessage(`{"a": 1}`), at)),
			`{"event": "STOP", "data": {"a": 1}, "timestamp": {"seconds": 1258551470, "microseconds": 802384}}` + "\r\n"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got  %q\nwant %q", tt.got, tt.want)
		}
	}
	r, err := returnReply(nil, nil)
	if err != nil || string(r) != "{\"return\": {}}\r\n" {
		t.Errorf("returnReply(nil) = %q, %v", r, err)
	}
}
