package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/airsoc/air/internal/correlate"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/entity"
	"github.com/airsoc/air/internal/records"
	"github.com/airsoc/air/internal/store"
)

// TestAliasesMergeIncidents: an alert keyed by a Defender device id and
// another product's alert keyed by the FQDN open two incidents; the alert
// that names both merges them, says so in the activity log, and the
// alias is stored for the entity page and later batches.
func TestAliasesMergeIncidents(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		t0 := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
		const mde = "3f2a9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b"
		dev := func(mdeID, dns string) domain.Evidence {
			at := map[string]string{}
			if mdeID != "" {
				at["mdeDeviceId"] = mdeID
			}
			if dns != "" {
				at["deviceDnsName"] = dns
			}
			return domain.Evidence{Type: "deviceEvidence", Entity: &domain.Entity{Key: entity.Device(mdeID, dns, ""),
				Kind: domain.KindDevice, Name: dns, Attrs: at}}
		}
		ingest := func(a *domain.Alert) records.IngestResult {
			t.Helper()
			r, err := s.IngestAlert(ctx, a, correlate.Rules{})
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		r1 := ingest(alertAt("by-id", t0, domain.SeverityHigh, dev(mde, "")))
		r2 := ingest(alertAt("by-fqdn", t0.Add(5*time.Minute), domain.SeverityHigh, dev("", "WS-042.corp.example")))
		if r1.IncidentID == r2.IncidentID {
			t.Fatalf("the MDE-id and FQDN alerts share incident %d before any alert named both", r1.IncidentID)
		}
		r3 := ingest(alertAt("both", t0.Add(10*time.Minute), domain.SeverityHigh, dev(mde, "ws-042.corp.example")))
		alerts, err := s.IncidentAlerts(ctx, r3.IncidentID)
		if err != nil {
			t.Fatal(err)
		}
		if len(alerts) != 3 {
			t.Errorf("incident %d holds %d alerts, want the MDE-id, FQDN and naming-both ones", r3.IncidentID, len(alerts))
		}
		log, err := s.IncidentActivity(ctx, r3.IncidentID)
		if err != nil {
			t.Fatal(err)
		}
		want := "device " + mde + " (MDE id) is ws-042.corp.example (FQDN) — named together in alert both"
		var merged []string
		for _, e := range log {
			if e.Verb == "incident.merged_from" {
				merged = append(merged, e.After)
			}
		}
		if len(merged) != 1 || !strings.Contains(merged[0], want) {
			t.Errorf("merges in the activity log = %q, want one saying %q", merged, want)
		}
		// A later FQDN-only alert finds the incident through the stored alias.
		if r := ingest(alertAt("later", t0.Add(20*time.Minute), domain.SeverityLow, dev("", "ws-042.corp.example"))); r.IncidentID != r3.IncidentID {
			t.Errorf("a later FQDN alert is in incident %d, want %d", r.IncidentID, r3.IncidentID)
		}
		als, err := s.EntityAliases(ctx, domain.EntityKey("device:"+mde))
		if err != nil {
			t.Fatal(err)
		}
		if len(als) != 1 || als[0].Key != "device:ws-042.corp.example" || als[0].Alert != "both" || !als[0].First.Equal(t0.Add(10*time.Minute)) {
			t.Errorf("aliases of the MDE id = %+v, want the FQDN, named in alert both at %s", als, t0.Add(10*time.Minute))
		}
	})
}
