package qmp

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"testing"
)

func decodeArgs(t *testing.T, s string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("bad test input %s: %v", s, err)
	}
	return m
}

func TestCheckArgs(t *testing.T) {
	props := Object(
		Param{Name: "size", Type: Size},
		Param{Name: "share", Type: Bool, Optional: true},
	)
	tests := []struct {
		name   string
		params []Param
		open   bool
		args   string
		want   Args // nil when an error is expected
		err    string
	}{
		{name: "no params, no args", args: `{}`, want: Args{}},
		{name: "string", params: []Param{{Name: "id", Type: String}}, args: `{"id": "x"}`, want: Args{"id": "x"}},
		{name: "bool", params: []Param{{Name: "b", Type: Bool}}, args: `{"b": 1}`,
			err: "Invalid parameter type for 'b', expected: boolean"},
		{name: "int64 bounds", params: []Param{{Name: "i", Type: Int}}, args: `{"i": -9223372036854775808}`,
			want: Args{"i": int64(-9223372036854775808)}},
		{name: "int64 overflow", params: []Param{{Name: "i", Type: Int}}, args: `{"i": 9223372036854775808}`,
			err: "Invalid parameter type for 'i', expected: integer"},
		{name: "int exponent", params: []Param{{Name: "i", Type: Int}}, args: `{"i": 1e3}`,
			err: "Invalid parameter type for 'i', expected: integer"},
		{name: "int8 range", params: []Param{{Name: "i", Type: Int8}}, args: `{"i": 128}`,
			err: "Parameter 'i' expects int8"},
		{name: "int8 ok", params: []Param{{Name: "i", Type: Int8}}, args: `{"i": -128}`, want: Args{"i": int64(-128)}},
		{name: "int32 type", params: []Param{{Name: "i", Type: Int32}}, args: `{"i": null}`,
			err: "Invalid parameter type for 'i', expected: integer"},
		{name: "uint64 max", params: []Param{{Name: "u", Type: Uint64}}, args: `{"u": 18446744073709551615}`,
			want: Args{"u": uint64(18446744073709551615)}},
		{name: "uint64 negative wraps", params: []Param{{Name: "u", Type: Uint64}}, args: `{"u": -1}`,
			want: Args{"u": uint64(18446744073709551615)}},
		{name: "uint64 type", params: []Param{{Name: "u", Type: Size}}, args: `{"u": "1"}`,
			err: "Parameter 'u' expects uint64"},
		{name: "uint64 float", params: []Param{{Name: "u", Type: Uint64}}, args: `{"u": 1.5}`,
			err: "Parameter 'u' expects uint64"},
		{name: "uint8 range", params: []Param{{Name: "u", Type: Uint8}}, args: `{"u": 256}`,
			err: "Parameter 'u' expects uint8"},
		{name: "uint16 negative", params: []Param{{Name: "u", Type: Uint16}}, args: `{"u": -1}`,
			err: "Parameter 'u' expects uint16"},
		{name: "uint32 ok", params: []Param{{Name: "u", Type: Uint32}}, args: `{"u": 4294967295}`,
			want: Args{"u": uint64(4294967295)}},
		{name: "number from int", params: []Param{{Name: "f", Type: Number}}, args: `{"f": 2}`, want: Args{"f": 2.0}},
		{name: "number type", params: []Param{{Name: "f", Type: Number}}, args: `{"f": "2"}`,
			err: "Invalid parameter type for 'f', expected: number"},
		{name: "number overflow", params: []Param{{Name: "f", Type: Number}}, args: `{"f": 1e999}`,
			err: "Invalid parameter type for 'f', expected: number"},
		{name: "null", params: []Param{{Name: "n", Type: Null}}, args: `{"n": null}`, want: Args{"n": nil}},
		{name: "null type", params: []Param{{Name: "n", Type: Null}}, args: `{"n": 0}`,
			err: "Invalid parameter type for 'n', expected: null"},
		{name: "optional present must match", params: []Param{{Name: "s", Type: String, Optional: true}}, args: `{"s": null}`,
			err: "Invalid parameter type for 's', expected: string"},
		{name: "enum", params: []Param{{Name: "e", Type: Enum("on", "off")}}, args: `{"e": "off"}`, want: Args{"e": "off"}},
		{name: "enum value", params: []Param{{Name: "e", Type: Enum("on", "off")}}, args: `{"e": "auto"}`,
			err: "Parameter 'e' does not accept value 'auto'"},
		{name: "enum type", params: []Param{{Name: "e", Type: Enum("on")}}, args: `{"e": 1}`,
			err: "Invalid parameter type for 'e', expected: string"},
		{name: "array", params: []Param{{Name: "l", Type: Array(Int)}}, args: `{"l": [1, 2]}`,
			want: Args{"l": []any{int64(1), int64(2)}}},
		{name: "array type", params: []Param{{Name: "l", Type: Array(Int)}}, args: `{"l": {}}`,
			err: "Invalid parameter type for 'l', expected: array"},
		{name: "array element", params: []Param{{Name: "l", Type: Array(Int)}}, args: `{"l": [1, "2"]}`,
			err: "Invalid parameter type for 'l[1]', expected: integer"},
		{name: "array element enum", params: []Param{{Name: "l", Type: Array(Enum("a"))}}, args: `{"l": ["b"]}`,
			err: "Parameter 'null' does not accept value 'b'"},
		{name: "array element range", params: []Param{{Name: "l", Type: Array(Uint8)}}, args: `{"l": [300]}`,
			err: "Parameter 'null' expects uint8"},
		{name: "object", params: []Param{{Name: "props", Type: props}}, args: `{"props": {"size": 4096}}`,
			want: Args{"props": Args{"size": uint64(4096)}}},
		{name: "object type", params: []Param{{Name: "props", Type: props}}, args: `{"props": []}`,
			err: "Invalid parameter type for 'props', expected: object"},
		{name: "object member missing", params: []Param{{Name: "props", Type: props}}, args: `{"props": {}}`,
			err: "Parameter 'props.size' is missing"},
		{name: "object member type", params: []Param{{Name: "props", Type: props}}, args: `{"props": {"size": 1, "share": "yes"}}`,
			err: "Invalid parameter type for 'props.share', expected: boolean"},
		{name: "object member unexpected", params: []Param{{Name: "props", Type: props}}, args: `{"props": {"size": 1, "x": 0}}`,
			err: "Parameter 'props.x' is unexpected"},
		{name: "object in array", params: []Param{{Name: "l", Type: Array(props)}}, args: `{"l": [{"size": 1}, {"size": true}]}`,
			err: "Parameter 'l[1].size' expects uint64"},
		{name: "dict keeps raw values", params: []Param{{Name: "d", Type: Dict}}, args: `{"d": {"x": 1.5}}`,
			want: Args{"d": map[string]any{"x": json.Number("1.5")}}},
		{name: "dict type", params: []Param{{Name: "d", Type: Dict}}, args: `{"d": "x"}`,
			err: "Invalid parameter type for 'd', expected: object"},
		{name: "any", params: []Param{{Name: "a", Type: Any}}, args: `{"a": [null]}`, want: Args{"a": []any{nil}}},
		{name: "members checked in declared order", params: []Param{{Name: "b", Type: Int}, {Name: "a", Type: Int}},
			args: `{"a": "x"}`, err: "Parameter 'b' is missing"},
		{name: "smallest unexpected reported", args: `{"zz": 1, "ab": 2, "m": 3}`, err: "Parameter 'ab' is unexpected"},
		{name: "open passes unknown through", params: []Param{{Name: "driver", Type: String}}, open: true,
			args: `{"driver": "e1000", "mac": "52:54:00:12:34:56", "n": 1}`,
			want: Args{"driver": "e1000", "mac": "52:54:00:12:34:56", "n": json.Number("1")}},
		{name: "open still checks declared", params: []Param{{Name: "driver", Type: String}}, open: true,
			args: `{"mac": "x"}`, err: "Parameter 'driver' is missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := checkArgs(tt.params, decodeArgs(t, tt.args), tt.open)
			if tt.err != "" {
				if err == nil || err.Desc != tt.err || err.Class != GenericError {
					t.Fatalf("error = %v, want GenericError %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestArgsAccessors(t *testing.T) {
	params := []Param{
		{Name: "s", Type: String}, {Name: "b", Type: Bool}, {Name: "i", Type: Int},
		{Name: "u", Type: Uint64}, {Name: "f", Type: Number}, {Name: "o", Type: Object(Param{Name: "x", Type: Int})},
		{Name: "l", Type: Array(String)}, {Name: "d", Type: Dict},
	}
	a, err := checkArgs(params, decodeArgs(t,
		`{"s": "str", "b": true, "i": -3, "u": 7, "f": 0.5, "o": {"x": 1}, "l": ["p", "q"], "d": {"k": "v"}}`), false)
	if err != nil {
		t.Fatal(err)
	}
	if a.String("s") != "str" || !a.Bool("b") || a.Int("i") != -3 || a.Uint("u") != 7 || a.Float("f") != 0.5 ||
		a.Object("o").Int("x") != 1 || !reflect.DeepEqual(a.List("l"), []any{"p", "q"}) || a.Object("d").String("k") != "v" {
		t.Errorf("accessors wrong on %#v", a)
	}
	if a.Has("missing") || a.String("missing") != "" || a.Int("s") != 0 {
		t.Error("absent or mistyped arguments must read as zero")
	}
	var v struct {
		S string
		I int
		O struct{ X int }
		L []string
	}
	if err := a.Decode(&v); err != nil {
		t.Fatal(err)
	}
	if v.S != "str" || v.I != -3 || v.O.X != 1 || len(v.L) != 2 {
		t.Errorf("Decode = %+v", v)
	}
}

func TestRegisterErrors(t *testing.T) {
	s := NewServer(Config{})
	defer s.Close()
	echoHandler := func(_ context.Context, a Args) (any, error) { return a, nil }
	tests := []struct {
		name string
		cmd  Command
	}{
		{"empty name", Command{Handler: echoHandler}},
		{"space in name", Command{Name: "a b", Handler: echoHandler}},
		{"nil handler", Command{Name: "x"}},
		{"built-in taken", Command{Name: "query-commands", Handler: echoHandler}},
		{"duplicate param", Command{Name: "x", Handler: echoHandler, Params: []Param{{Name: "a"}, {Name: "a"}}}},
		{"unnamed param", Command{Name: "x", Handler: echoHandler, Params: []Param{{Type: Int}}}},
		{"duplicate nested", Command{Name: "x", Handler: echoHandler,
			Params: []Param{{Name: "l", Type: Array(Object(Param{Name: "a"}, Param{Name: "a"}))}}}},
	}
	for _, tt := range tests {
		if err := s.RegisterCommand(tt.cmd); err == nil {
			t.Errorf("%s: RegisterCommand succeeded", tt.name)
		}
	}
	if err := s.Register("fine", echoHandler); err != nil {
		t.Fatal(err)
	}
	if err := s.Register("fine", echoHandler); err == nil {
		t.Error("second registration of the same name succeeded")
	}
}
