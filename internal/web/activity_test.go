package web

import (
	"testing"
	"time"

	"github.com/airsoc/air/internal/records"
)

func TestActivityIsWrittenForPeople(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		e    records.AuditEntry
		want activityLine
	}{
		{records.AuditEntry{Actor: "system:investigation", Verb: "investigation.state", Before: "running", After: "pendingApproval"},
			activityLine{"AIR investigation", "Investigation", "running", "pending approval"}},
		{records.AuditEntry{Actor: "system:playbook:contain-device", Verb: "action.created", After: "pending: semi-all"},
			activityLine{"Playbook contain-device", "Proposed an action:", "", "pending: semi-all"}},
		{records.AuditEntry{Actor: "ana", Verb: "action.status", Before: "pending", After: "approved: contain it"},
			activityLine{"ana", "Action", "pending", "approved: contain it"}},
		{records.AuditEntry{Actor: "ana", Verb: "incident.assignedTo", Before: "", After: "ana"},
			activityLine{"ana", "Changed the assignee", "", "ana"}},
		{records.AuditEntry{Actor: "ana", Verb: "incident.status", Before: "active", After: "inProgress"},
			activityLine{"ana", "Changed the status", "active", "in progress"}},
		{records.AuditEntry{Actor: "system:playbook:p", Verb: "incident.tags", Before: "[]", After: `["vip"]`},
			activityLine{"Playbook p", "Changed the tags", "(none)", "vip"}},
		{records.AuditEntry{Actor: "system:correlation", Verb: "incident.created", After: "active"},
			activityLine{"AIR correlation", "Opened the incident", "", ""}},
		{records.AuditEntry{Actor: "rita", Verb: "investigation.stop", After: "pentest"},
			activityLine{"rita", "Stopped the investigation:", "", "pentest"}},
		{records.AuditEntry{Actor: "ana", Verb: "alert.classification", Object: "alert:da1", Before: "unknown", After: "truePositive"},
			activityLine{"ana", "Changed the classification of alert da1", "unknown", "true positive"}},
		{records.AuditEntry{Actor: "ana", Verb: "alert.assignedTo", Object: "alert:da1", After: "bob"},
			activityLine{"ana", "Changed the assignee of alert da1", "", "bob"}},
		{records.AuditEntry{Actor: "ana", Verb: "alert.comment", Object: "alert:da1", After: "web shell confirmed"},
			activityLine{"ana", "Commented on alert da1:", "", "web shell confirmed"}},
	} {
		if got := activity(tt.e); got != tt.want {
			t.Errorf("activity(%s %s): got %+v, want %+v", tt.e.Actor, tt.e.Verb, got, tt.want)
		}
	}
}

func TestTimelineGroupsRepeats(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	var evs []event
	for i := range 21 {
		evs = append(evs, event{At: t0.Add(time.Duration(i) * time.Minute), Kind: "alert", Text: "low alert: ClamAV database update", Who: "Wazuh"})
	}
	evs = append(evs, event{At: t0.Add(time.Hour), Kind: "alert", Text: "high alert: Web shell dropped", Who: "Wazuh"},
		event{At: t0.Add(2 * time.Hour), Kind: "alert", Text: "low alert: ClamAV database update", Who: "Wazuh"})
	got := groupRepeats(evs)
	if len(got) != 3 || got[0].Count != 21 || !got[0].Until.Equal(t0.Add(20*time.Minute)) || got[1].Count != 1 || got[2].Count != 1 {
		t.Errorf("grouped: %+v; want 21 × ClamAV, the web shell, then ClamAV once more", got)
	}
}

func TestWhenSaysTheYearWhenItDiffers(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 4, 15, 0, 0, 0, time.UTC)
	p := &pages{Server: &Server{Now: func() time.Time { return now }}}
	for _, tt := range []struct {
		at   time.Time
		want string
	}{
		{time.Date(2026, 12, 4, 9, 5, 7, 0, time.UTC), "09:05:07"},
		{time.Date(2026, 3, 16, 9, 0, 0, 0, time.UTC), "Mar 16 09:00"},
		{time.Date(2025, 12, 30, 23, 59, 0, 0, time.UTC), "Dec 30 2025 23:59"},
	} {
		if got := p.when(tt.at); got != tt.want {
			t.Errorf("when(%s) = %q, want %q", tt.at, got, tt.want)
		}
	}
}
