package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airsoc/air/internal/correlate"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/store"
)

// TestSnapshotStaysBoundedUnderAFlood is the regression guard of the
// worker's memory under alert floods: a pass's snapshot goes into the
// workflow's history and memory, so it must not grow with the incident.
// 6,000 alerts (each with a long description) in one incident give a
// snapshot of at most MaxSnapshotAlerts alerts and MaxSnapshotAlertBytes of
// them, with a summary that still counts every alert.
func TestSnapshotStaysBoundedUnderAFlood(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "air.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const n = 6_000
	t0 := time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)
	var incident int64
	for start := 0; start < n; start += 2000 {
		var batch []*domain.Alert
		for i := start; i < start+2000; i++ {
			at := t0.Add(time.Duration(i) * time.Second)
			batch = append(batch, &domain.Alert{ID: fmt.Sprint("flood-", i), Title: "Noisy detector fired", DetectorID: "noisy",
				Description: strings.Repeat("a long description ", 50), Status: domain.AlertNew, Severity: domain.SeverityLow,
				CreatedDateTime: at, LastUpdateDateTime: at, Evidence: []domain.Evidence{{Type: "deviceEvidence", Verdict: domain.VerdictSuspicious,
					Entity: &domain.Entity{Key: "device:flood-1", Kind: domain.KindDevice, Name: "flood-1"}}}})
		}
		res, err := st.IngestAlerts(ctx, batch, correlate.Rules{MaxAlerts: n * 2})
		if err != nil {
			t.Fatal(err)
		}
		incident = res[len(res)-1].IncidentID
	}
	snap, err := (&Activities{Store: st}).LoadIncident(ctx, incident)
	if err != nil {
		t.Fatal(err)
	}
	alertBytes, _ := json.Marshal(snap.Alerts)
	whole, _ := json.Marshal(snap)
	if len(snap.Alerts) == 0 || len(snap.Alerts) > MaxSnapshotAlerts || len(alertBytes) > MaxSnapshotAlertBytes {
		t.Errorf("snapshot: %d alerts, %d bytes of them; want 1..%d and at most %d bytes", len(snap.Alerts), len(alertBytes), MaxSnapshotAlerts, MaxSnapshotAlertBytes)
	}
	if len(whole) > 2*MaxSnapshotAlertBytes {
		t.Errorf("snapshot of %d bytes for %d alerts: it grows with the incident", len(whole), n)
	}
	if snap.AlertSummary == nil || snap.AlertSummary.Count <= 10*MaxSnapshotAlerts {
		t.Errorf("summary %+v: want the incident's thousands of alerts counted", snap.AlertSummary)
	}
	t.Logf("%d alerts in the incident: snapshot of %d alerts, %d bytes", snap.AlertSummary.Count, len(snap.Alerts), len(whole))
}
