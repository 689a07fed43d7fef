package dump

import (
	"strings"
	"testing"
)

const ownersD = `address-space: memory
  0000000000000000-ffffffffffffffff (prio 0, i/o): system
    0000000000000000-0000000000000fff (prio 0, i/o): off [disabled]
      0000000000000000-00000000000000ff (prio 0, i/o): inner
    0000000000001000-0000000000001fff (prio 0, i/o): uart

address-space: I/O
  0000000000000000-000000000000ffff (prio 0, i/o): io

`

const ownersO = `address-space: memory
  0000000000000000-ffffffffffffffff (prio 0, i/o): system parent:{obj path=/machine/unattached}
      0000000000000000-00000000000000ff (prio 0, i/o): inner owner:{dev id=x}
    0000000000001000-0000000000001fff (prio 0, i/o): uart owner:{dev path=/machine/u}

address-space: I/O
  0000000000000000-000000000000ffff (prio 0, i/o): io orphan

`

func TestParseWithOwners(t *testing.T) {
	d, err := ParseWithOwners([]byte(ownersD), []byte(ownersO))
	if err != nil {
		t.Fatal(err)
	}
	for line, want := range map[int]string{2: " parent:{obj path=/machine/unattached}", 3: "", 4: " owner:{dev id=x}", 5: " owner:{dev path=/machine/u}", 8: " orphan"} {
		if got := d.NodeAt(line).Region.Owner.String(); got != want {
			t.Errorf("line %d: owner %q, want %q", line, got, want)
		}
	}
	if got := string(printed(t, d, PrintOptions{Owners: true})); got != ownersO {
		t.Errorf("-o print:\n%s", FirstDiff("want", "got", ownersO, got))
	}
	// Sections in another order still match.
	swapped := ownersO[strings.Index(ownersO, "address-space: I/O"):] + ownersO[:strings.Index(ownersO, "address-space: I/O")]
	if _, err := ParseWithOwners([]byte(ownersD), []byte(swapped)); err != nil {
		t.Errorf("swapped sections: %v", err)
	}
}

func TestParseWithOwnersErrors(t *testing.T) {
	for _, tc := range []struct{ name, o, want string }{
		{"changed line", strings.Replace(ownersO, "uart owner", "UART owner", 1), `-o dump:4: expected "    0000000000001000-0000000000001fff (prio 0, i/o): uart" (-D line 5 without [disabled], then an owner suffix)`},
		{"no owner", strings.Replace(ownersO, " orphan", "", 1), `-o dump:7: expected "  0000000000000000-000000000000ffff (prio 0, i/o): io" (-D line 8`},
		{"disabled line shown", strings.Replace(ownersO, "      0000000000000000-00000000000000ff", "    0000000000000000-0000000000000fff (prio 0, i/o): off owner:{dev id=y}\n      0000000000000000-00000000000000ff", 1), "-o dump:3: expected"},
		{"missing section", ownersO[:strings.Index(ownersO, "address-space: I/O")], "-o dump:5: truncated: the -o dump has no section for the -D section at line 7"},
		{"extra section", ownersO + "address-space: x\n  0000000000000000-000000000000ffff (prio 0, i/o): x orphan\n\n", "-o dump:9: extra text"},
		{"crlf", strings.ReplaceAll(ownersO, "\n", "\r\n"), "-o dump:1: carriage return"},
		{"no final empty line", strings.TrimSuffix(ownersO, "\n"), `-o dump:7: truncated after this line: expected "" next`},
		{"no newline", strings.TrimSuffix(ownersO, "\n\n"), "-o dump:7: truncated: the last line has no newline"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseWithOwners([]byte(ownersD), []byte(tc.o))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
