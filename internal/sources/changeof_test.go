package sources

import (
	"reflect"
	"testing"

	"github.com/airsoc/air/internal/domain"
)

// TestChangeOf: what a change to an incident writes back to its alerts'
// providers, whoever made it — an analyst through the API or a playbook's
// case action.
func TestChangeOf(t *testing.T) {
	t.Parallel()
	active := &domain.Incident{Status: domain.IncidentActive, Classification: "unknown", Determination: "unknown"}
	resolved := &domain.Incident{Status: domain.IncidentResolved, Classification: "falsePositive", Determination: "notMalicious", AssignedTo: "tier2"}
	got := ChangeOf(active, resolved, "", "system:playbook:triage")
	want := Change{Status: "resolved", Classification: "falsePositive", Determination: "notMalicious", AssignedTo: "tier2",
		By: "system:playbook:triage", Before: map[string]string{"status": "new", "classification": "unknown",
			"determination": "unknown", "assignedTo": ""}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("resolve:\ngot  %+v\nwant %+v", got, want)
	}
	sev := *active
	sev.Severity = domain.SeverityHigh
	if ch := ChangeOf(active, &sev, "", "ana"); !ch.Empty() {
		t.Errorf("a severity change writes nothing back (alerts keep theirs): %+v", ch)
	}
	if ch := ChangeOf(nil, nil, "note", "ana"); ch.Empty() || ch.Comment != "note" {
		t.Errorf("a comment alone: %+v", ch)
	}
	if got := ChangeOf(resolved, &domain.Incident{Status: domain.IncidentInProgress, Classification: "falsePositive",
		Determination: "notMalicious", AssignedTo: "tier2"}, "", "ana"); got.Status != "inProgress" || got.Before["status"] != "resolved" {
		t.Errorf("reopen: %+v", got)
	}
}
