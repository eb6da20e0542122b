package graph

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzParse checks that the one-pass parser accepts exactly what
// json.Valid accepts, and that what it reads off the tape — an object's
// members (the last of repeated keys), an array's elements, a string —
// agrees with encoding/json.
func FuzzParse(f *testing.F) {
	for _, s := range []string{`{"a":1,"b":[1,{"c":"}"}],"a":"x\"y"}`, `[1, "a", {"b":null}, [ ] ]`, `{}`, `[]`,
		`{"k\u00e9y":"vàl","e":"\\"}`, ` { "a" : true } `, `"plain"`, `"esc\n"`, `{"a":-1.5e3,"b":false}`,
		`{"a":01}`, `[1.]`, `[-]`, `"\u12"`, `"\x"`, "\"\x01\"", `[1,]`, `{"a":1,}`, `{"a" 1}`, `tru`, `nul`, `[1 2]`,
		`{"\u0061":1,"a":2}`, "\"\xff\"", `1e+5`, `-0.0E-0`, `{"a":[[[{}]]]}x`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var d document
		ok := d.parse(b, jsonMaxDepth)
		if want := json.Valid(b); ok != want {
			t.Fatalf("parse(%q) = %v, json.Valid = %v", b, ok, want)
		}
		if !ok {
			return
		}
		var wantM map[string]json.RawMessage
		if json.Unmarshal(b, &wantM) == nil && wantM != nil {
			n := 0
			for k, v := range d.members(0) {
				n++
				name, ok := d.string(k)
				if !ok || !d.keyIs(k, name) {
					t.Fatalf("parse(%q): key %q does not read as itself", b, d.text(k))
				}
				if got := d.text(d.member(0, name)); !bytes.Equal(got, bytes.TrimSpace(wantM[name])) {
					t.Fatalf("parse(%q): member %q = %q, want %q", b, name, got, wantM[name])
				}
				_ = v
			}
			if n < len(wantM) {
				t.Fatalf("parse(%q): %d members, want at least %d", b, n, len(wantM))
			}
		}
		var wantA []json.RawMessage
		if json.Unmarshal(b, &wantA) == nil && wantA != nil {
			n := 0
			for i, e := range d.elements(0) {
				n++
				if i >= len(wantA) || !bytes.Equal(d.text(e), bytes.TrimSpace(wantA[i])) {
					t.Fatalf("parse(%q): element %d = %q, want %v", b, i, d.text(e), wantA)
				}
			}
			if n != len(wantA) {
				t.Fatalf("parse(%q): %d elements, want %d", b, n, len(wantA))
			}
		}
		var wantS string
		if err := json.Unmarshal(b, &wantS); err == nil {
			if got, ok := d.string(0); !ok || got != wantS {
				t.Fatalf("string(%q) = %q, %v; want %q", b, got, ok, wantS)
			}
		} else if got, ok := d.string(0); ok {
			t.Fatalf("string(%q) = %q; want no string (%v)", b, got, err)
		}
	})
}

// FuzzTooDeep checks tooDeep against the plain state machine it was
// first written as, on any bytes.
func FuzzTooDeep(f *testing.F) {
	for _, s := range []string{`[[["]]]"]]]`, `{"a":"\"[["}`, `"\\"[[`, `]]][[[`, `"\`, `[\"[`} {
		f.Add([]byte(s), 2)
	}
	f.Fuzz(func(t *testing.T, b []byte, limit int) {
		if got, want := tooDeep(b, limit), tooDeepByByte(b, limit); got != want {
			t.Fatalf("tooDeep(%q, %d) = %d, want %d", b, limit, got, want)
		}
	})
}

func tooDeepByByte(b []byte, limit int) int {
	depth := 0
	inString, escaped := false, false
	for i, c := range b {
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			depth++
			if depth > limit {
				return i
			}
		case '}', ']':
			if depth > 0 {
				depth--
			}
		}
	}
	return -1
}
