package report_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/airsoc/air/internal/correlate"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/records"
	"github.com/airsoc/air/internal/report"
	"github.com/airsoc/air/internal/store"
	"github.com/airsoc/air/internal/store/storetest"
)

// TestExerciseLeavesReportsAlone: the daily, monthly and quarterly
// reports read the same before and after a breach exercise whose incident
// someone worked on (docs/secops.md).
func TestExerciseLeavesReportsAlone(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := time.Now().UTC()
		alert := func(id, device string, exercise int64) *domain.Alert {
			at := now.Add(-2 * time.Hour)
			return &domain.Alert{ID: id, Title: "alert " + id, Status: domain.AlertNew, Severity: domain.SeverityHigh,
				Category: "Execution", DetectorID: "rule-" + id, CreatedDateTime: at, LastUpdateDateTime: at, Exercise: exercise,
				Evidence: []domain.Evidence{{Type: "deviceEvidence", Verdict: domain.VerdictMalicious, Entity: &domain.Entity{
					Key: domain.EntityKey("device:" + device), Kind: domain.KindDevice, Name: device, Verdict: domain.VerdictMalicious}}}}
		}
		_, err := s.IngestAlerts(ctx, []*domain.Alert{alert("real-1", "ws-1", 0)}, correlate.Rules{})
		require.NoError(t, err)
		// Made a minute on, so that what this test stores is inside the
		// periods (a period under way ends when its report is made).
		at := now.Add(time.Minute)
		day, err := report.ParseDate("", at)
		require.NoError(t, err)
		month, err := report.ParseMonth("", at)
		require.NoError(t, err)
		quarter, err := report.ParseQuarter("", at)
		require.NoError(t, err)
		read := func() string {
			d, err := report.DailyReport(ctx, s, day, report.DefaultSLA(), nil, at)
			require.NoError(t, err)
			m, err := report.MonthlyReport(ctx, s, month, nil, at)
			require.NoError(t, err)
			q, err := report.QuarterlyReport(ctx, s, quarter, nil, at)
			require.NoError(t, err)
			b, err := json.Marshal([]any{d, m, q})
			require.NoError(t, err)
			return string(b)
		}
		before := read()

		ex, err := s.CreateExercise(ctx, "drill", "", 60, "admin")
		require.NoError(t, err)
		res, err := s.IngestAlerts(ctx, []*domain.Alert{alert("x1-a", "ws-1", ex.ID), alert("x1-b", "ws-2", ex.ID)}, correlate.Rules{})
		require.NoError(t, err)
		who := "rita"
		_, _, err = s.ManageIncident(ctx, res[0].IncidentID, records.IncidentChange{AssignedTo: &who, Comment: "drill"}, who)
		require.NoError(t, err)
		require.JSONEq(t, before, read(), "an exercise changed the reports")
	})
}
