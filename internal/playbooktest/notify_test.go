package playbooktest

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airsoc/air/activities"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/playbook"
	"github.com/airsoc/air/internal/records"
	"github.com/airsoc/air/internal/store"
)

// notifyPlaybook tells the SOC of every malicious device, once per device.
const notifyPlaybook = `name: tell-soc
version: 1
order: 1
match: len(devices) > 0
stages:
  triage:
    - id: tell
      for_each: devices
      action: incident.notify
      approval: auto
      with:
        channels: [soc-slack]
        subject: "Device {{ item.name }} is involved"
        text: "Incident {{ incident.id }}: look at {{ item.name }}."
`

// TestNotifyStepQueuesOncePerItem: the incident workflow runs
// incident.notify as a step of its own, queuing one message per item,
// keyed by incident, playbook, step and item, so that the same step in a
// later run of the investigation queues nothing new.
func TestNotifyStepQueuesOncePerItem(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "tell-soc.yaml"), []byte(notifyPlaybook), 0o644); err != nil {
		t.Fatal(err)
	}
	books, err := playbook.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	sources := []activities.PlaybookSource{{File: books[0].File, Source: books[0].Source}}
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "air.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c := &playbook.TestCase{Alerts: []json.RawMessage{json.RawMessage(outputsAlert)}}
	for run := range 2 {
		problems, incident, state, err := runWorkflow(ctx, st, sources, books[0].Name, c)
		if err != nil || len(problems) > 0 || state == nil {
			t.Fatalf("run %d: %v %v", run, problems, err)
		}
		page, err := st.QueryNotifications(ctx, records.NotificationQuery{})
		if err != nil {
			t.Fatal(err)
		}
		if page.Total != 1 {
			t.Fatalf("run %d: %d messages, want 1: %+v", run, page.Total, page.Value)
		}
		n := page.Value[0]
		if n.Channel != "soc-slack" || n.Subject != "Device ws9.corp.example is involved" || !strings.HasPrefix(n.Key, "incident.notify:") ||
			n.IncidentID == nil || *n.IncidentID != incident || n.Status != domain.NotificationQueued || !strings.Contains(n.Text, "look at ws9") {
			t.Errorf("run %d: message %+v", run, n)
		}
	}
}
