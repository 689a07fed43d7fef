package board

import (
	"embed"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"qmem.dev/qmem/qom"
)

// Board descriptions in YAML:
//
//	name: demo              # required
//	ram:                    # required
//	  base: 0x0             # optional, default 0; integer or size string
//	  size: 16M             # integer or size string ("64K", "16M", "1G")
//	guest: demo             # optional: the guest program to load
//	devices:                # optional, created in this order
//	  - type: qmem-testdev  # required: a registered device type
//	    id: testdev0        # optional: /machine/peripheral/<id>
//	    props:              # optional: property values (scalars only)
//	      addr: 0xfe000000
//
// Unknown keys, values of the wrong kind, duplicate keys, YAML aliases and
// anything else unexpected are errors that name the file and line.

//go:embed boards/*.yaml
var builtinFS embed.FS

// MaxSpecSize is the largest board description accepted, in bytes.
const MaxSpecSize = 1 << 20

// maxDevices bounds the number of devices of a description.
const maxDevices = 4096

// SpecError is an error in a board description, with its position.
type SpecError struct {
	File string
	Line int
	Msg  string
}

func (e *SpecError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// Builtins returns the names of the built-in boards, sorted.
func Builtins() []string {
	ents, _ := builtinFS.ReadDir("boards")
	var names []string
	for _, e := range ents {
		names = append(names, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	sort.Strings(names)
	return names
}

// Builtin returns the description of a built-in board.
func Builtin(name string) (*Spec, error) {
	data, err := builtinFS.ReadFile("boards/" + name + ".yaml")
	if err != nil {
		return nil, fmt.Errorf("unknown board %q (built-in: %s)", name, strings.Join(Builtins(), ", "))
	}
	return ParseSpec(data, "boards/"+name+".yaml")
}

// Load returns a built-in board by name, or reads a YAML file when name
// ends in .yaml or .yml or contains a slash.
func Load(name string) (*Spec, error) {
	if !strings.HasSuffix(name, ".yaml") && !strings.HasSuffix(name, ".yml") && !strings.Contains(name, "/") {
		return Builtin(name)
	}
	st, err := os.Stat(name)
	if err != nil {
		return nil, err
	}
	if st.Size() > MaxSpecSize {
		return nil, &SpecError{File: name, Msg: fmt.Sprintf("file is larger than %d bytes", MaxSpecSize)}
	}
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	return ParseSpec(data, name)
}

// Demo returns the built-in demo board (boards/demo.yaml).
func Demo() *Spec {
	s, err := Builtin("demo")
	if err != nil {
		panic("board: the embedded demo board is broken: " + err.Error())
	}
	return s
}

// ParseSpec parses a board description. file names it in errors.
func ParseSpec(data []byte, file string) (*Spec, error) {
	if len(data) > MaxSpecSize {
		return nil, &SpecError{File: file, Msg: fmt.Sprintf("description is larger than %d bytes", MaxSpecSize)}
	}
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		msg := oneLine(err.Error())
		line := 0
		if m := yamlPos.FindStringSubmatch(msg); m != nil {
			line, _ = strconv.Atoi(m[1])
			msg = m[2]
		}
		return nil, &SpecError{File: file, Line: line, Msg: "invalid YAML: " + msg}
	}
	p := &specParser{file: file}
	if len(f.Docs) != 1 || f.Docs[0].Body == nil {
		return nil, p.errorf(nil, "expected one YAML document holding a board description")
	}
	spec, err := p.spec(f.Docs[0].Body)
	if err != nil {
		return nil, err
	}
	if err := spec.Validate(); err != nil {
		return nil, &SpecError{File: file, Msg: err.Error()}
	}
	return spec, nil
}

// yamlPos matches the "[line:column] message" of the YAML parser's errors.
var yamlPos = regexp.MustCompile(`^\[(\d+):\d+\] (.*)$`)

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

type specParser struct{ file string }

func line(n ast.Node) int {
	if n == nil || n.GetToken() == nil || n.GetToken().Position == nil {
		return 0
	}
	return n.GetToken().Position.Line
}

func (p *specParser) errorf(n ast.Node, format string, args ...any) error {
	return &SpecError{File: p.file, Line: line(n), Msg: fmt.Sprintf(format, args...)}
}

// mapping returns the entries of a mapping node by key, refusing unknown
// and duplicate keys.
func (p *specParser) mapping(n ast.Node, what string, known ...string) (map[string]ast.Node, error) {
	m, ok := n.(*ast.MappingNode)
	if !ok {
		return nil, p.errorf(n, "%s must be a mapping, not %s", what, kindOf(n))
	}
	out := map[string]ast.Node{}
	for _, kv := range m.Values {
		k, ok := kv.Key.(*ast.StringNode)
		if !ok {
			return nil, p.errorf(kv.Key, "%s: keys must be plain names", what)
		}
		if len(known) > 0 && !contains(known, k.Value) {
			return nil, p.errorf(kv.Key, "unknown key '%s' in %s (known: %s)", k.Value, what, strings.Join(known, ", "))
		}
		if _, dup := out[k.Value]; dup {
			return nil, p.errorf(kv.Key, "duplicate key '%s' in %s", k.Value, what)
		}
		if err := p.plain(kv.Value); err != nil {
			return nil, err
		}
		out[k.Value] = kv.Value
	}
	return out, nil
}

// plain refuses YAML features a board has no use for.
func (p *specParser) plain(n ast.Node) error {
	switch n.(type) {
	case *ast.AliasNode, *ast.AnchorNode, *ast.TagNode, *ast.MergeKeyNode:
		return p.errorf(n, "YAML anchors, aliases, tags and merge keys are not supported")
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func kindOf(n ast.Node) string {
	switch n.(type) {
	case nil:
		return "nothing"
	case *ast.NullNode:
		return "null"
	case *ast.MappingNode:
		return "a mapping"
	case *ast.SequenceNode:
		return "a list"
	case *ast.StringNode, *ast.LiteralNode:
		return "a string"
	case *ast.IntegerNode:
		return "an integer"
	case *ast.FloatNode:
		return "a number"
	case *ast.BoolNode:
		return "a boolean"
	}
	return "an unexpected value"
}

func (p *specParser) str(n ast.Node, what string) (string, error) {
	s, ok := n.(*ast.StringNode)
	if !ok {
		return "", p.errorf(n, "%s must be a string, not %s", what, kindOf(n))
	}
	return s.Value, nil
}

// size reads an integer or a size string ("16M").
func (p *specParser) size(n ast.Node, what string) (uint64, error) {
	switch v := n.(type) {
	case *ast.IntegerNode:
		switch i := v.Value.(type) {
		case int64:
			if i < 0 {
				return 0, p.errorf(n, "%s must not be negative", what)
			}
			return uint64(i), nil
		case uint64:
			return i, nil
		}
	case *ast.StringNode:
		u, err := qom.ParseSize(v.Value)
		if err != nil {
			return 0, p.errorf(n, "%s: %q is not a size (e.g. 4096, 0x1000, 64K, 16M)", what, v.Value)
		}
		return u, nil
	}
	return 0, p.errorf(n, "%s must be an integer or a size, not %s", what, kindOf(n))
}

func (p *specParser) spec(n ast.Node) (*Spec, error) {
	top, err := p.mapping(n, "the board", "name", "ram", "guest", "devices")
	if err != nil {
		return nil, err
	}
	s := &Spec{}
	nameNode, ok := top["name"]
	if !ok {
		return nil, p.errorf(n, "the board has no 'name'")
	}
	if s.Name, err = p.str(nameNode, "name"); err != nil {
		return nil, err
	}
	ramNode, ok := top["ram"]
	if !ok {
		return nil, p.errorf(n, "board %s has no 'ram'", s.Name)
	}
	ram, err := p.mapping(ramNode, "ram", "base", "size")
	if err != nil {
		return nil, err
	}
	if b, ok := ram["base"]; ok {
		if s.RAMBase, err = p.size(b, "ram base"); err != nil {
			return nil, err
		}
	}
	sz, ok := ram["size"]
	if !ok {
		return nil, p.errorf(ramNode, "ram has no 'size'")
	}
	if s.RAMSize, err = p.size(sz, "ram size"); err != nil {
		return nil, err
	}
	if g, ok := top["guest"]; ok {
		if s.Guest, err = p.str(g, "guest"); err != nil {
			return nil, err
		}
	}
	if d, ok := top["devices"]; ok {
		if s.Devices, err = p.devices(d); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (p *specParser) devices(n ast.Node) ([]DeviceSpec, error) {
	if _, ok := n.(*ast.NullNode); ok {
		return nil, nil
	}
	seq, ok := n.(*ast.SequenceNode)
	if !ok {
		return nil, p.errorf(n, "devices must be a list, not %s", kindOf(n))
	}
	if len(seq.Values) > maxDevices {
		return nil, p.errorf(n, "too many devices (%d, at most %d)", len(seq.Values), maxDevices)
	}
	ids := map[string]int{}
	var out []DeviceSpec
	for _, dn := range seq.Values {
		if err := p.plain(dn); err != nil {
			return nil, err
		}
		m, err := p.mapping(dn, "a device", "type", "id", "props")
		if err != nil {
			return nil, err
		}
		d := DeviceSpec{Line: line(dn), Props: map[string]any{}}
		t, ok := m["type"]
		if !ok {
			return nil, p.errorf(dn, "device has no 'type'")
		}
		if d.Type, err = p.str(t, "device type"); err != nil {
			return nil, err
		}
		if id, ok := m["id"]; ok {
			if d.ID, err = p.str(id, "device id"); err != nil {
				return nil, err
			}
			if !qom.IDWellFormed(d.ID) {
				return nil, p.errorf(id, "device id '%s' must start with a letter and hold only letters, digits, '-', '.' and '_'", d.ID)
			}
			if prev, dup := ids[d.ID]; dup {
				return nil, p.errorf(id, "Duplicate device ID '%s' (first used at line %d)", d.ID, prev)
			}
			ids[d.ID] = line(id)
		}
		if pn, ok := m["props"]; ok {
			props, err := p.mapping(pn, "props of "+d.Type)
			if err != nil {
				return nil, err
			}
			for k, vn := range props {
				v, err := p.scalar(vn, k)
				if err != nil {
					return nil, err
				}
				d.Props[k] = v
			}
		}
		out = append(out, d)
	}
	return out, nil
}

// scalar converts a property value: integers, strings, booleans.
func (p *specParser) scalar(n ast.Node, name string) (any, error) {
	switch v := n.(type) {
	case *ast.IntegerNode:
		switch i := v.Value.(type) {
		case int64:
			if i >= 0 {
				return uint64(i), nil
			}
			return i, nil
		case uint64:
			return i, nil
		}
	case *ast.StringNode:
		return v.Value, nil
	case *ast.BoolNode:
		return v.Value, nil
	}
	return nil, p.errorf(n, "property '%s' must be an integer, a string or a boolean, not %s", name, kindOf(n))
}
