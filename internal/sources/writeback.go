package sources

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/airsoc/air/internal/domain"
)

// Change is a change made in AIR to one alert, to be written back to the
// provider that sent it. Empty fields are unchanged.
type Change struct {
	Status         string `json:"status,omitempty"` // Graph alert status: new, inProgress, resolved
	Classification string `json:"classification,omitempty"`
	Determination  string `json:"determination,omitempty"`
	AssignedTo     string `json:"assignedTo,omitempty"`
	Comment        string `json:"comment,omitempty"`
	// Before holds the values AIR had before the change, by field name;
	// Seen is the provider's lastUpdateDateTime AIR last stored. A field
	// the provider changed after Seen to something other than Before is a
	// conflict: the provider's newer change stands, and AIR says so.
	Before map[string]string `json:"before,omitempty"`
	Seen   time.Time         `json:"seen,omitzero"`
	By     string            `json:"by,omitempty"`
}

// ChangeOf is the change to write back for an incident changed from before
// to after by "by" (a person, or a playbook's case action), with a comment:
// the status, as the alert status it cascades to, and the classification,
// determination and assignment that differ. Either incident nil: the
// comment alone.
func ChangeOf(before, after *domain.Incident, comment, by string) Change {
	if before == nil || after == nil {
		before, after = &domain.Incident{}, &domain.Incident{}
	}
	ch := Change{Comment: comment, By: by, Before: map[string]string{}}
	if before.Status != after.Status {
		ch.Status = alertStatusOf(after.Status)
		ch.Before["status"] = alertStatusOf(before.Status)
	}
	if before.Classification != after.Classification {
		ch.Classification, ch.Before["classification"] = after.Classification, before.Classification
	}
	if before.Determination != after.Determination {
		ch.Determination, ch.Before["determination"] = after.Determination, before.Determination
	}
	if before.AssignedTo != after.AssignedTo {
		ch.AssignedTo, ch.Before["assignedTo"] = after.AssignedTo, before.AssignedTo
	}
	return ch
}

// alertStatusOf is the alert status an incident status cascades to.
func alertStatusOf(st domain.IncidentStatus) string {
	switch st {
	case domain.IncidentResolved:
		return string(domain.AlertResolved)
	case domain.IncidentInProgress:
		return string(domain.AlertInProgress)
	}
	return string(domain.AlertNew)
}

// fields lists the change's field values by Graph name.
func (c Change) fields() map[string]string {
	out := map[string]string{}
	for k, v := range map[string]string{"status": c.Status, "classification": c.Classification,
		"determination": c.Determination, "assignedTo": c.AssignedTo} {
		if v != "" {
			out[k] = v
		}
	}
	return out
}

// Empty reports whether the change has nothing to write.
func (c Change) Empty() bool { return len(c.fields()) == 0 && c.Comment == "" }

// WriteBack outcomes.
const (
	WrittenBack = "written"
	Conflict    = "conflict" // some fields kept the provider's newer values
	Failed      = "failed"
)

// WriteResult says what a write-back did.
type WriteResult struct {
	Outcome string   `json:"outcome"`
	Written []string `json:"written,omitempty"`
	// Conflicts name the fields the provider changed meanwhile, with its
	// value, which stands.
	Conflicts []string `json:"conflicts,omitempty"`
}

func (r WriteResult) String() string {
	var parts []string
	if len(r.Written) > 0 {
		parts = append(parts, "wrote "+strings.Join(r.Written, ", "))
	}
	if len(r.Conflicts) > 0 {
		parts = append(parts, "kept the provider's newer "+strings.Join(r.Conflicts, ", "))
	}
	if len(parts) == 0 {
		return "nothing to write"
	}
	return strings.Join(parts, "; ")
}

// WriteBacker writes a change back to the provider's copy of an alert.
type WriteBacker interface {
	WriteBack(ctx context.Context, providerAlertID string, ch Change) (WriteResult, error)
}

// NewWriteBacker builds the write-back client of a source whose API allows
// it (Graph security alerts, Defender for Endpoint alerts); nil, nil for
// sources that cannot take changes (docs/sources.md says why).
func NewWriteBacker(ctx context.Context, s Settings, o Options) (WriteBacker, error) {
	if !s.WriteBack {
		return nil, nil
	}
	switch s.Type {
	case TypeGraph, TypeMDE:
	default:
		return nil, fmt.Errorf("source %s: writeBack is not supported for %s (docs/sources.md)", s.Name, s.Type)
	}
	p, err := New(ctx, s, o)
	if err != nil {
		return nil, err
	}
	switch p := p.(type) {
	case *graphPoller:
		return &alertPatcher{v: p.v, path: "/v1.0/security/alerts_v2/", timeField: "lastUpdateDateTime", graph: true}, nil
	case *mdePoller:
		return &alertPatcher{v: p.v, path: "/api/alerts/", timeField: "lastUpdateTime"}, nil
	}
	return nil, nil
}

// alertPatcher writes back through an alert resource that takes PATCH:
// Graph's PATCH /security/alerts_v2/{id} (status, classification,
// determination, assignedTo; comments by POST …/comments; permission
// SecurityAlert.ReadWrite.All) and Defender for Endpoint's PATCH
// /api/alerts/{id} (the same fields in its casing, and "comment";
// Alert.ReadWrite.All). It reads the alert first to find changes the
// provider made meanwhile.
type alertPatcher struct {
	v         *vendor
	path      string
	timeField string
	graph     bool
}

func (p *alertPatcher) WriteBack(ctx context.Context, id string, ch Change) (WriteResult, error) {
	u := p.v.url(p.path+url.PathEscape(id), nil)
	b, _, err := p.v.do(ctx, http.MethodGet, u, nil, "")
	if err != nil {
		return WriteResult{Outcome: Failed}, err
	}
	var cur map[string]any
	if err := json.Unmarshal(b, &cur); err != nil {
		return WriteResult{Outcome: Failed}, fmt.Errorf("decode alert %s: %w", id, err)
	}
	newer := false
	if s, _ := cur[p.timeField].(string); s != "" && !ch.Seen.IsZero() {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil && t.After(ch.Seen) {
			newer = true
		}
	}
	res := WriteResult{Outcome: WrittenBack}
	body := map[string]any{}
	for f, v := range ch.fields() {
		theirs := fmt.Sprint(valueOr(cur[f]))
		if p.native(f, v) == theirs {
			continue // already so
		}
		if newer && !strings.EqualFold(theirs, p.native(f, ch.Before[f])) {
			res.Conflicts = append(res.Conflicts, fmt.Sprintf("%s=%s", f, theirs))
			continue
		}
		body[f] = p.native(f, v)
		res.Written = append(res.Written, f)
	}
	if ch.Comment != "" && !p.graph {
		body["comment"] = ch.Comment
		res.Written = append(res.Written, "comment")
	}
	slices.Sort(res.Written)
	slices.Sort(res.Conflicts)
	if len(body) > 0 {
		jb, _ := json.Marshal(body)
		if _, _, err := p.v.do(ctx, http.MethodPatch, u, bytes.NewReader(jb), "application/json"); err != nil {
			return WriteResult{Outcome: Failed}, err
		}
	}
	if ch.Comment != "" && p.graph {
		jb, _ := json.Marshal(map[string]string{"@odata.type": "microsoft.graph.security.alertComment", "comment": ch.Comment})
		if _, _, err := p.v.do(ctx, http.MethodPost, p.v.url(p.path+url.PathEscape(id)+"/comments", nil), bytes.NewReader(jb), "application/json"); err != nil {
			return WriteResult{Outcome: Failed, Written: res.Written}, err
		}
		res.Written = append(res.Written, "comment")
	}
	if len(res.Conflicts) > 0 {
		res.Outcome = Conflict
	}
	return res, nil
}

// native spells a Graph value the provider's way: Defender for Endpoint
// capitalises its enums (InProgress, TruePositive).
func (p *alertPatcher) native(f, v string) string {
	if p.graph || v == "" || f == "assignedTo" {
		return v
	}
	return strings.ToUpper(v[:1]) + v[1:]
}

func valueOr(v any) any {
	if v == nil {
		return ""
	}
	return v
}
