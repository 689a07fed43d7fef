package qmp

import (
	"bytes"
	"encoding/json"
	"time"
	"unicode/utf8"
)

// This file writes the server's messages the way QEMU prints them
// (qobject/qjson.c, to_json, and monitor_puts): one JSON object per line,
// members separated by ", " and keys by ": ", only ASCII (every other
// character, and every control character, as an upper-case \uXXXX escape,
// surrogate pairs beyond the BMP), and each message ended by "\r\n".
// Values are encoded by encoding/json; appendQEMU only restyles its output.

// crlf ends every message, as QEMU's monitor_puts turns "\n" into "\r\n".
const crlf = "\r\n"

// appendValue appends the JSON encoding of v in QEMU's style.
func appendValue(dst []byte, v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return dst, err
	}
	return appendQEMU(dst, buf.Bytes()), nil
}

// appendQEMU appends the valid JSON text src in QEMU's style: whitespace
// outside strings dropped, a space after each ':' and ',', strings made
// ASCII. Invalid UTF-8 inside a string becomes U+FFFD, as in QEMU.
func appendQEMU(dst, src []byte) []byte {
	const hex = "0123456789ABCDEF"
	u4 := func(dst []byte, r rune) []byte {
		return append(dst, '\\', 'u', hex[r>>12&15], hex[r>>8&15], hex[r>>4&15], hex[r&15])
	}
	inString := false
	for i := 0; i < len(src); {
		c := src[i]
		if !inString {
			switch c {
			case ' ', '\t', '\n', '\r':
			case ':', ',':
				dst = append(dst, c, ' ')
			case '"':
				inString = true
				dst = append(dst, c)
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		switch {
		case c == '"':
			inString = false
			dst = append(dst, c)
			i++
		case c == '\\' && i+1 < len(src) && src[i+1] == 'u' && i+6 <= len(src):
			dst = append(dst, '\\', 'u')
			for _, h := range src[i+2 : i+6] {
				if 'a' <= h && h <= 'f' {
					h -= 'a' - 'A'
				}
				dst = append(dst, h)
			}
			i += 6
		case c == '\\' && i+1 < len(src):
			dst = append(dst, c, src[i+1])
			i += 2
		case c < 0x20 || c == 0x7F:
			dst = u4(dst, rune(c))
			i++
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			i++
		default:
			r, n := utf8.DecodeRune(src[i:])
			if r > 0xFFFF {
				r -= 0x10000
				dst = u4(dst, 0xD800+(r>>10))
				dst = u4(dst, 0xDC00+(r&0x3FF))
			} else {
				dst = u4(dst, r) // includes utf8.RuneError for invalid bytes
			}
			i += n
		}
	}
	return dst
}

// Version is the version the server reports in its greeting and in
// query-version: QEMU's VersionInfo. qmem reports its own version here.
type Version struct {
	Major, Minor, Micro int
	Package             string // free text, e.g. "qmem-0.1"; may be empty
}

// versionInfo is VersionInfo on the wire, members in QEMU's order.
type versionInfo struct {
	QEMU struct {
		Micro int `json:"micro"`
		Minor int `json:"minor"`
		Major int `json:"major"`
	} `json:"qemu"`
	Package string `json:"package"`
}

func (v Version) info() versionInfo {
	var vi versionInfo
	vi.QEMU.Major, vi.QEMU.Minor, vi.QEMU.Micro = v.Major, v.Minor, v.Micro
	vi.Package = v.Package
	return vi
}

// greeting returns the server greeting. qmem offers no capabilities: it
// does not implement out-of-band execution.
func greeting(v Version) []byte {
	var g struct {
		QMP struct {
			Version      versionInfo `json:"version"`
			Capabilities []string    `json:"capabilities"`
		} `json:"QMP"`
	}
	g.QMP.Version = v.info()
	g.QMP.Capabilities = []string{}
	b, err := appendValue(nil, g)
	if err != nil {
		panic(err) // cannot happen: fixed types
	}
	return append(b, crlf...)
}

// returnReply returns {"return": result, "id": id}; id is nil when the
// request had none, and a nil result is sent as {} (QEMU's reply for a
// command without return value). The error is result's encoding error.
func returnReply(result any, id json.RawMessage) ([]byte, error) {
	if result == nil {
		result = struct{}{}
	}
	b := append(make([]byte, 0, 64), `{"return": `...)
	b, err := appendValue(b, result)
	if err != nil {
		return nil, err
	}
	return endReply(b, id), nil
}

// errorReply returns {"error": {"class": ..., "desc": ...}, "id": id}.
func errorReply(e *Error, id json.RawMessage) []byte {
	b := append(make([]byte, 0, 64+len(e.Desc)), `{"error": {"class": `...)
	b, _ = appendValue(b, string(e.Class))
	b = append(b, `, "desc": `...)
	b, _ = appendValue(b, e.Desc)
	b = append(b, '}')
	return endReply(b, id)
}

func endReply(b []byte, id json.RawMessage) []byte {
	if id != nil {
		b = append(b, `, "id": `...)
		b = appendQEMU(b, id)
	}
	return append(b, "}"+crlf...)
}

// eventMessage returns {"event": name, "data": data, "timestamp": ...};
// data is a JSON object or nil (then the member is left out).
func eventMessage(name string, data json.RawMessage, t time.Time) []byte {
	b := append(make([]byte, 0, 96+len(data)), `{"event": `...)
	b, _ = appendValue(b, name)
	if data != nil {
		b = append(b, `, "data": `...)
		b = appendQEMU(b, data)
	}
	var ts struct {
		Seconds      int64 `json:"seconds"`
		Microseconds int64 `json:"microseconds"`
	}
	ts.Seconds, ts.Microseconds = t.Unix(), int64(t.Nanosecond()/1000)
	b = append(b, `, "timestamp": `...)
	b, _ = appendValue(b, ts)
	return append(b, "}"+crlf...)
}
