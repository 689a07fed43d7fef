package qom_test

import (
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"qmem.dev/qmem/qom"
)

// ParseSize follows QEMU's qemu_strtosz (size properties, R-PROP-7).
func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"0", 0, true},
		{"4096", 4096, true},
		{"010", 10, true}, // decimal, not octal
		{"1B", 1, true},
		{"1b", 1, true},
		{"4k", 4096, true},
		{"4K", 4096, true},
		{"2m", 2 << 20, true},
		{"3G", 3 << 30, true},
		{"1T", 1 << 40, true},
		{"1P", 1 << 50, true},
		{"1e", 1 << 60, true}, // e is exa, not an exponent
		{"15E", 15 << 60, true},
		{"1.5k", 1536, true},
		{"1.k", 1024, true},
		{".5k", 512, true},
		{"0.5", 0, false}, // a fraction needs a unit
		{"1.0", 1, true},  // but a zero fraction does not
		{"1.", 1, true},
		{"1.5B", 0, false},
		{"0.0009765625k", 1, true},
		{"0.00048828125k", 1, true}, // exactly one half rounds up
		{"0.0004k", 0, true},
		{"0x1000", 4096, true},
		{"0X10", 16, true},
		{"0x1B", 27, true}, // hex digits, not a suffix
		{"0x10k", 0, false},
		{"0x1.8k", 0, false},
		{"0x", 0, false},
		{"00x1", 0, false},
		{"18446744073709551615", 1<<64 - 1, true},
		{"18446744073709551616", 0, false},
		{"16E", 0, false},
		{"15.9999999999999999999E", 0, false}, // rounds up to 2^64
		{"0xffffffffffffffff", 1<<64 - 1, true},
		{"0x10000000000000000", 0, false},
		{"", 0, false},
		{".", 0, false},
		{"k", 0, false},
		{"-1", 0, false},
		{"+1", 0, false},
		{" 1", 0, false},
		{"1 ", 0, false},
		{"1kk", 0, false},
		{"1e3", 0, false},
		{"1_000", 0, false},
		{"inf", 0, false},
	}
	for _, tc := range tests {
		got, err := qom.ParseSize(tc.in)
		if tc.ok && (err != nil || got != tc.want) {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
		if !tc.ok && err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", tc.in, got)
		}
	}
}

var sizeSyntax = regexp.MustCompile(`^(?:0[xX]([0-9a-fA-F]+)|([0-9]*)(?:\.([0-9]*))?([BbKkMmGgTtPpEe]?))$`)

// refParseSize is an independent model of ParseSize using exact rationals.
func refParseSize(s string) (uint64, bool) {
	m := sizeSyntax.FindStringSubmatch(s)
	if m == nil {
		return 0, false
	}
	max := new(big.Int).SetUint64(1<<64 - 1)
	if m[1] != "" {
		v, ok := new(big.Int).SetString(m[1], 16)
		if !ok || v.Cmp(max) > 0 {
			return 0, false
		}
		return v.Uint64(), true
	}
	whole, frac, unit := m[2], m[3], m[4]
	if whole == "" && frac == "" {
		return 0, false
	}
	unitMult := int64(1)
	if unit != "" {
		unitMult = 1 << (10 * strings.IndexByte("bkmgtpe", unit[0]|0x20))
	}
	num := whole + frac
	if num == "" {
		num = "0"
	}
	n, _ := new(big.Int).SetString(num, 10)
	den := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(len(frac))), nil)
	x := new(big.Rat).SetFrac(n, den)
	if unitMult == 1 && !x.IsInt() {
		return 0, false
	}
	x.Mul(x, new(big.Rat).SetInt64(unitMult))
	// Round half up.
	x.Add(x, big.NewRat(1, 2))
	v := new(big.Int).Quo(x.Num(), x.Denom())
	if v.Cmp(max) > 0 {
		return 0, false
	}
	return v.Uint64(), true
}

// FuzzParseSize checks ParseSize against the model and for panics; accepted
// values round-trip through their decimal form.
func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"0", "4k", "1.5M", "0x1000", "16E", ".5k", "1.", "1.k", "e", "",
		"-1", "1e3", "0x", "00x1", "18446744073709551615", "15.9999999999999999999E", "0.00048828125k"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := qom.ParseSize(s)
		want, ok := refParseSize(s)
		if ok != (err == nil) || ok && got != want {
			t.Fatalf("ParseSize(%q) = %d, %v; model says %d, %v", s, got, err, want, ok)
		}
		if err == nil {
			back, err := qom.ParseSize(strconv.FormatUint(got, 10))
			if err != nil || back != got {
				t.Fatalf("round trip of %d: %d, %v", got, back, err)
			}
		}
	})
}
