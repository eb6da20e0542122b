package workflows

import (
	"context"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/airsoc/air/internal/domain"
)

// reportActivities stand in for internal/reportrun's, recording what the
// workflow asked of them.
type reportActivities struct {
	keepAt     []time.Time
	delivered  []int64
	keep       func(in KeepReportInput) (KeptReport, error)
	deliverErr error
}

func (r *reportActivities) register(env *testsuite.TestWorkflowEnvironment) {
	env.RegisterActivityWithOptions(func(_ context.Context, in KeepReportInput) (KeptReport, error) {
		r.keepAt = append(r.keepAt, in.At)
		return r.keep(in)
	}, activity.RegisterOptions{Name: ActivityKeepScheduledReport})
	env.RegisterActivityWithOptions(func(_ context.Context, id int64) (int, error) {
		r.delivered = append(r.delivered, id)
		if r.deliverErr != nil {
			return 0, r.deliverErr
		}
		return 2, nil
	}, activity.RegisterOptions{Name: ActivityDeliverReport})
}

func TestReportWorkflow(t *testing.T) {
	scheduled := time.Date(2026, 12, 5, 6, 0, 0, 0, time.UTC)
	kept := KeptReport{RunID: 7, Kind: domain.ReportDaily, Period: "2026-12-04", Channels: []string{"soc-chat", "soc-mail"}, Created: true}
	tests := []struct {
		name        string
		keep        func(KeepReportInput) (KeptReport, error)
		deliverErr  error
		wantNil     bool
		wantDeliver []int64
		wantQueued  int
		wantErrText string
	}{
		{name: "kept and queued on its channels", keep: func(KeepReportInput) (KeptReport, error) { return kept, nil },
			wantDeliver: []int64{7}, wantQueued: 2},
		{name: "a failing delivery leaves the run kept", keep: func(KeepReportInput) (KeptReport, error) { return kept, nil },
			deliverErr:  temporal.NewNonRetryableApplicationError("no notification channel soc-mail", ErrInvalid, nil),
			wantDeliver: []int64{7}, wantErrText: "no notification channel soc-mail"},
		{name: "no channels: kept only", keep: func(KeepReportInput) (KeptReport, error) {
			k := kept
			k.Channels = nil
			return k, nil
		}},
		{name: "a schedule AIR no longer keeps ends without a report", keep: func(KeepReportInput) (KeptReport, error) {
			return KeptReport{}, temporal.NewNonRetryableApplicationError("gone", ErrReportScheduleUnknown, nil)
		}, wantNil: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var s testsuite.WorkflowTestSuite
			env := s.NewTestWorkflowEnvironment()
			acts := &reportActivities{keep: tc.keep, deliverErr: tc.deliverErr}
			acts.register(env)
			// Started a day late, as a run caught up after an outage:
			// the scheduled time, not the clock, picks the period.
			env.SetStartTime(scheduled.Add(26 * time.Hour))
			if err := env.SetTypedSearchAttributesOnStart(temporal.NewSearchAttributes(scheduledStart.ValueSet(scheduled))); err != nil {
				t.Fatal(err)
			}
			env.ExecuteWorkflow(ReportWorkflow, ReportInput{ScheduleID: "rs-1"})
			if err := env.GetWorkflowError(); err != nil {
				t.Fatalf("workflow failed: %v", err)
			}
			if len(acts.keepAt) != 1 || !acts.keepAt[0].Equal(scheduled) {
				t.Errorf("kept at %v, want once at the scheduled %v", acts.keepAt, scheduled)
			}
			if len(acts.delivered) != len(tc.wantDeliver) || (len(tc.wantDeliver) > 0 && acts.delivered[0] != tc.wantDeliver[0]) {
				t.Errorf("delivered %v, want %v", acts.delivered, tc.wantDeliver)
			}
			var got *KeptReport
			if err := env.GetWorkflowResult(&got); err != nil {
				t.Fatal(err)
			}
			if tc.wantNil {
				if got == nil || got.RunID != 0 {
					t.Errorf("result %+v, want no run", got)
				}
				return
			}
			if got == nil || got.RunID != 7 || got.Queued != tc.wantQueued || got.DeliveryError != tc.wantErrText {
				t.Errorf("result %+v, want run 7, queued %d, delivery error %q", got, tc.wantQueued, tc.wantErrText)
			}
		})
	}
}

// TestReportWorkflowStartedByHandUsesItsClock: without a schedule's
// search attribute the run reports on the period before it started.
func TestReportWorkflowStartedByHandUsesItsClock(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	start := time.Date(2027, 1, 1, 0, 5, 0, 0, time.UTC)
	acts := &reportActivities{keep: func(KeepReportInput) (KeptReport, error) { return KeptReport{RunID: 1}, nil }}
	acts.register(env)
	env.SetStartTime(start)
	env.ExecuteWorkflow(ReportWorkflow, ReportInput{ScheduleID: "rs-1"})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if len(acts.keepAt) != 1 || !acts.keepAt[0].Equal(start) {
		t.Errorf("kept at %v, want %v", acts.keepAt, start)
	}
}
