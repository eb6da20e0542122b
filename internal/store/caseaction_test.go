package store_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/airsoc/air/internal/correlate"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/records"
	"github.com/airsoc/air/internal/store"
)

// TestActionConnectors: an action keeps the connectors its step asked for,
// and the one that carried it out with why earlier ones were passed over;
// the activity log says so too.
func TestActionConnectors(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		t0 := time.Now().Add(-time.Hour).UTC().Truncate(time.Millisecond)
		id := mustIngest(t, s, correlate.Rules{}, alertAt("c1", t0, domain.SeverityHigh, host("ws-c")))[0].IncidentID
		a := &domain.Action{ID: "act1", IncidentID: id, Type: "device.isolate", TargetKey: "device:ws-c", TargetName: "ws-c",
			Status: domain.ActionApproved, Playbook: "p", PlaybookVersion: 1, Step: "s", Params: []byte(`{}`),
			Source: domain.SourceAutomated, RequestedBy: "playbook:p", Reason: "r", IdempotencyKey: "k1", CreatedAt: t0,
			DecidedBy: domain.PolicyActor, Connectors: domain.NameList{"mde", "soar"}}
		if _, err := s.RecordAction(ctx, a, nil); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetAction(ctx, "act1")
		if err != nil || !slices.Equal(got.Connectors, a.Connectors) || got.Connector != "" {
			t.Fatalf("recorded: %+v, %v", got, err)
		}
		done := t0.Add(time.Minute)
		a.Status, a.FinishedAt, a.Result = domain.ActionSucceeded, &done, "isolated"
		a.Connector, a.ConnectorNote = "soar", "mde: not found: no machine named ws-c"
		if err := s.UpdateAction(ctx, a); err != nil {
			t.Fatal(err)
		}
		got, _ = s.GetAction(ctx, "act1")
		if got.Connector != "soar" || got.ConnectorNote != a.ConnectorNote {
			t.Errorf("after it ran: connector %q, note %q", got.Connector, got.ConnectorNote)
		}
		log, _ := s.IncidentActivity(ctx, id)
		if i := slices.IndexFunc(log, func(e records.AuditEntry) bool {
			return e.Verb == "action.status" && strings.Contains(e.After, "succeeded via soar (mde: not found")
		}); i < 0 {
			t.Errorf("activity log does not say which connector carried the action: %+v", log)
		}
		// An action without connectors reads back as none.
		b := *a
		b.ID, b.IdempotencyKey, b.Connectors, b.Connector, b.ConnectorNote = "act2", "k2", nil, "", ""
		if _, err := s.RecordAction(ctx, &b, nil); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.GetAction(ctx, "act2"); got.Connectors != nil {
			t.Errorf("connectors of an action without: %#v, want nil", got.Connectors)
		}
	})
}

// TestSettingsWithPrefix reads the tenant's playbook inputs: every key
// with the prefix, and no other ("_" and "%" are no wildcards here).
func TestSettingsWithPrefix(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		for key, v := range map[string]any{
			"playbook-inputs:device-compromise": map[string]any{"containHosts": false},
			"playbook-inputs:a_b":               map[string]any{"n": 3},
			"playbook-inputsXa_b":               map[string]any{"x": 1},
			"automation":                        map[string]any{"default": "full"},
		} {
			if err := s.PutSetting(ctx, key, v, "ana"); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.SettingsWithPrefix(ctx, "playbook-inputs:")
		if err != nil {
			t.Fatal(err)
		}
		keys := make([]string, 0, len(got))
		for k := range got {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if !slices.Equal(keys, []string{"playbook-inputs:a_b", "playbook-inputs:device-compromise"}) {
			t.Fatalf("keys %v", keys)
		}
		var v map[string]any
		if err := json.Unmarshal(got["playbook-inputs:device-compromise"], &v); err != nil || v["containHosts"] != false {
			t.Errorf("value %s, %v", got["playbook-inputs:device-compromise"], err)
		}
	})
}
