package workflows

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/worker"

	"github.com/airsoc/air/activities"
	"github.com/airsoc/air/internal/correlate"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/policy"
	"github.com/airsoc/air/internal/records"
)

// askBook is a playbook whose containment depends on an analyst's answer.
// extra is added to the ask mapping (default, remind, …); onError to the
// step.
func askBook(extra, onError string) string {
	return `name: ask-test
version: 1
stages:
  triage:
    - id: confirm
      ask:
        to: analyst
        question: "Is {{ incident.displayName }} malicious?"
        choices: [malicious, clean]
        timeout: 4h
` + extra + onError + `
  containment:
    - id: isolate
      for_each: devices
      when: steps.confirm.answer == "malicious"
      action: device.isolate
      approval: auto
    - id: note
      action: incident.comment
      with: {text: "answer {{ steps.confirm.answer }} by {{ steps.confirm.answeredBy }}, timed out {{ steps.confirm.timedOut }}"}
`
}

// withBook gives the fixture a directory holding one playbook.
func (f *fixture) withBook(src string) {
	f.t.Helper()
	dir := f.t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "book.yaml"), []byte(src), 0o644); err != nil {
		f.t.Fatal(err)
	}
	f.withPlaybooks(dir)
}

// openQuestion returns the incident's one open question, from the store.
func (f *fixture) openQuestion() *domain.Question {
	f.t.Helper()
	page, err := f.store.QueryQuestions(context.Background(), records.QuestionQuery{IncidentIDs: []int64{f.incident},
		Statuses: []domain.QuestionStatus{domain.QuestionOpen}})
	if err != nil {
		f.t.Fatal(err)
	}
	if len(page.Value) != 1 {
		f.t.Fatalf("open questions: %d, want 1", len(page.Value))
	}
	return &page.Value[0].Question
}

// question returns the incident's one question as stored.
func (f *fixture) question() *domain.Question {
	f.t.Helper()
	qs, err := f.store.IncidentQuestions(context.Background(), f.incident, 10)
	if err != nil || len(qs) != 1 {
		f.t.Fatalf("questions: %v, %v; want one", qs, err)
	}
	return &qs[0]
}

func (f *fixture) comments() []string {
	f.t.Helper()
	cs, err := f.store.IncidentComments(context.Background(), f.incident)
	if err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for _, c := range cs {
		out = append(out, c.Comment)
	}
	return out
}

// answerAt answers the open question at the given workflow time.
func (f *fixture) answerAt(at time.Duration, req AnswerRequest, done func(any, error)) {
	f.env.RegisterDelayedCallback(func() {
		if req.QuestionID == "" {
			req.QuestionID = f.openQuestion().ID
		}
		f.update(UpdateAnswer, req, done)
	}, at)
}

// An analyst's answer arrives, typed, and steers the later steps: the
// device is isolated because the answer is malicious.
func TestAnswerSteersLaterSteps(t *testing.T) {
	f := newFixture(t, domain.VerdictMalicious)
	f.withBook(askBook("", ""))
	var stateWhileOpen domain.InvestigationState
	f.env.RegisterDelayedCallback(func() {
		inc, err := f.store.GetIncident(context.Background(), f.incident)
		if err != nil {
			t.Fatal(err)
		}
		stateWhileOpen = inc.InvestigationState
		if f.actionOf("device.isolate") != nil {
			t.Error("isolation proposed before the answer")
		}
	}, 30*time.Minute)
	f.answerAt(time.Hour, AnswerRequest{Answer: []string{"malicious"}, By: "ana", Role: domain.RoleAnalyst, Note: "seen the binary"},
		func(v any, err error) {
			if err != nil {
				t.Errorf("answer: %v", err)
				return
			}
			if q := v.(*domain.Question); q.Status != domain.QuestionAnswered || q.AnsweredBy != "ana" {
				t.Errorf("answer returned %+v", q)
			}
		})
	st := f.run()
	if stateWhileOpen != domain.InvestigationPendingApproval {
		t.Errorf("investigation state while the question was open: %s, want pendingApproval", stateWhileOpen)
	}
	if a := f.actionOf("device.isolate"); a == nil || a.Status != domain.ActionSucceeded {
		t.Errorf("isolation after the answer malicious: %+v", a)
	}
	if got := f.comments(); !slices.Contains(got, "answer malicious by ana, timed out false") {
		t.Errorf("comments %q", got)
	}
	if q := f.question(); q.Status != domain.QuestionAnswered || !slices.Equal(q.Answer, []string{"malicious"}) ||
		q.Note != "seen the binary" || q.ClosedAt == nil {
		t.Errorf("stored question %+v", q)
	}
	if st.Investigation != domain.InvestigationSuccessfullyRemediated || len(st.Questions) != 1 {
		t.Errorf("final state %s with %d questions", st.Investigation, len(st.Questions))
	}
}

// recordingNotifier remembers what it was asked to send.
type recordingNotifier struct {
	mu   sync.Mutex
	sent []activities.Message
}

func (n *recordingNotifier) Notify(_ context.Context, m activities.Message) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.sent = append(n.sent, m)
	return nil
}

// Nobody answers: reminders go out every hour, and at the timeout the
// default applies, flagged timedOut, answered by system:timeout.
func TestQuestionTimesOutWithDefaultAndReminds(t *testing.T) {
	f := newFixture(t, domain.VerdictMalicious)
	n := &recordingNotifier{}
	f.notifier = n
	f.withBook(askBook("        remind: 1h\n        default: clean\n", ""))
	st := f.run()
	if a := f.actionOf("device.isolate"); a != nil {
		t.Errorf("isolation proposed although the default answer is clean: %+v", a)
	}
	if got := f.comments(); !slices.Contains(got, "answer clean by system:timeout, timed out true") {
		t.Errorf("comments %q", got)
	}
	q := f.question()
	if q.Status != domain.QuestionTimedOut || !slices.Equal(q.Answer, []string{"clean"}) || q.Reminders != 3 {
		t.Errorf("stored question %+v; want timed out with clean, after 3 reminders", q)
	}
	var subjects []string
	for _, m := range n.sent {
		subjects = append(subjects, m.Subject)
		if m.QuestionID != q.ID || !slices.Equal(m.Choices, []string{"malicious", "clean"}) || m.To != "" {
			t.Errorf("message %+v", m)
		}
	}
	if len(subjects) != 4 || strings.HasPrefix(subjects[0], "Reminder") || !strings.HasPrefix(subjects[3], "Reminder") {
		t.Errorf("sent %q; want the question and 3 reminders", subjects)
	}
	// The device's evidence says malicious and nothing contained it: a
	// default answer is nobody's verdict, so the investigation is not
	// benign (SPEC "Facts and verdicts").
	if st.Investigation != domain.InvestigationPartiallyRemediated {
		t.Errorf("final state %s, want partiallyRemediated: malicious evidence left uncontained", st.Investigation)
	}
}

// Without a notification channel the activity log says so.
func TestNoChannelIsRecorded(t *testing.T) {
	f := newFixture(t, domain.VerdictMalicious)
	f.withBook(askBook("        remind: 3h\n        default: clean\n", ""))
	f.run()
	log, err := f.store.IncidentActivity(context.Background(), f.incident)
	if err != nil {
		t.Fatal(err)
	}
	var notes []string
	for _, e := range log {
		if e.Verb == "question.notify" {
			notes = append(notes, e.After)
		}
	}
	if len(notes) != 2 || !strings.Contains(notes[0], "no notification channel is configured") || !strings.Contains(notes[1], "reminder 1") {
		t.Errorf("activity log: %q; want the question and one reminder, each unsent for want of a channel", notes)
	}
}

// A timeout without a default is a step failure: on_error fail ends the
// investigation failed, saying so.
func TestQuestionTimeoutWithoutDefaultFails(t *testing.T) {
	f := newFixture(t, domain.VerdictMalicious)
	f.withBook(askBook("", ""))
	st := f.run()
	if st.Investigation != domain.InvestigationFailed || !strings.Contains(st.Error, "no answer within 4h0m0s") {
		t.Errorf("state %s, error %q; want failed with no answer within 4h", st.Investigation, st.Error)
	}
	if q := f.question(); q.Status != domain.QuestionTimedOut || len(q.Answer) != 0 {
		t.Errorf("stored question %+v", q)
	}
}

// ... and a handler named in on_error runs instead.
func TestQuestionTimeoutGoesToItsHandler(t *testing.T) {
	f := newFixture(t, domain.VerdictMalicious)
	f.withBook(askBook("", "      on_error: nobody\n    - id: nobody\n      handler: true\n      action: incident.comment\n"+
		"      with: {text: \"nobody answered: {{ error }}\"}\n"))
	st := f.run()
	if st.Investigation == domain.InvestigationFailed {
		t.Errorf("investigation failed (%s) although the timeout has a handler", st.Error)
	}
	var handled bool
	for _, c := range f.comments() {
		handled = handled || strings.HasPrefix(c, "nobody answered: question ") && strings.Contains(c, "no answer within 4h0m0s")
	}
	if !handled {
		t.Errorf("comments %q; want the handler's", f.comments())
	}
}

// The validator refuses what cannot be an answer, with the reason; the
// genuine answer then goes through once.
func TestAnswerRefusals(t *testing.T) {
	f := newFixture(t, domain.VerdictMalicious)
	f.withBook(askBook("", ""))
	got := map[string]error{}
	note := func(name string) func(any, error) { return func(_ any, err error) { got[name] = err } }
	f.answerAt(time.Hour, AnswerRequest{Answer: []string{"malicious"}, By: "vic", Role: domain.RoleViewer}, note("viewer"))
	f.answerAt(time.Hour, AnswerRequest{QuestionID: "nope", Answer: []string{"malicious"}, By: "ana", Role: domain.RoleAnalyst}, note("unknown"))
	f.answerAt(time.Hour, AnswerRequest{Answer: []string{"maybe"}, By: "ana", Role: domain.RoleAnalyst}, note("not offered"))
	f.answerAt(time.Hour, AnswerRequest{Answer: []string{"malicious", "clean"}, By: "ana", Role: domain.RoleAnalyst}, note("two"))
	f.answerAt(time.Hour, AnswerRequest{Answer: []string{"clean"}, By: "ana", Role: domain.RoleAnalyst}, note("genuine"))
	// Right behind the genuine answer, while it is being recorded.
	f.answerAt(time.Hour, AnswerRequest{Answer: []string{"malicious"}, By: "bo", Role: domain.RoleResponder}, note("again"))
	f.run()
	for name, want := range map[string]string{"viewer": ErrForbidden, "unknown": ErrNotFound, "not offered": ErrInvalid,
		"two": ErrInvalid, "again": ErrConflict} {
		if !refusal(got[name], want) {
			t.Errorf("%s: got %v, want a %s refusal", name, got[name], want)
		}
	}
	if got["genuine"] != nil {
		t.Errorf("genuine answer: %v", got["genuine"])
	}
	for name, msg := range map[string]string{"not offered": `"maybe" is not one of the choices (malicious, clean)`,
		"again": "already answered by ana: clean"} {
		if got[name] == nil || !strings.Contains(got[name].Error(), msg) {
			t.Errorf("%s: %v, want it to say %q", name, got[name], msg)
		}
	}
}

// A forged or unsigned answer is refused like a forged decision.
func TestForgedAnswersAreRefused(t *testing.T) {
	k := testKeys(t, 1)
	f := newFixture(t, domain.VerdictMalicious)
	f.withBook(askBook("        default: clean\n", ""))
	f.env.SetWorkerOptions(worker.Options{Interceptors: []interceptor.WorkerInterceptor{Authenticator(k)}})
	f.env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: authWorkflowID})
	var unsigned, forged, genuine error
	f.answerAt(time.Hour, AnswerRequest{Answer: []string{"malicious"}, By: "ana", Role: domain.RoleAnalyst},
		func(_ any, err error) { unsigned = err })
	f.env.RegisterDelayedCallback(func() {
		r := AnswerRequest{QuestionID: f.openQuestion().ID, Answer: []string{"clean"}, By: "ana", Role: domain.RoleAnalyst}
		f.signed(k, UpdateAnswer, &r)
		r.Answer = []string{"malicious"} // altered after signing
		f.update(UpdateAnswer, r, func(_ any, err error) { forged = err })
	}, time.Hour)
	f.env.RegisterDelayedCallback(func() {
		r := AnswerRequest{QuestionID: f.openQuestion().ID, Answer: []string{"malicious"}, By: "ana", Role: domain.RoleAnalyst}
		f.signed(k, UpdateAnswer, &r)
		f.update(UpdateAnswer, r, func(_ any, err error) { genuine = err })
	}, 2*time.Hour)
	f.run()
	if !refusal(unsigned, ErrForbidden) || !refusal(forged, ErrForbidden) {
		t.Errorf("unsigned: %v; forged: %v; want both forbidden", unsigned, forged)
	}
	if genuine != nil {
		t.Errorf("signed answer: %v", genuine)
	}
	if q := f.question(); q.AnsweredBy != "ana" || !slices.Equal(q.Answer, []string{"malicious"}) {
		t.Errorf("question %+v; want the signed answer only", q)
	}
}

// Alerts that join while a question waits are analysed at once: their
// independent steps are proposed without waiting for the answer.
func TestAlertsJoiningDuringAnAskAreAnalysed(t *testing.T) {
	f := newFixture(t, domain.VerdictMalicious)
	f.withBook(`name: ask-join
version: 1
stages:
  triage:
    - id: scan
      for_each: devices
      action: device.run_av_scan
      approval: auto
    - id: confirm
      ask: {to: analyst, question: "Isolate everything?", choices: ["yes", "no"], timeout: 8h, default: "no"}
  containment:
    - id: isolate
      for_each: devices
      when: steps.confirm.answer == "yes"
      action: device.isolate
      approval: auto
`)
	f.env.RegisterDelayedCallback(func() {
		now := time.Date(2026, 5, 1, 9, 30, 0, 0, time.UTC)
		second := domain.Evidence{Type: "deviceEvidence", Verdict: domain.VerdictMalicious, Entity: &domain.Entity{
			Key: "device:dev77", Kind: domain.KindDevice, Name: "ws-077.corp.example", Verdict: domain.VerdictMalicious,
			Attrs: map[string]string{"deviceGroup": "Workstations", "mdeDeviceId": "dev77", "osPlatform": "Windows11"}}}
		res, err := f.store.IngestAlert(context.Background(), &domain.Alert{ID: "alert-2", Title: "Lateral movement",
			Status: domain.AlertNew, Severity: domain.SeverityHigh, Category: "LateralMovement", CreatedDateTime: now,
			LastUpdateDateTime: now, Evidence: []domain.Evidence{deviceEvidence(domain.VerdictMalicious), second}}, correlate.Rules{})
		if err != nil || res.IncidentID != f.incident {
			t.Fatalf("second alert: %+v, %v", res, err)
		}
		f.env.SignalWorkflow(SignalAlertsAdded, AlertsAdded{AlertIDs: []string{"alert-2"}})
	}, time.Hour)
	var scannedWhileAsking bool
	f.env.RegisterDelayedCallback(func() {
		for _, a := range f.actions() {
			scannedWhileAsking = scannedWhileAsking || a.Type == "device.run_av_scan" && a.TargetKey == "device:dev77"
		}
		if q := f.openQuestion(); q == nil {
			t.Error("the question closed before the check")
		}
	}, 2*time.Hour)
	f.answerAt(3*time.Hour, AnswerRequest{Answer: []string{"yes"}, By: "ana", Role: domain.RoleAnalyst}, func(_ any, err error) {
		if err != nil {
			t.Errorf("answer: %v", err)
		}
	})
	f.run()
	if !scannedWhileAsking {
		t.Error("ws-077 was not scanned while the question waited: the joining alert waited for the answer")
	}
	isolated := 0
	for _, a := range f.actions() {
		if a.Type == "device.isolate" && a.Status == domain.ActionSucceeded {
			isolated++
		}
	}
	if isolated != 2 {
		t.Errorf("%d devices isolated after the answer yes, want 2", isolated)
	}
	if qs, err := f.store.IncidentQuestions(context.Background(), f.incident, 10); err != nil || len(qs) != 1 {
		t.Errorf("questions %v, %v; want one: the side pass asks the same question", qs, err)
	}
}

const waitBook = `name: wait-test
version: 1
stages:
  recovery:
    - id: release
      wait:
        until: incident.classification == "truePositive"
        timeout: 24h
      on_error: continue
    - id: note
      when: steps.release.met
      action: incident.comment
      with: {text: "classified; released"}
`

// A wait step's condition is checked again when the incident changes: a
// classification set by hand meets it.
func TestWaitIsMetByAnIncidentChange(t *testing.T) {
	f := newFixture(t, domain.VerdictMalicious)
	f.withBook(waitBook)
	f.env.RegisterDelayedCallback(func() {
		tp, det := "truePositive", "malware"
		if _, _, err := f.store.ManageIncident(context.Background(), f.incident,
			records.IncidentChange{Classification: &tp, Determination: &det}, "ana"); err != nil {
			t.Fatal(err)
		}
		f.env.SignalWorkflow(SignalIncidentChanged, IncidentChange{Field: FieldClassification, To: tp, By: "ana"})
	}, 2*time.Hour)
	var waiting []*WaitRecord
	f.env.RegisterDelayedCallback(func() {
		v, err := f.env.QueryWorkflow(QueryState)
		if err != nil {
			t.Fatal(err)
		}
		var st State
		if err := v.Get(&st); err != nil {
			t.Fatal(err)
		}
		waiting = st.Waits
	}, time.Hour)
	start := f.env.Now()
	st := f.run()
	if len(waiting) != 1 || waiting[0].Status != WaitWaiting || waiting[0].Until != `incident.classification == "truePositive"` {
		t.Errorf("waits while waiting: %+v", waiting)
	}
	if !slices.Contains(f.comments(), "classified; released") {
		t.Errorf("comments %q", f.comments())
	}
	if len(st.Waits) != 1 || st.Waits[0].Status != WaitMet || st.Waits[0].Checks != 2 {
		t.Errorf("waits %+v; want met on the second check", st.Waits)
	}
	if took := f.env.Now().Sub(start); took > 3*time.Hour {
		t.Errorf("the investigation took %s: the wait did not end with the change", took)
	}
}

// A wait whose condition never holds times out: the step fails (here
// on_error continue), and the step that reads it is skipped, with why.
func TestWaitTimesOut(t *testing.T) {
	f := newFixture(t, domain.VerdictMalicious)
	f.withBook(waitBook)
	st := f.run()
	if len(st.Waits) != 1 || st.Waits[0].Status != WaitTimedOut || !strings.Contains(st.Waits[0].Error, "condition not met within 24h0m0s") {
		t.Errorf("waits %+v", st.Waits)
	}
	if slices.Contains(f.comments(), "classified; released") {
		t.Error("the note ran although the condition was never met")
	}
	if !hasStep(st, "note", "skipped: when is false: steps.release.met") {
		t.Errorf("steps %+v; want note skipped with the reason", st.Steps)
	}
}

func hasStep(st *State, step, outcome string) bool {
	return slices.ContainsFunc(st.Steps, func(r StepRecord) bool { return r.Step == step && r.Outcome == outcome })
}

// An approval answered no: the step that depends on the action is skipped,
// and the investigation says why (issue 20, item 5).
func TestApprovalAnsweredNoSkipsTheDependentStep(t *testing.T) {
	f := newFixture(t, domain.VerdictMalicious)
	f.settings(policy.Settings{Default: policy.SemiAll})
	f.withBook(`name: reject-test
version: 1
stages:
  containment:
    - id: isolate
      for_each: devices
      action: device.isolate
      approval: required
  review:
    - id: tell
      when: steps.isolate.succeeded > 0
      action: incident.comment
      with: {text: "isolated"}
`)
	f.env.RegisterDelayedCallback(func() {
		f.decide(DecideRequest{ActionID: f.pendingAction().ID, Decision: domain.DecisionReject, By: "bo", Role: domain.RoleResponder,
			Comment: "business critical"}, func(err error) {
			if err != nil {
				t.Errorf("reject: %v", err)
			}
		})
	}, time.Hour)
	st := f.run()
	if slices.Contains(f.comments(), "isolated") {
		t.Error("the dependent step ran after the rejection")
	}
	if !hasStep(st, "tell", "skipped: when is false: steps.isolate.succeeded > 0") {
		t.Errorf("steps %+v; want tell skipped with the reason", st.Steps)
	}
	if st.Investigation != domain.InvestigationPartiallyRemediated {
		t.Errorf("final state %s, want partiallyRemediated", st.Investigation)
	}
}

// Stopping the investigation cancels its open question.
func TestStopCancelsAnOpenQuestion(t *testing.T) {
	f := newFixture(t, domain.VerdictMalicious)
	f.withBook(askBook("", ""))
	f.env.RegisterDelayedCallback(func() {
		f.update(UpdateStop, StopRequest{Reason: "false alarm", By: "bo", Role: domain.RoleResponder}, func(_ any, err error) {
			if err != nil {
				t.Errorf("stop: %v", err)
			}
		})
	}, time.Hour)
	st := f.run()
	if q := f.question(); q.Status != domain.QuestionCancelled || !strings.Contains(q.Note, "false alarm") {
		t.Errorf("question after the stop: %+v", q)
	}
	if st.Investigation != domain.InvestigationTerminatedByUser {
		t.Errorf("final state %s", st.Investigation)
	}
}

// A question to a user goes through the notifier to the user's address;
// an analyst who records the user's answer is noted as answering on their
// behalf.
func TestAskTheUser(t *testing.T) {
	user := domain.Evidence{Type: "userEvidence", Verdict: domain.VerdictSuspicious, Entity: &domain.Entity{
		Key: "user:judy@corp.example", Kind: domain.KindUser, Name: "judy@corp.example", Verdict: domain.VerdictSuspicious,
		Attrs: map[string]string{"upn": "judy@corp.example"}}}
	f := newFixtureWith(t, deviceEvidence(domain.VerdictSuspicious), user)
	n := &recordingNotifier{}
	f.notifier = n
	f.withBook(`name: was-it-you
version: 1
stages:
  triage:
    - id: was_it_you
      ask:
        to: user
        question: "Did you sign in to {{ devices[0].name }} this morning?"
        choices: ["yes", "no"]
        default: "no"
      target: first(users)
  review:
    - id: note
      action: incident.comment
      with: {text: "judy says {{ steps.was_it_you.answer }}"}
`)
	f.answerAt(time.Hour, AnswerRequest{Answer: []string{"yes"}, By: "ana", Role: domain.RoleAnalyst, Note: "called her"},
		func(_ any, err error) {
			if err != nil {
				t.Errorf("answer: %v", err)
			}
		})
	f.run()
	if len(n.sent) != 1 || n.sent[0].To != "judy@corp.example" || !strings.Contains(n.sent[0].Body, "Did you sign in to ws-042") {
		t.Errorf("sent %+v; want the question to judy", n.sent)
	}
	q := f.question()
	if q.Audience != domain.AudienceUser || q.Recipient != "user:judy@corp.example" || q.AnsweredBy != "ana" ||
		q.Note != "answered on behalf of judy@corp.example. called her" {
		t.Errorf("question %+v", q)
	}
	if !slices.Contains(f.comments(), "judy says yes") {
		t.Errorf("comments %q", f.comments())
	}
}
