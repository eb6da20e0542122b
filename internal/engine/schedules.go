package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/workflows"
)

// A report schedule is a Temporal Schedule starting workflows.ReportWorkflow:
// Temporal, not AIR, keeps the time, so a run falls due while AIR is down
// too. Runs missed while Temporal itself was down are taken when it is back,
// within the schedule's catch-up window. Overlap is skip: a run still going
// (a slow report, or one waiting for a worker) is not doubled by the next.

// scheduleOptions is the Temporal Schedule of a report schedule.
func (e *Engine) scheduleOptions(s domain.ReportSchedule) client.ScheduleOptions {
	id := workflows.ReportScheduleID(s.ID)
	return client.ScheduleOptions{
		ID: id,
		Spec: client.ScheduleSpec{
			CronExpressions: []string{s.Cron},
			TimeZoneName:    s.TimeZone,
		},
		Action: &client.ScheduleWorkflowAction{
			// Temporal appends each run's time to the id.
			ID:        id,
			Workflow:  workflows.ReportWorkflow,
			Args:      []any{workflows.ReportInput{ScheduleID: s.ID}},
			TaskQueue: e.taskQueue(),
			// A report that cannot be made in an hour will not be made
			// by waiting longer; the next run comes anyway.
			WorkflowExecutionTimeout: time.Hour,
		},
		Overlap:       enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
		CatchupWindow: time.Duration(s.CatchupSeconds) * time.Second,
		Note:          fmt.Sprintf("AIR %s report schedule %s", s.Kind, s.ID),
	}
}

// CreateReportSchedule creates the Temporal Schedule of s. One that exists
// already is left as it is (created is false): a retried create, or start-up
// re-creating what Temporal lost, never doubles it. Temporal's refusal of
// the spec is invalid input naming cron.
func (e *Engine) CreateReportSchedule(ctx context.Context, s domain.ReportSchedule) (created bool, err error) {
	_, err = e.Client.ScheduleClient().Create(ctx, e.scheduleOptions(s))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, temporal.ErrScheduleAlreadyRunning):
		return false, nil
	}
	var inv *serviceerror.InvalidArgument
	if errors.As(err, &inv) {
		return false, domain.Invalid("cron", "Temporal refused the schedule: %s", inv.Message)
	}
	return false, unavailable("create report schedule "+s.ID, err)
}

// UpdateReportSchedule gives the Temporal Schedule of s.ID the spec,
// action and policies of s, keeping its state (paused or not) and its
// past runs; a schedule Temporal lost is created again.
func (e *Engine) UpdateReportSchedule(ctx context.Context, s domain.ReportSchedule) error {
	want := e.scheduleOptions(s)
	err := e.Client.ScheduleClient().GetHandle(ctx, want.ID).Update(ctx, client.ScheduleUpdateOptions{
		DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
			sch := in.Description.Schedule
			sch.Spec = &want.Spec
			sch.Action = want.Action
			sch.Policy = &client.SchedulePolicies{Overlap: want.Overlap, CatchupWindow: want.CatchupWindow}
			return &client.ScheduleUpdate{Schedule: &sch}, nil
		},
	})
	var nf *serviceerror.NotFound
	var inv *serviceerror.InvalidArgument
	switch {
	case err == nil:
		return nil
	case errors.As(err, &nf):
		_, err := e.CreateReportSchedule(ctx, s)
		return err
	case errors.As(err, &inv):
		return domain.Invalid("cron", "Temporal refused the schedule: %s", inv.Message)
	}
	return unavailable("update report schedule "+s.ID, err)
}

// DeleteReportSchedule deletes the Temporal Schedule of AIR's schedule id;
// one Temporal does not have is no error.
func (e *Engine) DeleteReportSchedule(ctx context.Context, id string) error {
	err := e.Client.ScheduleClient().GetHandle(ctx, workflows.ReportScheduleID(id)).Delete(ctx)
	var nf *serviceerror.NotFound
	if err == nil || errors.As(err, &nf) {
		return nil
	}
	return unavailable("delete report schedule "+id, err)
}

// TriggerReportSchedule starts a run of a schedule now; it reports on the
// period before now. An unknown schedule is not found.
func (e *Engine) TriggerReportSchedule(ctx context.Context, id string) error {
	err := e.Client.ScheduleClient().GetHandle(ctx, workflows.ReportScheduleID(id)).Trigger(ctx, client.ScheduleTriggerOptions{
		// A run asked for by a person runs even if one is under way.
		Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_ALLOW_ALL,
	})
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return domain.Errorf(domain.KindNotFound, "Temporal has no schedule for report schedule %s", id)
	}
	if err != nil {
		return unavailable("run report schedule "+id, err)
	}
	return nil
}

// DescribeReportSchedule reads the Temporal side of a report schedule.
func (e *Engine) DescribeReportSchedule(ctx context.Context, id string) (*domain.ReportScheduleState, error) {
	d, err := e.Client.ScheduleClient().GetHandle(ctx, workflows.ReportScheduleID(id)).Describe(ctx)
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return &domain.ReportScheduleState{Missing: true}, nil
	}
	if err != nil {
		return nil, unavailable("describe report schedule "+id, err)
	}
	st := &domain.ReportScheduleState{Paused: d.Schedule.State.Paused, NextRuns: d.Info.NextActionTimes}
	for _, a := range d.Info.RecentActions {
		st.RecentRuns = append(st.RecentRuns, a.ScheduleTime)
	}
	return st, nil
}

// unavailable is a Temporal call that failed for Temporal's reasons:
// HTTP 503, try again once it answers.
func unavailable(what string, err error) error {
	return &domain.Error{Kind: domain.KindUnavailable, Message: fmt.Sprintf("%s: Temporal did not take it: %v", what, err)}
}
