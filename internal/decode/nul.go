package decode

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

var nulEscape = []byte(`\u0000`)

// nulField returns the path of the first string or key of a JSON item that
// holds a NUL character (`evidence[0].fileDetails.fileName`), and whether
// there is one. A NUL can only reach JSON as the escape \u0000, so items
// without those six bytes (nearly all) cost one scan; only the rest are
// walked to name the field. PostgreSQL cannot store a NUL in text (nor
// \u0000 in jsonb): such an item is refused on its own, so the valid
// alerts of its batch are still stored.
func nulField(raw []byte) (string, bool) {
	if !bytes.Contains(raw, nulEscape) {
		return "", false
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	type level struct {
		array bool
		index int
		key   string
		inKey bool // an object expecting a key next
	}
	var stack []level
	path := func(last string) string {
		var b strings.Builder
		for _, l := range stack {
			if l.array {
				b.WriteString("[" + strconv.Itoa(l.index) + "]")
				continue
			}
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(l.key)
		}
		if last != "" {
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(last)
		}
		return b.String()
	}
	// afterValue moves the enclosing container past one value.
	afterValue := func() {
		if n := len(stack); n > 0 {
			if stack[n-1].array {
				stack[n-1].index++
			} else {
				stack[n-1].inKey = true
			}
		}
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			// Not JSON the decoder can walk; the format decoder explains
			// what is wrong. Still refuse it: it holds the escape.
			return "", true
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				stack = append(stack, level{array: t == '[', inKey: t == '{'})
			case '}', ']':
				stack = stack[:len(stack)-1]
				afterValue()
			}
			if len(stack) == 0 && (t == '}' || t == ']') {
				return "", false
			}
			continue
		case string:
			if n := len(stack); n > 0 && !stack[n-1].array && stack[n-1].inKey {
				if strings.IndexByte(t, 0) >= 0 {
					stack[n-1].key = strings.ReplaceAll(t, "\x00", `\u0000`)
					return path(""), true
				}
				stack[n-1].key = t
				stack[n-1].inKey = false
				continue
			}
			if strings.IndexByte(t, 0) >= 0 {
				return path(""), true
			}
		}
		afterValue()
		if len(stack) == 0 {
			return "", false
		}
	}
}

// NULField returns the path (by JSON names) of the first string in v, a
// decoded value, that holds a NUL character, and whether there is one.
// Request bodies other than alerts are checked with it, so that the
// response names the field rather than the database failing.
func NULField(v any) (string, bool) { return nulValue(reflect.ValueOf(v), "") }

// nulValue returns the path (by JSON names) of the first string in a decoded
// value that holds a NUL, and whether there is one: formats that carry JSON
// inside strings (Sentinel's Entities) can hide one from nulField.
func nulValue(v reflect.Value, at string) (string, bool) {
	switch v.Kind() {
	case reflect.String:
		return at, strings.IndexByte(v.String(), 0) >= 0
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return "", false
		}
		return nulValue(v.Elem(), at)
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return "", false // raw JSON, checked by nulField
		}
		for i := range v.Len() {
			if p, ok := nulValue(v.Index(i), at+"["+strconv.Itoa(i)+"]"); ok {
				return p, true
			}
		}
	case reflect.Map:
		iter := v.MapRange()
		for iter.Next() {
			k := fmt.Sprint(iter.Key().Interface())
			if strings.IndexByte(k, 0) >= 0 {
				return join(at, strings.ReplaceAll(k, "\x00", `\u0000`)), true
			}
			if p, ok := nulValue(iter.Value(), join(at, k)); ok {
				return p, true
			}
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			if f.Anonymous {
				name = ""
			}
			if p, ok := nulValue(v.Field(i), join(at, name)); ok {
				return p, true
			}
		}
	}
	return "", false
}

func join(at, name string) string {
	switch {
	case at == "":
		return name
	case name == "":
		return at
	}
	return at + "." + name
}
