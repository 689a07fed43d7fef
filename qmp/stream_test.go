package qmp

import (
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
)

// readAll runs a messageReader over in to the end and returns what it
// produced: each value as sent, each protocol error as "error: DESC".
func readAll(t *testing.T, r io.Reader, max int) []string {
	t.Helper()
	mr := newMessageReader(r, max)
	var out []string
	for {
		raw, perr, err := mr.next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("next: %v", err)
		}
		if perr != nil {
			out = append(out, "error: "+perr.Desc)
			continue
		}
		out = append(out, string(raw))
	}
}

func TestMessageReader(t *testing.T) {
	long := strings.Repeat("x", 100)
	tests := []struct {
		name string
		in   string
		max  int
		want []string
	}{
		{"values", `{"a":1} [2] "s" 3` + "\n", 0, []string{`{"a":1}`, `[2]`, `"s"`, `3`}},
		{"whitespace kept inside", "{ \"a\" :\n 1 }", 0, []string{"{ \"a\" :\n 1 }"}},
		{"end inside a value", `{"a":`, 0, nil},
		{"error then next line", "{]\n{}\n", 0, []string{"error: JSON parse error, expecting value", "{}"}},
		{"rest of the line dropped", `{"a" 1} {"b":2}` + "\n{}", 0,
			[]string{"error: JSON parse error, missing : in object pair", "{}"}},
		{"carriage return resynchronises", "x\r{}", 0, []string{"error: JSON parse error, invalid keyword 'x'", "{}"}},
		{"tab does not", "x\t{}\n[]", 0, []string{"error: JSON parse error, invalid keyword 'x'", "[]"}},
		{"0xFE resynchronises", "[\xfe[]", 0, []string{"error: JSON parse error, stray '\xfe'", "[]"}},
		{"error at the very end", "{]", 0, []string{"error: JSON parse error, expecting value"}},
		{"exactly at the limit", `{"a":"` + long + `"}` + `{"b":"` + long + `"}`, len(long) + 8,
			[]string{`{"a":"` + long + `"}`, `{"b":"` + long + `"}`}},
		{"one byte over the limit", `{"a":"` + long + `"}` + "\n{}", len(long) + 7,
			[]string{"error: JSON token size limit exceeded", "{}"}},
		{"leading whitespace counts", "   " + `{"a":"` + long + `"}` + "\n{}", len(long) + 8,
			[]string{"error: JSON token size limit exceeded", "{}"}},
		{"oversized over several lines", `{"a":"` + long + "\",\n\"b\": 1}\n{}", 50,
			// Resynchronisation is by line: the message's next line is
			// parsed on its own.
			[]string{"error: JSON token size limit exceeded", `"b"`, "error: JSON parse error, expecting value", "{}"}},
		{"nesting", strings.Repeat("[", 1025) + strings.Repeat("]", 1025) + "{}", 0,
			[]string{"error: JSON nesting depth limit exceeded", "{}"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			max := tt.max
			if max == 0 {
				max = DefaultMaxMessageSize
			}
			got := readAll(t, strings.NewReader(tt.in), max)
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
			// The same input a byte at a time gives the same messages.
			got = readAll(t, iotest.OneByteReader(strings.NewReader(tt.in)), max)
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("byte by byte: got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

// endless produces n bytes of a repeated pattern without holding them.
type endless struct {
	pattern string
	n, off  int
}

func (e *endless) Read(p []byte) (int, error) {
	if e.n == 0 {
		return 0, io.EOF
	}
	if len(p) > e.n {
		p = p[:e.n]
	}
	k := 0
	for k < len(p) {
		c := copy(p[k:], e.pattern[e.off:])
		k, e.off = k+c, (e.off+c)%len(e.pattern)
	}
	e.n -= k
	return k, nil
}

// TestMessageReaderBoundedMemory feeds 16 MiB of one unterminated string
// and then 16 MiB of invalid input without a newline: the reader answers
// each once and allocates a small fraction of the input.
func TestMessageReaderBoundedMemory(t *testing.T) {
	const n = 16 << 20
	in := io.MultiReader(
		strings.NewReader(`{"execute": "`), &endless{pattern: "abcdefgh", n: n}, strings.NewReader("\n{}\n"),
		strings.NewReader("@"), &endless{pattern: "@#$%", n: n}, strings.NewReader("\n[]\n"),
	)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	got := readAll(t, in, DefaultMaxMessageSize)
	runtime.ReadMemStats(&after)
	want := []string{"error: JSON token size limit exceeded", "{}", "error: JSON parse error, stray '@'", "[]"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("got %q, want %q", got, want)
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("allocated %d bytes reading %d", alloc, 2*n)
	if alloc > 8<<20 {
		t.Errorf("allocated %d bytes reading %d", alloc, 2*n)
	}
}
