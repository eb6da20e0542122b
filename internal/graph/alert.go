package graph

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/airsoc/air/internal/domain"
)

// DecodeAlert decodes and validates one alert document. Its error is a
// *domain.Error of kind domain.KindInvalid whose Field is the JSON path at
// fault ("severity", "evidence[2].verdict"), or empty when the document as a
// whole is (not an object, not JSON, nested too deeply).
func DecodeAlert(raw json.RawMessage) (*domain.Alert, error) {
	a, _, err := decodeAlert(raw)
	if err != nil {
		return nil, err
	}
	return a, nil
}

// decodeAlert is DecodeAlert that also returns the alert's id when it could
// be read, for the caller's Problem, and a typed error.
func decodeAlert(raw []byte) (*domain.Alert, string, *domain.Error) {
	if off := tooDeep(raw, maxDepth); off >= 0 {
		return nil, idOf(raw), domain.Invalid("", "alert nests deeper than %d levels at %s", maxDepth, where(raw, off))
	}
	o, err := newObject(raw, "", &firstError{valid: json.Valid(raw)})
	if err != nil {
		return nil, "", err
	}

	a := &domain.Alert{Raw: json.RawMessage(slices.Clone(raw))}
	a.ID = o.str("id")
	if o.failed() == nil && strings.TrimSpace(a.ID) == "" {
		o.fail(domain.Invalid("id", "required"))
	}
	a.ProviderAlertID = o.str("providerAlertId")
	a.Status = enum(o, "status", domain.AlertStatuses, domain.AlertNew)
	a.Severity = enum(o, "severity", domain.Severities, domain.SeverityUnknown)
	a.Classification = o.str("classification")
	a.Determination = o.str("determination")
	a.ServiceSource = o.str("serviceSource")
	a.DetectionSource = o.str("detectionSource")
	a.ProductName = o.str("productName")
	a.DetectorID = o.str("detectorId")
	a.Title = o.str("title")
	a.Description = o.str("description")
	a.RecommendedActions = o.str("recommendedActions")
	a.Category = o.str("category")
	a.MitreTechniques = o.strs("mitreTechniques")
	a.AssignedTo = o.str("assignedTo")
	// Graph's incidentId is the provider's incident, not AIR's: it stays in Raw.

	created := o.time("createdDateTime")
	updated := o.time("lastUpdateDateTime")
	a.FirstActivityDateTime = o.time("firstActivityDateTime")
	a.LastActivityDateTime = o.time("lastActivityDateTime")
	a.ResolvedDateTime = o.time("resolvedDateTime")
	if created == nil {
		created = updated
	}
	if created == nil {
		created = a.FirstActivityDateTime
	}
	if updated == nil {
		updated = created
	}
	if created != nil {
		a.CreatedDateTime = *created
	}
	if updated != nil {
		a.LastUpdateDateTime = *updated
	}

	for i, ev := range o.array("evidence") {
		e, ok := decodeEvidence(o, ev, "evidence["+strconv.Itoa(i)+"]")
		if !ok {
			break
		}
		a.Evidence = append(a.Evidence, e)
	}

	if err := o.failed(); err != nil {
		return nil, a.ID, err
	}
	return a, a.ID, nil
}

// idOf returns the id of a document that is refused before decoding, so that
// its problem can still name it; "" when there is none to read.
func idOf(raw []byte) string {
	var top map[string]json.RawMessage
	if json.Unmarshal(raw, &top) != nil {
		return ""
	}
	var id string
	if json.Unmarshal(top["id"], &id) != nil {
		return ""
	}
	return id
}

// decodeEvidence decodes one evidence item, recording any problem on parent
// (whose first problem is the alert's). It reports false when the item is
// not an object.
func decodeEvidence(parent *object, raw json.RawMessage, path string) (domain.Evidence, bool) {
	eo, err := newObject(raw, path, parent.errs)
	if err != nil {
		parent.fail(err)
		return domain.Evidence{}, false
	}
	ev := domain.Evidence{Type: evidenceType(eo.str("@odata.type"))}
	ev.Verdict = enum(eo, "verdict", domain.Verdicts, domain.VerdictUnknown)
	ev.RemediationStatus = enum(eo, "remediationStatus", domain.RemediationStatuses, "none")
	ev.Roles = eo.strs("roles")
	if m, ok := evidenceMappers[ev.Type]; ok && m != nil {
		if ent := m(eo); ent != nil && ent.Key != "" {
			ent.Verdict = ev.Verdict
			ev.Entity = ent
		}
	}
	return ev, true
}

// object reads the fields of one JSON object, remembering the first problem
// so that decoding code can read every field without checking each one.
// Nested objects share their document's problem, so the first problem
// anywhere in an alert is the alert's.
type object struct {
	m    map[string]json.RawMessage
	path string // JSON path of the object, "" at the top
	errs *firstError
}

type firstError struct {
	err   *domain.Error
	valid bool // the document passed json.Valid: parts may be cut without re-validation
}

// newObject parses raw as a JSON object found at path, recording problems in
// errs (a fresh record when nil).
func newObject(raw []byte, path string, errs *firstError) (*object, *domain.Error) {
	if errs != nil && errs.valid {
		switch jsonKind(raw) {
		case "null":
			return nil, domain.Invalid(path, "want an object, got null")
		case "object":
			if m, ok := splitObject(raw); ok {
				return &object{m: m, path: path, errs: errs}, nil
			}
		default:
			return nil, domain.Invalid(path, "want an object, got %s", jsonKind(raw))
		}
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, domain.Invalid(path, "want an object, got %s", jsonKind(raw))
		}
		return nil, domain.Invalid(path, "invalid JSON: %v", err)
	}
	if m == nil {
		return nil, domain.Invalid(path, "want an object, got null")
	}
	if errs == nil {
		errs = &firstError{}
	}
	return &object{m: m, path: path, errs: errs}, nil
}

func (o *object) field(name string) string {
	if o.path == "" {
		return name
	}
	return o.path + "." + name
}

func (o *object) fail(err *domain.Error) {
	if o.errs.err == nil && err != nil {
		o.errs.err = err
	}
}

// failed returns the first problem recorded in the document, if any.
func (o *object) failed() *domain.Error { return o.errs.err }

// value returns a field's raw value, or nil when it is missing or null.
func (o *object) value(name string) json.RawMessage {
	v, ok := o.m[name]
	if !ok || jsonKind(v) == "null" {
		return nil
	}
	return v
}

// wrongType records that a field holds the wrong JSON type.
func (o *object) wrongType(name, want string, v json.RawMessage) {
	o.fail(domain.Invalid(o.field(name), "want %s, got %s", want, jsonKind(v)))
}

// str reads a string field; missing and null read as "".
func (o *object) str(name string) string {
	v := o.value(name)
	if v == nil {
		return ""
	}
	if s, ok := plainString(v); ok {
		return s
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		o.wrongType(name, "a string", v)
		return ""
	}
	return s
}

// plainString reads a JSON string that needs no unescaping — no backslash,
// no control character, valid UTF-8, as nearly every string in an alert —
// without a second parse of the bytes. Other strings take the slow path.
func plainString(v []byte) (string, bool) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return "", false
	}
	body := v[1 : len(v)-1]
	for _, c := range body {
		if c == '\\' || c == '"' || c < 0x20 || c >= 0x80 {
			if c >= 0x80 && utf8.Valid(body) && !bytes.ContainsAny(body, "\\\"") && !hasControl(body) {
				return string(body), true
			}
			return "", false
		}
	}
	return string(body), true
}

func hasControl(b []byte) bool {
	for _, c := range b {
		if c < 0x20 {
			return true
		}
	}
	return false
}

// int reads an integer field (Graph's Int64 is a JSON number); ok is false
// when it is missing or null.
func (o *object) int(name string) (n int64, ok bool) {
	v := o.value(name)
	if v == nil {
		return 0, false
	}
	if err := json.Unmarshal(v, &n); err != nil {
		o.wrongType(name, "an integer", v)
		return 0, false
	}
	return n, true
}

// strs reads an array of strings; missing, null and empty read as nil.
func (o *object) strs(name string) []string {
	v := o.value(name)
	if v == nil {
		return nil
	}
	elems := o.elements(name, "an array of strings", v)
	if elems == nil {
		return nil
	}
	var out []string
	for i, e := range elems {
		if s, ok := plainString(e); ok {
			out = append(out, s)
			continue
		}
		var s string
		if err := json.Unmarshal(e, &s); err != nil {
			o.fail(domain.Invalid(o.field(name)+"["+strconv.Itoa(i)+"]", "want a string, got %s", jsonKind(e)))
			return nil
		}
		out = append(out, s)
	}
	return out
}

// array reads an array of anything; missing and null read as nil.
func (o *object) array(name string) []json.RawMessage {
	v := o.value(name)
	if v == nil {
		return nil
	}
	return o.elements(name, "an array", v)
}

// elements cuts an array value, recording a problem when it is not one.
func (o *object) elements(name, want string, v json.RawMessage) []json.RawMessage {
	if o.errs.valid {
		if jsonKind(v) != "array" {
			o.wrongType(name, want, v)
			return nil
		}
		if elems, ok := splitArray(v); ok {
			return elems
		}
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(v, &elems); err != nil {
		o.wrongType(name, want, v)
		return nil
	}
	return elems
}

// object reads a nested object; missing and null read as nil.
func (o *object) object(name string) *object {
	v := o.value(name)
	if v == nil {
		return nil
	}
	if jsonKind(v) != "object" {
		o.wrongType(name, "an object", v)
		return nil
	}
	sub, err := newObject(v, o.field(name), o.errs)
	if err != nil {
		o.fail(err)
		return nil
	}
	return sub
}

// time reads an RFC 3339 date-time, as Graph writes it (up to seven
// fractional digits, "2021-04-27T12:19:27.7211305Z"), in UTC. Missing, null
// and the zero time read as nil.
func (o *object) time(name string) *time.Time {
	s := o.str(name)
	if s == "" {
		return nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		o.fail(domain.Invalid(o.field(name), "want an RFC 3339 date-time such as 2021-04-27T12:19:27.7211305Z, got %q", s))
		return nil
	}
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// unknownFutureValue is the member Graph adds to every evolvable enum to
// stand for "a value newer than your client knows". It carries no
// information, so it reads like null.
const unknownFutureValue = "unknownFutureValue"

// enum reads a Graph enum: missing, null, "" and unknownFutureValue give def;
// a value outside allowed is a problem naming the field and the allowed
// values.
func enum[T ~string](o *object, name string, allowed []T, def T) T {
	s := o.str(name)
	if s == "" || s == unknownFutureValue {
		return def
	}
	v, err := domain.ParseEnum(o.field(name), s, allowed, false)
	if err != nil {
		var de *domain.Error
		if !errors.As(err, &de) {
			de = domain.Invalid(o.field(name), "%v", err)
		}
		o.fail(de)
		return def
	}
	return v
}
