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
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/airsoc/air/activities"
	"github.com/airsoc/air/internal/actions"
	"github.com/airsoc/air/internal/caseaction"
	"github.com/airsoc/air/internal/correlate"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/enrich"
	"github.com/airsoc/air/internal/graph"
	"github.com/airsoc/air/internal/intel"
	"github.com/airsoc/air/internal/logging"
	"github.com/airsoc/air/internal/notify"
	"github.com/airsoc/air/internal/playbook"
	"github.com/airsoc/air/internal/policy"
	"github.com/airsoc/air/internal/records"
	"github.com/airsoc/air/internal/remediation"
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
	// Ran lists the playbooks that ran for the case, in order (with
	// Options.Together several may).
	Ran []string
	// Notes say what other playbooks did when they ran together with the
	// one under test: overlaps on one target, actions of their own, a
	// different final state. They do not fail the case.
	Notes []string
}

// Options change how RunDirWith runs the tests. The zero value runs each
// test file against its playbook alone.
type Options struct {
	// Together runs every case with all the playbooks of the directory
	// loaded, as the worker would: the case's expectations are checked
	// against what the playbook under test did among the others, and the
	// overlaps (several playbooks acting on one target) come out as Notes.
	Together bool
}

// Passed reports whether the case passed.
func (r Result) Passed() bool { return len(r.Problems) == 0 }

// RunDir loads the playbooks and test files of dir and runs every case,
// each against its playbook alone.
func RunDir(ctx context.Context, dir string) ([]Result, error) {
	return RunDirWith(ctx, dir, Options{})
}

// RunDirWith is RunDir with options.
func RunDirWith(ctx context.Context, dir string, opts Options) ([]Result, error) {
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
		rs, err := runFile(ctx, books, tf, opts)
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
	return runFile(ctx, books, tf, Options{})
}

func runFile(ctx context.Context, books []*playbook.Playbook, tf *playbook.TestFile, opts Options) ([]Result, error) {
	var sources []activities.PlaybookSource
	var tested *playbook.Playbook
	for _, b := range books {
		if b.Name == tf.Playbook {
			tested = b
		}
		if opts.Together || b.Name == tf.Playbook || b.Kind == playbook.KindSub {
			sources = append(sources, activities.PlaybookSource{File: b.File, Source: b.Source})
		}
	}
	if tested == nil {
		return nil, fmt.Errorf("%s: no playbook named %q", tf.File, tf.Playbook)
	}
	out := make([]Result, 0, len(tf.Cases))
	for i := range tf.Cases {
		c := &tf.Cases[i]
		r := Result{File: tf.File, Playbook: tf.Playbook, Case: c.Name, Line: c.Line}
		if _, err := c.CheckInputs(tested); err != nil {
			r.Problems = []string{fmt.Sprintf("line %d: inputs: %v", c.InputsLine, err)}
			out = append(out, r)
			continue
		}
		o, err := runCase(ctx, books, sources, tf.Playbook, c, opts)
		if err != nil {
			o.problems = append(o.problems, err.Error())
		}
		r.Problems, r.Ran, r.Notes = o.problems, o.ran, o.notes
		out = append(out, r)
	}
	return out, nil
}

// mockTarget answers executed actions from the case's mocked results. Case
// actions no result names are carried out for real on the case's incident
// (cases), so that expect.incident sees what they did.
type mockTarget struct {
	results []playbook.MockResult
	cases   remediation.Executor
}

func (m mockTarget) Execute(ctx context.Context, req remediation.Request) (remediation.Result, error) {
	named := slices.ContainsFunc(m.results, func(r playbook.MockResult) bool {
		return r.Action == req.Type && (r.Target == "" || r.Target == req.Target)
	})
	if spec, ok := actions.Lookup(req.Type); ok && spec.CaseAction() && !named && m.cases != nil {
		return m.cases.Execute(ctx, req)
	}
	for _, r := range m.results {
		if r.Action != req.Type || (r.Target != "" && r.Target != req.Target) {
			continue
		}
		if r.Failed() {
			kind := r.Kind
			if kind == "" {
				kind = "failed"
			}
			return remediation.Result{}, temporal.NewNonRetryableApplicationError(r.Error, kind, nil)
		}
		res := r.Result
		if res == "" {
			res = "ok"
		}
		return remediation.Result{Summary: res, Changed: true}, nil
	}
	return remediation.Result{Summary: "ok", Changed: true}, nil
}

// caseVendors answers analysis steps' enrichment from the case's entities'
// vendor facts (source "test"): an entity the case gives none for is
// asked nothing; an error value makes the vendor fail with its message.
type caseVendors struct{ c *playbook.TestCase }

func (v caseVendors) Enrichers(domain.EntityKind) []enrich.Enricher { return []enrich.Enricher{v} }

func (caseVendors) Vendor() string { return "test" }

func (v caseVendors) Lookups(e domain.Entity) []enrich.Lookup {
	facts := v.c.Entities[e.Key].Vendor
	var out []enrich.Lookup
	for _, kind := range slices.Sorted(maps.Keys(facts)) {
		if kind == domain.FactVendorError {
			continue
		}
		raw := facts[kind]
		out = append(out, enrich.Lookup{Kind: kind, Call: "test " + kind, Do: func(context.Context) (any, error) { return raw, nil }})
	}
	if raw, ok := facts[domain.FactVendorError]; ok {
		var m struct{ Message string }
		_ = json.Unmarshal(raw, &m) // checked when the file was loaded
		out = append(out, enrich.Lookup{Kind: domain.FactVendorError, Call: "test error",
			Do: func(context.Context) (any, error) {
				return nil, domain.Errorf(domain.KindForbidden, "%s", cmp.Or(m.Message, "the vendor failed"))
			}})
	}
	return out
}

// ownActions carries out, for real on the case's store, the actions AIR
// takes on itself: case actions, and incident.notify (queued, not sent).
func ownActions(st *store.Store) byType {
	cases := &caseaction.Executor{Store: st}
	own := byType{notify.ActionType: queueAnywhere{st}}
	for _, t := range caseaction.Types() {
		own[t] = cases
	}
	return own
}

// byType routes a request to the executor of its action type.
type byType map[string]remediation.Executor

func (b byType) Execute(ctx context.Context, req remediation.Request) (remediation.Result, error) {
	e, ok := b[req.Type]
	if !ok {
		return remediation.Result{}, fmt.Errorf("no executor for %s", req.Type)
	}
	return e.Execute(ctx, req)
}

// queueAnywhere carries out incident.notify steps in playbook tests: it
// queues the message in the case's store, for any channel name — a test
// has no notifications file, and sends nothing.
type queueAnywhere struct{ st *store.Store }

func (q queueAnywhere) Execute(ctx context.Context, req remediation.Request) (remediation.Result, error) {
	m, err := notify.MessageOf(req, "")
	if err != nil {
		return remediation.Result{}, err
	}
	n, err := notify.Enqueue(ctx, q.st, m)
	return remediation.Result{Summary: "queued for " + strings.Join(m.Channels, ", "), Changed: n > 0}, err
}

// outcome is what a case's run found: problems fail the case, notes do not.
type outcome struct {
	problems []string
	ran      []string
	notes    []string
}

func runCase(ctx context.Context, books []*playbook.Playbook, sources []activities.PlaybookSource, tested string,
	c *playbook.TestCase, opts Options) (outcome, error) {
	dir, err := os.MkdirTemp("", "air-playbook-test-")
	if err != nil {
		return outcome{}, err
	}
	defer os.RemoveAll(dir)
	st, err := store.Open(ctx, filepath.Join(dir, "air.db"))
	if err != nil {
		return outcome{}, err
	}
	defer st.Close()
	problems, incident, state, err := runWorkflow(ctx, st, sources, tested, c)
	o := outcome{problems: problems}
	if err != nil || state == nil {
		return o, err
	}
	for _, p := range state.Playbooks {
		o.ran = append(o.ran, p.Name)
	}
	for _, n := range state.NotRun {
		// A fallback yielding to the playbooks that matched is the rule
		// working, not news.
		if !strings.HasPrefix(n.Reason, "fallback:") {
			o.notes = append(o.notes, fmt.Sprintf("not run: %s (%s)", n.Name, n.Reason))
		}
	}
	if opts.Together && !slices.Contains(o.ran, tested) {
		// A case that expects the playbook to do nothing (it does not
		// match) passes when it does not run.
		msg := fmt.Sprintf("%s did not run: with every playbook loaded, %s ran", tested, strings.Join(o.ran, ", "))
		for _, b := range books {
			if b.Exclusive && slices.Contains(o.ran, b.Name) {
				msg += fmt.Sprintf(" (%s is exclusive: it runs alone)", b.Name)
			}
		}
		if e := c.Expect; len(e.Actions) > 0 || len(e.Tags) > 0 || len(e.Comments) > 0 {
			o.problems = append(o.problems, msg)
		} else {
			o.notes = append(o.notes, msg)
		}
	}
	ps, notes, err := compare(ctx, st, incident, state, c.Expect, tested, opts, owners(books, o.ran))
	o.problems, o.notes = append(o.problems, ps...), append(o.notes, notes...)
	return o, err
}

// runWorkflow runs the case's incident through IncidentWorkflow on a
// fresh store. A nil state with no error means the run went wrong in a way
// the problems describe.
func runWorkflow(ctx context.Context, st *store.Store, sources []activities.PlaybookSource, tested string, c *playbook.TestCase) ([]string, int64, *workflows.State, error) {

	settings := policy.Settings{Default: policy.SemiAll}
	if c.Automation != nil {
		settings = *c.Automation
	}
	if err := st.PutSetting(ctx, activities.SettingsKey, settings, "test"); err != nil {
		return nil, 0, nil, err
	}
	if c.Inputs != nil {
		// Checked against the playbook by runFile; stored as the API
		// stores a tenant's, so the workflow reads them the real way.
		if err := st.PutSetting(ctx, activities.InputsKeyPrefix+tested, c.Inputs, "test"); err != nil {
			return nil, 0, nil, err
		}
	}
	if err := loadIntel(ctx, st, c.Intel); err != nil {
		return nil, 0, nil, err
	}
	for i, raw := range c.History {
		a, err := graph.DecodeAlert(raw)
		if err != nil {
			return nil, 0, nil, fmt.Errorf("history alert %d: %w", i, err)
		}
		if _, err := st.IngestAlert(ctx, a, correlate.Rules{}); err != nil {
			return nil, 0, nil, err
		}
	}
	var incident int64
	for i, raw := range c.Alerts {
		a, err := graph.DecodeAlert(raw)
		if err != nil {
			return nil, 0, nil, fmt.Errorf("alert %d: %w", i, err)
		}
		r, err := st.IngestAlert(ctx, a, correlate.Rules{})
		if err != nil {
			return nil, 0, nil, err
		}
		if incident == 0 {
			incident = r.IncidentID
		} else if r.IncidentID != incident {
			return []string{fmt.Sprintf("alert %s opened incident %d apart from the first alert's incident %d: a case tests one incident", a.ID, r.IncidentID, incident)}, 0, nil, nil
		}
	}
	if incident == 0 {
		return nil, 0, nil, fmt.Errorf("the case gives no alerts")
	}
	if c.Incident != nil {
		return nil, 0, nil, fmt.Errorf("incident fields set by hand are not supported by the runner yet; give alerts")
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
	env.RegisterActivity(&activities.Activities{Store: st, Executor: mockTarget{results: c.Results, cases: ownActions(st)}, Playbooks: sources, Log: log,
		Vendors: caseVendors{c}, EnrichOptions: enrich.Options{Attempts: 1},
		Enrich: func(_ context.Context, s *activities.Snapshot) error {
			s.Entities, missing = c.WithFacts(s.Entities)
			return nil
		}})

	refused := decideAsAnalysts(env, c)
	env.ExecuteWorkflow(workflows.IncidentWorkflow, workflows.IncidentInput{IncidentID: incident})
	problems := *refused
	if !env.IsWorkflowCompleted() {
		return append(problems, "the investigation did not finish"), 0, nil, nil
	}
	if err := env.GetWorkflowError(); err != nil {
		return append(problems, fmt.Sprintf("the workflow failed: %v", err)), 0, nil, nil
	}
	var state workflows.State
	if err := env.GetWorkflowResult(&state); err != nil {
		return nil, 0, nil, err
	}
	for _, k := range missing {
		problems = append(problems, fmt.Sprintf("entities: %s is not an entity of the incident", k))
	}
	for _, step := range slices.Sorted(maps.Keys(c.Answers)) {
		if !slices.ContainsFunc(state.Questions, func(q *domain.Question) bool { return q.Step == step }) {
			problems = append(problems, fmt.Sprintf("answers.%s: the investigation asked no question of step %s", step, step))
		}
	}
	return problems, incident, &state, nil
}

// decideAsAnalysts has analysts look at the action center every ten
// minutes of (skipped) time for a day, and decide what the case says
// (decisionFor) through the decide Update. The returned list fills with
// the decisions the workflow refused or failed while it runs.
func decideAsAnalysts(env *testsuite.TestWorkflowEnvironment, c *playbook.TestCase) *[]string {
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
			for _, q := range state.Questions {
				answer, ok := c.Answers[q.Step]
				if q.Status != domain.QuestionOpen || decided[q.ID] || !ok {
					continue
				}
				decided[q.ID] = true
				updates++
				env.UpdateWorkflow(workflows.UpdateAnswer, fmt.Sprint("answer-", updates), &testsuite.TestUpdateCallback{
					OnAccept: func() {},
					OnReject: func(err error) {
						problems = append(problems, fmt.Sprintf("answers.%s: answer %v refused: %v", q.Step, answer, err))
					},
					OnComplete: func(_ any, err error) {
						if err != nil {
							problems = append(problems, fmt.Sprintf("answers.%s: answer %v failed: %v", q.Step, answer, err))
						}
					},
				}, workflows.AnswerRequest{QuestionID: q.ID, Answer: answer, By: "analyst", Role: domain.RoleAnalyst})
			}
			for _, a := range state.Actions {
				if a.Status != domain.ActionPending || decided[a.ID] {
					continue
				}
				d, ok := decisionFor(c, a)
				if !ok {
					continue
				}
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
	return &problems
}

// decisionFor returns the case's decision on a pending action: the first
// decision that names it, else the case's pending default; false when the
// action is left to expire.
func decisionFor(c *playbook.TestCase, a *domain.Action) (playbook.TestDecision, bool) {
	i := slices.IndexFunc(c.Decisions, func(d playbook.TestDecision) bool {
		return d.Action == a.Type && (d.Target == "" || d.Target == a.TargetKey)
	})
	if i >= 0 {
		return c.Decisions[i], true
	}
	switch c.Pending {
	case playbook.PendingApprove:
		return playbook.TestDecision{Action: a.Type, Decision: domain.DecisionApprove, Comment: "pending: approve"}, true
	case playbook.PendingReject:
		return playbook.TestDecision{Action: a.Type, Decision: domain.DecisionReject, Comment: "pending: reject"}, true
	}
	return playbook.TestDecision{}, false
}

// compare lists every way the outcome differs from the expectation
// (problems, which fail the case) and, running together, what the other
// playbooks did (notes, which do not).
func compare(ctx context.Context, st *store.Store, incident int64, state *workflows.State, want playbook.Expectation,
	tested string, opts Options, owner map[string]string) (problems, notes []string, err error) {
	c := &checker{tested: tested, together: opts.Together, owner: owner}
	c.state(state, want.State)
	inc, err := st.GetIncident(ctx, incident)
	if err != nil {
		return c.problems, c.notes, err
	}
	c.tags(inc.CustomTags, want)
	c.incident(inc, want.Incident)
	comments, err := st.IncidentComments(ctx, incident)
	if err != nil {
		return c.problems, c.notes, err
	}
	c.comments(comments, want)
	got, err := st.ListActions(ctx, store.ActionFilter{IncidentID: incident, Limit: 1000})
	if err != nil {
		return c.problems, c.notes, err
	}
	c.absent(got, want.Not.Actions)
	qs, err := st.IncidentQuestions(ctx, incident, 1000)
	if err != nil {
		return c.problems, c.notes, err
	}
	c.answers(qs, want.Answers)
	if want.Verdicts != nil {
		ents, err := st.IncidentEntities(ctx, incident)
		if err != nil {
			return c.problems, c.notes, err
		}
		c.verdicts(ents, want.Verdicts)
	}
	if opts.Together {
		entries, err := st.IncidentActivity(ctx, incident)
		if err != nil {
			return c.problems, c.notes, err
		}
		c.joins = joined(entries)
		c.notes = append(c.notes, overlaps(got, c.joins, owner)...)
	}
	if want.Actions != nil {
		c.actions(got, want.Actions)
	}
	return c.problems, c.notes, nil
}

// checker collects what compare finds, one check per method.
type checker struct {
	tested   string            // the playbook under test
	together bool              // Options.Together
	owner    map[string]string // sub-playbook → the playbook that ran it (owners)
	joins    map[string][]string
	problems []string
	notes    []string
}

// incident checks expect.incident: the fields case actions set.
func (c *checker) incident(inc *domain.Incident, want map[string]string) {
	got := map[string]string{"severity": string(inc.Severity), "status": string(inc.Status),
		"classification": inc.Classification, "determination": inc.Determination, "assignedTo": inc.AssignedTo}
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if got[k] != want[k] {
			c.problems = append(c.problems, fmt.Sprintf("incident.%s: got %q, want %q", k, got[k], want[k]))
		}
	}
}

func (c *checker) state(state *workflows.State, want domain.InvestigationState) {
	if want == "" || state.Investigation == want {
		return
	}
	msg := fmt.Sprintf("state: got %s, want %s", state.Investigation, want)
	if state.Error != "" {
		msg += " (error: " + state.Error + ")"
	}
	if c.together {
		// The final state sums up every playbook's actions.
		c.notes = append(c.notes, msg+" (with every playbook together)")
		return
	}
	c.problems = append(c.problems, msg)
}

// answers checks the answers the questions ended with (expect.answers):
// an answer given by a person, or a default applied on timeout.
func (c *checker) answers(qs []domain.Question, want map[string][]string) {
	for _, step := range slices.Sorted(maps.Keys(want)) {
		i := slices.IndexFunc(qs, func(q domain.Question) bool { return q.Step == step })
		switch {
		case i < 0:
			c.problems = append(c.problems, fmt.Sprintf("expect.answers.%s: step %s asked no question", step, step))
		case !slices.Equal(qs[i].Answer, want[step]):
			got := strings.Join(qs[i].Answer, ", ")
			if got == "" {
				got = "no answer (" + string(qs[i].Status) + ")"
			}
			c.problems = append(c.problems, fmt.Sprintf("expect.answers.%s: got %s, want %s", step, got, strings.Join(want[step], ", ")))
		}
	}
}

func (c *checker) tags(got []string, want playbook.Expectation) {
	for _, t := range want.Tags {
		if !slices.Contains(got, t) {
			c.problems = append(c.problems, fmt.Sprintf("tags: got %v, want %q among them", got, t))
		}
	}
	for _, t := range want.Not.Tags {
		if slices.Contains(got, t) {
			c.problems = append(c.problems, fmt.Sprintf("not.tags: the incident carries %q", t))
		}
	}
}

func (c *checker) comments(comments []domain.Comment, want playbook.Expectation) {
	var texts []string
	for _, cm := range comments {
		texts = append(texts, cm.Comment)
	}
	for _, w := range want.Comments {
		if !slices.ContainsFunc(texts, func(t string) bool { return strings.Contains(t, w) }) {
			c.problems = append(c.problems, fmt.Sprintf("comments: none contains %q; got %q", w, texts))
		}
	}
	for _, w := range want.Not.Comments {
		for _, t := range texts {
			if strings.Contains(t, w) {
				c.problems = append(c.problems, fmt.Sprintf("not.comments: a comment contains %q: %q", w, t))
			}
		}
	}
}

// absent checks expect.not.actions.
func (c *checker) absent(got []domain.Action, not []playbook.ExpectedAction) {
	for _, w := range not {
		for _, a := range got {
			if a.Type == w.Type && (w.Target == "" || a.TargetKey == w.Target) {
				c.problems = append(c.problems, fmt.Sprintf("line %d: not expected, but %s/%s proposed %s on %s (%s: %s)",
					w.Line, a.Playbook, a.Step, a.Type, a.TargetKey, a.Status, a.Reason))
			}
		}
	}
}

// actions checks expect.actions: each expected action was proposed as
// expected, and nothing else was — except, together, what other playbooks
// proposed, which is a note.
func (c *checker) actions(got []domain.Action, want []playbook.ExpectedAction) {
	used := make([]bool, len(got))
	for _, w := range want {
		i := slices.IndexFunc(got, func(a domain.Action) bool { return a.Type == w.Type && sameTarget(a, w.Target) })
		if i < 0 {
			c.problems = append(c.problems, fmt.Sprintf("line %d: expected %s on %s, which was not proposed", w.Line, w.Type, w.Target))
			continue
		}
		used[i] = true
		c.problems = append(c.problems, actionProblems(w, got[i])...)
	}
	for i, a := range got {
		switch {
		case used[i]:
		case c.together && !c.ours(a):
			c.notes = append(c.notes, fmt.Sprintf("also: %s/%s proposed %s on %s (%s)", a.Playbook, a.Step, a.Type, a.TargetKey, a.Status))
		default:
			c.problems = append(c.problems, fmt.Sprintf("unexpected action %s on %s (%s: %s)", a.Type, a.TargetKey, a.Status, a.Reason))
		}
	}
}

// ours reports whether the playbook under test (or a sub-playbook it ran)
// proposed the action, or joined it.
func (c *checker) ours(a domain.Action) bool {
	return ownerOf(c.owner, a.Playbook) == c.tested ||
		slices.ContainsFunc(c.joins[a.ID], func(by string) bool {
			pb, _, _ := strings.Cut(by, "/")
			return ownerOf(c.owner, pb) == c.tested
		})
}

// sameTarget reports whether an action acts on the expected target. A case
// action acts on the incident, whose id a test does not know: an
// expectation without target matches it.
func sameTarget(a domain.Action, want domain.EntityKey) bool {
	if want == "" {
		if spec, ok := actions.Lookup(a.Type); ok && spec.CaseAction() {
			return true
		}
	}
	return a.TargetKey == want
}

// actionProblems compares one expected action with the action proposed.
func actionProblems(w playbook.ExpectedAction, a domain.Action) []string {
	var problems []string
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
	return problems
}

// joined maps action ids to the "playbook/step"s that proposed the same
// action again and joined it (the workflow's one action per target),
// from the incident's activity log.
func joined(entries []records.AuditEntry) map[string][]string {
	out := map[string][]string{}
	for _, e := range entries {
		id, ok := strings.CutPrefix(e.Object, "action:")
		if e.Verb != "action.joined" || !ok {
			continue
		}
		// The actor is "playbook:NAME (NAME/STEP)".
		by := e.Actor
		if i := strings.LastIndex(by, " ("); i >= 0 && strings.HasSuffix(by, ")") {
			by = by[i+2 : len(by)-1]
		}
		if !slices.Contains(out[id], by) {
			out[id] = append(out[id], by)
		}
	}
	return out
}

// overlaps describes every target on which more than one playbook
// proposed an action, whether the workflow joined them into one action or
// they are different actions, in target order.
func overlaps(got []domain.Action, joins map[string][]string, owner map[string]string) []string {
	type proposal struct{ pb, what string }
	byTarget := map[domain.EntityKey][]proposal{}
	var targets []domain.EntityKey
	for _, a := range got {
		if a.Source != domain.SourceAutomated || a.TargetKey == "" {
			continue
		}
		if _, ok := byTarget[a.TargetKey]; !ok {
			targets = append(targets, a.TargetKey)
		}
		byTarget[a.TargetKey] = append(byTarget[a.TargetKey],
			proposal{ownerOf(owner, a.Playbook), fmt.Sprintf("%s by %s/%s (%s)", a.Type, a.Playbook, a.Step, a.Status)})
		for _, by := range joins[a.ID] {
			pb, _, _ := strings.Cut(by, "/")
			byTarget[a.TargetKey] = append(byTarget[a.TargetKey], proposal{ownerOf(owner, pb), fmt.Sprintf("%s also by %s, joined: one action", a.Type, by)})
		}
	}
	slices.Sort(targets)
	var out []string
	for _, t := range targets {
		ps := byTarget[t]
		pbs := map[string]bool{}
		var whats []string
		for _, p := range ps {
			pbs[p.pb] = true
			whats = append(whats, p.what)
		}
		if len(pbs) > 1 {
			out = append(out, fmt.Sprintf("overlap on %s: %s", t, strings.Join(whats, "; ")))
		}
	}
	return out
}

// owners maps each sub-playbook to the one playbook of ran that uses it,
// directly or through other sub-playbooks, so that a sub-playbook's
// actions count as its caller's. A sub-playbook several of them use maps
// to none: its actions stay its own.
func owners(books []*playbook.Playbook, ran []string) map[string]string {
	out := map[string]string{}
	shared := map[string]bool{}
	var walk func(top string, pb *playbook.Playbook, depth int)
	walk = func(top string, pb *playbook.Playbook, depth int) {
		if depth > playbook.MaxCallDepth {
			return
		}
		for _, steps := range pb.Stages {
			for _, st := range steps {
				if st.Callee == nil {
					continue
				}
				if o, ok := out[st.Callee.Name]; ok && o != top {
					shared[st.Callee.Name] = true
				}
				out[st.Callee.Name] = top
				walk(top, st.Callee, depth+1)
			}
		}
	}
	for _, b := range books {
		if slices.Contains(ran, b.Name) {
			walk(b.Name, b, 1)
		}
	}
	for name := range shared {
		delete(out, name)
	}
	return out
}

// ownerOf is the playbook an action of the named playbook counts for.
func ownerOf(owner map[string]string, name string) string {
	if o, ok := owner[name]; ok {
		return o
	}
	return name
}

// loadIntel imports a case's indicators, one feed per name, as
// starter intel import would.
func loadIntel(ctx context.Context, st *store.Store, ins []playbook.TestIndicator) error {
	var feeds []string
	byFeed := map[string][]playbook.TestIndicator{}
	for _, in := range ins {
		if _, ok := byFeed[in.Feed]; !ok {
			feeds = append(feeds, in.Feed)
		}
		byFeed[in.Feed] = append(byFeed[in.Feed], in)
	}
	for _, name := range feeds {
		im, err := st.BeginIntelImport(ctx, name)
		if err != nil {
			return err
		}
		for _, in := range byFeed[name] {
			if err := im.Add(ctx, in.Indicator); err != nil {
				return err
			}
		}
		if _, err := im.Commit(ctx, records.IntelFeed{Format: intel.FormatList, Benign: byFeed[name][0].Benign, ImportedBy: "playbook test"}); err != nil {
			return fmt.Errorf("intel feed %s: %w", name, err)
		}
	}
	return nil
}

// verdicts checks the verdicts the entities ended with.
func (c *checker) verdicts(ents []domain.Entity, want map[domain.EntityKey]domain.Verdict) {
	for _, key := range slices.Sorted(maps.Keys(want)) {
		i := slices.IndexFunc(ents, func(e domain.Entity) bool { return e.Key == key })
		switch {
		case i < 0:
			c.problems = append(c.problems, fmt.Sprintf("verdict of %s: the incident has no such entity", key))
		case ents[i].Verdict != want[key]:
			by := "the provider"
			if d := ents[i].Decision; d != nil {
				by = fmt.Sprintf("%s %s (%s)", d.Source, d.By, d.Reason)
			}
			c.problems = append(c.problems, fmt.Sprintf("verdict of %s is %s (decided by %s), want %s", key, ents[i].Verdict, by, want[key]))
		}
	}
}
