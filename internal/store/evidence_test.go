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

// TestFoundEvidence: a device found from a file joins the incident once,
// however often the step runs; an open incident holding another device is
// merged into the investigating one with the reason; the graph lists both
// edges, merged ones included; a resolved incident is not merged.
func TestFoundEvidence(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		t0 := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
		first := mustIngest(t, s, correlate.Rules{}, alertAt("fe1", t0, domain.SeverityHigh, host("ws1")))[0].IncidentID
		other := mustIngest(t, s, correlate.Rules{}, alertAt("fe2", t0.Add(-240*time.Hour), domain.SeverityLow, host("ws2")))[0].IncidentID
		lone := mustIngest(t, s, correlate.Rules{}, alertAt("fe3", t0.Add(-480*time.Hour), domain.SeverityLow, host("ws3")))[0].IncidentID
		if first == other || other == lone {
			t.Fatalf("want three incidents, got %d %d %d", first, other, lone)
		}
		if _, _, err := s.ManageIncident(ctx, lone, records.IncidentChange{Status: ptr(domain.IncidentResolved), Classification: ptr("falsePositive"), Determination: ptr("notMalicious")}, "ana"); err != nil {
			t.Fatal(err)
		}
		from := domain.EntityKey("device:ws1")
		for range 2 {
			_, err := s.AddFoundEvidence(ctx, records.EvidenceLink{IncidentID: first, Entity: "device:ws3", From: from,
				Step: "analyze-evidence/hunt_files", Reason: "file evil.exe (malicious) was also seen on ws3"})
			if err != nil {
				t.Fatal(err)
			}
		}
		holders, err := s.OpenIncidentsWith(ctx, "device:ws2", first)
		if err != nil || !slices.Equal(holders, []int64{other}) {
			t.Fatalf("open incidents with ws2: %v, %v; want [%d]", holders, err, other)
		}
		if held, _ := s.OpenIncidentsWith(ctx, "device:ws3", first); len(held) != 0 {
			t.Errorf("the resolved incident counts as holding ws3: %v", held)
		}
		link := records.EvidenceLink{IncidentID: first, Entity: "device:ws2", From: from, Step: "analyze-evidence/hunt_files",
			Reason: "file evil.exe (malicious) was also seen on ws2, which incident held it: merged"}
		merged, err := s.MergeFound(ctx, first, other, link)
		if err != nil || !merged {
			t.Fatalf("merge: %v, %v", merged, err)
		}
		if again, err := s.MergeFound(ctx, first, other, link); err != nil || again {
			t.Errorf("merging a merged incident again: %v, %v; want nothing done", again, err)
		}
		gone, err := s.GetIncident(ctx, other)
		if err != nil || gone.Status != domain.IncidentRedirected || gone.RedirectIncidentID == nil || *gone.RedirectIncidentID != first {
			t.Fatalf("the held incident after the merge: %+v, %v", gone, err)
		}
		ents, err := s.IncidentEntities(ctx, first)
		if err != nil {
			t.Fatal(err)
		}
		var keys []domain.EntityKey
		for _, e := range ents {
			keys = append(keys, e.Key)
		}
		if want := []domain.EntityKey{"device:ws1", "device:ws2", "device:ws3"}; !slices.Equal(keys, want) {
			t.Errorf("entities %v, want %v", keys, want)
		}
		inc, err := s.GetIncident(ctx, first)
		if err != nil || inc.AlertCount != 2 {
			t.Errorf("alerts of the investigating incident: %+v, %v; want the merged one's too", inc, err)
		}
		graph, err := s.EvidenceLinks(ctx, first)
		if err != nil {
			t.Fatal(err)
		}
		if len(graph) != 2 || graph[0].Entity != "device:ws3" || graph[0].MergedIncident != nil ||
			graph[1].Entity != "device:ws2" || graph[1].MergedIncident == nil || *graph[1].MergedIncident != other {
			t.Errorf("graph = %+v", graph)
		}
		activity, err := s.IncidentActivity(ctx, first)
		if err != nil {
			t.Fatal(err)
		}
		found := 0
		for _, a := range activity {
			if a.Verb == "investigation.evidence_found" {
				found++
			}
		}
		if found != 1 {
			t.Errorf("%d evidence_found entries for one device found twice, want 1", found)
		}
	})
}
