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
	// Siblings are the provider's ids of every alert of the AIR incident
	// that came from the same source. A provider incident is written only
	// when each of its alerts is among them: closing it must not close
	// alerts AIR keeps in another, open incident.
	Siblings []string `json:"siblings,omitempty"`
	// AlertID, when set, limits the change to that alert of the incident
	// (an alert changed by hand); empty means all of them.
	AlertID string `json:"alertId,omitempty"`
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

// AlertChangeOf is the change an analyst made to one alert, limited to it.
func AlertChangeOf(before, after domain.Alert, comment, by string) Change {
	ch := ChangeOf(&domain.Incident{Classification: before.Classification, Determination: before.Determination,
		AssignedTo: before.AssignedTo}, &domain.Incident{Classification: after.Classification,
		Determination: after.Determination, AssignedTo: after.AssignedTo}, comment, by)
	if before.Status != after.Status {
		ch.Status, ch.Before["status"] = string(after.Status), string(before.Status)
	}
	ch.AlertID = after.ID
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
	// Incidents says, for each provider incident holding the alert, what
	// the write-back did to it ("incident 42: wrote status").
	Incidents []string `json:"incidents,omitempty"`
	// Skipped says why a provider incident was left as it is.
	Skipped string `json:"skipped,omitempty"`
}

func (r WriteResult) String() string {
	if r.Skipped != "" {
		return "left as it is: " + r.Skipped
	}
	var parts []string
	if len(r.Written) > 0 {
		parts = append(parts, "wrote "+strings.Join(r.Written, ", "))
	}
	if len(r.Conflicts) > 0 {
		parts = append(parts, "kept the provider's newer "+strings.Join(r.Conflicts, ", "))
	}
	if len(parts) == 0 {
		parts = append(parts, "nothing to write")
	}
	return strings.Join(append(parts, r.Incidents...), "; ")
}

// merge folds a part's result (a provider incident's) into r: a conflict
// anywhere makes the whole a conflict.
func (r *WriteResult) merge(name string, part WriteResult) {
	if part.Outcome == Conflict {
		r.Outcome = Conflict
	}
	r.Incidents = append(r.Incidents, name+": "+part.String())
}

// WriteBacker writes a change back to the provider's copy of an alert, and
// to the provider incidents that hold it.
type WriteBacker interface {
	WriteBack(ctx context.Context, providerAlertID string, ch Change) (WriteResult, error)
}

// NewWriteBacker builds the write-back client of a source whose API allows
// it (Graph security alerts and incidents, Defender for Endpoint alerts,
// Sentinel incidents, Falcon alerts); nil, nil when the source's writeBack
// is off.
func NewWriteBacker(ctx context.Context, s Settings, o Options) (WriteBacker, error) {
	if !s.WriteBack {
		return nil, nil
	}
	switch s.Type {
	case TypeGraph, TypeMDE, TypeSentinel, TypeCrowdStrike:
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
	case *sentinelPoller:
		return newSentinelWriter(ctx, s, o, p)
	case *crowdStrikePoller:
		return &falconWriter{v: p.v}, nil
	}
	return nil, nil
}

// reconcile decides which of the wanted field values (in the provider's
// spelling) to write over the provider's current object cur, and which the
// provider changed meanwhile. The provider's change is newer when its
// update time (timeField) is after seen; a field it then holds at a value
// other than AIR's before-value is a conflict, and the provider's value
// stands. Fields already at the wanted value are left out.
func reconcile(cur map[string]any, updated time.Time, seen time.Time, want, before map[string]string) (body map[string]any, res WriteResult) {
	newer := !seen.IsZero() && updated.After(seen)
	body = map[string]any{}
	res.Outcome = WrittenBack
	for f, v := range want {
		theirs := fmt.Sprint(valueOr(cur[f]))
		if strings.EqualFold(v, theirs) {
			continue // already so
		}
		if newer && !strings.EqualFold(theirs, before[f]) {
			res.Conflicts = append(res.Conflicts, fmt.Sprintf("%s=%s", f, theirs))
			continue
		}
		body[f] = v
		res.Written = append(res.Written, f)
	}
	slices.Sort(res.Written)
	slices.Sort(res.Conflicts)
	if len(res.Conflicts) > 0 {
		res.Outcome = Conflict
	}
	return body, res
}

// parseTime reads a provider's update time; the zero time when absent.
func parseTime(v any) time.Time {
	s, _ := v.(string)
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

// hasComment reports whether the provider already holds the comment text
// (a retried write-back must not post it twice): Graph and Defender list
// an object's comments as [{"comment": …}], Sentinel as
// [{"properties": {"message": …}}].
func hasComment(list any, text string) bool {
	items, _ := list.([]any)
	for _, it := range items {
		m, _ := it.(map[string]any)
		if m == nil {
			continue
		}
		if c, _ := m["comment"].(string); c == text {
			return true
		}
		if p, _ := m["properties"].(map[string]any); p != nil {
			if c, _ := p["message"].(string); c == text {
				return true
			}
		}
	}
	return false
}

// foreign lists the alerts of a provider incident that are not among the
// change's siblings, sorted.
func foreign(alertIDs []string, siblings []string) []string {
	var out []string
	for _, id := range alertIDs {
		if !slices.Contains(siblings, id) {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// heldElsewhere is the outcome of a provider incident left alone.
func heldElsewhere(ids []string) WriteResult {
	if len(ids) > 5 {
		ids = append(ids[:5:5], fmt.Sprintf("… %d more", len(ids)-5))
	}
	return WriteResult{Outcome: WrittenBack,
		Skipped: "it also holds alerts AIR keeps in other incidents (" + strings.Join(ids, ", ") + ")"}
}

// alertPatcher writes back through an alert resource that takes PATCH:
// Graph's PATCH /security/alerts_v2/{id} (status, classification,
// determination, assignedTo; comments by POST …/comments; permission
// SecurityAlert.ReadWrite.All) and Defender for Endpoint's PATCH
// /api/alerts/{id} (the same fields in its casing, and "comment";
// Alert.ReadWrite.All). It reads the alert first to find changes the
// provider made meanwhile and comments already posted. For Graph it then
// writes the alert's incident (PATCH /security/incidents/{id},
// SecurityIncident.ReadWrite.All) when AIR holds all its alerts.
type alertPatcher struct {
	v         *vendor
	path      string
	timeField string
	graph     bool
}

func (p *alertPatcher) WriteBack(ctx context.Context, id string, ch Change) (WriteResult, error) {
	u := p.v.url(p.path+url.PathEscape(id), nil)
	cur, err := p.get(ctx, u, "alert "+id)
	if err != nil {
		return WriteResult{Outcome: Failed}, err
	}
	want, before := map[string]string{}, map[string]string{}
	for f, v := range ch.fields() {
		want[f], before[f] = p.native(f, v), p.native(f, ch.Before[f])
	}
	body, res := reconcile(cur, parseTime(cur[p.timeField]), ch.Seen, want, before)
	comment := ch.Comment != "" && !hasComment(cur["comments"], ch.Comment)
	if comment && !p.graph {
		body["comment"] = ch.Comment
	}
	if len(body) > 0 {
		if err := p.send(ctx, http.MethodPatch, u, body); err != nil {
			return WriteResult{Outcome: Failed}, err
		}
	}
	if comment {
		if p.graph {
			c := map[string]any{"@odata.type": "microsoft.graph.security.alertComment", "comment": ch.Comment}
			if err := p.send(ctx, http.MethodPost, p.v.url(p.path+url.PathEscape(id)+"/comments", nil), c); err != nil {
				return WriteResult{Outcome: Failed, Written: res.Written}, err
			}
		}
		res.Written = append(res.Written, "comment")
	}
	if inc, _ := cur["incidentId"].(string); p.graph && inc != "" {
		part, err := p.writeIncident(ctx, inc, ch)
		if err != nil {
			return WriteResult{Outcome: Failed, Written: res.Written}, err
		}
		res.merge("incident "+inc, part)
	}
	return res, nil
}

// writeIncident writes the change to a Graph security incident: its
// status words differ from an alert's (active for new).
func (p *alertPatcher) writeIncident(ctx context.Context, id string, ch Change) (WriteResult, error) {
	u := p.v.url("/v1.0/security/incidents/"+url.PathEscape(id), url.Values{"$expand": {"alerts"}})
	cur, err := p.get(ctx, u, "incident "+id)
	if err != nil {
		return WriteResult{}, err
	}
	alerts, _ := cur["alerts"].([]any)
	ids := make([]string, 0, len(alerts))
	for _, a := range alerts {
		if m, ok := a.(map[string]any); ok {
			s, _ := m["id"].(string)
			ids = append(ids, s)
		}
	}
	if f := foreign(ids, ch.Siblings); len(f) > 0 {
		return heldElsewhere(f), nil
	}
	want, before := ch.fields(), map[string]string{}
	for f := range want {
		before[f] = ch.Before[f]
	}
	if s, ok := want["status"]; ok {
		want["status"], before["status"] = graphIncidentStatus(s), graphIncidentStatus(before["status"])
	}
	body, res := reconcile(cur, parseTime(cur["lastUpdateDateTime"]), ch.Seen, want, before)
	target := p.v.url("/v1.0/security/incidents/"+url.PathEscape(id), nil)
	if len(body) > 0 {
		if err := p.send(ctx, http.MethodPatch, target, body); err != nil {
			return WriteResult{}, err
		}
	}
	if ch.Comment != "" && !hasComment(cur["comments"], ch.Comment) {
		c := map[string]any{"@odata.type": "microsoft.graph.security.alertComment", "comment": ch.Comment}
		if err := p.send(ctx, http.MethodPost, p.v.url("/v1.0/security/incidents/"+url.PathEscape(id)+"/comments", nil), c); err != nil {
			return WriteResult{}, err
		}
		res.Written = append(res.Written, "comment")
	}
	return res, nil
}

// graphIncidentStatus spells an alert status as a Graph incident's.
func graphIncidentStatus(s string) string {
	if s == "new" {
		return "active"
	}
	return s
}

func (p *alertPatcher) get(ctx context.Context, u *url.URL, what string) (map[string]any, error) {
	b, _, err := p.v.do(ctx, http.MethodGet, u, nil, "")
	if err != nil {
		return nil, err
	}
	var cur map[string]any
	if err := json.Unmarshal(b, &cur); err != nil {
		return nil, fmt.Errorf("decode %s: %w", what, err)
	}
	return cur, nil
}

func (p *alertPatcher) send(ctx context.Context, method string, u *url.URL, body any) error {
	jb, _ := json.Marshal(body)
	_, _, err := p.v.do(ctx, method, u, bytes.NewReader(jb), "application/json")
	return err
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
