package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/airsoc/air/internal/correlate"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/records"
	"github.com/airsoc/air/internal/store"
)

// TestEntityFilters holds the entity page's reads: incidents by entity
// key, actions by target, alerts by entity, each scoped to device groups;
// devices by host label and the look-up by name.
func TestEntityFilters(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		t0 := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
		inc1, inc2 := seedActionCenter(t, s, t0)
		// A third incident, days later, on ws1 again (its FQDN spelling
		// is another key: the entity page's aliases, not this filter).
		dev := func(key, name, group string) domain.Evidence {
			return domain.Evidence{Type: "deviceEvidence", Entity: &domain.Entity{Key: domain.EntityKey(key), Kind: domain.KindDevice,
				Name: name, Attrs: map[string]string{"deviceGroup": group}}}
		}
		r3, err := s.IngestAlert(ctx, alertAt("al3", t0.Add(96*time.Hour), domain.SeverityLow, dev("device:ws1", "ws1", "Workstations")), correlate.Rules{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.IngestAlert(ctx, alertAt("al4", t0.Add(200*time.Hour), domain.SeverityLow,
			dev("device:ws1.corp.example", "WS1.corp.example", "Workstations")), correlate.Rules{}); err != nil {
			t.Fatal(err)
		}
		if r3.IncidentID == inc1 {
			t.Fatalf("al3 joined incident %d; the test wants a new one", inc1)
		}

		ids := func(q records.IncidentQuery) []int64 {
			t.Helper()
			q.Sort = "-lastActivityDateTime"
			page, err := s.QueryIncidents(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			var out []int64
			for _, r := range page.Value {
				out = append(out, r.ID)
			}
			return out
		}
		if got, want := ids(records.IncidentQuery{EntityKeys: []domain.EntityKey{"device:ws1"}}), []int64{r3.IncidentID, inc1}; !slices.Equal(got, want) {
			t.Errorf("incidents of device:ws1 = %v, want %v", got, want)
		}
		if got, want := ids(records.IncidentQuery{EntityKeys: []domain.EntityKey{"device:ws1", "device:srv1"}}), []int64{r3.IncidentID, inc2, inc1}; !slices.Equal(got, want) {
			t.Errorf("incidents of ws1 or srv1 = %v, want %v", got, want)
		}
		if got := ids(records.IncidentQuery{EntityKeys: []domain.EntityKey{"device:srv1"}, Scope: []string{"workstations"}}); len(got) != 0 {
			t.Errorf("srv1's incidents scoped to Workstations = %v, want none", got)
		}

		acts := func(q records.ActionQuery) []string {
			t.Helper()
			q.Desc = true
			page, err := s.QueryActions(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, r := range page.Value {
				out = append(out, r.ID)
			}
			return out
		}
		if got, want := acts(records.ActionQuery{TargetKeys: []domain.EntityKey{"device:srv1"}}), []string{"a4", "a2"}; !slices.Equal(got, want) {
			t.Errorf("actions on srv1 = %v, want %v", got, want)
		}
		if got := acts(records.ActionQuery{TargetKeys: []domain.EntityKey{"device:srv1"}, Scope: []string{"Workstations"}}); len(got) != 0 {
			t.Errorf("actions on srv1 scoped to Workstations = %v, want none", got)
		}
		if got, want := acts(records.ActionQuery{TargetKeys: []domain.EntityKey{"user:alice@corp.example"}}), []string{"a3"}; !slices.Equal(got, want) {
			t.Errorf("actions on alice = %v, want %v", got, want)
		}

		alerts := func(q records.EntityAlertQuery) ([]string, int) {
			t.Helper()
			page, err := s.EntityAlerts(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, a := range page.Value {
				out = append(out, a.ID)
			}
			return out, page.Total
		}
		if got, n := alerts(records.EntityAlertQuery{Keys: []domain.EntityKey{"device:ws1", "device:ws1.corp.example"}, Limit: 2}); !slices.Equal(got, []string{"al4", "al3"}) || n != 3 {
			t.Errorf("alerts of ws1, 2 of them = %v of %d, want [al4 al3] of 3", got, n)
		}
		if got, _ := alerts(records.EntityAlertQuery{Keys: []domain.EntityKey{"device:srv1"}, Scope: []string{"Servers"}}); !slices.Equal(got, []string{"al2"}) {
			t.Errorf("alerts of srv1 scoped to Servers = %v, want [al2]", got)
		}
		if got, n := alerts(records.EntityAlertQuery{Keys: []domain.EntityKey{"device:srv1"}, Scope: []string{"Workstations"}}); len(got) != 0 || n != 0 {
			t.Errorf("alerts of srv1 scoped to Workstations = %v (%d), want none", got, n)
		}
		if _, err := s.EntityAlerts(ctx, records.EntityAlertQuery{Keys: []domain.EntityKey{"device:ws1"}, Limit: 5000}); domain.KindOf(err) != domain.KindInvalid {
			t.Errorf("limit 5000: %v, want invalid", err)
		}

		e, err := s.GetEntity(ctx, "device:ws1")
		if err != nil {
			t.Fatal(err)
		}
		if e.Kind != domain.KindDevice || e.Name != "ws1" || !e.FirstSeen.Equal(t0) || !e.LastSeen.Equal(t0.Add(96*time.Hour)) {
			t.Errorf("GetEntity = %+v, want device ws1 seen from %v to %v", e, t0, t0.Add(96*time.Hour))
		}
		if _, err := s.GetEntity(ctx, "device:nope"); domain.KindOf(err) != domain.KindNotFound {
			t.Errorf("GetEntity of an unknown key: %v, want not found", err)
		}
		devs, err := s.DevicesByLabel(ctx, []string{"WS1"})
		if err != nil {
			t.Fatal(err)
		}
		var keys []domain.EntityKey
		for _, d := range devs {
			keys = append(keys, d.Key)
		}
		if want := []domain.EntityKey{"device:ws1", "device:ws1.corp.example"}; !slices.Equal(keys, want) {
			t.Errorf("DevicesByLabel(WS1) = %v, want %v", keys, want)
		}
		for name, want := range map[string]domain.EntityKey{"WS1": "device:ws1", "ws1.CORP.example": "device:ws1.corp.example"} {
			if got, err := s.FindEntity(ctx, domain.KindDevice, name); err != nil || got != want {
				t.Errorf("FindEntity(device, %q) = %q, %v; want %q", name, got, err, want)
			}
		}
		if _, err := s.FindEntity(ctx, domain.KindUser, "ws1"); domain.KindOf(err) != domain.KindNotFound {
			t.Errorf("FindEntity(user, ws1): %v, want not found", err)
		}
	})
}
