// Package playbooktest runs playbook test files (NAME.test.yaml) against
// the real incident workflow: each case's alerts are decoded and correlated
// by a real SQLite store, IncidentWorkflow runs in Temporal's test
// environment (time is skipped, so a 7-day expiry takes no time) with the
// real activities, the target's answers come from the case's mocked
// results, and analysts' decisions are sent through the decide Update as
// actions become pending. What the case expects is then compared with what
// happened.
//
// `starter playbooks test` and `go test ./...` (playbooks_test.go) both run
// it.
package playbooktest

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/airsoc/air/activities"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/graph"
	"github.com/airsoc/air/internal/logging"
	"github.com/airsoc/air/internal/playbook"
	"github.com/airsoc/air/internal/policy"
	"github.com/airsoc/air/internal/store"
	"github.com/airsoc/air/workflows"
)

// Result is the outcome of one test case.
type Result struct {
	File     string
	Playbook string
	Case     string
	Line     int
	Problems []string // empty when the case passed
}

// Passed reports whether the case passed.
func (r Result) Passed() bool { return len(r.Problems) == 0 }

// RunDir loads the playbooks and test files of dir and runs every case.
func RunDir(ctx context.Context, dir string) ([]Result, error) {
	books, err := playbook.LoadDir(dir)
	if err != nil {
		return nil, err
	}
	files, err := playbook.LoadTests(dir)
	if err != nil {
		return nil, err
	}
	var out []Result
	for _, tf := range files {
		rs, err := RunFile(ctx, books, tf)
		if err != nil {
			return nil, err
		}
		out = append(out, rs...)
	}
	return out, nil
}

// RunFile runs a test file's cases against the playbook it names (and the
// sub-playbooks among books, which it may use).
func RunFile(ctx context.Context, books []*playbook.Playbook, tf *playbook.TestFile) ([]Result, error) {
	var sources []activities.PlaybookSource
	found := false
	for _, b := range books {
		if b.Name == tf.Playbook {
			found = true
		}
		if b.Name == tf.Playbook || b.Kind == playbook.KindSub {
			sources = append(sources, activities.PlaybookSource{File: b.File, Source: b.Source})
		}
	}
	if !found {
		return nil, fmt.Errorf("%s: no playbook named %q", tf.File, tf.Playbook)
	}
	out := make([]Result, 0, len(tf.Cases))
	for i := range tf.Cases {
		c := &tf.Cases[i]
		r := Result{File: tf.File, Playbook: tf.Playbook, Case: c.Name, Line: c.Line}
		problems, err := runCase(ctx, sources, c)
		if err != nil {
			problems = append(problems, err.Error())
		}
		r.Problems = problems
		out = append(out, r)
	}
	return out, nil
}

// mockTarget answers executed actions from the case's mocked results.
type mockTarget struct{ results []playbook.MockResult }

func (m mockTarget) Execute(ctx context.Context, req activities.ExecuteRequest) (activities.ExecuteResult, error) {
	for _, r := range m.results {
		if r.Action != req.Type || (r.Target != "" && r.Target != req.Target) {
			continue
		}
		if r.Failed() {
			kind := r.Kind
			if kind == "" {
				kind = "failed"
			}
			return activities.ExecuteResult{}, temporal.NewNonRetryableApplicationError(r.Error, kind, nil)
		}
		res := r.Result
		if res == "" {
			res = "ok"
		}
		return activities.ExecuteResult{Summary: res, Changed: true}, nil
	}
	return activities.ExecuteResult{Summary: "ok", Changed: true}, nil
}

func runCase(ctx context.Context, sources []activities.PlaybookSource, c *playbook.TestCase) ([]string, error) {
	dir, err := os.MkdirTemp("", "air-playbook-test-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	st, err := store.Open(ctx, filepath.Join(dir, "air.db"))
	if err != nil {
		return nil, err
	}
	defer st.Close()

	settings := policy.Settings{Default: policy.SemiAll}
	if c.Automation != nil {
		settings = *c.Automation
	}
	if err := st.PutSetting(ctx, activities.SettingsKey, settings, "test"); err != nil {
		return nil, err
	}
	var incident int64
	for i, raw := range c.Alerts {
		a, err := graph.DecodeAlert(raw)
		if err != nil {
			return nil, fmt.Errorf("alert %d: %w", i, err)
		}
		r, err := st.IngestAlert(ctx, a, store.CorrelationRules{})
		if err != nil {
			return nil, err
		}
		if incident == 0 {
			incident = r.IncidentID
		} else if r.IncidentID != incident {
			return []string{fmt.Sprintf("alert %s opened incident %d apart from the first alert's incident %d: a case tests one incident", a.ID, r.IncidentID, incident)}, nil
		}
	}
	if incident == 0 {
		return nil, fmt.Errorf("the case gives no alerts")
	}
	if c.Incident != nil {
		return nil, fmt.Errorf("incident fields set by hand are not supported by the runner yet; give alerts")
	}

	var missing []domain.EntityKey
	// Mocked failures are expected here; what matters is compared below.
	log := logrus.New()
	log.SetOutput(io.Discard)
	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(logging.NewTemporal(log))
	env := suite.NewTestWorkflowEnvironment()
	env.SetWorkerOptions(workflows.WorkerOptions)
	env.RegisterWorkflow(workflows.IncidentWorkflow)
	env.RegisterActivity(&activities.Activities{Store: st, Executor: mockTarget{c.Results}, Playbooks: sources, Log: log,
		Enrich: func(_ context.Context, s *activities.Snapshot) error {
			s.Entities, missing = c.WithFacts(s.Entities)
			return nil
		}})

	// Analysts look at the action center every ten minutes of (skipped)
	// time for a day, and decide what the case says.
	var problems []string
	decided := map[string]bool{}
	updates := 0
	for tick := 1; tick <= 144; tick++ {
		env.RegisterDelayedCallback(func() {
			v, err := env.QueryWorkflow(workflows.QueryState)
			if err != nil {
				return
			}
			var state workflows.State
			if v.Get(&state) != nil {
				return
			}
			for _, a := range state.Actions {
				if a.Status != domain.ActionPending || decided[a.ID] {
					continue
				}
				i := slices.IndexFunc(c.Decisions, func(d playbook.TestDecision) bool {
					return d.Action == a.Type && (d.Target == "" || d.Target == a.TargetKey)
				})
				if i < 0 {
					continue
				}
				d := c.Decisions[i]
				by := d.By
				if by == "" {
					by = "analyst"
				}
				decided[a.ID] = true
				updates++
				env.UpdateWorkflow(workflows.UpdateDecide, fmt.Sprint("decide-", updates), &testsuite.TestUpdateCallback{
					OnAccept: func() {},
					OnReject: func(err error) {
						problems = append(problems, fmt.Sprintf("decision on %s %s refused: %v", a.Type, a.TargetKey, err))
					},
					OnComplete: func(_ any, err error) {
						if err != nil {
							problems = append(problems, fmt.Sprintf("decision on %s %s failed: %v", a.Type, a.TargetKey, err))
						}
					},
				}, workflows.DecideRequest{ActionID: a.ID, Decision: d.Decision, Comment: d.Comment, By: by, Role: domain.RoleResponder})
			}
		}, time.Duration(tick)*10*time.Minute)
	}
	env.ExecuteWorkflow(workflows.IncidentWorkflow, workflows.IncidentInput{IncidentID: incident})
	if !env.IsWorkflowCompleted() {
		return append(problems, "the investigation did not finish"), nil
	}
	if err := env.GetWorkflowError(); err != nil {
		return append(problems, fmt.Sprintf("the workflow failed: %v", err)), nil
	}
	var state workflows.State
	if err := env.GetWorkflowResult(&state); err != nil {
		return nil, err
	}
	for _, k := range missing {
		problems = append(problems, fmt.Sprintf("entities: %s is not an entity of the incident", k))
	}
	return append(problems, compare(ctx, st, incident, &state, c.Expect)...), nil
}

// compare lists every way the outcome differs from the expectation.
func compare(ctx context.Context, st *store.Store, incident int64, state *workflows.State, want playbook.Expectation) []string {
	var problems []string
	if want.State != "" && state.Investigation != want.State {
		msg := fmt.Sprintf("state: got %s, want %s", state.Investigation, want.State)
		if state.Error != "" {
			msg += " (error: " + state.Error + ")"
		}
		problems = append(problems, msg)
	}
	if len(want.Tags) > 0 {
		inc, err := st.GetIncident(ctx, incident)
		if err != nil {
			return append(problems, err.Error())
		}
		for _, t := range want.Tags {
			if !slices.Contains(inc.CustomTags, t) {
				problems = append(problems, fmt.Sprintf("tags: got %v, want %q among them", []string(inc.CustomTags), t))
			}
		}
	}
	if len(want.Comments) > 0 {
		comments, err := st.IncidentComments(ctx, incident)
		if err != nil {
			return append(problems, err.Error())
		}
		for _, w := range want.Comments {
			if !slices.ContainsFunc(comments, func(c domain.Comment) bool { return strings.Contains(c.Comment, w) }) {
				var got []string
				for _, c := range comments {
					got = append(got, c.Comment)
				}
				problems = append(problems, fmt.Sprintf("comments: none contains %q; got %q", w, got))
			}
		}
	}
	if want.Actions == nil {
		return problems
	}
	got, err := st.ListActions(ctx, store.ActionFilter{IncidentID: incident, Limit: 1000})
	if err != nil {
		return append(problems, err.Error())
	}
	used := make([]bool, len(got))
	for _, w := range want.Actions {
		i := slices.IndexFunc(got, func(a domain.Action) bool { return a.Type == w.Type && a.TargetKey == w.Target })
		if i < 0 {
			problems = append(problems, fmt.Sprintf("line %d: expected %s on %s, which was not proposed", w.Line, w.Type, w.Target))
			continue
		}
		used[i] = true
		a := got[i]
		run := playbook.RunWait
		if a.DecidedBy == domain.PolicyActor {
			run = playbook.RunAuto
		}
		if w.Run != "" && w.Run != run {
			problems = append(problems, fmt.Sprintf("line %d: %s on %s: run %s, want %s (reason: %s)", w.Line, w.Type, w.Target, run, w.Run, a.Reason))
		}
		if w.Reason != "" && !strings.Contains(a.Reason, w.Reason) {
			problems = append(problems, fmt.Sprintf("line %d: %s on %s: reason %q does not contain %q", w.Line, w.Type, w.Target, a.Reason, w.Reason))
		}
		if w.Status != "" && a.Status != w.Status {
			msg := fmt.Sprintf("line %d: %s on %s: status %s, want %s", w.Line, w.Type, w.Target, a.Status, w.Status)
			if a.Error != "" {
				msg += " (error: " + a.Error + ")"
			}
			problems = append(problems, msg)
		}
	}
	for i, a := range got {
		if !used[i] {
			problems = append(problems, fmt.Sprintf("unexpected action %s on %s (%s: %s)", a.Type, a.TargetKey, a.Status, a.Reason))
		}
	}
	return problems
}
