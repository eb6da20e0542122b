package graph

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzSplit checks that the one-pass splitters agree with encoding/json on
// every valid document, and that plainString agrees on every string.
func FuzzSplit(f *testing.F) {
	for _, s := range []string{`{"a":1,"b":[1,{"c":"}"}],"a":"x\"y"}`, `[1, "a", {"b":null}, [ ] ]`, `{}`, `[]`,
		`{"k\u00e9y":"vàl","e":"\\"}`, ` { "a" : true } `, `"plain"`, `"esc\n"`, `{"a":-1.5e3,"b":false}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !json.Valid(b) {
			return
		}
		var wantM map[string]json.RawMessage
		if json.Unmarshal(b, &wantM) == nil && wantM != nil {
			gotM, ok := splitObject(b)
			if !ok || len(gotM) != len(wantM) {
				t.Fatalf("splitObject(%q) = %v, %v; want %v", b, gotM, ok, wantM)
			}
			for k, v := range wantM {
				if !bytes.Equal(bytes.TrimSpace(gotM[k]), bytes.TrimSpace(v)) {
					t.Fatalf("splitObject(%q)[%q] = %q, want %q", b, k, gotM[k], v)
				}
			}
		}
		var wantA []json.RawMessage
		if json.Unmarshal(b, &wantA) == nil && wantA != nil {
			gotA, ok := splitArray(b)
			if !ok || len(gotA) != len(wantA) {
				t.Fatalf("splitArray(%q) = %v, %v; want %v", b, gotA, ok, wantA)
			}
			for i := range wantA {
				if !bytes.Equal(bytes.TrimSpace(gotA[i]), bytes.TrimSpace(wantA[i])) {
					t.Fatalf("splitArray(%q)[%d] = %q, want %q", b, i, gotA[i], wantA[i])
				}
			}
		}
		var wantS string
		if json.Unmarshal(b, &wantS) == nil {
			if got, ok := plainString(bytes.TrimSpace(b)); ok && got != wantS {
				t.Fatalf("plainString(%q) = %q, want %q", b, got, wantS)
			}
		}
	})
}
