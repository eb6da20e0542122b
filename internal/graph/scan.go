package graph

import (
	"encoding/json"
	"iter"
	"unicode/utf8"
)

// A document is one JSON value read in a single pass that validates it
// (accepting exactly what json.Valid accepts), bounds its nesting and
// records where every value lies on a tape. Decoding then reads fields off
// the tape: no second validation, no re-scanning of nested values, and no
// map per object — decoding is most of the CPU an ingested alert costs.
// Anything the pass does not accept is left to encoding/json, whose error
// messages the decoder reports.
//
// A document is reusable: parse resets it, keeping its buffers.
type document struct {
	raw   []byte
	tape  []node
	stack []int // tape indices of the containers open while parsing
}

// node is one value of a document, or one object key, in document order.
// An object's node is followed by its members, each a key node then the
// value's nodes; an array's node is followed by its elements' nodes.
type node struct {
	start, end int    // raw[start:end] is the value's text
	next       int    // tape index just past the value and all it contains
	fp         uint32 // keys only: fingerprint of the key as it reads, 0 when it needs unescaping
	escaped    bool   // strings only: holds a backslash escape
	nonASCII   bool   // strings only: holds a byte ≥ 0x80
}

// parse reads raw as one JSON value nesting at most limit levels. It
// reports false when raw is not valid JSON or nests deeper, without saying
// which: callers explain a refusal with encoding/json and tooDeep.
func (d *document) parse(raw []byte, limit int) bool {
	d.raw, d.tape, d.stack = raw, d.tape[:0], d.stack[:0]
	i, ok := d.value(skipWS(raw, 0), limit)
	return ok && skipWS(raw, i) == len(raw)
}

// value parses the value at raw[i:] and returns the index just after it.
// Containers are parsed without recursion, their open nodes on d.stack, so
// the depth of the Go stack does not grow with the document's.
func (d *document) value(i, limit int) (int, bool) {
	for {
		var opened, more, ok bool
		if i, opened, ok = d.open(i, limit); !ok {
			return 0, false
		}
		if opened {
			continue // to the container's first value
		}
		if i, more, ok = d.after(i); !ok || !more {
			return i, ok
		}
	}
}

// open parses the value at raw[i:] when it is a scalar or an empty
// container, returning the index just after it; of any other container it
// parses the opening (and the first key) and reports opened, returning the
// index of the first value inside.
func (d *document) open(i, limit int) (next int, opened, ok bool) {
	raw := d.raw
	if i >= len(raw) {
		return 0, false, false
	}
	at := len(d.tape)
	d.tape = append(d.tape, node{start: i, next: at + 1})
	switch c := raw[i]; c {
	case '{', '[':
		if len(d.stack) >= limit {
			return 0, false, false
		}
		d.stack = append(d.stack, at)
		i = skipWS(raw, i+1)
		switch {
		case i < len(raw) && raw[i] == closer(c):
			return d.close(i), false, true
		case c == '[':
			return i, true, true
		}
		i, ok = d.key(i)
		return i, true, ok
	case '"':
		i, ok = d.str(i)
	case 't':
		i, ok = literal(raw, i, "true")
	case 'f':
		i, ok = literal(raw, i, "false")
	case 'n':
		i, ok = literal(raw, i, "null")
	default:
		i, ok = number(raw, i)
	}
	d.tape[at].end = i
	return i, false, ok
}

// after reads what follows a complete value at raw[i:]: the closing of
// any containers it completes and, when more follows in an open one, the
// comma (and the next key), returning the index of the next value. Done
// (more false) is the end of the document's value.
func (d *document) after(i int) (next int, more, ok bool) {
	raw := d.raw
	for len(d.stack) > 0 {
		open := raw[d.tape[d.stack[len(d.stack)-1]].start]
		i = skipWS(raw, i)
		switch {
		case i >= len(raw):
			return 0, false, false
		case raw[i] == closer(open):
			i = d.close(i)
		case raw[i] == ',' && open == '[':
			return skipWS(raw, i+1), true, true
		case raw[i] == ',':
			i, ok = d.key(skipWS(raw, i+1))
			return i, true, ok
		default:
			return 0, false, false
		}
	}
	return i, false, true
}

func closer(open byte) byte {
	if open == '{' {
		return '}'
	}
	return ']'
}

// close ends the innermost open container at raw[i], its closing bracket.
func (d *document) close(i int) int {
	at := d.stack[len(d.stack)-1]
	d.stack = d.stack[:len(d.stack)-1]
	d.tape[at].end, d.tape[at].next = i+1, len(d.tape)
	return i + 1
}

// key parses an object key and its colon at raw[i:], returning the index
// of the member's value.
func (d *document) key(i int) (int, bool) {
	if i >= len(d.raw) || d.raw[i] != '"' {
		return 0, false
	}
	at := len(d.tape)
	d.tape = append(d.tape, node{start: i})
	end, ok := d.str(i)
	if !ok {
		return 0, false
	}
	k := &d.tape[at]
	k.end, k.next = end, at+1
	if !k.escaped && !k.nonASCII {
		k.fp = fingerprint(string(d.raw[k.start+1 : k.end-1]))
	}
	i = skipWS(d.raw, end)
	if i >= len(d.raw) || d.raw[i] != ':' {
		return 0, false
	}
	return skipWS(d.raw, i+1), true
}

// str checks the string starting at raw[i] == '"', whose node is the last
// on the tape, and returns the index just after it.
func (d *document) str(i int) (int, bool) {
	raw, n := d.raw, &d.tape[len(d.tape)-1]
	for j := i + 1; j < len(raw); j++ {
		for j < len(raw) && plainByte[raw[j]] {
			j++
		}
		if j >= len(raw) {
			break
		}
		switch c := raw[j]; {
		case c == '"':
			return j + 1, true
		case c == '\\':
			n.escaped = true
			if j++; j >= len(raw) {
				return 0, false
			}
			switch raw[j] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if j+4 >= len(raw) || !isHex(raw[j+1]) || !isHex(raw[j+2]) || !isHex(raw[j+3]) || !isHex(raw[j+4]) {
					return 0, false
				}
				j += 4
			default:
				return 0, false
			}
		case c < 0x20:
			return 0, false
		default: // c >= utf8.RuneSelf
			n.nonASCII = true
		}
	}
	return 0, false
}

// plainByte tells the bytes a string holds as they are: not its closing
// quote, an escape, a control character or part of a multi-byte rune.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// fingerprint sums up a key for member's scan: its length and three of
// its bytes, enough to tell apart nearly any two keys of an object.
func fingerprint(key string) uint32 {
	if key == "" {
		return 0
	}
	return uint32(len(key))<<24 | uint32(key[0])<<16 | uint32(key[len(key)/2])<<8 | uint32(key[len(key)-1])
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func literal(raw []byte, i int, lit string) (int, bool) {
	if len(raw)-i < len(lit) || string(raw[i:i+len(lit)]) != lit {
		return 0, false
	}
	return i + len(lit), true
}

// number checks a JSON number at raw[i:]: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func number(raw []byte, i int) (int, bool) {
	if i < len(raw) && raw[i] == '-' {
		i++
	}
	switch {
	case i < len(raw) && raw[i] == '0':
		i++
	case i < len(raw) && '1' <= raw[i] && raw[i] <= '9':
		i = digits(raw, i)
	default:
		return 0, false
	}
	if i < len(raw) && raw[i] == '.' {
		if i++; i >= len(raw) || !isDigit(raw[i]) {
			return 0, false
		}
		i = digits(raw, i)
	}
	if i < len(raw) && (raw[i] == 'e' || raw[i] == 'E') {
		if i++; i < len(raw) && (raw[i] == '+' || raw[i] == '-') {
			i++
		}
		if i >= len(raw) || !isDigit(raw[i]) {
			return 0, false
		}
		i = digits(raw, i)
	}
	return i, true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func digits(raw []byte, i int) int {
	for i < len(raw) && isDigit(raw[i]) {
		i++
	}
	return i
}

// skipWS returns the index of the first byte at or after i that is not
// JSON white space.
func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// text is the JSON text of the value at tape index n.
func (d *document) text(n int) []byte { return d.raw[d.tape[n].start:d.tape[n].end] }

// kind names the JSON type of the value at tape index n, for messages.
func (d *document) kind(n int) string { return jsonKind(d.text(n)) }

// members yields the tape indices of an object's keys and their values.
func (d *document) members(obj int) iter.Seq2[int, int] {
	return func(yield func(int, int) bool) {
		for k := obj + 1; k < d.tape[obj].next; k = d.tape[k+1].next {
			if !yield(k, k+1) {
				return
			}
		}
	}
}

// elements yields the index and tape index of each element of the array at
// tape index arr; none when arr < 0.
func (d *document) elements(arr int) iter.Seq2[int, int] {
	return func(yield func(int, int) bool) {
		if arr < 0 {
			return
		}
		for i, e := 0, arr+1; e < d.tape[arr].next; i, e = i+1, d.tape[e].next {
			if !yield(i, e) {
				return
			}
		}
	}
}

// member returns the tape index of the value of an object's member named
// name, or -1; of repeated keys the last counts, as in encoding/json. It
// is the decoder's inner loop: the keys' fingerprints rule out nearly
// every other member before any bytes are compared.
func (d *document) member(obj int, name string) int {
	found, fp := -1, fingerprint(name)
	for k, end := obj+1, d.tape[obj].next; k < end; k = d.tape[k+1].next {
		if t := d.tape[k].fp; (t == fp || t == 0) && d.keyIs(k, name) {
			found = k + 1
		}
	}
	return found
}

// keyIs tells whether the key at tape index k, unescaped, is name.
func (d *document) keyIs(k int, name string) bool {
	if t := d.tape[k]; !t.escaped && !t.nonASCII {
		return string(d.raw[t.start+1:t.end-1]) == name
	}
	s, ok := d.string(k)
	return ok && s == name
}

// plain returns the body of the string at tape index n when it reads as
// it is (no escapes, ASCII): a value to compare without copying it.
func (d *document) plain(n int) ([]byte, bool) {
	t := &d.tape[n]
	if d.raw[t.start] != '"' || t.escaped || t.nonASCII {
		return nil, false
	}
	return d.raw[t.start+1 : t.end-1], true
}

// string reads the value at tape index n as encoding/json reads one into
// a string: a string unescaped, null as "", anything else not at all (ok
// false). Strings without escapes, in valid UTF-8 — nearly all in an
// alert — are copied as they are; others are left to encoding/json, which
// also replaces bytes that are not UTF-8.
func (d *document) string(n int) (string, bool) {
	t := &d.tape[n]
	text := d.raw[t.start:t.end]
	if text[0] == '"' && !t.escaped && (!t.nonASCII || utf8.Valid(text)) {
		return string(text[1 : len(text)-1]), true
	}
	var s string
	err := json.Unmarshal(text, &s)
	return s, err == nil
}
