package graph

import (
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

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
	d := documents.Get().(*document)
	defer documents.Put(d)
	if !d.parse(raw, maxDepth) {
		id, err := refusal(raw)
		return nil, id, err
	}
	o, err := newObject(d, 0, nil, "", -1)
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

	for i, ev := range d.elements(o.array("evidence", "an array")) {
		e, ok := decodeEvidence(o, ev, i)
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

// documents recycles the parse buffers of decodeAlert, which keeps nothing
// of them: every string it returns is a copy.
var documents = sync.Pool{New: func() any { return new(document) }}

// refusal explains why parse refused an alert, as encoding/json and
// tooDeep see it: nested too deeply (a problem that names the alert's id
// when it can be read), else not JSON.
func refusal(raw []byte) (string, *domain.Error) {
	if off := tooDeep(raw, maxDepth); off >= 0 {
		return idOf(raw), domain.Invalid("", "alert nests deeper than %d levels at %s", maxDepth, where(raw, off))
	}
	var m map[string]json.RawMessage
	return "", domain.Invalid("", "invalid JSON: %v", json.Unmarshal(raw, &m))
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

// decodeEvidence decodes evidence item i, the value at tape index n,
// recording any problem on parent (whose first problem is the alert's). It
// reports false when the item is not an object.
func decodeEvidence(parent *object, n, i int) (domain.Evidence, bool) {
	eo, err := newObject(parent.doc, n, parent, "evidence", i)
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

// object reads the fields of one JSON object of a parsed document,
// remembering the first problem so that decoding code can read every field
// without checking each one. Nested objects share their document's
// problem, so the first problem anywhere in an alert is the alert's.
type object struct {
	doc  *document
	at   int // tape index of the object
	errs *firstError
	// Where the object is, for problems: field name of parent, element
	// index of that field when it is an array (else -1); parent nil at the
	// top. The path is spelled out only when a problem names it.
	parent *object
	name   string
	index  int
}

type firstError struct {
	err *domain.Error
}

// newObject reads the value at tape index n of d as an object found at
// parent's field name (element index of it, unless -1); parent nil makes
// it the top of a document with a fresh problem record.
func newObject(d *document, n int, parent *object, name string, index int) (*object, *domain.Error) {
	o := &object{doc: d, at: n, parent: parent, name: name, index: index}
	if k := d.kind(n); k != "object" {
		return nil, domain.Invalid(o.path(), "want an object, got %s", k)
	}
	if parent != nil {
		o.errs = parent.errs
	} else {
		o.errs = &firstError{}
	}
	return o, nil
}

// path is the object's JSON path, "" at the top ("evidence[2].userAccount").
func (o *object) path() string {
	if o.parent == nil {
		return ""
	}
	p := o.parent.field(o.name)
	if o.index >= 0 {
		p += "[" + strconv.Itoa(o.index) + "]"
	}
	return p
}

func (o *object) field(name string) string {
	if p := o.path(); p != "" {
		return p + "." + name
	}
	return name
}

func (o *object) fail(err *domain.Error) {
	if o.errs.err == nil && err != nil {
		o.errs.err = err
	}
}

// failed returns the first problem recorded in the document, if any.
func (o *object) failed() *domain.Error { return o.errs.err }

// value returns the tape index of a field's value, or -1 when it is missing
// or null.
func (o *object) value(name string) int {
	v := o.doc.member(o.at, name)
	if v < 0 || o.doc.kind(v) == "null" {
		return -1
	}
	return v
}

// wrongType records that a field holds the wrong JSON type.
func (o *object) wrongType(name, want string, v int) {
	o.fail(domain.Invalid(o.field(name), "want %s, got %s", want, o.doc.kind(v)))
}

// str reads a string field; missing and null read as "".
func (o *object) str(name string) string {
	v := o.value(name)
	if v < 0 {
		return ""
	}
	s, ok := o.doc.string(v)
	if !ok {
		o.wrongType(name, "a string", v)
		return ""
	}
	return s
}

// int reads an integer field (Graph's Int64 is a JSON number); ok is false
// when it is missing or null.
func (o *object) int(name string) (n int64, ok bool) {
	v := o.value(name)
	if v < 0 {
		return 0, false
	}
	// encoding/json reads an int64 with strconv.ParseInt too, and refuses
	// every other JSON value.
	n, err := strconv.ParseInt(string(o.doc.text(v)), 10, 64)
	if err != nil {
		o.wrongType(name, "an integer", v)
		return 0, false
	}
	return n, true
}

// strs reads an array of strings; missing, null and empty read as nil. A
// null element reads as "", as encoding/json reads it.
func (o *object) strs(name string) []string {
	var out []string
	for i, e := range o.doc.elements(o.array(name, "an array of strings")) {
		s, ok := o.doc.string(e)
		if !ok {
			o.fail(domain.Invalid(o.field(name)+"["+strconv.Itoa(i)+"]", "want a string, got %s", o.doc.kind(e)))
			return nil
		}
		out = append(out, s)
	}
	return out
}

// array returns the tape index of an array field, or -1 when it is
// missing or null or, recorded as a problem (want says what the field
// should be), not an array.
func (o *object) array(name, want string) int {
	v := o.value(name)
	if v >= 0 && o.doc.kind(v) != "array" {
		o.wrongType(name, want, v)
		return -1
	}
	return v
}

// object reads a nested object; missing and null read as nil.
func (o *object) object(name string) *object {
	v := o.value(name)
	if v < 0 {
		return nil
	}
	sub, err := newObject(o.doc, v, o, name, -1)
	if err != nil {
		o.wrongType(name, "an object", v)
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
	// The usual case, an allowed value as plain text, costs no copy.
	if v := o.value(name); v >= 0 {
		if b, ok := o.doc.plain(v); ok && len(b) > 0 && string(b) != unknownFutureValue {
			for _, a := range allowed {
				if string(b) == string(a) {
					return a
				}
			}
		}
	}
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
