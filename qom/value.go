package qom

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// Typed property constructors (R-PROP-7). Each returns a *Property whose Get
// and Set convert between the JSON-compatible form and the Go value, with
// QEMU's error texts for values of the wrong type or out of range. A nil
// setter makes the property read-only.

// BoolProperty returns a property of type "bool".
func BoolProperty(name string, get func(*Object) bool, set func(*Object, bool) error) *Property {
	p := &Property{Name: name, Type: "bool"}
	if get != nil {
		p.Get = func(o *Object, _ *Property) (any, error) { return get(o), nil }
	}
	if set != nil {
		p.Set = func(o *Object, p *Property, v any) error {
			b, ok := v.(bool)
			if !ok {
				return invalidType(p.Name, "boolean")
			}
			return set(o, b)
		}
		p.Parse = func(o *Object, p *Property, s string) error {
			switch s {
			case "on", "yes", "true", "y":
				return set(o, true)
			case "off", "no", "false", "n":
				return set(o, false)
			}
			return errorf("Parameter '%s' expects 'on' or 'off'", p.Name)
		}
	}
	return p
}

// StringProperty returns a property of type "string".
func StringProperty(name string, get func(*Object) string, set func(*Object, string) error) *Property {
	p := &Property{Name: name, Type: "string"}
	if get != nil {
		p.Get = func(o *Object, _ *Property) (any, error) { return get(o), nil }
	}
	if set != nil {
		p.Set = func(o *Object, p *Property, v any) error {
			s, ok := v.(string)
			if !ok {
				return invalidType(p.Name, "string")
			}
			return set(o, s)
		}
	}
	return p
}

// IntProperty returns a property of type "int" (a signed 64-bit value).
func IntProperty(name string, get func(*Object) int64, set func(*Object, int64) error) *Property {
	return SignedProperty(name, "int", 64, get, set)
}

// SignedProperty returns a signed integer property of the given width (8,
// 16, 32 or 64 bits) and declared type string (e.g. "int32").
func SignedProperty(name, typ string, bits int, get func(*Object) int64, set func(*Object, int64) error) *Property {
	p := &Property{Name: name, Type: typ}
	if get != nil {
		p.Get = func(o *Object, _ *Property) (any, error) { return get(o), nil }
	}
	if set != nil {
		lo, hi := int64(math.MinInt64)>>(64-bits), int64(math.MaxInt64)>>(64-bits)
		p.Set = func(o *Object, p *Property, v any) error {
			n, err := toInt64(p.Name, v)
			if err != nil {
				return err
			}
			if n < lo || n > hi {
				return errorf("Parameter '%s' expects int%d_t", p.Name, bits)
			}
			return set(o, n)
		}
		p.Parse = func(o *Object, p *Property, s string) error {
			n, err := strconv.ParseInt(strings.TrimSpace(s), 0, 64)
			if err != nil {
				return errorf("Parameter '%s' expects an integer", p.Name)
			}
			return p.Set(o, p, n)
		}
	}
	return p
}

// UintProperty returns an unsigned property of the given width, of type
// "uint8", "uint16", "uint32" or "uint64".
func UintProperty(name string, bits int, get func(*Object) uint64, set func(*Object, uint64) error) *Property {
	return unsignedProperty(name, fmt.Sprintf("uint%d", bits), bits, get, set, parseUint)
}

// SizeProperty returns a property of type "size": an unsigned 64-bit value
// whose string form accepts suffixes (k, M, G, T, P, E, powers of 1024).
func SizeProperty(name string, get func(*Object) uint64, set func(*Object, uint64) error) *Property {
	return unsignedProperty(name, "size", 64, get, set, ParseSize)
}

func unsignedProperty(name, typ string, bits int, get func(*Object) uint64, set func(*Object, uint64) error, parse func(string) (uint64, error)) *Property {
	p := &Property{Name: name, Type: typ}
	if get != nil {
		p.Get = func(o *Object, _ *Property) (any, error) { return get(o), nil }
	}
	if set != nil {
		max := uint64(math.MaxUint64) >> (64 - bits)
		p.Set = func(o *Object, p *Property, v any) error {
			n, err := toUint64(p.Name, v)
			if err != nil {
				return err
			}
			if n > max {
				return errorf("Parameter '%s' expects uint%d_t", p.Name, bits)
			}
			return set(o, n)
		}
		p.Parse = func(o *Object, p *Property, s string) error {
			n, err := parse(strings.TrimSpace(s))
			if err != nil {
				if typ == "size" {
					return errorf("Parameter '%s' expects a non-negative number below 2^64", p.Name)
				}
				return errorf("Parameter '%s' expects an integer", p.Name)
			}
			return p.Set(o, p, n)
		}
	}
	return p
}

// EnumProperty returns a property whose values are the strings of values;
// the Go side sees the index. typ is the enum's type name (e.g. "OnOffAuto").
func EnumProperty(name, typ string, values []string, get func(*Object) int, set func(*Object, int) error) *Property {
	p := &Property{Name: name, Type: typ}
	if get != nil {
		p.Get = func(o *Object, p *Property) (any, error) {
			i := get(o)
			if i < 0 || i >= len(values) {
				return nil, errorf("Property '%s' has no valid value (%d)", p.Name, i)
			}
			return values[i], nil
		}
	}
	if set != nil {
		p.Set = func(o *Object, p *Property, v any) error {
			s, ok := v.(string)
			if !ok {
				return invalidType(p.Name, "string")
			}
			for i, val := range values {
				if val == s {
					return set(o, i)
				}
			}
			return errorf("Parameter '%s' does not accept value '%s'", p.Name, s)
		}
	}
	return p
}

// WithDefault makes p, used as a class property, set value on every new
// instance (R-PROP-7, R-INST-2 step 3). It returns p.
func (p *Property) WithDefault(value any) *Property {
	p.Default, p.HasDefault = value, true
	p.Init = func(o *Object, p *Property) {
		if p.Set != nil {
			if err := p.Set(o, p, p.Default); err != nil {
				panic(fmt.Sprintf("qom: default of %s.%s: %v", o.TypeName(), p.Name, err))
			}
		}
	}
	return p
}

// WithDescription sets p's description and returns p.
func (p *Property) WithDescription(d string) *Property {
	p.Description = d
	return p
}

func invalidType(name, expected string) error {
	return errorf("Invalid parameter type for '%s', expected: %s", name, expected)
}

// toInt64 converts a JSON-compatible number to int64.
func toInt64(name string, v any) (int64, error) {
	switch n := v.(type) {
	case int:
		return int64(n), nil
	case int8:
		return int64(n), nil
	case int16:
		return int64(n), nil
	case int32:
		return int64(n), nil
	case int64:
		return n, nil
	case uint8:
		return int64(n), nil
	case uint16:
		return int64(n), nil
	case uint32:
		return int64(n), nil
	case uint:
		if uint64(n) > math.MaxInt64 {
			return 0, errorf("Parameter '%s' expects int64_t", name)
		}
		return int64(n), nil
	case uint64:
		if n > math.MaxInt64 {
			return 0, errorf("Parameter '%s' expects int64_t", name)
		}
		return int64(n), nil
	case float64:
		if n != math.Trunc(n) || n < math.MinInt64 || n >= math.MaxInt64 {
			return 0, invalidType(name, "integer")
		}
		return int64(n), nil
	case json.Number:
		i, err := strconv.ParseInt(string(n), 10, 64)
		if err != nil {
			return 0, invalidType(name, "integer")
		}
		return i, nil
	}
	return 0, invalidType(name, "integer")
}

// toUint64 converts a JSON-compatible number to uint64. Like QEMU's input
// visitor, a negative value is accepted and wraps.
func toUint64(name string, v any) (uint64, error) {
	switch n := v.(type) {
	case uint:
		return uint64(n), nil
	case uint64:
		return n, nil
	case json.Number:
		if u, err := strconv.ParseUint(string(n), 10, 64); err == nil {
			return u, nil
		}
		if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
			return uint64(i), nil
		}
		return 0, invalidType(name, "integer")
	case float64:
		if n != math.Trunc(n) || n < math.MinInt64 || n >= 1<<64 {
			return 0, invalidType(name, "integer")
		}
		if n < 0 {
			return uint64(int64(n)), nil
		}
		return uint64(n), nil
	}
	i, err := toInt64(name, v)
	return uint64(i), err
}

func parseUint(s string) (uint64, error) {
	if strings.HasPrefix(s, "-") {
		i, err := strconv.ParseInt(s, 0, 64)
		return uint64(i), err
	}
	return strconv.ParseUint(s, 0, 64)
}

// ParseSize parses a size with an optional binary suffix (B, k/K, M, G, T,
// P, E) as QEMU's qemu_strtosz does: "4k" = 4096, "1.5G", "0x1000".
func ParseSize(s string) (uint64, error) {
	if s == "" {
		return 0, fmt.Errorf("empty size")
	}
	if strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X") {
		return strconv.ParseUint(s[2:], 16, 64)
	}
	mult := uint64(1)
	last := s[len(s)-1]
	shift := map[byte]uint{'B': 0, 'b': 0, 'k': 10, 'K': 10, 'm': 20, 'M': 20, 'g': 30, 'G': 30, 't': 40, 'T': 40, 'p': 50, 'P': 50, 'e': 60, 'E': 60}
	if sh, ok := shift[last]; ok {
		mult = 1 << sh
		s = s[:len(s)-1]
	}
	f, ok := new(big.Float).SetPrec(128).SetString(s)
	if !ok || f.Sign() < 0 {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	f.Mul(f, new(big.Float).SetUint64(mult))
	if !f.IsInt() && mult == 1 {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	u, acc := f.Uint64()
	if acc == big.Above || f.Cmp(new(big.Float).SetUint64(math.MaxUint64)) > 0 {
		return 0, fmt.Errorf("size %q too large", s)
	}
	return u, nil
}

// formatValue renders a JSON-compatible value as a string: strings raw,
// everything else as JSON.
func formatValue(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
