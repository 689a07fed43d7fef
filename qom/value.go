package qom

import (
	"encoding/json"
	"errors"
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
				return errorf("Parameter '%s' expects int64", p.Name)
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
				return errorf("Parameter '%s' expects uint64", p.Name)
			}
			return p.Set(o, p, n)
		}
	}
	return p
}

// EnumProperty returns a property whose values are the strings of values;
// the Go side sees the index. typ is the enum's type name (e.g. "OnOffAuto").
func EnumProperty(name, typ string, values []string, get func(*Object) int, set func(*Object, int) error) *Property {
	values = append([]string(nil), values...)
	p := &Property{Name: name, Type: typ, Opaque: &enumData{values: values}}
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

// enumData is the Opaque of an enum property.
type enumData struct{ values []string }

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

// Integer kinds of a JSON-compatible value, as QEMU's QNum sees them.
const (
	notInt   = iota // not an integer (wrong type, fraction, out of range)
	signed          // fits int64
	unsigned        // above MaxInt64, fits uint64
)

// classifyInt reads an integer from a JSON-compatible value: Go integer
// types, float64 with an integral value (what encoding/json produces without
// UseNumber) and json.Number in decimal integer form (what QMP produces).
func classifyInt(v any) (i int64, u uint64, kind int) {
	switch n := v.(type) {
	case int:
		return int64(n), 0, signed
	case int8:
		return int64(n), 0, signed
	case int16:
		return int64(n), 0, signed
	case int32:
		return int64(n), 0, signed
	case int64:
		return n, 0, signed
	case uint8:
		return int64(n), 0, signed
	case uint16:
		return int64(n), 0, signed
	case uint32:
		return int64(n), 0, signed
	case uint:
		return classifyUint(uint64(n))
	case uint64:
		return classifyUint(n)
	case float64:
		switch {
		case n != math.Trunc(n):
		case n >= math.MinInt64 && n < 1<<63:
			return int64(n), 0, signed
		case n >= 1<<63 && n < 1<<64:
			return 0, uint64(n), unsigned
		}
	case json.Number:
		if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
			return i, 0, signed
		}
		if u, err := strconv.ParseUint(string(n), 10, 64); err == nil {
			return 0, u, unsigned
		}
	}
	return 0, 0, notInt
}

func classifyUint(u uint64) (int64, uint64, int) {
	if u <= math.MaxInt64 {
		return int64(u), 0, signed
	}
	return 0, u, unsigned
}

// toInt64 converts a JSON-compatible number to int64 with the message of
// QEMU's QObject input visitor.
func toInt64(name string, v any) (int64, error) {
	i, _, kind := classifyInt(v)
	if kind != signed {
		return 0, invalidType(name, "integer")
	}
	return i, nil
}

// toUint64 converts a JSON-compatible number to uint64. Like QEMU's input
// visitor, a negative value is accepted and wraps.
func toUint64(name string, v any) (uint64, error) {
	i, u, kind := classifyInt(v)
	switch kind {
	case signed:
		return uint64(i), nil
	case unsigned:
		return u, nil
	}
	return 0, errorf("Parameter '%s' expects uint64", name)
}

func parseUint(s string) (uint64, error) {
	if strings.HasPrefix(s, "-") {
		i, err := strconv.ParseInt(s, 0, 64)
		return uint64(i), err
	}
	return strconv.ParseUint(s, 0, 64)
}

// sizeShift maps a size suffix to its power of two (QEMU's suffix_mul with
// unit 1024).
func sizeShift(c byte) (uint, bool) {
	switch c {
	case 'B', 'b':
		return 0, true
	case 'K', 'k':
		return 10, true
	case 'M', 'm':
		return 20, true
	case 'G', 'g':
		return 30, true
	case 'T', 't':
		return 40, true
	case 'P', 'p':
		return 50, true
	case 'E', 'e':
		return 60, true
	}
	return 0, false
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// ParseSize parses a byte count the way QEMU's qemu_strtosz does:
//
//   - "0x" followed by hex digits, with no fraction and no suffix;
//   - otherwise decimal digits, an optional fraction (".5", "1.", "1.5"),
//     and an optional suffix B, K, M, G, T, P or E (either case, powers of
//     1024; "e" is exa, never an exponent). A non-zero fraction needs a
//     suffix other than B. The result is rounded half up ("1.5k" = 1536).
//
// It fails on anything else (signs, spaces, other characters) and on values
// of 2^64 or more. Fractions are exact here, where QEMU goes through a double.
func ParseSize(s string) (uint64, error) {
	invalid := func() (uint64, error) { return 0, fmt.Errorf("invalid size %q", s) }
	tooLarge := func() (uint64, error) { return 0, fmt.Errorf("size %q is 2^64 or more", s) }
	if len(s) > 1 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		v, err := strconv.ParseUint(s[2:], 16, 64)
		if errors.Is(err, strconv.ErrRange) {
			return tooLarge()
		}
		if err != nil {
			return invalid()
		}
		return v, nil
	}
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	whole := s[:i]
	frac := ""
	if i < len(s) && s[i] == '.' {
		j := i + 1
		for j < len(s) && isDigit(s[j]) {
			j++
		}
		frac = s[i+1 : j]
		i = j
	}
	if whole == "" && frac == "" {
		return invalid()
	}
	shift := uint(0)
	if i < len(s) {
		sh, ok := sizeShift(s[i])
		if !ok {
			return invalid()
		}
		shift = sh
		i++
	}
	if i != len(s) {
		return invalid()
	}
	frac = strings.TrimRight(frac, "0")
	if frac != "" && shift == 0 {
		return invalid()
	}
	// value = whole<<shift + round(frac * 2^shift / 10^len(frac))
	v := new(big.Int)
	if whole != "" {
		v.SetString(whole, 10)
	}
	v.Lsh(v, shift)
	if frac != "" {
		num, _ := new(big.Int).SetString(frac, 10)
		num.Lsh(num, shift)
		den := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(len(frac))), nil)
		num.Lsh(num, 1).Add(num, den) // round half up: (2n + d) / 2d
		num.Quo(num, den.Lsh(den, 1))
		v.Add(v, num)
	}
	if !v.IsUint64() {
		return tooLarge()
	}
	return v.Uint64(), nil
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
