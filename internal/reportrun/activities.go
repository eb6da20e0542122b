package reportrun

import (
	"context"
	"errors"

	"go.temporal.io/sdk/temporal"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/report"
	"github.com/airsoc/air/workflows"
)

// Activities are workflows.ReportWorkflow's activities (registered by
// their method names, which the workflow names).
type Activities struct {
	Keeper *Keeper
}

// KeepScheduledReport makes and keeps the report of the schedule for the
// whole period before in.At (report.PeriodBefore). Retried, it keeps one.
func (a *Activities) KeepScheduledReport(ctx context.Context, in workflows.KeepReportInput) (workflows.KeptReport, error) {
	s, err := a.Keeper.Store.ReportSchedule(ctx, in.ScheduleID)
	var de *domain.Error
	if errors.As(err, &de) && de.Kind == domain.KindNotFound {
		return workflows.KeptReport{}, temporal.NewNonRetryableApplicationError("report schedule "+in.ScheduleID+" is no longer kept",
			workflows.ErrReportScheduleUnknown, nil)
	}
	if err != nil {
		return workflows.KeptReport{}, err
	}
	per, err := report.PeriodBefore(s.Kind, in.At)
	if err != nil {
		return workflows.KeptReport{}, classify(err)
	}
	run, created, err := a.Keeper.Keep(ctx, Request{Kind: s.Kind, Period: per, Key: ScheduledKey(s.ID, per),
		ScheduleID: s.ID, Channels: s.Channels, By: "schedule:" + s.ID})
	if err != nil {
		return workflows.KeptReport{}, classify(err)
	}
	return workflows.KeptReport{RunID: run.ID, Kind: run.Kind, Period: run.Period, Channels: run.Channels, Created: created}, nil
}

// DeliverReport queues a kept run's message on its channels and returns
// how many it queued; the notification service sends them.
func (a *Activities) DeliverReport(ctx context.Context, runID int64) (int, error) {
	n, err := a.Keeper.Deliver(ctx, runID)
	return n, classify(err)
}

// classify makes a domain error (bad input, a missing row) permanent: a
// retry would meet the same.
func classify(err error) error {
	var de *domain.Error
	if errors.As(err, &de) && de.Kind != "" {
		return temporal.NewNonRetryableApplicationError(err.Error(), string(de.Kind), nil)
	}
	return err
}
