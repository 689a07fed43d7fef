package qmp

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
)

// A Type is the type of a command parameter, named as in QEMU's QAPI schema.
// Arguments are checked against it the way QEMU's QObject input visitor
// checks them, with QEMU's error texts. The zero Type is Any.
//
// After a successful check a handler sees each argument as:
//
//	String, Enum            string
//	Bool                    bool
//	Int, Int8 ... Int32     int64
//	Uint8 ... Uint64, Size  uint64
//	Number                  float64
//	Null                    nil
//	Object(...)             Args
//	Array(...)              []any (elements converted by their type)
//	Any, Dict               the decoded JSON (numbers as json.Number,
//	                        objects as map[string]any, arrays as []any)
type Type struct {
	kind   kind
	name   string  // QAPI's name, used in "expects %s" texts
	min    int64   // range of kindInt
	max    uint64  // range of kindInt and kindUint
	fields []Param // kindObject: members, in the order they are checked
	elem   *Type   // kindArray: element type
	values []string
}

type kind uint8

const (
	kindAny kind = iota
	kindString
	kindBool
	kindInt
	kindUint
	kindNumber
	kindNull
	kindEnum
	kindDict
	kindObject
	kindArray
)

// The scalar types. Int is QAPI's 'int' (int64); Size is QAPI's 'size',
// which QMP accepts exactly like 'uint64'.
var (
	Any    = Type{kind: kindAny}
	String = Type{kind: kindString}
	Bool   = Type{kind: kindBool}
	Number = Type{kind: kindNumber}
	Null   = Type{kind: kindNull}
	Int    = Type{kind: kindInt, name: "int64", min: math.MinInt64, max: math.MaxInt64}
	Int8   = Type{kind: kindInt, name: "int8", min: math.MinInt8, max: math.MaxInt8}
	Int16  = Type{kind: kindInt, name: "int16", min: math.MinInt16, max: math.MaxInt16}
	Int32  = Type{kind: kindInt, name: "int32", min: math.MinInt32, max: math.MaxInt32}
	Int64  = Int
	Uint8  = Type{kind: kindUint, name: "uint8", max: math.MaxUint8}
	Uint16 = Type{kind: kindUint, name: "uint16", max: math.MaxUint16}
	Uint32 = Type{kind: kindUint, name: "uint32", max: math.MaxUint32}
	Uint64 = Type{kind: kindUint, name: "uint64", max: math.MaxUint64}
	Size   = Uint64
	// Dict is any JSON object, its members unchecked (QAPI's free-form
	// 'any' restricted to objects, as in object-add's properties).
	Dict = Type{kind: kindDict}
)

// Object returns the type of a JSON object with the given members (a QAPI
// struct). Members are checked in order; a member not listed is rejected
// with "Parameter 'x.y' is unexpected".
func Object(fields ...Param) Type {
	return Type{kind: kindObject, fields: slices.Clone(fields)}
}

// Array returns the type of a JSON array whose elements have type elem.
func Array(elem Type) Type {
	return Type{kind: kindArray, elem: &elem}
}

// Enum returns the type of a string that must be one of values.
func Enum(values ...string) Type {
	return Type{kind: kindEnum, values: slices.Clone(values)}
}

// A Param describes one parameter of a command, or one member of an Object.
type Param struct {
	Name     string
	Type     Type
	Optional bool // may be absent; present it must still have Type
}

// Args are a command's arguments, checked and converted as described at
// [Type]. A handler may read them with the accessors below, which return
// the zero value for an absent argument, or with Decode.
type Args map[string]any

// Has reports whether the argument name was given.
func (a Args) Has(name string) bool { _, ok := a[name]; return ok }

// String returns a String or Enum argument.
func (a Args) String(name string) string { v, _ := a[name].(string); return v }

// Bool returns a Bool argument.
func (a Args) Bool(name string) bool { v, _ := a[name].(bool); return v }

// Int returns an Int, Int8, Int16 or Int32 argument.
func (a Args) Int(name string) int64 { v, _ := a[name].(int64); return v }

// Uint returns a Uint8 ... Uint64 or Size argument.
func (a Args) Uint(name string) uint64 { v, _ := a[name].(uint64); return v }

// Float returns a Number argument.
func (a Args) Float(name string) float64 { v, _ := a[name].(float64); return v }

// Object returns an Object or Dict argument.
func (a Args) Object(name string) Args {
	switch v := a[name].(type) {
	case Args:
		return v
	case map[string]any:
		return Args(v)
	}
	return nil
}

// List returns an Array argument.
func (a Args) List(name string) []any { v, _ := a[name].([]any); return v }

// Decode stores the arguments in the value pointed to by v, as
// json.Unmarshal would store their JSON encoding.
func (a Args) Decode(v any) error {
	b, err := json.Marshal(a)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// checkArgs checks a command's arguments (the decoded "arguments" member,
// numbers as json.Number) against params the way QEMU's generated
// marshalling code does: each parameter in order (missing, then type), then
// the members nobody asked for. With open set, unknown members are passed
// through unchecked instead.
func checkArgs(params []Param, args map[string]any, open bool) (Args, *Error) {
	return checkMembers(params, args, "", open)
}

// checkMembers checks the members of one object; prefix is the object's
// full name ("" at the top), as QEMU's full_name builds it.
func checkMembers(params []Param, m map[string]any, prefix string, open bool) (Args, *Error) {
	out := make(Args, len(m))
	for _, p := range params {
		full := p.Name
		if prefix != "" {
			full = prefix + "." + p.Name
		}
		v, ok := m[p.Name]
		if !ok {
			if p.Optional {
				continue
			}
			return nil, genericf(textParamMissing, full)
		}
		cv, err := p.Type.check(v, full, p.Name)
		if err != nil {
			return nil, err
		}
		out[p.Name] = cv
	}
	var extra []string
	for k := range m {
		if !slices.ContainsFunc(params, func(p Param) bool { return p.Name == k }) {
			extra = append(extra, k)
		}
	}
	if len(extra) == 0 {
		return out, nil
	}
	if open {
		for _, k := range extra {
			out[k] = m[k]
		}
		return out, nil
	}
	// QEMU reports the first unvisited key in hash-table order, which is
	// unspecified; qmem reports the smallest, so that replies are stable.
	k := slices.Min(extra)
	if prefix != "" {
		k = prefix + "." + k
	}
	return nil, genericf(textParamUnexpected, k)
}

// check checks one value against t and returns it converted. full is the
// value's full name ("a.b[0]") as QEMU's visitor names it in most texts;
// plain is the bare member name, or "null" for an array element, which
// QEMU uses in the range and enum texts (qapi-visit-core.c).
func (t Type) check(v any, full, plain string) (any, *Error) {
	switch t.kind {
	case kindAny:
		return v, nil
	case kindString:
		if s, ok := v.(string); ok {
			return s, nil
		}
		return nil, genericf(textParamType, full, "string")
	case kindBool:
		if b, ok := v.(bool); ok {
			return b, nil
		}
		return nil, genericf(textParamType, full, "boolean")
	case kindNumber:
		if n, ok := v.(json.Number); ok {
			// A float too large for float64 is +-Inf in QEMU, which JSON
			// cannot carry back; qmem rejects it.
			if f, err := strconv.ParseFloat(string(n), 64); err == nil {
				return f, nil
			}
		}
		return nil, genericf(textParamType, full, "number")
	case kindNull:
		if v == nil {
			return nil, nil
		}
		return nil, genericf(textParamType, full, "null")
	case kindInt:
		return t.checkInt(v, full, plain)
	case kindUint:
		return t.checkUint(v, full, plain)
	case kindEnum:
		s, ok := v.(string)
		if !ok {
			return nil, genericf(textParamType, full, "string")
		}
		if !slices.Contains(t.values, s) {
			return nil, genericf(textParamEnum, plain, s)
		}
		return s, nil
	case kindDict:
		if m, ok := v.(map[string]any); ok {
			return m, nil
		}
		return nil, genericf(textParamType, full, "object")
	case kindObject:
		m, ok := v.(map[string]any)
		if !ok {
			return nil, genericf(textParamType, full, "object")
		}
		a, err := checkMembers(t.fields, m, full, false)
		if err != nil {
			return nil, err
		}
		return a, nil
	case kindArray:
		l, ok := v.([]any)
		if !ok {
			return nil, genericf(textParamType, full, "array")
		}
		out := make([]any, len(l))
		for i, e := range l {
			ce, err := t.elem.check(e, fmt.Sprintf("%s[%d]", full, i), "null")
			if err != nil {
				return nil, err
			}
			out[i] = ce
		}
		return out, nil
	}
	panic(fmt.Sprintf("qmp: unknown parameter kind %d", t.kind))
}

// checkInt follows qobject_input_type_int64 (an integer that fits int64,
// not a float like 1.0) and then visit_type_intN's range check.
func (t Type) checkInt(v any, full, plain string) (any, *Error) {
	n, ok := v.(json.Number)
	if !ok {
		return nil, genericf(textParamType, full, "integer")
	}
	i, err := strconv.ParseInt(string(n), 10, 64)
	if err != nil {
		return nil, genericf(textParamType, full, "integer")
	}
	if i < t.min || (i > 0 && uint64(i) > t.max) {
		return nil, genericf(textParamValue, plain, t.name)
	}
	return i, nil
}

// checkUint follows qobject_input_type_uint64, which also takes negative
// integers ("for backward compatibility") as their two's complement, and
// then visit_type_uintN's range check.
func (t Type) checkUint(v any, full, plain string) (any, *Error) {
	n, ok := v.(json.Number)
	if !ok {
		return nil, genericf(textParamValue, full, "uint64")
	}
	u, err := strconv.ParseUint(string(n), 10, 64)
	if err != nil {
		i, err := strconv.ParseInt(string(n), 10, 64)
		if err != nil {
			return nil, genericf(textParamValue, full, "uint64")
		}
		u = uint64(i)
	}
	if u > t.max {
		return nil, genericf(textParamValue, plain, t.name)
	}
	return u, nil
}
