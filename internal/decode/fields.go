package decode

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/airsoc/air/internal/domain"
)

// node reads the fields of a generic JSON object (as encoding/json decodes
// into map[string]any) and remembers the first field that had the wrong
// type, so that decoding code can read every field without checking each
// one, and the item's problem names the field at fault.
type node struct {
	m    map[string]any
	path string
	errs *firstErr
}

type firstErr struct{ err *domain.Error }

func newNode(m map[string]any, path string, errs *firstErr) *node {
	if errs == nil {
		errs = &firstErr{}
	}
	return &node{m: m, path: path, errs: errs}
}

func (n *node) field(name string) string {
	if n.path == "" {
		return name
	}
	return n.path + "." + name
}

func (n *node) fail(err *domain.Error) {
	if n.errs.err == nil {
		n.errs.err = err
	}
}

func (n *node) failed() *domain.Error { return n.errs.err }

func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "boolean"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

// has reports whether the field is present and not null.
func (n *node) has(name string) bool {
	if n == nil {
		return false
	}
	v, ok := n.m[name]
	return ok && v != nil
}

// str reads a string; missing and null read as "". Numbers are accepted and
// written in decimal, because producers disagree on whether ids are strings.
func (n *node) str(name string) string {
	if n == nil {
		return ""
	}
	switch v := n.m[name].(type) {
	case nil:
		return ""
	case string:
		return v
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1e15 {
			return strconv.FormatInt(int64(v), 10)
		}
		return strconv.FormatFloat(v, 'g', -1, 64)
	default:
		n.fail(domain.Invalid(n.field(name), "want a string, got %s", kindOf(v)))
		return ""
	}
}

// num reads a number; ok is false when missing or null. A numeric string is
// accepted.
func (n *node) num(name string) (float64, bool) {
	if n == nil {
		return 0, false
	}
	switch v := n.m[name].(type) {
	case nil:
		return 0, false
	case float64:
		return v, true
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			n.fail(domain.Invalid(n.field(name), "want a number, got %q", v))
			return 0, false
		}
		return f, true
	default:
		n.fail(domain.Invalid(n.field(name), "want a number, got %s", kindOf(v)))
		return 0, false
	}
}

// obj reads a nested object; missing and null read as nil.
func (n *node) obj(name string) *node {
	if n == nil {
		return nil
	}
	switch v := n.m[name].(type) {
	case nil:
		return nil
	case map[string]any:
		return newNode(v, n.field(name), n.errs)
	default:
		n.fail(domain.Invalid(n.field(name), "want an object, got %s", kindOf(v)))
		return nil
	}
}

// objs reads an array of objects; missing and null read as nil. A single
// object where an array is expected is accepted as an array of one.
func (n *node) objs(name string) []*node {
	if n == nil {
		return nil
	}
	switch v := n.m[name].(type) {
	case nil:
		return nil
	case map[string]any:
		return []*node{newNode(v, n.field(name), n.errs)}
	case []any:
		out := make([]*node, 0, len(v))
		for i, e := range v {
			switch o := e.(type) {
			case nil:
			case map[string]any:
				out = append(out, newNode(o, n.field(name)+"["+strconv.Itoa(i)+"]", n.errs))
			default:
				n.fail(domain.Invalid(n.field(name)+"["+strconv.Itoa(i)+"]", "want an object, got %s", kindOf(e)))
				return out
			}
		}
		return out
	default:
		n.fail(domain.Invalid(n.field(name), "want an array of objects, got %s", kindOf(v)))
		return nil
	}
}

// strs reads an array of strings, or one string as an array of one.
func (n *node) strs(name string) []string {
	if n == nil {
		return nil
	}
	switch v := n.m[name].(type) {
	case nil:
		return nil
	case string:
		if v == "" {
			return nil
		}
		return []string{v}
	case []any:
		var out []string
		for i, e := range v {
			s, ok := e.(string)
			if !ok {
				n.fail(domain.Invalid(n.field(name)+"["+strconv.Itoa(i)+"]", "want a string, got %s", kindOf(e)))
				return nil
			}
			out = append(out, s)
		}
		return out
	default:
		n.fail(domain.Invalid(n.field(name), "want an array of strings, got %s", kindOf(v)))
		return nil
	}
}

// epoch reads a timestamp given as a number since the Unix epoch. OCSF's
// timestamp_t is milliseconds, but producers write seconds too: a value
// below 1e11 (before 1973 in milliseconds, after 5000 AD in seconds) is
// read as seconds.
func (n *node) epoch(name string) *time.Time {
	f, ok := n.num(name)
	if !ok {
		return nil
	}
	if f <= 0 || f > 1e14 {
		n.fail(domain.Invalid(n.field(name), "want a positive timestamp in milliseconds since the epoch, got %v", f))
		return nil
	}
	var t time.Time
	if f < 1e11 {
		t = time.UnixMilli(int64(f * 1000))
	} else {
		t = time.UnixMilli(int64(f))
	}
	t = t.UTC()
	return &t
}

// datetime reads an RFC 3339 date-time (with up to nine fractional digits,
// any offset), in UTC; missing, null and "" read as nil.
func (n *node) datetime(name string) *time.Time {
	s := strings.TrimSpace(n.str(name))
	if s == "" {
		return nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		n.fail(domain.Invalid(n.field(name), "want an RFC 3339 date-time such as 2024-08-13T15:58:20.000Z, got %q", s))
		return nil
	}
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// when reads an OCSF time attribute: the _dt twin when present (exact, with
// its offset), else the number.
func (n *node) when(name string) *time.Time {
	if n == nil {
		return nil
	}
	if t := n.datetime(name + "_dt"); t != nil {
		return t
	}
	return n.epoch(name)
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}

// attrs collects the non-empty values of an entity's notable fields, named
// as Graph names them, so that entities read the same whatever the format.
type attrs map[string]string

func (a attrs) set(name, v string) {
	if v = strings.TrimSpace(v); v != "" {
		a[name] = v
	}
}

func (a attrs) orNil() map[string]string {
	if len(a) == 0 {
		return nil
	}
	return a
}

// camel turns a MITRE tactic name into Graph's category spelling:
// "Credential Access" → "CredentialAccess", "command-and-control" →
// "CommandAndControl".
func camel(s string) string {
	var b strings.Builder
	up := true
	for _, r := range strings.TrimSpace(s) {
		switch {
		case r == ' ' || r == '-' || r == '_':
			up = true
		case up:
			b.WriteString(strings.ToUpper(string(r)))
			up = false
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
