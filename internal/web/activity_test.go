package web

import (
	"testing"

	"github.com/airsoc/air/internal/store"
)

func TestActivityIsWrittenForPeople(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		e    store.AuditEntry
		want activityLine
	}{
		{store.AuditEntry{Actor: "system:investigation", Verb: "investigation.state", Before: "running", After: "pendingApproval"},
			activityLine{"AIR investigation", "Investigation", "running", "pending approval"}},
		{store.AuditEntry{Actor: "system:playbook:contain-device", Verb: "action.created", After: "pending: semi-all"},
			activityLine{"Playbook contain-device", "Proposed an action:", "", "pending: semi-all"}},
		{store.AuditEntry{Actor: "ana", Verb: "action.status", Before: "pending", After: "approved: contain it"},
			activityLine{"ana", "Action", "pending", "approved: contain it"}},
		{store.AuditEntry{Actor: "ana", Verb: "incident.assignedTo", Before: "", After: "ana"},
			activityLine{"ana", "Changed the assignee", "", "ana"}},
		{store.AuditEntry{Actor: "ana", Verb: "incident.status", Before: "active", After: "inProgress"},
			activityLine{"ana", "Changed the status", "active", "in progress"}},
		{store.AuditEntry{Actor: "system:playbook:p", Verb: "incident.tags", Before: "[]", After: `["vip"]`},
			activityLine{"Playbook p", "Changed the tags", "(none)", "vip"}},
		{store.AuditEntry{Actor: "system:correlation", Verb: "incident.created", After: "active"},
			activityLine{"AIR correlation", "Opened the incident", "", ""}},
		{store.AuditEntry{Actor: "rita", Verb: "investigation.stop", After: "pentest"},
			activityLine{"rita", "Stopped the investigation:", "", "pentest"}},
	} {
		if got := activity(tt.e); got != tt.want {
			t.Errorf("activity(%s %s): got %+v, want %+v", tt.e.Actor, tt.e.Verb, got, tt.want)
		}
	}
}
