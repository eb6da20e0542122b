// Package remediation is the contract between AIR's workflow and the
// connectors that carry remediations out: what the ExecuteAction activity
// asks (Request), what a target answers (Result), and the Executor that
// does it. It depends on domain only, so vendor connectors depend on it and
// not on the Temporal adapter (activities) or the store.
package remediation

import (
	"context"
	"encoding/json"
	"fmt"

	"go.temporal.io/sdk/activity"

	"github.com/airsoc/air/internal/domain"
)

// Executor carries out a remediation against a target system (the lab
// tenant, Defender for Endpoint, Graph…). It must honour the idempotency key:
// a repeated key must not repeat the effect.
type Executor interface {
	Execute(ctx context.Context, req Request) (Result, error)
}

// Request is one remediation to carry out.
type Request struct {
	ActionID       string           `json:"actionId"`
	IncidentID     int64            `json:"incidentId"`
	Type           string           `json:"type"`
	Target         domain.EntityKey `json:"target"`
	TargetName     string           `json:"targetName"`
	Params         domain.RawJSON   `json:"params"`
	IdempotencyKey string           `json:"idempotencyKey"`
	// Connectors are the playbook step's connectors in order of
	// preference; empty means the tenant's routes decide.
	Connectors []string `json:"connectors,omitempty"`
	// Exercise is the breach exercise the incident belongs to (0: a real
	// incident). The ExecuteAction activity sets it from the store, never
	// the workflow (histories stay as they were); the router then sends
	// the remediation to the lab tenant whatever its routes say.
	Exercise int64 `json:"exercise,omitempty"`
}

// Result is what the target reported.
type Result struct {
	Summary string `json:"summary"`
	// Changed is false when the target already was in the asked state (the
	// pre-check found the device isolated, say).
	Changed bool `json:"changed"`
	// Connector is the connector that carried the action out, and Skipped
	// why each of the step's connectors before it was passed over
	// ("mde: not found: …"). The router fills them in.
	Connector string   `json:"connector,omitempty"`
	Skipped   []string `json:"skipped,omitempty"`
}

// DecodeParams decodes an action's parameters.
func DecodeParams(raw domain.RawJSON) (map[string]any, error) {
	m := map[string]any{}
	if len(raw) == 0 {
		return m, nil
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("decode params: %w", err)
	}
	return m, nil
}

// Marker is the text AIR puts in what it asks a vendor for (a comment, a
// description, a name): it names the incident and the action, so that a
// retry can find a request that went through before a crash, and a person
// reading the vendor's console can find the incident.
func Marker(incidentID int64, actionID string) string {
	return fmt.Sprintf("AIR incident %d action %s", incidentID, actionID)
}

// StringParam returns a string parameter of an action, or def when it is
// missing, empty or not a string.
func StringParam(p map[string]any, name, def string) string {
	if s, ok := p[name].(string); ok && s != "" {
		return s
	}
	return def
}

// Heartbeat records detail in the running activity's heartbeat — what this
// attempt asked the vendor for (a machine action id, a host, a user) — so
// that a retry after a crash recognises it (Resumed). Outside an activity
// (tests, tools) it does nothing.
func Heartbeat(ctx context.Context, detail string) {
	if activity.IsActivity(ctx) {
		activity.RecordHeartbeat(ctx, detail)
	}
}

// Resumed returns the detail an earlier attempt of this activity left in
// its heartbeat, if any.
func Resumed(ctx context.Context) (string, bool) {
	if !activity.IsActivity(ctx) || !activity.HasHeartbeatDetails(ctx) {
		return "", false
	}
	var detail string
	if activity.GetHeartbeatDetails(ctx, &detail) != nil {
		return "", false
	}
	return detail, true
}

// ResumedWith reports whether an earlier attempt of this activity left
// exactly detail in its heartbeat: it asked the vendor for this.
func ResumedWith(ctx context.Context, detail string) bool {
	got, ok := Resumed(ctx)
	return ok && got == detail
}
