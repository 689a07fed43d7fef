package guest

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
)

// TestBinaryIsCurrent re-assembles guest.S and compares the result with the
// committed guest.bin.
func TestBinaryIsCurrent(t *testing.T) {
	for _, tool := range []string{"sh", "as", "objcopy", "objdump"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (GNU binutils): cannot check that guest.bin is current", tool)
		}
	}
	out := filepath.Join(t.TempDir(), "guest.bin")
	if msg, err := exec.Command("sh", "build.sh", out).CombinedOutput(); err != nil {
		t.Fatalf("build.sh: %v\n%s", err, msg)
	}
	built, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(built, Image()) {
		t.Errorf("guest.bin (%d bytes) differs from guest.S assembled (%d bytes): run board/guest/build.sh and commit guest.bin",
			len(Image()), len(built))
	}
}

// TestConstantsMatchAssembly checks every .equ of guest.S against the Go
// constant of the same meaning, so the two layouts cannot drift apart.
func TestConstantsMatchAssembly(t *testing.T) {
	src, err := os.ReadFile("guest.S")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]uint64{
		"LOAD_ADDR":           LoadAddr,
		"STACK_TOP":           StackTop,
		"STRING_IO_BUF":       StringIOBuf,
		"UART_THR":            UARTBase,
		"UART_LSR":            UARTLSR,
		"UART_LSR_THRE":       UARTLSRTHRE,
		"ROM_BASE":            ROMBase,
		"ROM_SIG_LO":          uint64(binary.LittleEndian.Uint32([]byte(ROMSignature[:4]))),
		"ROM_SIG_HI":          uint64(binary.LittleEndian.Uint32([]byte(ROMSignature[4:]))),
		"TESTDEV_BASE":        TestDevBase,
		"TESTDEV_REG_ID":      TestDevRegID,
		"TESTDEV_REG_SCRATCH": TestDevRegScratch,
		"TESTDEV_REG_COUNTER": TestDevRegCounter,
		"TESTDEV_ID":          TestDevID,
		"SCRATCH_PATTERN":     ScratchPattern,
		"REMAP_BASE":          RemapBase,
		"REMAP_PORT":          RemapPort,
		"REMAP_ROM":           RemapROM,
		"REMAP_RAM":           RemapRAM,
		"REMAP_PATTERN":       RemapPattern,
		"UNASSIGNED_PORT":     UnassignedPort,
		"DEBUG_EXIT_PORT":     DebugExitPort,
	}
	equ := regexp.MustCompile(`(?m)^\s*\.equ\s+(\w+),\s*(\w+)`)
	seen := map[string]bool{}
	for _, m := range equ.FindAllStringSubmatch(string(src), -1) {
		name := m[1]
		v, err := strconv.ParseUint(m[2], 0, 64)
		if err != nil {
			t.Errorf(".equ %s, %s: %v", name, m[2], err)
			continue
		}
		w, ok := want[name]
		switch {
		case !ok:
			t.Errorf(".equ %s has no Go constant in this test's table", name)
		case v != w:
			t.Errorf(".equ %s, %#x; the Go constant is %#x", name, v, w)
		}
		seen[name] = true
	}
	for name := range want {
		if !seen[name] {
			t.Errorf("guest.S has no .equ %s", name)
		}
	}
	if TestDevID != 0x4d454d51 || string(binary.LittleEndian.AppendUint32(nil, TestDevID)) != "QMEM" {
		t.Errorf("TestDevID %#x is not \"QMEM\" little-endian", TestDevID)
	}
}

func TestImageIsACopy(t *testing.T) {
	a := Image()
	a[0] ^= 0xff
	if b := Image(); b[0] == a[0] {
		t.Error("Image returned shared bytes")
	}
	if len(a) == 0 || len(a) > StringIOBuf-LoadAddr {
		t.Errorf("image of %d bytes does not fit between LoadAddr and StringIOBuf", len(a))
	}
}
