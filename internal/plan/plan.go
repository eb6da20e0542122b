package plan

import (
	"fmt"
	"slices"
	"strings"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/playbook"
	"github.com/airsoc/air/internal/policy"
)

// Incident is what a plan is made for: the incident with its alerts and
// entities, and the tenant's settings.
type Incident struct {
	Incident domain.Incident
	Alerts   []domain.Alert
	Entities []domain.Entity
	Settings policy.Settings
	// Merged are the actions of incidents merged into this one
	// (store.MergedActions); proposals they cover are planned as covered.
	Merged []domain.Action
	// Actions are the incident's own actions so far (a stored incident's);
	// proposals they record are planned as done, or as their status.
	Actions []domain.Action
	// Inputs are the tenant's values of the playbooks' inputs, by playbook
	// name; an input without one plans with its default.
	Inputs map[string]map[string]any
}

// Step is one thing a playbook would do.
type Step struct {
	Playbook string         `json:"playbook"`
	Version  int            `json:"version"`
	Stage    playbook.Stage `json:"stage"`
	Step     string         `json:"step"`
	Via      string         `json:"via,omitempty"` // the use step that called the sub-playbook
	Action   string         `json:"action"`
	Item     string         `json:"item,omitempty"`
	Target   string         `json:"target,omitempty"`
	Params   map[string]any `json:"params,omitempty"`
	// Outcome is "run" (without a human), "wait" (for approval), "skip"
	// (policy leaves it out), "covered" (an action of an incident merged
	// into this one already does it), "do" (incident bookkeeping, always
	// done), "done" (a stored incident's action that succeeded already; an
	// action it recorded otherwise shows its status: pending, rejected, …)
	// "ask" (an ask step puts its question; Reason says to whom, what,
	// and the answer the plan assumes), "wait" (a wait step waits for its
	// condition; Reason says whether it holds now) or "none" (the step
	// does nothing: its when is false or its for_each empty; Reason says
	// which, and which pending actions it reads).
	Outcome string `json:"outcome"`
	Reason  string `json:"reason,omitempty"`
}

// OutcomeCovered is a step's outcome when an action of a merged incident
// covers it (Context.Covered).
const OutcomeCovered = "covered"

// OutcomeNone is the outcome of a step that does nothing for the incident.
const OutcomeNone = "none"

// What a plan assumes of the actions that would wait for approval
// (Options.Assume).
const (
	// AssumePending (the default) plans later steps as if every waiting
	// action were still pending when they look.
	AssumePending = ""
	// AssumeApproved plans them as if every waiting action had been
	// approved and had succeeded.
	AssumeApproved = "approved"
	// AssumeRejected plans them as if every waiting action had been
	// rejected (or had expired).
	AssumeRejected = "rejected"
)

// Outcomes of ask and wait steps.
const (
	OutcomeAsk  = "ask"
	OutcomeWait = "wait"
)

// Options change what Make assumes. The zero value is the default.
type Options struct {
	// Assume is AssumePending, AssumeApproved or AssumeRejected.
	Assume string
	// Answers are the answers to assume to ask steps, by step id (of the
	// playbook or of a sub-playbook). An ask step without one is assumed
	// answered with its default, or still open when it has none.
	Answers map[string][]string
}

// Plan is what the playbooks would do to one incident.
type Plan struct {
	IncidentID int64    `json:"incidentId"`
	Incident   string   `json:"incident"`
	Playbooks  []string `json:"playbooks"` // the ones that apply, in order
	// NotRun are the playbooks that matched but do not run (an exclusive
	// playbook runs alone; fallbacks yield to other playbooks), with why.
	NotRun []NotRun `json:"notRun,omitempty"`
	Steps  []Step   `json:"steps"`
	// Overlaps are remediations two playbooks (or two steps) would both
	// propose on one target: the workflow makes one action of them, the
	// second proposal joining the first; each names both places.
	Overlaps []string `json:"overlaps,omitempty"`
	// Assumed is what the plan assumed of actions that would wait
	// (Options.Assume); empty: still pending.
	Assumed string `json:"assumed,omitempty"`
	// Inputs are the input values the planned playbooks run with (the
	// tenant's, else the defaults), by playbook name.
	Inputs map[string]map[string]any `json:"inputs,omitempty"`

	assume  string
	answers map[string][]string
}

// NotRun is a playbook that matched the incident but does not run.
type NotRun struct {
	Playbook string `json:"playbook"` // "NAME vVERSION"
	Reason   string `json:"reason"`
}

// Make plans, without side effects, what the playbooks would do to the
// incident: the same selection, expansion and policy decisions as the
// workflow (Propose), assuming every action that would run succeeds and
// every action that would wait is still pending when later steps look.
// Error handlers are not planned: nothing fails in a plan.
func Make(books []*playbook.Playbook, in Incident) (*Plan, error) {
	return MakeWith(books, in, Options{})
}

// MakeWith is Make with options: with Assume set, later steps see every
// action that would wait as approved and succeeded, or as rejected, so the
// plan shows the rest of the story.
func MakeWith(books []*playbook.Playbook, in Incident, opts Options) (*Plan, error) {
	switch opts.Assume {
	case AssumePending, AssumeApproved, AssumeRejected:
	default:
		return nil, domain.Invalid("assume", "want approved or rejected, got %q", opts.Assume)
	}
	env := playbook.NewEnv(in.Incident, in.Alerts, in.Entities)
	choice, err := playbook.ChooseWith(books, env, in.Inputs)
	if err != nil {
		return nil, err
	}
	selected := choice.Run
	p := &Plan{IncidentID: in.Incident.ID, Incident: in.Incident.DisplayName, Playbooks: []string{}, Steps: []Step{}}
	for _, l := range choice.Left {
		p.NotRun = append(p.NotRun, NotRun{Playbook: fmt.Sprintf("%s v%d", l.Playbook.Name, l.Playbook.Version), Reason: l.Reason})
	}
	for _, pb := range selected {
		p.Playbooks = append(p.Playbooks, fmt.Sprintf("%s v%d", pb.Name, pb.Version))
	}
	c := NewContext(in.Incident, in.Entities, in.Settings)
	c.Merged, c.Recorded = in.Merged, in.Actions
	p.assume, p.Assumed, p.answers = opts.Assume, opts.Assume, opts.Answers
	runs := make([]*planRun, len(selected))
	for i, pb := range selected {
		penv := env
		if len(pb.Inputs) > 0 {
			penv = playbook.WithPlaybookInputs(env, pb, in.Inputs[pb.Name])
			if p.Inputs == nil {
				p.Inputs = map[string]map[string]any{}
			}
			p.Inputs[pb.Name] = pb.ResolveInputs(in.Inputs[pb.Name])
		}
		runs[i] = &planRun{pb: pb, env: withSteps(penv)}
	}
	for _, stage := range playbook.Stages {
		for _, r := range runs {
			if err := p.stage(c, r, stage, ""); err != nil {
				return nil, err
			}
		}
	}
	p.Overlaps = overlaps(p.Steps)
	return p, nil
}

// overlaps lists the remediations proposed by more than one step on one
// target (bookkeeping and steps that do nothing aside).
func overlaps(steps []Step) []string {
	first := map[string]Step{}
	var out []string
	for _, s := range steps {
		if s.Target == "" || s.Outcome == "do" || s.Outcome == "none" {
			continue
		}
		k := s.Action + " " + s.Target
		f, seen := first[k]
		if !seen {
			first[k] = s
			continue
		}
		out = append(out, fmt.Sprintf("%s on %s: proposed by %s/%s and by %s/%s; one action, the second joins the first",
			s.Action, s.Target, f.Playbook, f.Step, s.Playbook, s.Step))
	}
	return out
}

type planRun struct {
	pb  *playbook.Playbook
	env *playbook.Env
	// remediations are the predicted outcomes of the run's remediation
	// invocations, in order: what a use step running it reports.
	remediations []playbook.ActionOutput
}

func withSteps(env *playbook.Env) *playbook.Env {
	e := *env
	e.Steps = map[string]playbook.StepOutput{}
	return &e
}

func (p *Plan) stage(c *Context, r *planRun, stage playbook.Stage, via string) error {
	for _, step := range r.pb.Steps(stage) {
		if step.Handler {
			continue
		}
		invs, err := step.Expand(r.env)
		if err != nil {
			return fmt.Errorf("playbook %s step %s: %w", r.pb.Name, step.ID, err)
		}
		if len(invs) == 0 {
			if err := p.none(r, step, stage, via); err != nil {
				return err
			}
			r.env.Steps[step.ID] = playbook.Summarize(nil)
			continue
		}
		waits := waitsFor(r, step)
		var results []playbook.ActionOutput
		for _, inv := range invs {
			ps := Step{Playbook: r.pb.Name, Version: r.pb.Version, Stage: stage, Step: step.ID, Via: via,
				Action: step.Action, Item: inv.ItemKey, Target: string(inv.Target), Params: inv.Args}
			res := playbook.ActionOutput{Target: string(inv.Target), TargetName: inv.TargetName, Status: string(domain.ActionSucceeded)}
			switch {
			case step.Use != "":
				sub := &planRun{pb: step.Callee, env: withSteps(playbook.WithInputs(r.env, inv.Args))}
				subVia := r.pb.Name + "/" + step.ID
				for _, st := range playbook.Stages {
					if err := p.stage(c, sub, st, subVia); err != nil {
						return err
					}
				}
				// Like the engine, a use step reports its sub-playbook's
				// remediations.
				results = append(results, sub.remediations...)
				r.remediations = append(r.remediations, sub.remediations...)
				continue
			case step.Ask != nil:
				ps.Action, ps.Outcome, ps.Reason = OutcomeAsk, OutcomeAsk, p.askReason(step, inv)
				r.env.Steps[step.ID] = p.askOutput(step)
				if waits != "" {
					ps.Reason += "; " + waits
				}
				p.Steps = append(p.Steps, ps)
				continue
			case step.Wait != nil:
				met, err := step.Met(r.env)
				if err != nil {
					return fmt.Errorf("playbook %s step %s: %w", r.pb.Name, step.ID, err)
				}
				ps.Action, ps.Outcome = OutcomeWait, OutcomeWait
				ps.Reason = fmt.Sprintf("waits until %s (up to %s): ", oneLine(step.Wait.Until), step.Wait.Timeout)
				if met {
					ps.Reason += "met now, so it goes on at once"
					r.env.Steps[step.ID] = playbook.WaitOutput(playbook.StepSucceeded, true, false, "")
				} else {
					ps.Reason += "not met now: it waits for the incident to change, and fails when the time runs out; later steps plan as if it still waited"
					r.env.Steps[step.ID] = playbook.WaitOutput(playbook.StepPending, false, false, "")
				}
				if waits != "" {
					ps.Reason += "; " + waits
				}
				p.Steps = append(p.Steps, ps)
				continue
			case !step.Spec.Remediation:
				ps.Outcome = "do"
			default:
				if err := p.remediation(c, r, step, inv, &ps, &res); err != nil {
					return err
				}
				r.remediations = append(r.remediations, res)
			}
			results = append(results, res)
			if waits != "" {
				ps.Reason = strings.TrimPrefix(ps.Reason+"; "+waits, "; ")
			}
			p.Steps = append(p.Steps, ps)
		}
		if step.Ask == nil && step.Wait == nil {
			r.env.Steps[step.ID] = playbook.Summarize(results)
		}
	}
	return nil
}

// askReason says what an ask step asks, of whom, and the answer the plan
// assumes: "asks analyst: Is this phishing? [phishing | clean]; assumed
// answer: clean (the default, after 4h without one)".
func (p *Plan) askReason(step *playbook.Step, inv playbook.Invocation) string {
	to := step.Ask.To
	if inv.TargetName != "" {
		to += " " + inv.TargetName
	}
	text, _ := inv.Args["question"].(string)
	choices, _ := playbook.Strings(inv.Args["choices"])
	why := fmt.Sprintf("asks %s: %s [%s]", to, oneLine(text), strings.Join(choices, " | "))
	switch answer, given := p.answers[step.ID]; {
	case given:
		why += "; assumed answer: " + strings.Join(answer, ", ")
	case len(step.Ask.Default) > 0:
		why += fmt.Sprintf("; assumed answer: %s (the default, after %s without one)", strings.Join(step.Ask.Default, ", "), step.Ask.Timeout)
	default:
		why += fmt.Sprintf("; no answer assumed: later steps plan as if it were still open (it fails after %s without one)", step.Ask.Timeout)
	}
	return why
}

// askOutput is what later steps read of an ask step in the plan.
func (p *Plan) askOutput(step *playbook.Step) playbook.StepOutput {
	if answer, given := p.answers[step.ID]; given {
		return playbook.AskOutput(playbook.StepSucceeded, answer, "plan", false, "")
	}
	if len(step.Ask.Default) > 0 {
		return playbook.AskOutput(playbook.StepSucceeded, step.Ask.Default, "system:timeout", true, "")
	}
	return playbook.AskOutput(playbook.StepPending, nil, "", false, "")
}

// oneLine collapses white space, for expressions in reasons.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// remediation plans one invocation of a remediation step as the workflow
// decides it: an action the incident recorded already, left out by
// policy, covered by a merged incident's action, waiting (or, with
// Assume, approved or rejected), or run. It fills the planned row and the
// output later steps read.
func (p *Plan) remediation(c *Context, r *planRun, step *playbook.Step, inv playbook.Invocation, ps *Step, res *playbook.ActionOutput) error {
	a, d, err := Propose(c, r.pb, step, inv)
	if err != nil {
		return err
	}
	ps.Outcome, ps.Reason = string(d.Outcome), d.Reason
	if ps.Target == "" { // a case action: the incident
		ps.Target = string(a.TargetKey)
	}
	known := c.Known(a)
	switch m := c.Covered(a); {
	case known != nil:
		ps.Outcome, ps.Reason = KnownOutcome(known)
		res.Status, res.Result, res.Error = string(known.Status), known.Result, known.Error
	case d.Outcome == policy.Skip:
		res.Status = playbook.InvocationSkipped
	case m != nil:
		ps.Outcome, ps.Reason = OutcomeCovered, CoveredReason(m)
		res.Status, res.Result, res.Error = string(m.Status), m.Result, m.Error
	case d.Outcome == policy.Wait:
		switch p.assume {
		case AssumeApproved:
			res.Status = string(domain.ActionSucceeded)
			ps.Reason += " (assumed approved)"
		case AssumeRejected:
			res.Status = string(domain.ActionRejected)
			ps.Reason += " (assumed rejected)"
		default:
			res.Status = string(domain.ActionPending)
		}
	}
	return nil
}

// none records a step that does nothing for the incident, with why: its
// when or for_each, and the earlier steps it reads that would still wait
// for approval, which is often the real reason.
func (p *Plan) none(r *planRun, step *playbook.Step, stage playbook.Stage, via string) error {
	why, err := step.WhyNone(r.env)
	if err != nil {
		return fmt.Errorf("playbook %s step %s: %w", r.pb.Name, step.ID, err)
	}
	for _, id := range step.Reads {
		out, ok := r.env.Steps[id]
		switch {
		case !ok || out.Pending == 0:
		case r.pb.Step(id) != nil && r.pb.Step(id).Ask != nil:
			why += fmt.Sprintf("; steps.%s waits for an answer, assumed still open (--answer %s=CHOICE plans what follows)", id, id)
		case r.pb.Step(id) != nil && r.pb.Step(id).Wait != nil:
			why += fmt.Sprintf("; steps.%s waits for its condition, assumed still waiting", id)
		default:
			why += fmt.Sprintf("; steps.%s has %d action(s) waiting for approval, assumed still pending (--assume approved or rejected plans what follows)", id, out.Pending)
		}
	}
	action := step.Action
	switch {
	case step.Use != "":
		action = "use " + step.Use
	case step.Ask != nil:
		action = OutcomeAsk
	case step.Wait != nil:
		action = OutcomeWait
	}
	p.Steps = append(p.Steps, Step{Playbook: r.pb.Name, Version: r.pb.Version, Stage: stage, Step: step.ID, Via: via,
		Action: action, Outcome: OutcomeNone, Reason: why})
	return nil
}

// waitsFor says which earlier steps with actions waiting for approval a
// step reads: the running investigation evaluates it only once they are
// decided, so what the plan shows for it happens after that.
func waitsFor(r *planRun, step *playbook.Step) string {
	var ids []string
	var answered []string
	for _, id := range step.Reads {
		out, ok := r.env.Steps[id]
		if !ok {
			continue
		}
		switch {
		case out.Pending > 0 && r.pb.Step(id) != nil && (r.pb.Step(id).Ask != nil || r.pb.Step(id).Wait != nil):
			ids = append(ids, fmt.Sprintf("steps.%s (waiting)", id))
		case out.Pending > 0:
			ids = append(ids, fmt.Sprintf("steps.%s (%d pending)", id, out.Pending))
		case len(out.Answers) > 0 || out.Met:
			answered = append(answered, fmt.Sprintf("steps.%s %s", id, answerOf(out)))
		}
	}
	var parts []string
	if len(ids) > 0 {
		parts = append(parts, "runs once "+strings.Join(ids, ", ")+" is decided; planned as if still pending")
	}
	if len(answered) > 0 {
		parts = append(parts, "runs after "+strings.Join(answered, ", ")+", as assumed")
	}
	return strings.Join(parts, "; ")
}

// Change is one difference between two plans of the same incident.
type Change struct {
	Kind string `json:"kind"` // added, removed, changed
	Old  *Step  `json:"old,omitempty"`
	New  *Step  `json:"new,omitempty"`
}

// key identifies a planned step across playbook versions.
func (s Step) key() string {
	return s.Playbook + "\x00" + s.Via + "\x00" + s.Step + "\x00" + s.Action + "\x00" + s.Target + "\x00" + s.Item
}

// Diff lists what the new plan does differently from the old: steps added,
// removed, or with other parameters or outcome.
func Diff(old, new *Plan) []Change {
	var out []Change
	olds := map[string]Step{}
	for _, s := range old.Steps {
		olds[s.key()] = s
	}
	seen := map[string]bool{}
	for _, s := range new.Steps {
		k := s.key()
		seen[k] = true
		o, ok := olds[k]
		switch {
		case !ok:
			out = append(out, Change{Kind: "added", New: &s})
		case o.Outcome != s.Outcome || fmt.Sprint(o.Params) != fmt.Sprint(s.Params):
			out = append(out, Change{Kind: "changed", Old: &o, New: &s})
		}
	}
	for _, s := range old.Steps {
		if !seen[s.key()] {
			out = append(out, Change{Kind: "removed", Old: &s})
		}
	}
	rank := map[string]int{"removed": 0, "changed": 1, "added": 2}
	slices.SortStableFunc(out, func(a, b Change) int { return rank[a.Kind] - rank[b.Kind] })
	return out
}

func answerOf(out playbook.StepOutput) string {
	if out.Met {
		return "met"
	}
	return "answered " + strings.Join(out.Answers, ", ")
}
