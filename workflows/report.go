package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/airsoc/air/internal/domain"
)

// ReportScheduleID is the id of the Temporal Schedule of AIR's report
// schedule id.
func ReportScheduleID(id string) string { return "report-" + id }

// ReportInput is what a report schedule starts ReportWorkflow with.
type ReportInput struct {
	ScheduleID string `json:"scheduleId"`
}

// The report activities, by name. They live in internal/reportrun (its
// Activities), which makes reports with internal/report; that package
// reads internal/review, which reads workflow histories through this
// package, so this package names them instead of importing them.
const (
	ActivityKeepScheduledReport = "KeepScheduledReport"
	ActivityDeliverReport       = "DeliverReport"
)

// ErrReportScheduleUnknown is the error type of a run whose schedule AIR
// no longer keeps (deleted while Temporal still held it): the run ends
// without a report.
const ErrReportScheduleUnknown = "ReportScheduleUnknown"

// KeepReportInput names the schedule and the time its run was scheduled
// for; the run reports on the whole period before it.
type KeepReportInput struct {
	ScheduleID string    `json:"scheduleId"`
	At         time.Time `json:"at"`
}

// KeptReport is what a scheduled run kept and sent.
type KeptReport struct {
	RunID    int64             `json:"runId"`
	Kind     domain.ReportKind `json:"kind"`
	Period   string            `json:"period"`
	Channels []string          `json:"channels"`
	// Created is false when an earlier attempt had kept it.
	Created bool `json:"created"`
	// Queued counts the messages queued on the channels; DeliveryError
	// says why they could not be (the report is kept all the same).
	Queued        int    `json:"queued"`
	DeliveryError string `json:"deliveryError,omitempty"`
}

// scheduledStart is the search attribute a Temporal Schedule sets on the
// workflows it starts: the time the run was scheduled for.
var scheduledStart = temporal.NewSearchAttributeKeyTime("TemporalScheduledStartTime")

// ReportWorkflow is one scheduled run of a report: keep the report of the
// period that ended before the run was scheduled, then queue it on the
// schedule's channels. It reads the scheduled time, not the clock, so a
// run Temporal catches up after an outage (the schedule's catch-up
// window) or one that waited for a worker reports on the period it was
// meant for. A run of a schedule AIR no longer keeps returns RunID 0.
// A failure to queue the messages is recorded on the result
// and does not fail the run: the report is kept either way.
func ReportWorkflow(ctx workflow.Context, in ReportInput) (*KeptReport, error) {
	log := workflow.GetLogger(ctx)
	at, ok := workflow.GetTypedSearchAttributes(ctx).GetTime(scheduledStart)
	if !ok || at.IsZero() {
		at = workflow.Now(ctx) // started by hand, not by a schedule
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 5 * time.Minute,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: 10 * time.Second, BackoffCoefficient: 2, MaximumInterval: 5 * time.Minute, MaximumAttempts: 10,
			NonRetryableErrorTypes: []string{ErrReportScheduleUnknown, ErrNotFound, ErrInvalid},
		},
	})
	var kept KeptReport
	err := workflow.ExecuteActivity(actx, ActivityKeepScheduledReport, KeepReportInput{ScheduleID: in.ScheduleID, At: at}).Get(ctx, &kept)
	if isType(err, ErrReportScheduleUnknown) {
		log.Info("report schedule is no longer kept: no report", "schedule", in.ScheduleID)
		return &KeptReport{}, nil
	}
	if err != nil {
		return nil, err
	}
	if len(kept.Channels) == 0 {
		return &kept, nil
	}
	if err := workflow.ExecuteActivity(actx, ActivityDeliverReport, kept.RunID).Get(ctx, &kept.Queued); err != nil {
		log.Warn("report kept, not queued on its channels", "run", kept.RunID, "error", err)
		kept.DeliveryError = rootMessage(err)
	}
	return &kept, nil
}
