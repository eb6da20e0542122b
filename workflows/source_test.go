package workflows

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"go.temporal.io/sdk/testsuite"

	"github.com/airsoc/air/activities"
	"github.com/airsoc/air/internal/correlate"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/logging"
	"github.com/airsoc/air/internal/sources"
	"github.com/airsoc/air/internal/store"
)

// pagedSource serves a fixed list of alerts three a page, its cursor an
// offset, as a vendor API would.
type pagedSource struct {
	alerts []*domain.Alert
	polls  int
}

func (p *pagedSource) Poll(ctx context.Context, cp sources.Checkpoint) (sources.Page, error) {
	p.polls++
	off, _ := strconv.Atoi(cp.Cursor)
	end := min(off+3, len(p.alerts))
	cursor := ""
	if end < len(p.alerts) {
		cursor = strconv.Itoa(end)
	}
	var newest time.Time
	for _, a := range p.alerts[off:end] {
		if a.LastUpdateDateTime.After(newest) {
			newest = a.LastUpdateDateTime
		}
	}
	return sources.Page{Alerts: p.alerts[off:end], Next: cp.Advance(newest, cursor), More: cursor != ""}, nil
}

// TestSourceLoopLosesAndDoublesNothingWhenAPollDies drives the polling
// workflow over a real SQLite store through a poll whose activity dies
// after the alerts were stored but before it returned (a worker killed
// mid-step): the retry reads the same page from the same checkpoint, and
// every alert ends up stored exactly once.
func TestSourceLoopLosesAndDoublesNothingWhenAPollDies(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "air.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	src := &pagedSource{}
	for i := range 8 {
		src.alerts = append(src.alerts, &domain.Alert{ID: fmt.Sprintf("vendor-%d", i), Title: "Suspicious sign-in",
			Status: domain.AlertNew, Severity: domain.SeverityMedium, CreatedDateTime: now, LastUpdateDateTime: now.Add(time.Duration(i) * time.Minute),
			Evidence: []domain.Evidence{{Type: "userEvidence", Entity: &domain.Entity{Key: domain.EntityKey(fmt.Sprintf("user:u%d@example.com", i)),
				Kind: domain.KindUser, Name: fmt.Sprintf("u%d", i)}}}})
	}
	created := map[string]int{}
	stored := 0
	ingest := func(ctx context.Context, alerts []*domain.Alert) error {
		res, err := st.IngestAlerts(ctx, alerts, correlate.Rules{})
		if err != nil {
			return err
		}
		for _, r := range res {
			if r.Outcome == correlate.Created {
				created[r.AlertID]++
			}
		}
		stored++
		if stored == 2 { // the second page is stored, then the worker dies
			return errors.New("worker killed after the store wrote the page")
		}
		return nil
	}
	cfg := sources.Config{Sources: []sources.Settings{{Name: "vendor", Type: sources.TypeGraph, Interval: time.Hour}}}
	var suite testsuite.WorkflowTestSuite
	log := logrus.New()
	log.SetLevel(logrus.WarnLevel)
	suite.SetLogger(logging.NewTemporal(log))
	env := suite.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(SourceWorkflow)
	env.RegisterActivity(&activities.Sources{Store: st, Config: cfg, Pollers: map[string]sources.Poller{"vendor": src},
		Ingest: ingest, Log: log, Now: func() time.Time { return now }})
	// After the first sweep the loop sleeps for its interval: stop there.
	env.RegisterDelayedCallback(func() { env.CancelWorkflow() }, 30*time.Minute)
	env.ExecuteWorkflow(SourceWorkflow, SourceInput{Source: "vendor"})

	if len(created) != len(src.alerts) {
		t.Fatalf("%d of %d alerts stored: %v", len(created), len(src.alerts), created)
	}
	for id, n := range created {
		if n != 1 {
			t.Errorf("alert %s created %d times", id, n)
		}
	}
	if src.polls != 4 { // three pages, the second twice
		t.Errorf("%d polls, want 4 (3 pages, one retried)", src.polls)
	}
	b, ok, err := st.SourceState(ctx, "vendor")
	if err != nil || !ok {
		t.Fatalf("no stored state: %v", err)
	}
	// The checkpoint moved to the newest update at the end of the sweep.
	for _, want := range []string{`"polls":4`, `"errors":1`, `"alerts":8`, `"since":"2026-05-01T09:07:00Z"`} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("state %s lacks %s", b, want)
		}
	}
}

// flakyProvider fails its first calls as a provider under load would, then
// takes the change.
type flakyProvider struct {
	fails int
	calls int
	perm  bool
}

func (f *flakyProvider) WriteBack(ctx context.Context, id string, ch sources.Change) (sources.WriteResult, error) {
	f.calls++
	if f.perm {
		return sources.WriteResult{}, &sources.PermanentError{Status: 404, Body: "alert not found"}
	}
	if f.calls <= f.fails {
		return sources.WriteResult{}, errors.New("HTTP 502")
	}
	return sources.WriteResult{Outcome: sources.WrittenBack, Written: []string{"status"}}, nil
}

func TestWriteBackRetriesAndRecordsTheOutcome(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "air.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, c := range []struct {
		name    string
		p       *flakyProvider
		calls   int
		outcome string
	}{
		{"transient", &flakyProvider{fails: 2}, 3, sources.WrittenBack},
		{"refused", &flakyProvider{perm: true}, 1, sources.Failed},
	} {
		t.Run(c.name, func(t *testing.T) {
			var suite testsuite.WorkflowTestSuite
			env := suite.NewTestWorkflowEnvironment()
			env.RegisterWorkflow(WriteBackWorkflow)
			env.RegisterActivity(&activities.Sources{Store: st, WriteBackers: map[string]sources.WriteBacker{"graph": c.p}, Log: logrus.New()})
			env.ExecuteWorkflow(WriteBackWorkflow, activities.WriteBackInput{AlertID: "a-" + c.name, ProviderAlertID: "p1", Source: "graph",
				Change: sources.Change{Status: "resolved", By: "rita"}})
			if c.p.calls != c.calls {
				t.Errorf("%d calls, want %d", c.p.calls, c.calls)
			}
			log, err := st.WriteBacks(ctx, "a-"+c.name, 10)
			if err != nil || len(log) != 1 || log[0].Outcome != c.outcome || !strings.Contains(log[0].Detail, "rita") {
				t.Fatalf("write-back log %+v (%v): want one %s entry naming rita", log, err, c.outcome)
			}
		})
	}
}
