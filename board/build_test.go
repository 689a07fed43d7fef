package board_test

import (
	"strings"
	"testing"

	"qmem.dev/qmem/board"
)

// TestBuildErrors builds descriptions given as Go values (as a monitor or a
// test would): each error names the board and the device.
func TestBuildErrors(t *testing.T) {
	dev := func(typ, id string, props map[string]any) board.DeviceSpec {
		return board.DeviceSpec{Type: typ, ID: id, Props: props}
	}
	for _, tc := range []struct {
		name string
		spec board.Spec
		want string
	}{
		{"no RAM", board.Spec{Name: "t"}, "board t: RAM size 0x0 must be a non-zero multiple of 4 KiB"},
		{"RAM not in pages", board.Spec{Name: "t", RAMSize: 0x1800}, "board t: RAM size 0x1800 must be a non-zero multiple of 4 KiB"},
		{"RAM wraps", board.Spec{Name: "t", RAMBase: 1 << 63, RAMSize: 1 << 63}, "misaligned or wraps"},
		{"demo guest without its RAM", board.Spec{Name: "t", RAMSize: 1 << 20, Guest: "demo"}, "the demo guest needs RAM"},
		{"unknown type", board.Spec{Name: "t", RAMSize: 1 << 20, Devices: []board.DeviceSpec{dev("qmem-nope", "x", nil)}},
			"board t: device qmem-nope (id x): 'qmem-nope' is not a valid device model name"},
		{"not a device", board.Spec{Name: "t", RAMSize: 1 << 20, Devices: []board.DeviceSpec{dev("memory-region", "", nil)}},
			"board t: device memory-region: 'memory-region' is not a valid device model name"},
		{"bad value", board.Spec{Name: "t", RAMSize: 1 << 20, Devices: []board.DeviceSpec{dev("qmem-uart16550a", "s", map[string]any{"port": "COM1"})}},
			"board t: device qmem-uart16550a (id s): "},
		{"unknown property", board.Spec{Name: "t", RAMSize: 1 << 20, Devices: []board.DeviceSpec{dev("qmem-testdev", "d", map[string]any{"colour": "red"})}},
			"board t: device qmem-testdev (id d): Property 'qmem-testdev.colour' not found"},
		{"flash content too big", board.Spec{Name: "t", RAMSize: 1 << 20, Devices: []board.DeviceSpec{dev("qmem-flash", "f", map[string]any{"size": uint64(4), "content": "QMEMROM1"})}},
			"board t: device qmem-flash (id f): flash content (8 bytes) larger than the flash (4 bytes)"},
		{"duplicate id", board.Spec{Name: "t", RAMSize: 1 << 20, Devices: []board.DeviceSpec{dev("qmem-testdev", "d", nil), dev("qmem-testdev", "d", nil)}},
			"board t: Duplicate device ID 'd'"},
	} {
		_, err := board.Build(&tc.spec, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Build = %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}
