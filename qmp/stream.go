package qmp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// This file splits a client's byte stream into JSON values. encoding/json
// does all the parsing: a json.Decoder reads one value at a time. What it
// lacks is QEMU's recovery (qobject/json-streamer.c, json-lexer.c): after a
// syntax error a json.Decoder is dead, and QEMU instead answers the error
// and goes on parsing. qmem recovers like this:
//
//   - Syntax error: the error is answered at once ("JSON parse error, ...";
//     like QEMU, without "id"), then input is discarded from the offending
//     byte up to and including the next resynchronisation byte, and a fresh
//     decoder starts after it.
//   - Message too large: a message (with the whitespace before it) may be
//     at most maxSize bytes. The decoder is never given more, so memory per
//     connection stays bounded; the message is answered with QEMU's "JSON
//     token size limit exceeded", and input is discarded from there up to
//     the next resynchronisation byte.
//   - Nesting deeper than QEMU's 1024 levels: "JSON nesting depth limit
//     exceeded"; the whole value has been read, so nothing is discarded.
//
// The resynchronisation bytes are those at which QEMU's lexer leaves its
// error-recovery state: ASCII control characters other than tab (so "\n"
// and "\r" included) and the bytes 0xFE and 0xFF, which can never occur in
// UTF-8. The QMP specification tells clients to send one of them to force
// the server's parser into a known-good state, and every client ends its
// commands with a newline, so in practice a malformed line costs exactly
// that line. Unlike QEMU, qmem does not also resynchronise at a balanced
// closing brace: two commands on one line with the first one broken lose
// both.

// maxNesting is QEMU's MAX_NESTING (json-streamer.c): brackets and braces
// open at once.
const maxNesting = 1024

// errTooLarge stops a decoder at the size limit.
var errTooLarge = errors.New("qmp: message too large")

// isResync reports whether c ends the discarding of input after an error.
func isResync(c byte) bool {
	return (c < 0x20 && c != '\t') || c >= 0xFE
}

// source feeds a json.Decoder: first the bytes left over from an earlier
// decoder (pending), then the connection; it gives a decoder at most limit
// bytes in all.
type source struct {
	r       io.Reader
	pending []byte
	n       int64 // bytes given to the current decoder
	limit   int64
}

func (s *source) Read(p []byte) (int, error) {
	if s.n >= s.limit {
		return 0, errTooLarge
	}
	if room := s.limit - s.n; int64(len(p)) > room {
		p = p[:room]
	}
	n, err := s.readRaw(p)
	s.n += int64(n)
	return n, err
}

// readRaw reads pending bytes first, then from the connection.
func (s *source) readRaw(p []byte) (int, error) {
	if len(s.pending) > 0 {
		n := copy(p, s.pending)
		s.pending = s.pending[n:]
		return n, nil
	}
	return s.r.Read(p)
}

// messageReader reads a client's messages. It is used by one goroutine.
type messageReader struct {
	src      source
	dec      *json.Decoder // nil: start a new one at the next call
	maxSize  int64
	skipping bool // discard input up to a resynchronisation byte first
}

func newMessageReader(r io.Reader, maxSize int) *messageReader {
	return &messageReader{src: source{r: r}, maxSize: int64(maxSize)}
}

// next returns the next JSON value, exactly as the client sent it, or a
// protocol error to answer (the reader has then recovered, see above), or
// an I/O error after which the connection is unusable (io.EOF at the end
// of input, also when it ends inside a value).
func (r *messageReader) next() (json.RawMessage, *Error, error) {
	if r.skipping {
		if err := r.skip(); err != nil {
			return nil, nil, err
		}
	}
	if r.dec == nil {
		r.src.n, r.src.limit = 0, r.maxSize
		r.dec = json.NewDecoder(&r.src)
	}
	var raw json.RawMessage
	err := r.dec.Decode(&raw)
	if err == nil {
		r.src.limit = r.dec.InputOffset() + r.maxSize
		if tooDeep(raw) {
			return nil, genericf(textJSONNesting), nil
		}
		return raw, nil, nil
	}
	var syn *json.SyntaxError
	switch {
	case errors.As(err, &syn):
		buf, _ := io.ReadAll(r.dec.Buffered())
		i := syn.Offset - 1 - r.dec.InputOffset()
		if i < 0 || i >= int64(len(buf)) {
			i = 0 // not expected; resynchronise from the value's start
		}
		perr := syntaxError(syn, buf, int(i))
		r.restartAfter(buf[i:])
		return nil, perr, nil
	case errors.Is(err, errTooLarge):
		r.dec = nil
		r.skipping = true
		return nil, genericf(textJSONSize), nil
	case errors.Is(err, io.ErrUnexpectedEOF):
		return nil, nil, io.EOF
	}
	return nil, nil, err
}

// restartAfter drops the decoder and keeps, of rest (the decoder's unused
// bytes, starting at the offending one), what follows the first
// resynchronisation byte; without one, input is discarded up to it.
func (r *messageReader) restartAfter(rest []byte) {
	r.dec = nil
	j := slices.IndexFunc(rest, isResync)
	if j < 0 {
		r.skipping = true
		return
	}
	// rest aliases the dead decoder's buffer; copy what is kept.
	r.src.pending = append(bytes.Clone(rest[j+1:]), r.src.pending...)
}

// skip discards input up to and including a resynchronisation byte.
func (r *messageReader) skip() error {
	var scratch [4096]byte
	for {
		n, err := r.src.readRaw(scratch[:])
		for i, c := range scratch[:n] {
			if isResync(c) {
				r.skipping = false
				r.src.pending = append(bytes.Clone(scratch[i+1:n]), r.src.pending...)
				return nil
			}
		}
		if err != nil {
			return err
		}
	}
}

// tooDeep reports whether raw nests more than maxNesting arrays and
// objects. Only a value with that many brackets at all can, so the common
// case costs one bytes.Count pass; the walk uses encoding/json's tokens.
func tooDeep(raw []byte) bool {
	if bytes.Count(raw, []byte("{"))+bytes.Count(raw, []byte("[")) <= maxNesting {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	depth := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			if depth++; depth > maxNesting {
				return true
			}
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
	}
}

// syntaxError turns a json.SyntaxError into QEMU's reply; buf[i] is the
// offending byte. QEMU's parser and encoding/json's scanner find the
// same errors at the same byte but word them differently; the common cases
// get QEMU's words (json-parser.c's parse_error messages and
// json-streamer.c's lexical "stray" error), the rest encoding/json's.
func syntaxError(e *json.SyntaxError, buf []byte, i int) *Error {
	msg := e.Error()
	rest := buf[i:]
	var c byte
	if len(rest) > 0 {
		c = rest[0]
	}
	var text string
	switch {
	case strings.HasSuffix(msg, "looking for beginning of value"):
		switch {
		case c == '}' || c == ']' || c == ':' || c == ',':
			text = textExpectingValue
		case isLetter(c):
			text = fmt.Sprintf(textInvalidKeyword, keyword(rest))
		default:
			text = fmt.Sprintf(textJSONStray, string(rest[:strayLen(rest)]))
		}
	case strings.HasSuffix(msg, "after object key"):
		text = textMissingColon
	case strings.HasSuffix(msg, "after object key:value pair"):
		text = textDictSeparator
	case strings.HasSuffix(msg, "after array element"):
		text = textListSeparator
	case strings.HasSuffix(msg, "looking for beginning of object key string"):
		if c == '}' || c == ':' || c == ',' || c == ']' {
			text = textExpectingValue
		} else {
			text = textKeyNotString
		}
	case strings.Contains(msg, " in literal "):
		// A misspelt true, false or null: QEMU's lexer reads the whole
		// run of letters as one keyword.
		start := i
		for start > 0 && isLetter(buf[start-1]) {
			start--
		}
		text = fmt.Sprintf(textInvalidKeyword, keyword(buf[start:]))
	case strings.HasSuffix(msg, "in string escape code"):
		text = textBadEscape
	case strings.HasSuffix(msg, "in \\u hexadecimal character escape"):
		text = textBadHexEscape
	case strings.HasSuffix(msg, "exceeded max depth"):
		return genericf(textJSONNesting)
	default:
		text = msg
	}
	return genericf(textJSONParse, text)
}

// keyword returns the run of lower-case letters at the start of b, which
// QEMU's lexer takes as one (invalid) keyword token.
func keyword(b []byte) string {
	n := 0
	for n < len(b) && n < 64 && isLetter(b[n]) {
		n++
	}
	return string(b[:n])
}

// isLetter reports whether c can be part of a keyword token in QEMU's
// lexer, which takes [a-z]+.
func isLetter(c byte) bool { return 'a' <= c && c <= 'z' }

// strayLen is the length of the stray character at the start of b: one
// byte, or a whole UTF-8 sequence.
func strayLen(b []byte) int {
	if len(b) == 0 {
		return 0
	}
	n := 1
	for n < len(b) && n < 4 && b[n]&0xC0 == 0x80 {
		n++
	}
	return n
}
