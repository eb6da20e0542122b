// Package decode turns an ingest request body into domain alerts, whatever
// the shape and the format the sender has at hand.
//
// Shapes (one object, an array, a Graph page {"value": [...]}, NDJSON) are
// cut by graph.Split. Each item is then sniffed on its own, so one batch may
// mix formats:
//   - an object with class_uid is an OCSF finding (2004 Detection Finding,
//     2001 Security Finding);
//   - an object with SystemAlertId, or Type "SecurityAlert", is a Microsoft
//     Sentinel SecurityAlert row (Entities is a JSON string);
//   - anything else is a Microsoft Graph security alert.
//
// Every decoder maps its format's entities with the same key functions
// (internal/entity) and Graph's evidence type names, so one alert sent in
// two formats yields one entity set and correlates as one. Evidence a
// decoder does not understand is kept (in Alert.Raw, and as an evidence
// item of an unknown type that graph.UnknownEvidenceTypes reports), never
// dropped. Like graph.Decode, a bad item is a Problem naming its index and
// field, and the good items are still returned.
package decode

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"strings"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/graph"
)

// Format names an alert format.
type Format string

// Formats.
const (
	Graph    Format = "graph"
	OCSF     Format = "ocsf"
	Sentinel Format = "sentinel"
)

// Sniff tells the format of one item. It looks for the distinguishing keys
// as bytes first, so that Graph alerts (the common case) cost no extra
// parse, and confirms with a parse of the top-level keys only when one is
// there.
func Sniff(raw []byte) Format {
	hasClass := containsAround(raw, []byte(`"class_uid"`), '_')
	hasSentinel := containsAround(raw, []byte(`"SystemAlertId"`), 'S') || containsAround(raw, []byte(`"SecurityAlert"`), 'S')
	if !hasClass && !hasSentinel {
		return Graph
	}
	var top map[string]json.RawMessage
	if json.Unmarshal(raw, &top) != nil {
		return Graph // let the Graph decoder explain what is wrong
	}
	if _, ok := top["class_uid"]; ok {
		return OCSF
	}
	if _, ok := top["SystemAlertId"]; ok {
		return Sentinel
	}
	var typ string
	if json.Unmarshal(top["Type"], &typ) == nil && typ == "SecurityAlert" {
		return Sentinel
	}
	return Graph
}

// containsAround is bytes.Contains(s, sep), found from the occurrences of
// sep's first byte rare rather than of sep[0]. bytes.Index stops at every
// occurrence of sep[0], a quote for the keys Sniff looks for, found all
// over JSON; those keys have a byte that alerts seldom hold.
func containsAround(s, sep []byte, rare byte) bool {
	at := bytes.IndexByte(sep, rare)
	if at < 0 {
		return bytes.Contains(s, sep)
	}
	for i := at; i < len(s); i++ {
		j := bytes.IndexByte(s[i:], rare)
		if j < 0 {
			return false
		}
		i += j
		if start := i - at; start+len(sep) <= len(s) && bytes.Equal(s[start:start+len(sep)], sep) {
			return true
		}
	}
	return false
}

// Decode reads a body of alerts in any accepted shape and format. It keeps
// graph.Decode's contract: the valid alerts in input order, one Problem per
// invalid item, and an error (a *domain.Error of kind invalid, or r's own
// failure wrapped, e.g. an *http.MaxBytesError) only when the body as a
// whole cannot be read. Decode reads r to the end: bound it first.
func Decode(r io.Reader) ([]*domain.Alert, []graph.Problem, error) {
	body, err := io.ReadAll(r)
	if err != nil {
		return nil, nil, fmt.Errorf("read alerts: %w", err)
	}
	// One wrapper level (array or page) above an alert's own limit.
	if off := graph.TooDeep(body, graph.MaxDepth+2); off >= 0 {
		return nil, nil, domain.Errorf(domain.KindInvalid, "body nests deeper than %d levels at %s", graph.MaxDepth+2, graph.Where(body, off))
	}
	items, err := graph.Split(body)
	if err != nil {
		return nil, nil, err
	}
	alerts := make([]*domain.Alert, 0, len(items))
	var problems []graph.Problem
	for i, it := range items {
		if it.Err != nil {
			problems = append(problems, graph.Problem{Index: i, Field: it.Err.Field, Reason: it.Err.Message})
			continue
		}
		a, id, derr := Item(it.Raw)
		if derr != nil {
			problems = append(problems, graph.Problem{Index: i, ID: id, Field: derr.Field, Reason: derr.Message})
			continue
		}
		alerts = append(alerts, a)
	}
	return alerts, problems, nil
}

// Item decodes one item in the format Sniff finds. It returns the alert, or
// the item's id when it could be read and what is wrong with it.
func Item(raw []byte) (*domain.Alert, string, *domain.Error) {
	if field, ok := nulField(raw); ok {
		return nil, strings.ReplaceAll(idOf(raw), "\x00", ""), nulError(field)
	}
	a, id, err := item(raw)
	// An alert that says nothing but its id (`{"id": "x"}`: a probe, a
	// broken forwarder) is refused naming what it lacks, rather than stored
	// as an untitled alert of the year 1 that opens an incident.
	if err == nil && strings.TrimSpace(a.Title) == "" && a.CreatedDateTime.IsZero() && len(a.Evidence) == 0 {
		return nil, id, domain.Invalid("title", "required: the alert has no title, no createdDateTime and no evidence; send at least a title or a time")
	}
	// A NUL can reach a decoded string only through an escape, perhaps
	// escaped again inside a JSON string (Sentinel's Entities): only items
	// with the text u0000 somewhere pay for the walk.
	if err == nil && containsAround(raw, []byte("u0000"), 'u') {
		if field, ok := nulValue(reflect.ValueOf(a), ""); ok {
			return nil, strings.ReplaceAll(id, "\x00", ""), nulError(field)
		}
	}
	return a, id, err
}

func nulError(field string) *domain.Error {
	return domain.Invalid(field, "contains a NUL character (\\u0000), which AIR does not store")
}

func item(raw []byte) (*domain.Alert, string, *domain.Error) {
	f := Sniff(raw)
	if f != Graph { // the Graph decoder checks depth itself
		if off := graph.TooDeep(raw, graph.MaxDepth); off >= 0 {
			return nil, "", domain.Invalid("", "alert nests deeper than %d levels at %s", graph.MaxDepth, graph.Where(raw, off))
		}
	}
	switch f {
	case OCSF:
		return decodeOCSF(raw)
	case Sentinel:
		return decodeSentinel(raw)
	}
	a, err := graph.DecodeAlert(raw)
	if err != nil {
		de, ok := err.(*domain.Error)
		if !ok {
			de = domain.Invalid("", "%v", err)
		}
		return nil, idOf(raw), de
	}
	return a, a.ID, nil
}

func idOf(raw []byte) string {
	var top struct {
		ID json.RawMessage `json:"id"`
	}
	if json.Unmarshal(raw, &top) != nil {
		return ""
	}
	var id string
	if json.Unmarshal(top.ID, &id) != nil {
		return ""
	}
	return id
}
