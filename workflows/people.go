package workflows

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/airsoc/air/activities"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/msgauth"
	"github.com/airsoc/air/internal/playbook"
)

// People in the loop: ask steps put a question to a person and wait for
// the answer (the answer Update), wait steps wait for a condition on the
// incident. Both wait in coroutines of their own, like an action waiting
// for a decision: the step only records the question or the wait, and the
// steps that read its output (and the end of its stage) await it through
// await, which goes on analysing alerts that join meanwhile.

// peopleVersion marks runs that know ask and wait steps. Runs recorded
// before it never met one (the parser refused the keys), so the marker
// only tells a new run from an old one; the steps refuse to run without
// it rather than act on a history that cannot hold them.
const peopleVersion = "people-in-the-loop"

// UpdateAnswer answers an open question of the investigation
// (AnswerRequest).
const UpdateAnswer = "answer"

// TimeoutActor is who answered a question that timed out with a default
// (Question.AnsweredBy, steps.ID.answeredBy).
const TimeoutActor = "system:timeout"

// AnswerRequest is the payload of the answer Update: a person answers an
// open question with one of its choices (one or more when it takes
// several).
type AnswerRequest struct {
	QuestionID string      `json:"questionId"`
	Answer     []string    `json:"answer"`
	Note       string      `json:"note,omitempty"`
	By         string      `json:"by"`
	Role       domain.Role `json:"role"`
	// Auth authenticates the request (see auth.go); the engine sets it.
	Auth *msgauth.Stamp `json:"auth,omitempty"`
}

func (m *AnswerRequest) stamp() **msgauth.Stamp { return &m.Auth }

// Wait statuses (WaitRecord.Status).
const (
	WaitWaiting   = "waiting"
	WaitMet       = "met"
	WaitTimedOut  = "timedOut"
	WaitCancelled = "cancelled"
	WaitFailed    = "failed" // the condition could not be evaluated
)

// WaitRecord is a wait step waiting, or done waiting, for its condition;
// the state query shows it, so the pages and the command line can say
// what an investigation waits for.
type WaitRecord struct {
	ID       string    `json:"id"`
	Playbook string    `json:"playbook"`
	Step     string    `json:"step"`
	Until    string    `json:"until"`
	Since    time.Time `json:"since"`
	Deadline time.Time `json:"deadline"`
	Status   string    `json:"status"`
	// Error says why the wait failed or timed out.
	Error string `json:"error,omitempty"`
	// Checks counts the evaluations of the condition.
	Checks int `json:"checks"`
}

func (s *State) question(id string) *domain.Question {
	i := slices.IndexFunc(s.Questions, func(q *domain.Question) bool { return q.ID == id })
	if i < 0 {
		return nil
	}
	return s.Questions[i]
}

// adoptQuestions takes into the state the questions earlier runs (or
// passes) recorded: an answer given to one of them holds when its step is
// reached, and an open one can be answered meanwhile.
func (w *incident) adoptQuestions(recorded []domain.Question) {
	for i := range recorded {
		if w.state.question(recorded[i].ID) == nil {
			q := recorded[i]
			w.state.Questions = append(w.state.Questions, &q)
		}
	}
}

// finished reports whether nothing more will happen to the question: it
// is final and its final state is recorded.
func (w *incident) finished(q *domain.Question) func() bool {
	return func() bool { return q.Status.Final() && !w.recording[q.ID] }
}

// ended is the reason waits end early: the investigation stopped or failed.
func (w *incident) ended() string {
	switch {
	case w.stop != nil:
		return w.stop.Reason
	case w.failing != "":
		return "the investigation failed: " + w.failing
	}
	return ""
}

// ask records the question an ask step's invocation puts (or finds the
// one an earlier pass or run recorded), tells its audience, and follows
// it to an answer or its timeout.
func (w *incident) ask(ctx workflow.Context, r *pbRun, step *playbook.Step, inv playbook.Invocation) (*domain.Question, error) {
	key := fmt.Sprintf("incident-%d/%s%s/%s/ask/%s", w.in.IncidentID, r.pb.Name, r.path, step.ID, inv.Target)
	id := actionID(key)
	if q := w.state.question(id); q != nil {
		w.followQuestion(ctx, q, step)
		return q, nil
	}
	text, _ := inv.Args["question"].(string)
	choices, _ := playbook.Strings(inv.Args["choices"])
	now := workflow.Now(ctx)
	q := &domain.Question{ID: id, IncidentID: w.in.IncidentID, InvestigationID: workflow.GetInfo(ctx).WorkflowExecution.ID,
		Playbook: r.pb.Name, PlaybookVersion: r.pb.Version, Step: step.ID, Audience: domain.Audience(step.Ask.To),
		Recipient: inv.Target, RecipientName: inv.TargetName, Text: text, Choices: choices, Multiple: step.Ask.Multiple,
		Default: step.Ask.Default, Status: domain.QuestionOpen, CreatedAt: now, Deadline: now.Add(step.Ask.Timeout)}
	if len(q.Default) > 0 {
		if bad, ok := q.Offers(q.Default); !ok {
			return nil, fmt.Errorf("ask.default %q is not one of the choices (%s)", bad, strings.Join(choices, ", "))
		}
	}
	var stored domain.Question
	if err := workflow.ExecuteLocalActivity(localCtx(ctx), acts.RecordQuestion, q).Get(ctx, &stored); err != nil {
		return nil, fmt.Errorf("record question: %w", err)
	}
	if known := w.state.question(stored.ID); known != nil { // a side pass asked it meanwhile
		w.followQuestion(ctx, known, step)
		return known, nil
	}
	w.state.Questions = append(w.state.Questions, &stored)
	w.log.Info("question asked", "question", stored.ID, "audience", stored.Audience, "step", step.ID)
	// Newly asked (not a question an earlier run put): tell its audience.
	// The store may keep the time to the microsecond only.
	if fresh := stored.CreatedAt.Sub(now).Abs() < time.Millisecond; stored.Status == domain.QuestionOpen && fresh {
		w.notify(ctx, &stored, 0)
	}
	w.followQuestion(ctx, &stored, step)
	return &stored, nil
}

// notify tells a question's audience of it (reminder 0) or reminds them.
// A notification that cannot be sent is logged and recorded, never fatal:
// the question still waits in the action center.
func (w *incident) notify(ctx workflow.Context, q *domain.Question, reminder int) {
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 5 * time.Second, MaximumAttempts: 3},
	})
	err := workflow.ExecuteActivity(actx, acts.NotifyQuestion, activities.QuestionNotice{Question: *q, Reminder: reminder}).Get(ctx, nil)
	if err == nil {
		return
	}
	w.log.Warn("question notification failed", "question", q.ID, "error", err)
	msg := fmt.Sprintf("could not send question %s: %s; it waits in the action center", q.ID, rootMessage(err))
	if aerr := workflow.ExecuteLocalActivity(localCtx(ctx), acts.AuditInvestigation, w.in.IncidentID, "system:investigation",
		"question.notify", msg).Get(ctx, nil); aerr != nil {
		w.log.Error("record failed notification", "error", aerr)
	}
}

// followQuestion starts, once per question and run, the coroutine that
// takes it to a final state: answered (the Update), timed out, or
// cancelled when the investigation stops or fails. Reminders go out every
// Ask.Remind while it is open.
func (w *incident) followQuestion(ctx workflow.Context, q *domain.Question, step *playbook.Step) {
	if w.followed[q.ID] || q.Status.Final() {
		return
	}
	w.followed[q.ID] = true
	w.following++
	workflow.Go(ctx, func(ctx workflow.Context) {
		defer func() { w.following-- }()
		if err := w.awaitAnswer(ctx, q, step.Ask.Remind); err != nil {
			w.log.Error("follow question", "question", q.ID, "error", err)
		}
	})
}

func (w *incident) awaitAnswer(ctx workflow.Context, q *domain.Question, remind time.Duration) error {
	w.refreshState(ctx)
	defer w.refreshState(ctx)
	for {
		now := workflow.Now(ctx)
		wake := q.Deadline
		next := time.Time{}
		if remind > 0 {
			next = q.CreatedAt.Add(time.Duration(q.Reminders+1) * remind)
			if next.Before(wake) {
				wake = next
			}
		}
		if left := wake.Sub(now); left > 0 {
			// An answer being recorded may yet fail and reopen the
			// question: wait for the record, then look again.
			if _, err := workflow.AwaitWithTimeout(ctx, left, func() bool {
				return (q.Status != domain.QuestionOpen || w.ended() != "") && !w.recording[q.ID]
			}); err != nil {
				return err
			}
		}
		if q.Status != domain.QuestionOpen {
			return nil // answered through the Update, which recorded it
		}
		now = workflow.Now(ctx)
		switch {
		case w.ended() != "":
			q.Status, q.ClosedAt, q.Note = domain.QuestionCancelled, &now, w.ended()
		case !now.Before(q.Deadline):
			q.Status, q.ClosedAt = domain.QuestionTimedOut, &now
			if len(q.Default) > 0 {
				q.Answer, q.AnsweredBy = slices.Clone(q.Default), TimeoutActor
				q.Note = fmt.Sprintf("no answer within %s: the default applies", q.Deadline.Sub(q.CreatedAt))
			} else {
				q.Note = fmt.Sprintf("no answer within %s", q.Deadline.Sub(q.CreatedAt))
			}
			w.log.Info("question timed out", "question", q.ID, "default", q.Default)
		default: // a reminder is due; after a pause (a worker down for
			// hours), one reminder stands for the ones missed.
			if due := int(now.Sub(q.CreatedAt) / max(remind, 1)); due > q.Reminders+1 {
				q.Reminders = due - 1
			}
			q.Reminders++
			w.notify(ctx, q, q.Reminders)
			if err := w.saveQuestion(ctx, q); err != nil {
				return err
			}
			continue
		}
		return w.saveQuestion(ctx, q)
	}
}

func (w *incident) saveQuestion(ctx workflow.Context, q *domain.Question) error {
	w.recording[q.ID] = true
	defer delete(w.recording, q.ID)
	if err := workflow.ExecuteLocalActivity(localCtx(ctx), acts.UpdateQuestion, q).Get(ctx, nil); err != nil {
		return fmt.Errorf("record question %s: %w", q.ID, err)
	}
	return nil
}

// closeOrphans cancels the questions adopted from the store that this run
// never reached again (their step's when turned false, or the playbook
// changed course): nobody may answer a question nothing waits for.
func (w *incident) closeOrphans(ctx workflow.Context) {
	for _, q := range w.state.Questions {
		if q.Status != domain.QuestionOpen || w.followed[q.ID] {
			continue
		}
		now := workflow.Now(ctx)
		q.Status, q.ClosedAt = domain.QuestionCancelled, &now
		q.Note = "the investigation finished without reaching this question again"
		if reason := w.ended(); reason != "" {
			q.Note = reason
		}
		if err := w.saveQuestion(ctx, q); err != nil {
			w.log.Error("cancel question", "question", q.ID, "error", err)
		}
	}
}

// askOutput is an ask step's output from its question.
func askOutput(q *domain.Question) playbook.StepOutput {
	switch q.Status {
	case domain.QuestionAnswered:
		return playbook.AskOutput(playbook.StepSucceeded, q.Answer, q.AnsweredBy, false, "")
	case domain.QuestionTimedOut:
		if len(q.Answer) > 0 {
			return playbook.AskOutput(playbook.StepSucceeded, q.Answer, q.AnsweredBy, true, "")
		}
		return playbook.AskOutput(playbook.StepFailed, nil, "", true, fmt.Sprintf("question %s: %s", q.ID, q.Note))
	case domain.QuestionCancelled:
		return playbook.AskOutput(playbook.StepSkipped, nil, "", false, "")
	}
	return playbook.AskOutput(playbook.StepPending, nil, "", false, "")
}

// checkAnswer refuses an answer by a role that may not answer, to an
// unknown question, to one no longer open or being answered, or with a
// choice the question does not offer. Before the first snapshot only what
// needs no state is checked (early); the handler checks again.
func (w *incident) checkAnswer(req AnswerRequest, early bool) error {
	if !req.Role.AtLeast(domain.RoleAnalyst) {
		return refuse(ErrForbidden, "role %q may not answer questions: analyst or above needed", req.Role)
	}
	if len(req.Answer) == 0 {
		return refuse(ErrInvalid, "answer: give one of the question's choices")
	}
	if early {
		return nil
	}
	q := w.state.question(req.QuestionID)
	if q == nil {
		return refuse(ErrNotFound, "question %s is not part of incident %d", req.QuestionID, w.in.IncidentID)
	}
	switch {
	case q.Status == domain.QuestionAnswered:
		return refuse(ErrConflict, "question %s was already answered by %s: %s", q.ID, q.AnsweredBy, strings.Join(q.Answer, ", "))
	case q.Status != domain.QuestionOpen:
		return refuse(ErrConflict, "question %s is %s: %s", q.ID, q.Status, q.Note)
	case w.recording[q.ID]:
		return refuse(ErrConflict, "question %s is being answered by someone else", q.ID)
	}
	if bad, ok := q.Offers(req.Answer); !ok {
		if bad == "" {
			return refuse(ErrInvalid, "answer: question %s takes one answer, got %d", q.ID, len(req.Answer))
		}
		if slices.Contains(q.Choices, bad) {
			return refuse(ErrInvalid, "answer: %q is given twice", bad)
		}
		return refuse(ErrInvalid, "answer: %q is not one of the choices (%s)", bad, strings.Join(q.Choices, ", "))
	}
	return nil
}

// answer applies a validated answer and records it; the question's
// follower then ends and the steps that read it go on.
func (w *incident) answer(ctx workflow.Context, req AnswerRequest) (*domain.Question, error) {
	w.updated = true
	if err := w.awaitLoaded(ctx); err != nil {
		return nil, err
	}
	if err := w.checkAnswer(req, false); err != nil {
		return nil, err
	}
	q := w.state.question(req.QuestionID)
	now := workflow.Now(ctx)
	note := req.Note
	if q.Audience == domain.AudienceUser && req.By != strings.TrimPrefix(string(q.Recipient), "user:") {
		note = strings.TrimSpace(fmt.Sprintf("answered on behalf of %s. %s", q.RecipientName, req.Note))
	}
	prev := *q
	q.Status, q.Answer, q.AnsweredBy, q.Note, q.ClosedAt = domain.QuestionAnswered, slices.Clone(req.Answer), req.By, note, &now
	w.log.Info("question answered", "question", q.ID, "by", req.By)
	answered := *q
	if err := w.saveQuestion(ctx, &answered); err != nil {
		*q = prev // not recorded: not answered; they may answer again
		return nil, err
	}
	return &answered, nil
}

// condWait is a wait step's wait, shared by the passes that reach it.
type condWait struct {
	rec *WaitRecord
}

func (c *condWait) done() bool { return c.rec.Status != WaitWaiting }

// waitFor starts, once per wait and run, the coroutine that checks a wait
// step's condition now and again whenever the incident changes (a change
// by hand, alerts joining), until it holds or the timeout runs out.
func (w *incident) waitFor(ctx workflow.Context, r *pbRun, step *playbook.Step, env *playbook.Env) *condWait {
	id := actionID(fmt.Sprintf("incident-%d/%s%s/%s/wait", w.in.IncidentID, r.pb.Name, r.path, step.ID))
	if c := w.waits[id]; c != nil {
		return c
	}
	now := workflow.Now(ctx)
	c := &condWait{rec: &WaitRecord{ID: id, Playbook: r.pb.Name, Step: step.ID, Until: step.Wait.Until, Since: now,
		Deadline: now.Add(step.Wait.Timeout), Status: WaitWaiting}}
	w.waits[id] = c
	w.state.Waits = append(w.state.Waits, c.rec)
	w.following++
	workflow.Go(ctx, func(ctx workflow.Context) {
		defer func() { w.following-- }()
		if err := w.awaitCondition(ctx, c, step, env); err != nil {
			c.rec.Status, c.rec.Error = WaitFailed, rootMessage(err)
		}
		w.log.Info("wait ended", "step", step.ID, "status", c.rec.Status)
	})
	return c
}

// waitSeesChanges is the version marker under which a wait step checks a
// fresh snapshot when the incident changed before it started (the run's
// snapshot may predate an analyst's or a case action's change), and case
// actions that change the incident count as changes.
const waitSeesChanges = "wait-sees-changes"

func (w *incident) awaitCondition(ctx workflow.Context, c *condWait, step *playbook.Step, env *playbook.Env) error {
	// refresh reads the incident again, for a condition on what it is now.
	refresh := func() error {
		var snap activities.Snapshot
		if err := workflow.ExecuteLocalActivity(localCtx(ctx), acts.LoadIncident, w.in.IncidentID).Get(ctx, &snap); err != nil {
			return fmt.Errorf("load incident: %w", err)
		}
		env = playbook.Refresh(env, playbook.NewEnv(snap.Incident, snap.Alerts, inScope(snap)))
		return nil
	}
	if w.epoch > 0 && w.version(ctx, waitSeesChanges) == 1 {
		if err := refresh(); err != nil {
			return err
		}
	}
	for {
		c.rec.Checks++
		met, err := step.Met(env)
		if err != nil {
			return err
		}
		if met {
			c.rec.Status = WaitMet
			return nil
		}
		seen := w.epoch
		left := c.rec.Deadline.Sub(workflow.Now(ctx))
		changed := false
		if left > 0 {
			if changed, err = workflow.AwaitWithTimeout(ctx, left, func() bool { return w.epoch != seen || w.ended() != "" }); err != nil {
				return err
			}
		}
		switch {
		case w.ended() != "":
			c.rec.Status, c.rec.Error = WaitCancelled, w.ended()
			return nil
		case !changed:
			c.rec.Status = WaitTimedOut
			c.rec.Error = fmt.Sprintf("condition not met within %s: %s", step.Wait.Timeout, step.Wait.Until)
			return nil
		}
		if err := refresh(); err != nil {
			return err
		}
	}
}

// inScope returns the snapshot's entities the investigation took in (all
// of them before scope was recorded).
func inScope(snap activities.Snapshot) []domain.Entity {
	if len(snap.Scope) == 0 {
		return snap.Entities
	}
	return slices.DeleteFunc(slices.Clone(snap.Entities), func(e domain.Entity) bool { return !slices.Contains(snap.Scope, e.Key) })
}

// waitOutput is a wait step's output from its wait.
func waitOutput(c *condWait) playbook.StepOutput {
	switch c.rec.Status {
	case WaitMet:
		return playbook.WaitOutput(playbook.StepSucceeded, true, false, "")
	case WaitTimedOut:
		return playbook.WaitOutput(playbook.StepFailed, false, true, c.rec.Error)
	case WaitFailed:
		return playbook.WaitOutput(playbook.StepFailed, false, false, c.rec.Error)
	case WaitCancelled:
		return playbook.WaitOutput(playbook.StepSkipped, false, false, "")
	}
	return playbook.WaitOutput(playbook.StepPending, false, false, "")
}
