// Package graph decodes Microsoft Graph security alerts (alerts_v2) into
// domain alerts, with their evidence mapped to normalised entities.
//
// Ingest takes whatever shape an operator has at hand — one alert, an array,
// a Graph page as returned by GET /security/alerts_v2, or NDJSON exported
// from a SIEM — so Decode accepts all four. It validates each alert on its
// own: a bad item becomes a Problem naming its index and field, and the good
// items are still returned, because losing valid alerts to one bad neighbour
// is worse than a partial batch. Only a body that cannot be read as a whole
// (not JSON, truncated, a wrong top-level type) is an error.
//
// Graph is lenient in what it sends: null for unset enums and strings,
// seven-digit fractional seconds, evidence types newer than this code. The
// decoder applies Graph's documented defaults for nulls, keeps evidence it
// does not understand (UnknownEvidenceTypes lists it for the caller to
// report) and keeps every alert's bytes verbatim in Alert.Raw, so nothing a
// provider sent is lost even where this package does not model it.
package graph

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/airsoc/air/internal/domain"
)

// maxDepth caps how deeply an alert document may nest. Real alerts nest about
// five levels (alert → evidence → userAccount → …); anything far deeper is
// hostile or broken and is refused before it is parsed.
const maxDepth = 64

// Problem is one bad item in a batch: its zero-based index in the batch, the
// JSON path of the field at fault (e.g. "severity", "evidence[2].verdict",
// "id"; empty when the item as a whole is at fault, e.g. not an object), and
// why. For NDJSON the index counts non-blank lines.
type Problem struct {
	Index  int    `json:"index"`
	ID     string `json:"id,omitempty"`
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

// Decode reads one Graph alert object, a JSON array of them, a Graph page
// {"value":[...], "@odata.nextLink":...}, or NDJSON (one alert object per
// line; blank lines skipped). It returns the valid alerts (in input order),
// one Problem per invalid item (the valid ones are still returned), and an
// error only when the body as a whole cannot be read (not JSON at all,
// truncated, wrong top-level type). That error is a *domain.Error of kind
// domain.KindInvalid whose message says where (byte offset, line and column)
// and why — except a failure of r itself, which is returned wrapped as is so
// that the caller can tell, e.g., an *http.MaxBytesError.
//
// Decode reads r to the end and holds the body in memory: bound r (for
// example with http.MaxBytesReader) before calling it. It does not follow
// @odata.nextLink.
func Decode(r io.Reader) ([]*domain.Alert, []Problem, error) {
	body, err := io.ReadAll(r)
	if err != nil {
		return nil, nil, fmt.Errorf("read alerts: %w", err)
	}
	items, derr := split(body)
	if derr != nil {
		return nil, nil, derr
	}
	var (
		alerts   []*domain.Alert
		problems []Problem
	)
	for i, it := range items {
		if it.err != nil {
			problems = append(problems, Problem{Index: i, Field: it.err.Field, Reason: it.err.Message})
			continue
		}
		a, id, err := decodeAlert(it.raw)
		if err != nil {
			problems = append(problems, Problem{Index: i, ID: id, Field: err.Field, Reason: err.Message})
			continue
		}
		alerts = append(alerts, a)
	}
	return alerts, problems, nil
}

// item is one element of a batch: its bytes, or why they could not be read
// (only NDJSON lines can be unreadable on their own).
type item struct {
	raw []byte
	err *domain.Error
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// split cuts a body into items according to its shape.
func split(body []byte) ([]item, *domain.Error) {
	body = bytes.TrimPrefix(body, utf8BOM)
	start := skipSpace(body, 0)
	if start == len(body) {
		return nil, domain.Errorf(domain.KindInvalid, "empty body: want a Graph alert, an array of alerts, a Graph page or NDJSON")
	}
	switch body[start] {
	case '[':
		var elems []json.RawMessage
		if err := json.Unmarshal(body, &elems); err != nil {
			return nil, syntaxError(body, err)
		}
		items := make([]item, len(elems))
		for i, e := range elems {
			items[i] = item{raw: e}
		}
		return items, nil
	case '{':
		return splitObjects(body)
	default:
		dec := json.NewDecoder(bytes.NewReader(body))
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, syntaxError(body, err)
		}
		return nil, domain.Errorf(domain.KindInvalid,
			"want a Graph alert object, an array of alerts, a Graph page or NDJSON, got %s at %s",
			jsonKind(v), where(body, start))
	}
}

// splitObjects handles a body that starts with an object: a single alert, a
// Graph page, or NDJSON.
func splitObjects(body []byte) ([]item, *domain.Error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	var first json.RawMessage
	if err := dec.Decode(&first); err != nil {
		return nil, syntaxError(body, err)
	}
	end := int(dec.InputOffset())
	next := skipSpace(body, end)
	if next == len(body) {
		return pageOrAlert(first)
	}

	// More follows the first value, so this is NDJSON. A first value written
	// on one line means strict NDJSON, read line by line so that one broken
	// line costs only itself. A first value spread over several lines means
	// a stream of pretty-printed objects, which cannot be resynchronised
	// after an error, so there a syntax error fails the body.
	if bytes.IndexByte(first, '\n') >= 0 {
		items := []item{{raw: first}}
		for {
			var v json.RawMessage
			err := dec.Decode(&v)
			if errors.Is(err, io.EOF) {
				return items, nil
			}
			if err != nil {
				return nil, syntaxError(body, err)
			}
			items = append(items, item{raw: v})
		}
	}
	if nl := bytes.IndexByte(body[end:next], '\n'); nl < 0 {
		return nil, domain.Errorf(domain.KindInvalid,
			"invalid JSON at %s: unexpected data after the first value (NDJSON wants one alert per line)", where(body, next))
	}
	return splitLines(body), nil
}

// pageOrAlert tells a Graph page ({"value": [...]}) from a single alert;
// alerts have no "value" property.
func pageOrAlert(doc json.RawMessage) ([]item, *domain.Error) {
	// doc was read by a json.Decoder, so it is valid JSON and nests no
	// deeper than encoding/json allows.
	var d document
	if !d.parse(doc, jsonMaxDepth) || d.kind(0) != "object" {
		// Let the item decoder explain what is wrong with it.
		return []item{{raw: doc}}, nil
	}
	value := d.member(0, "value")
	if value < 0 {
		return []item{{raw: doc}}, nil
	}
	switch d.kind(value) {
	case "null":
		return nil, nil
	case "array":
	default:
		return nil, domain.Invalid("value", "want an array of alerts in a Graph page, got %s", d.kind(value))
	}
	items := []item{}
	for _, e := range d.elements(value) {
		items = append(items, item{raw: d.text(e)})
	}
	return items, nil
}

// jsonMaxDepth is how deeply encoding/json lets a document nest.
const jsonMaxDepth = 10000

// splitLines reads NDJSON: one item per non-blank line, a line that is not
// JSON being an item with an error.
func splitLines(body []byte) []item {
	var (
		items []item
		d     document // one parse at a time: its buffers serve every line
	)
	for n, rest := 1, body; len(rest) > 0; n++ {
		line, tail, _ := bytes.Cut(rest, []byte{'\n'})
		rest = tail
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		if !d.parse(line, jsonMaxDepth) {
			// encoding/json says what is wrong, as it always has.
			var v json.RawMessage
			items = append(items, item{err: lineError(n, line, json.Unmarshal(line, &v))})
			continue
		}
		items = append(items, item{raw: line})
	}
	return items
}

func lineError(n int, line []byte, err error) *domain.Error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		if truncated(se, len(line)) {
			return domain.Errorf(domain.KindInvalid, "invalid JSON at line %d: unexpected end of line (truncated?)", n)
		}
		// Offset counts the offending byte, so it is also its 1-based column.
		return domain.Errorf(domain.KindInvalid, "invalid JSON at line %d, column %d: %v", n, max(se.Offset, 1), se)
	}
	return domain.Errorf(domain.KindInvalid, "invalid JSON at line %d: %v", n, err)
}

// syntaxError turns a JSON reading error into an invalid error saying where.
func syntaxError(body []byte, err error) *domain.Error {
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se) && truncated(se, len(body)):
		return domain.Errorf(domain.KindInvalid, "invalid JSON: unexpected end of input at %s (truncated?)", where(body, len(body)))
	case errors.As(err, &se):
		return domain.Errorf(domain.KindInvalid, "invalid JSON at %s: %v", where(body, int(se.Offset)-1), se)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return domain.Errorf(domain.KindInvalid, "invalid JSON: unexpected end of input at %s (truncated?)", where(body, len(body)))
	default:
		return domain.Errorf(domain.KindInvalid, "invalid JSON: %v", err)
	}
}

// truncated tells a syntax error caused by input ending early from one
// caused by a bad last byte; both are reported at the end of the input, and
// only the message differs.
func truncated(se *json.SyntaxError, n int) bool {
	return int(se.Offset) >= n && strings.Contains(se.Error(), "unexpected end")
}

// where describes a byte offset for a person: "byte offset 41 (line 3,
// column 7)", lines and columns counted from 1, columns in bytes.
func where(body []byte, off int) string {
	off = min(max(off, 0), len(body))
	line := 1 + bytes.Count(body[:off], []byte{'\n'})
	col := off - bytes.LastIndexByte(body[:off], '\n')
	return fmt.Sprintf("byte offset %d (line %d, column %d)", off, line, col)
}

func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\r', '\n':
			i++
		default:
			return i
		}
	}
	return i
}

// jsonKind names the JSON type of a valid value, for messages.
func jsonKind(v []byte) string {
	i := skipSpace(v, 0)
	if i == len(v) {
		return "nothing"
	}
	switch v[i] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	default:
		return "number"
	}
}

// tooDeep returns the offset of the first bracket that opens nesting level
// limit+1, or -1 if there is none. It reads only brackets and strings, so it
// is cheap and safe on any bytes, valid JSON or not.
func tooDeep(b []byte, limit int) int {
	depth := 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			i = stringClose(b, i+1)
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

// stringClose returns the index of the quote that closes the string whose
// text starts at b[i] (len(b) when none does), stepping over escapes.
func stringClose(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case '"':
			return i
		case '\\':
			i += 2
		default:
			i++
		}
	}
	return len(b)
}

// UnknownEvidenceTypes returns the distinct evidence types of a that this
// package does not know, in order of first appearance, so that ingest can
// report them. Such evidence is kept in the alert (Type set, Entity nil) and
// in its raw document. Evidence without an @odata.type is reported as "".
func UnknownEvidenceTypes(a *domain.Alert) []string {
	if a == nil {
		return nil
	}
	var out []string
	for _, ev := range a.Evidence {
		if _, ok := evidenceMappers[ev.Type]; ok {
			continue
		}
		if !slices.Contains(out, ev.Type) {
			out = append(out, ev.Type)
		}
	}
	return out
}

// evidenceType strips the OData namespace: "#microsoft.graph.security.deviceEvidence"
// → "deviceEvidence".
func evidenceType(odata string) string {
	t := strings.TrimPrefix(strings.TrimSpace(odata), "#")
	if i := strings.LastIndexByte(t, '.'); i >= 0 {
		t = t[i+1:]
	}
	return t
}

// Item is one element of a batch body as Split cuts it: its bytes, or, for
// an NDJSON line that is not JSON, why it could not be read.
type Item struct {
	Raw json.RawMessage
	Err *domain.Error
}

// Split cuts a body into its items the way Decode does — one object, an
// array, a page {"value": [...]} or NDJSON — without decoding them, so that
// a caller can decode each item in a format of its choosing (OCSF, Sentinel).
// An item's Raw may share body's bytes: do not change body while using it.
// Its error is a *domain.Error of kind invalid saying where the body as a
// whole is broken.
func Split(body []byte) ([]Item, error) {
	items, err := split(body)
	if err != nil {
		return nil, err
	}
	out := make([]Item, len(items))
	for i, it := range items {
		out[i] = Item{Raw: it.raw, Err: it.err}
	}
	return out, nil
}

// TooDeep returns the offset of the first bracket that opens nesting level
// limit+1 in b, or -1. It reads only brackets and strings, so it is cheap and
// safe on any bytes.
func TooDeep(b []byte, limit int) int { return tooDeep(b, limit) }

// Where describes a byte offset of body for a person: "byte offset 41
// (line 3, column 7)".
func Where(body []byte, off int) string { return where(body, off) }

// MaxDepth is how deeply one alert document may nest.
const MaxDepth = maxDepth
