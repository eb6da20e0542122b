package graph

import (
	"encoding/json"
)

// The functions below cut JSON that json.Valid already accepted into
// object members and array elements in one pass, without the reflection
// and re-validation of json.Unmarshal into map[string]json.RawMessage —
// decoding is most of the CPU an ingested alert costs. They still check
// every index, and report false rather than guess on anything unexpected,
// so the caller can fall back to encoding/json.

// skipWS returns the index of the first non-space byte at or after i.
func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index just after the string starting at b[i] == '"'.
func stringEnd(b []byte, i int) (int, bool) {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1, true
		}
	}
	return 0, false
}

// valueEnd returns the index just after the value starting at b[i].
func valueEnd(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return 0, false
	}
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end, ok := stringEnd(b, j)
				if !ok {
					return 0, false
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, true
				}
			}
		}
		return 0, false
	default:
		j := i
		for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\t' && b[j] != '\n' && b[j] != '\r' {
			j++
		}
		return j, j > i
	}
}

// splitObject cuts a valid JSON object into its members; a repeated key
// keeps its last value, as encoding/json does.
func splitObject(b []byte) (map[string]json.RawMessage, bool) {
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil, false
	}
	m := make(map[string]json.RawMessage, 16)
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return m, true
	}
	for i < len(b) {
		if b[i] != '"' {
			return nil, false
		}
		kend, ok := stringEnd(b, i)
		if !ok {
			return nil, false
		}
		key, ok := plainString(b[i:kend])
		if !ok {
			if json.Unmarshal(b[i:kend], &key) != nil {
				return nil, false
			}
		}
		i = skipWS(b, kend)
		if i >= len(b) || b[i] != ':' {
			return nil, false
		}
		i = skipWS(b, i+1)
		vend, ok := valueEnd(b, i)
		if !ok {
			return nil, false
		}
		m[key] = json.RawMessage(b[i:vend])
		i = skipWS(b, vend)
		if i >= len(b) {
			return nil, false
		}
		switch b[i] {
		case '}':
			return m, true
		case ',':
			i = skipWS(b, i+1)
		default:
			return nil, false
		}
	}
	return nil, false
}

// splitArray cuts a valid JSON array into its elements.
func splitArray(b []byte) ([]json.RawMessage, bool) {
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '[' {
		return nil, false
	}
	out := []json.RawMessage{}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == ']' {
		return out, true
	}
	for i < len(b) {
		end, ok := valueEnd(b, i)
		if !ok {
			return nil, false
		}
		out = append(out, json.RawMessage(b[i:end]))
		i = skipWS(b, end)
		if i >= len(b) {
			return nil, false
		}
		switch b[i] {
		case ']':
			return out, true
		case ',':
			i = skipWS(b, i+1)
		default:
			return nil, false
		}
	}
	return nil, false
}
