package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/airsoc/air/internal/correlate"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/exercise"
	"github.com/airsoc/air/internal/records"
	"github.com/airsoc/air/internal/store"
)

// TestExerciseAlertsCorrelateApart: alerts on one device, real and of two
// exercises, interleaved in one call (as the ingest pipeline may coalesce
// them), make three incidents — one per exercise and one real — and an
// analyst cannot move an exercise alert into a real incident.
func TestExerciseAlertsCorrelateApart(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		ex1, err := s.CreateExercise(ctx, "one", "", 60, "admin")
		require.NoError(t, err)
		ex2, err := s.CreateExercise(ctx, "two", "", 1, "admin")
		require.NoError(t, err)
		t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
		mk := func(id string, ex int64, min int) *domain.Alert {
			a := det(alertAt(id, t0.Add(time.Duration(min)*time.Minute), domain.SeverityHigh, host("ws-7")), "same-rule", "Execution")
			a.Exercise = ex
			return a
		}
		res := mustIngest(t, s, correlate.Rules{},
			mk("real-1", 0, 0), mk("x1-a", ex1.ID, 1), mk("x1-b", ex1.ID, 2), mk("x2-a", ex2.ID, 3), mk("real-2", 0, 4), mk("x1-c", ex1.ID, 5))
		inc := map[string]int64{}
		for _, r := range res {
			inc[r.AlertID] = r.IncidentID
		}
		require.Equal(t, inc["real-1"], inc["real-2"], "real alerts share their incident")
		require.Equal(t, inc["x1-a"], inc["x1-b"])
		require.Equal(t, inc["x1-a"], inc["x1-c"], "an exercise's alerts share theirs")
		require.NotEqual(t, inc["real-1"], inc["x1-a"])
		require.NotEqual(t, inc["real-1"], inc["x2-a"])
		require.NotEqual(t, inc["x1-a"], inc["x2-a"])
		for id, want := range map[string]int64{"real-1": 0, "x1-a": ex1.ID, "x2-a": ex2.ID} {
			got, err := s.IncidentExercise(ctx, inc[id])
			require.NoError(t, err)
			require.Equal(t, want, got, "exercise of %s's incident", id)
		}

		// A hunt from the exercise's incident neither finds nor merges the
		// real one holding the same device.
		found, err := s.OpenIncidentsWith(ctx, "device:ws-7", inc["x1-a"])
		require.NoError(t, err)
		require.Empty(t, found, "the exercise's hunt found real or other exercises' incidents")
		found, err = s.OpenIncidentsWith(ctx, "device:ws-7", inc["real-1"])
		require.NoError(t, err)
		require.Empty(t, found, "a real hunt found exercise incidents")
		merged, err := s.MergeFound(ctx, inc["x1-a"], inc["real-1"], records.EvidenceLink{IncidentID: inc["x1-a"],
			Entity: "device:ws-7", From: "device:ws-7", Step: "hunt/find", Reason: "same device"})
		require.NoError(t, err)
		require.False(t, merged, "a real incident merged into an exercise's")

		_, _, err = s.MoveAlert(ctx, "x1-b", inc["real-1"], "rita")
		require.Equal(t, domain.KindConflict, domain.KindOf(err), "moving an exercise alert into a real incident: %v", err)
		to, created, err := s.MoveAlert(ctx, "x1-b", 0, "rita")
		require.NoError(t, err)
		require.True(t, created)
		got, err := s.IncidentExercise(ctx, to)
		require.NoError(t, err)
		require.Equal(t, ex1.ID, got, "a new incident for an exercise alert is the exercise's")

		e, err := s.GetExercise(ctx, ex1.ID)
		require.NoError(t, err)
		require.Equal(t, 2, e.Incidents)
		list, err := s.ListExercises(ctx)
		require.NoError(t, err)
		require.Len(t, list, 2)
		require.Equal(t, ex2.ID, list[0].ID, "newest first")
	})
}

// TestExerciseLeavesRealFiguresAlone: the queue, the metrics and the
// reports' store figures are the same before and after an exercise.
func TestExerciseLeavesRealFiguresAlone(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := time.Now().UTC()
		mustIngest(t, s, correlate.Rules{}, alertAt("real-1", now.Add(-time.Hour), domain.SeverityHigh, host("ws-1")))
		w := store.ReportWindow{Since: now.Add(-24 * time.Hour), Until: now.Add(time.Hour)}
		type figures struct {
			Queue   int
			Created int
			Times   []store.IncidentTimes
			Counts  *store.StatusCounts
			Open    []store.ReportIncident
			Kinds   []store.AlertKinds
			Run     store.ActionRun
			Export  string
		}
		read := func() figures {
			var f figures
			page, err := s.QueryIncidents(ctx, records.IncidentQuery{})
			require.NoError(t, err)
			f.Queue = page.Total
			f.Created, err = s.CountCreated(ctx, w)
			require.NoError(t, err)
			f.Times, err = s.ResponseTimes(ctx, w.Since)
			require.NoError(t, err)
			f.Counts, err = s.CountByStatus(ctx)
			require.NoError(t, err)
			f.Open, err = s.OpenAt(ctx, now, w.Since, nil)
			require.NoError(t, err)
			f.Kinds, err = s.AlertKindsIn(ctx, w)
			require.NoError(t, err)
			f.Run, err = s.ExecutedActions(ctx, w.Since)
			require.NoError(t, err)
			var csv strings.Builder
			require.NoError(t, s.ExportAssignments(ctx, &csv))
			f.Export = csv.String()
			return f
		}
		before := read()
		require.Equal(t, 1, before.Queue)

		ex, err := s.CreateExercise(ctx, "drill", "", 60, "admin")
		require.NoError(t, err)
		a := alertAt("x-1", now.Add(-30*time.Minute), domain.SeverityHigh, host("ws-9"))
		a.Exercise = ex.ID
		res := mustIngest(t, s, correlate.Rules{}, a)
		assigned := "rita"
		_, _, err = s.ManageIncident(ctx, res[0].IncidentID, records.IncidentChange{AssignedTo: &assigned}, "rita")
		require.NoError(t, err)
		require.Equal(t, before, read(), "an exercise changed the real figures")
	})
}

// TestExerciseFacts: the facts a score is computed from, as recorded.
func TestExerciseFacts(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		ex, err := s.CreateExercise(ctx, "facts", "scenario.yaml", 10, "admin")
		require.NoError(t, err)
		t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
		a := alertAt("x-1", t0, domain.SeverityHigh, host("ws-3"))
		a.Exercise = ex.ID
		res := mustIngest(t, s, correlate.Rules{}, a)
		sent := time.Now().UTC().Truncate(time.Second)
		require.NoError(t, s.RecordExerciseAlerts(ctx, ex.ID, []store.ExerciseAlert{
			{AlertID: "x-1", Label: exercise.Label{Label: "attack", Phase: "initial"}, SentAt: sent},
			{AlertID: "x-lost", Label: exercise.Label{Label: "benign"}, SentAt: sent},
		}))
		// Sent again: its first arrival stands.
		require.NoError(t, s.RecordExerciseAlerts(ctx, ex.ID, []store.ExerciseAlert{
			{AlertID: "x-1", Label: exercise.Label{Label: "attack", Phase: "initial"}, SentAt: sent.Add(time.Hour)}}))
		assigned := "rita"
		_, _, err = s.ManageIncident(ctx, res[0].IncidentID, records.IncidentChange{AssignedTo: &assigned}, "rita")
		require.NoError(t, err)
		f, err := s.ExerciseFacts(ctx, ex.ID)
		require.NoError(t, err)
		require.Len(t, f.Alerts, 2)
		byID := map[string]exercise.Replayed{}
		for _, r := range f.Alerts {
			byID[r.ID] = r
		}
		require.Equal(t, res[0].IncidentID, byID["x-1"].Incident)
		require.True(t, byID["x-1"].SentAt.Equal(sent), "sent at %v, want %v", byID["x-1"].SentAt, sent)
		require.Zero(t, byID["x-lost"].Incident)
		require.NotNil(t, f.Incidents[res[0].IncidentID].Acknowledged, "assignment acknowledges")
		e, err := s.FinishExercise(ctx, ex.ID)
		require.NoError(t, err)
		require.NotNil(t, e.Finished)
		require.Equal(t, 2, e.Alerts)
	})
}
