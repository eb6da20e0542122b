package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sirupsen/logrus"
	"go.temporal.io/sdk/temporal"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/sources"
	"github.com/airsoc/air/internal/store"
)

// Error types of the source activities that retrying will not mend.
const (
	// ErrSourceRefused: the vendor refused the poll (credentials,
	// permission, query); the loop tries again at its next interval.
	ErrSourceRefused = "SourceRefused"
	// ErrSourceUnknown: the source is no longer configured; its loop ends.
	ErrSourceUnknown = "SourceUnknown"
	// ErrSourceThrottled: the vendor said to slow down; retried after the
	// delay it named.
	ErrSourceThrottled = "SourceThrottled"
)

// Sources holds the pull sources' activities: one poll of one source, and
// reading where a source starts.
type Sources struct {
	Store   *store.Store
	Config  sources.Config
	Pollers map[string]sources.Poller
	// WriteBackers write changes back, by source name (sources with
	// writeBack on).
	WriteBackers map[string]sources.WriteBacker
	// Ingest stores and correlates alerts (the ingest pipeline); it must be
	// idempotent by alert id, as a retried poll sends the same page again.
	Ingest func(ctx context.Context, alerts []*domain.Alert) error
	Log    logrus.FieldLogger
	Now    func() time.Time
}

// PollInput names the source and the checkpoint to poll from.
type PollInput struct {
	Source     string             `json:"source"`
	Checkpoint sources.Checkpoint `json:"checkpoint"`
}

// PollOutput is what a poll did: the checkpoint after it, whether the
// sweep has more pages, and the source's interval as configured now.
type PollOutput struct {
	Next     sources.Checkpoint `json:"next"`
	More     bool               `json:"more"`
	Accepted int                `json:"accepted"`
	Rejected int                `json:"rejected"`
	Interval time.Duration      `json:"interval"`
}

func (a *Sources) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// SourceStart returns the checkpoint a source's loop starts from: the
// stored one (a loop restarted by hand or after its workflow was lost), or
// the configured backfill before now.
func (a *Sources) SourceStart(ctx context.Context, name string) (sources.Checkpoint, error) {
	set, ok := a.Config.Source(name)
	if !ok {
		return sources.Checkpoint{}, temporal.NewNonRetryableApplicationError("source "+name+" is not configured", ErrSourceUnknown, nil)
	}
	st, err := a.state(ctx, name, set.Type)
	if err != nil {
		return sources.Checkpoint{}, err
	}
	if !st.Checkpoint.Since.IsZero() || st.Checkpoint.Cursor != "" {
		return st.Checkpoint, nil
	}
	if set.Type == sources.TypeSimulated {
		return sources.Checkpoint{}, nil // the simulated source starts now
	}
	return sources.Checkpoint{Since: a.now().Add(-set.Backfill).UTC()}, nil
}

// PollSource reads one page of a source, ingests its alerts and records
// the source's state. A retry after a crash reads the same page from the
// same checkpoint; ingest upserts by id, so nothing is doubled.
func (a *Sources) PollSource(ctx context.Context, in PollInput) (PollOutput, error) {
	set, ok := a.Config.Source(in.Source)
	p := a.Pollers[in.Source]
	if !ok || p == nil {
		return PollOutput{}, temporal.NewNonRetryableApplicationError("source "+in.Source+" is not configured", ErrSourceUnknown, nil)
	}
	page, err := p.Poll(ctx, in.Checkpoint)
	if err == nil && len(page.Alerts) > 0 {
		if ierr := a.Ingest(ctx, page.Alerts); ierr != nil {
			err = fmt.Errorf("ingest %d alerts: %w", len(page.Alerts), ierr)
		} else if serr := a.Store.SetAlertSource(ctx, in.Source, alertIDs(page.Alerts)); serr != nil {
			err = serr
		}
	}
	st, serr := a.state(ctx, in.Source, set.Type)
	if serr != nil {
		return PollOutput{}, serr
	}
	if err != nil {
		st.Record(a.now(), in.Checkpoint, nil, err)
	} else {
		st.Record(a.now(), page.Next, &page, nil)
	}
	if perr := a.putState(ctx, st); perr != nil {
		return PollOutput{}, perr
	}
	if err != nil {
		return PollOutput{}, pollError(err)
	}
	for _, pr := range page.Problems {
		a.Log.WithFields(logrus.Fields{"source": in.Source, "item": pr.ID}).Warn("source item rejected: " + pr.Reason)
	}
	return PollOutput{Next: page.Next, More: page.More, Accepted: len(page.Alerts), Rejected: len(page.Problems), Interval: set.Interval}, nil
}

// pollError tells Temporal how to retry a failed poll: after the vendor's
// delay when throttled, not at all when refused, with backoff otherwise.
func pollError(err error) error {
	var ra *sources.RetryAfterError
	if errors.As(err, &ra) {
		return temporal.NewApplicationErrorWithOptions(err.Error(), ErrSourceThrottled, temporal.ApplicationErrorOptions{NextRetryDelay: ra.Delay})
	}
	var perm *sources.PermanentError
	if errors.As(err, &perm) {
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrSourceRefused, nil)
	}
	return err
}

func (a *Sources) state(ctx context.Context, name, typ string) (sources.State, error) {
	st := sources.State{Name: name, Type: typ}
	b, ok, err := a.Store.SourceState(ctx, name)
	if err != nil || !ok {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("decode state of source %s: %w", name, err)
	}
	st.Type = typ
	return st, nil
}

func (a *Sources) putState(ctx context.Context, st sources.State) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return a.Store.PutSourceState(ctx, st.Name, b)
}

func alertIDs(alerts []*domain.Alert) []string {
	ids := make([]string, len(alerts))
	for i, a := range alerts {
		ids[i] = a.ID
	}
	return ids
}

// WriteBackInput is one alert's change to write back to its source.
type WriteBackInput struct {
	AlertID         string         `json:"alertId"`
	ProviderAlertID string         `json:"providerAlertId"`
	Source          string         `json:"source"`
	Change          sources.Change `json:"change"`
}

// WriteBackAlert writes a change back to the provider and records the
// outcome (written, or a conflict with the provider's newer values). A
// refusal (the alert is gone, a permission is missing) is recorded and not
// retried; other failures are retried by the workflow.
func (a *Sources) WriteBackAlert(ctx context.Context, in WriteBackInput) (sources.WriteResult, error) {
	wb := a.WriteBackers[in.Source]
	if wb == nil {
		return sources.WriteResult{}, temporal.NewNonRetryableApplicationError("source "+in.Source+" does not write back", ErrSourceUnknown, nil)
	}
	res, err := wb.WriteBack(ctx, in.ProviderAlertID, in.Change)
	if err != nil {
		perr := pollError(err)
		var app *temporal.ApplicationError
		if errors.As(perr, &app) && app.NonRetryable() {
			if rerr := a.RecordWriteBack(ctx, in, sources.Failed, err.Error()); rerr != nil {
				return res, rerr
			}
		}
		return res, perr
	}
	return res, a.RecordWriteBack(ctx, in, res.Outcome, res.String())
}

// RecordWriteBack records a write-back's outcome in the store.
func (a *Sources) RecordWriteBack(ctx context.Context, in WriteBackInput, outcome, detail string) error {
	if in.Change.By != "" {
		detail += " (change by " + in.Change.By + ")"
	}
	return a.Store.AppendWriteBack(ctx, store.WriteBackEntry{AlertID: in.AlertID, Source: in.Source, Outcome: outcome, Detail: detail, At: a.now()})
}
