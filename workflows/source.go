package workflows

import (
	"errors"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/airsoc/air/activities"
	"github.com/airsoc/air/internal/sources"
)

// SourceWorkflowID names the polling loop of a source.
func SourceWorkflowID(name string) string { return "source-" + name }

// SourceInput starts (or continues) a source's polling loop.
type SourceInput struct {
	Source string `json:"source"`
	// Checkpoint is where to go on from after continue-as-new; nil reads
	// the stored one (or the backfill) first.
	Checkpoint *sources.Checkpoint `json:"checkpoint,omitempty"`
}

// sourcePollsPerRun bounds one run's history: each poll costs a handful
// of events, a sleep two more.
const sourcePollsPerRun = 300

var srcActs *activities.Sources // nil: only its method values name activities

// SourceWorkflow polls one source for ever, page by page, carrying the
// checkpoint in its history: a worker that dies mid-poll makes Temporal
// retry the poll from the recorded checkpoint, so no alert is lost, and
// ingest upserts by id, so none is doubled. A refused poll (bad
// credentials, a missing permission) waits for the next interval; a
// throttled one for the delay the vendor named; a source taken out of the
// configuration ends its loop.
func SourceWorkflow(ctx workflow.Context, in SourceInput) error {
	log := workflow.GetLogger(ctx)
	var cp sources.Checkpoint
	if in.Checkpoint != nil {
		cp = *in.Checkpoint
	} else if err := workflow.ExecuteLocalActivity(localCtx(ctx), srcActs.SourceStart, in.Source).Get(ctx, &cp); err != nil {
		if isType(err, activities.ErrSourceUnknown) {
			log.Info("source is no longer configured: loop ends", "source", in.Source)
			return nil
		}
		return err
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 5 * time.Minute,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: 5 * time.Second, BackoffCoefficient: 2, MaximumInterval: 5 * time.Minute, MaximumAttempts: 8,
			NonRetryableErrorTypes: []string{activities.ErrSourceRefused, activities.ErrSourceUnknown},
		},
	})
	interval := time.Minute
	for polls := 0; polls < sourcePollsPerRun; polls++ {
		var out activities.PollOutput
		err := workflow.ExecuteActivity(actx, srcActs.PollSource, activities.PollInput{Source: in.Source, Checkpoint: cp}).Get(ctx, &out)
		switch {
		case isType(err, activities.ErrSourceUnknown):
			log.Info("source is no longer configured: loop ends", "source", in.Source)
			return nil
		case err != nil:
			// Recorded in the source's state by the activity; the
			// checkpoint stays, so the next try reads the same page.
			log.Warn("poll failed", "source", in.Source, "error", err)
			if err := workflow.Sleep(ctx, interval); err != nil {
				return err
			}
			continue
		}
		cp = out.Next
		if out.Interval > 0 {
			interval = out.Interval
		}
		if !out.More {
			if err := workflow.Sleep(ctx, interval); err != nil {
				return err
			}
		}
	}
	return workflow.NewContinueAsNewError(ctx, SourceWorkflow, SourceInput{Source: in.Source, Checkpoint: &cp})
}

func isType(err error, kind string) bool {
	var app *temporal.ApplicationError
	return errors.As(err, &app) && app.Type() == kind
}

// WriteBackWorkflow writes one alert's change back to the provider that
// sent it, with retries that never hold up the analyst who made the
// change: the API starts it and returns. A refusal is recorded by the
// activity; retries running out are recorded here.
func WriteBackWorkflow(ctx workflow.Context, in activities.WriteBackInput) (*sources.WriteResult, error) {
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 2 * time.Minute,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: 10 * time.Second, BackoffCoefficient: 2, MaximumInterval: 10 * time.Minute, MaximumAttempts: 12,
			NonRetryableErrorTypes: []string{activities.ErrSourceRefused, activities.ErrSourceUnknown},
		},
	})
	var res sources.WriteResult
	err := workflow.ExecuteActivity(actx, srcActs.WriteBackAlert, in).Get(ctx, &res)
	if err == nil {
		return &res, nil
	}
	if !isType(err, activities.ErrSourceRefused) && !isType(err, activities.ErrSourceUnknown) {
		msg := "gave up after retries: " + rootMessage(err)
		if rerr := workflow.ExecuteLocalActivity(localCtx(ctx), srcActs.RecordWriteBack, in, sources.Failed, msg).Get(ctx, nil); rerr != nil {
			return nil, rerr
		}
	}
	return nil, err
}
