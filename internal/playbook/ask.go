package playbook

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/airsoc/air/internal/actions"
	"github.com/airsoc/air/internal/domain"
)

// People in the loop: an ask step puts a question to a person and waits
// for the answer; a wait step waits for a condition on the incident. Both
// are durable waits inside the incident's workflow, which goes on taking
// alerts, decisions and incident changes meanwhile.

// Audiences of an ask step (Ask.To).
const (
	// AskAnalyst asks the SOC: the question waits in the action center.
	AskAnalyst = "analyst"
	// AskUser asks the user the step's target names, through a
	// notification channel.
	AskUser = "user"
)

// Limits of ask and wait steps.
const (
	// DefaultWait is how long an ask or a wait step waits when it says
	// nothing of its timeout.
	DefaultWait = 24 * time.Hour
	// MaxWait is the longest timeout an ask or a wait step may declare.
	MaxWait = 30 * 24 * time.Hour
	// MaxChoices is the most choices a question may offer.
	MaxChoices = 50
	// MaxChoiceLength is the longest choice, in characters.
	MaxChoiceLength = 200
	// MaxQuestionLength is the longest question, in characters.
	MaxQuestionLength = 2000
)

// Ask is an ask step's question: to whom, what, which answers it takes,
// and how long it waits for one.
type Ask struct {
	To string // AskAnalyst or AskUser
	// Question is the question's source (a template), for plan output.
	Question string
	// Choices are the choices when the step lists them literally; nil when
	// an expression gives them (ChoicesExpr).
	Choices     []string
	ChoicesExpr string
	// Multiple questions take one or more of the choices.
	Multiple bool
	Timeout  time.Duration // DefaultWait when the step gives none
	// Remind is the interval of reminders while the question is open; 0
	// sends none.
	Remind time.Duration
	// Default is the answer when the question times out; nil: a timeout
	// fails the step (on_error applies).
	Default []string

	question argValue
	choices  argValue
}

// Wait is a wait step's condition and how long it waits for it.
type Wait struct {
	Until   string        // the condition's source
	Timeout time.Duration // DefaultWait when the step gives none
	until   *program
}

// askSpec types an ask's question and choices with the checks `with`
// arguments get; it is no registered action.
var askSpec = &actions.Spec{Type: "ask", Params: []actions.Param{
	{Name: "question", Type: actions.String, Required: true},
	{Name: "choices", Type: actions.StringList, Required: true},
}}

// Keys of the ask and wait mappings, from the tables in schema.go.
var (
	askKeys  = names(askFields)
	waitKeys = names(waitFields)
)

// Outputs only ask or wait steps have, for the load-time check of
// steps.ID.FIELD (checkFlow).
var (
	askOnlyOutputs  = []string{"answer", "answers", "answeredBy"}
	waitOnlyOutputs = []string{"met"}
	waitingOutputs  = []string{"timedOut"} // ask and wait
)

// stepKeysNotFor lists the step keys an ask or a wait step does not take,
// with why.
func stepKeysNotFor(kind string) []struct{ key, why string } {
	each := "to ask (or wait) for each item, put the step in a sub-playbook and use it with for_each"
	if kind == "wait" {
		each = "it waits once"
	}
	return []struct{ key, why string }{
		{"for_each", kind + " steps run once: " + each},
		{"with", "give the question and choices under " + kind},
		{"approval", "approval applies to remediation actions only"},
		{"timeout", "give it under " + kind + " (" + kind + ".timeout)"},
		{"retry", "nothing runs that could be retried"},
	}
}

// askOrWait reads an ask or a wait step's own mapping and refuses the step
// keys it does not take. It runs once the step's scope is known.
func (l *loader) askOrWait(f fieldSet, st *Step, scope any, targetKind domain.EntityKind) {
	kind, n := "ask", f.vals["ask"]
	if n == nil {
		kind, n = "wait", f.vals["wait"]
	}
	for _, k := range stepKeysNotFor(kind) {
		if key := f.keys[k.key]; key != nil {
			l.errorf(key, "a%s %s step takes no %s: %s", map[bool]string{true: "n"}[kind == "ask"], kind, k.key, k.why)
		}
	}
	if kind == "wait" {
		if key := f.keys["target"]; key != nil {
			l.errorf(key, "a wait step takes no target: its condition reads what it needs")
		}
		st.Wait = l.wait(n, scope)
		return
	}
	st.Ask = l.ask(n, scope)
	if st.Ask == nil {
		return
	}
	switch key := f.keys["target"]; {
	case st.Ask.To == AskUser && key == nil:
		l.errorf(n, "ask.to: user needs target: the user to ask (target: first(users), target: inputs.user)")
	case st.Ask.To == AskAnalyst && key != nil:
		l.errorf(key, "an ask to analyst takes no target: the question waits in the action center")
	case st.Ask.To == AskUser && targetKind != "" && targetKind != domain.KindUser:
		l.errorf(f.vals["target"], "ask.to: user asks a user, but the target is a %s", targetKind)
	}
}

// ask reads an ask mapping.
func (l *loader) ask(n *yaml.Node, scope any) *Ask {
	f, ok := l.fields(n, "ask", askKeys)
	if !ok {
		return nil
	}
	errs := len(l.diags)
	a := &Ask{Timeout: DefaultWait}
	if tn := f.vals["to"]; tn == nil {
		l.errorf(n, "ask has no to: say who answers, analyst or user")
	} else if to, ok := l.str(tn, "ask.to"); ok {
		if to != AskAnalyst && to != AskUser {
			msg := fmt.Sprintf("ask.to: unknown audience %q, want analyst or user", to)
			if s := closest(to, []string{AskAnalyst, AskUser}); s != "" {
				msg += fmt.Sprintf(" (did you mean %s?)", s)
			}
			l.errorf(tn, "%s", msg)
		}
		a.To = to
	}
	if mn := f.vals["multiple"]; mn != nil {
		a.Multiple, _ = l.boolean(mn, "ask.multiple")
	}
	if qn := f.vals["question"]; qn == nil {
		l.errorf(n, "ask has no question")
	} else if v, ok := l.argValue(qn, "ask.question", scope, 0); ok {
		p, _ := askSpec.Param("question")
		l.checkArg(askSpec, p, v, qn, "ask.question")
		a.question, a.Question = v, qn.Value
		if lit, ok := v.(literal); ok {
			if s, _ := lit.v.(string); strings.TrimSpace(s) == "" {
				l.errorf(qn, "ask.question is empty")
			}
		}
	}
	if cn := f.vals["choices"]; cn == nil {
		l.errorf(n, "ask has no choices: list the answers it takes, such as [yes, no]")
	} else if v, ok := l.argValue(cn, "ask.choices", scope, 0); ok {
		p, _ := askSpec.Param("choices")
		l.checkArg(askSpec, p, v, cn, "ask.choices")
		a.choices = v
		if lit, ok := v.(literal); ok {
			if list, isList := Strings(lit.v); isList {
				if err := checkChoices(list); err != nil {
					l.errorf(cn, "ask.choices: %v", err)
				}
				a.Choices = list
			}
		} else if cn.Kind == yaml.ScalarNode {
			a.ChoicesExpr = cn.Value
		}
	}
	if tn := f.vals["timeout"]; tn != nil {
		a.Timeout, _ = l.durationUpTo(tn, "ask.timeout", MaxWait)
	}
	if rn := f.vals["remind"]; rn != nil {
		if d, ok := l.durationUpTo(rn, "ask.remind", MaxWait); ok {
			if a.Timeout > 0 && d >= a.Timeout {
				l.errorf(rn, "ask.remind %s is not shorter than ask.timeout %s: no reminder would be sent", d, a.Timeout)
			}
			a.Remind = d
		}
	}
	if dn := f.vals["default"]; dn != nil {
		a.Default = l.askDefault(dn, a)
	}
	if len(l.diags) > errs {
		return nil
	}
	return a
}

// askDefault reads an ask's default answer: one choice, or with multiple a
// list of them; each must be among the choices when they are literal.
func (l *loader) askDefault(n *yaml.Node, a *Ask) []string {
	var out []string
	switch {
	case n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str":
		out = []string{n.Value}
	case n.Kind == yaml.SequenceNode && a.Multiple:
		for _, e := range n.Content {
			s, ok := l.str(e, "ask.default item")
			if !ok {
				return nil
			}
			out = append(out, s)
		}
		if len(out) == 0 {
			l.errorf(n, "ask.default is empty: leave it out to make a timeout fail the step")
			return nil
		}
	case n.Kind == yaml.SequenceNode:
		l.errorf(n, "ask.default: one choice, as the question takes one (add multiple: true to take several)")
		return nil
	default:
		l.errorf(n, "ask.default must be one of the choices, got %s", kindName(n))
		return nil
	}
	if a.Choices != nil {
		for _, d := range out {
			if !slices.Contains(a.Choices, d) {
				l.errorf(n, "ask.default: %q is not one of the choices (%s)", d, strings.Join(a.Choices, ", "))
				return nil
			}
		}
	}
	return out
}

// wait reads a wait mapping.
func (l *loader) wait(n *yaml.Node, scope any) *Wait {
	f, ok := l.fields(n, "wait", waitKeys)
	if !ok {
		return nil
	}
	errs := len(l.diags)
	w := &Wait{Timeout: DefaultWait}
	if un := f.vals["until"]; un == nil {
		l.errorf(n, "wait has no until: the condition to wait for")
	} else if src, ok := l.exprSource(un, "wait.until"); ok {
		if c := l.compileExpr(un, 0, src, "wait.until", scope); c != nil {
			if !c.isBool() {
				l.errorAt(un, 0, "wait.until: want true or false, got %s", typeName(c.nature))
			}
			w.until, w.Until = c.program, c.src
		}
	}
	if tn := f.vals["timeout"]; tn != nil {
		w.Timeout, _ = l.durationUpTo(tn, "wait.timeout", MaxWait)
	}
	if len(l.diags) > errs {
		return nil
	}
	return w
}

// checkChoices checks a question's choices: one at least, at most
// MaxChoices, none empty, too long or given twice.
func checkChoices(choices []string) error {
	switch {
	case len(choices) == 0:
		return fmt.Errorf("no choices: give at least one")
	case len(choices) > MaxChoices:
		return fmt.Errorf("%d choices, the limit is %d", len(choices), MaxChoices)
	}
	for i, c := range choices {
		switch {
		case strings.TrimSpace(c) == "":
			return fmt.Errorf("choice %d is empty", i+1)
		case len([]rune(c)) > MaxChoiceLength:
			return fmt.Errorf("choice %d is %d characters long, the limit is %d", i+1, len([]rune(c)), MaxChoiceLength)
		case slices.Contains(choices[:i], c):
			return fmt.Errorf("%q is offered twice", c)
		}
	}
	return nil
}

// askInvocation evaluates an ask step for one invocation: its target (a
// user, for to: user), question and choices, checked.
func (s *Step) askInvocation(scope any, inv Invocation) (Invocation, error) {
	if s.Ask.To == AskUser {
		out, err := s.target.run(scope)
		if err != nil {
			return inv, s.errorf("", "target: %v", err)
		}
		v, ok := out.(EntityView)
		if !ok || v.Kind != string(domain.KindUser) || v.Key == "" {
			return inv, s.errorf("", "target: ask.to user wants a user, got %s", describe(out))
		}
		inv.Target, inv.TargetName = domain.EntityKey(v.Key), v.Name
	}
	qv, err := s.Ask.question.eval(scope)
	if err != nil {
		return inv, s.errorf("", "ask.question: %v", err)
	}
	question, _ := qv.(string)
	question = strings.TrimSpace(question)
	switch {
	case question == "":
		return inv, s.errorf("", "ask.question is empty")
	case len([]rune(question)) > MaxQuestionLength:
		return inv, s.errorf("", "ask.question is %d characters long, the limit is %d", len([]rune(question)), MaxQuestionLength)
	}
	cv, err := s.Ask.choices.eval(scope)
	if err != nil {
		return inv, s.errorf("", "ask.choices: %v", err)
	}
	choices, ok := Strings(cv)
	if !ok {
		return inv, s.errorf("", "ask.choices: want a list of strings, got %s", describe(cv))
	}
	if err := checkChoices(choices); err != nil {
		return inv, s.errorf("", "ask.choices: %v", err)
	}
	inv.Args = map[string]any{"question": question, "choices": choices}
	return inv, nil
}

// Met evaluates a wait step's condition against env (which Refresh keeps
// current). It is pure and deterministic, like Expand.
func (s *Step) Met(env *Env) (bool, error) {
	if s.Wait == nil {
		return false, s.errorf("", "not a wait step")
	}
	env = s.withReads(env)
	sc, err := s.scope.bind(env, itemNone)
	if err != nil {
		return false, s.errorf("", "%v", err)
	}
	ok, err := s.Wait.until.runBool(sc.value)
	if err != nil {
		return false, s.errorf("", "wait.until: %v", err)
	}
	return ok, nil
}

// Refresh returns env with the incident, alerts and entities of fresh — a
// newer snapshot — and env's own step outputs, inputs and error: what a
// wait step re-evaluates its condition against when the incident changes.
// Neither argument is changed.
func Refresh(env, fresh *Env) *Env {
	c := *fresh
	c.Steps, c.Error, c.FailedStep, c.inputs = env.Steps, env.Error, env.FailedStep, env.inputs
	return &c
}

// AskOutput is an ask step's output: its one question's outcome, as later
// steps read it. status is StepSucceeded when answered (or defaulted on
// timeout), StepFailed when it timed out without a default (errMsg says
// so), StepSkipped when it was cancelled, StepPending while open.
func AskOutput(status string, answer []string, answeredBy string, timedOut bool, errMsg string) StepOutput {
	out := StepOutput{Status: status, Count: 1, Results: []ActionOutput{}, Answers: slices.Clone(answer),
		AnsweredBy: answeredBy, TimedOut: timedOut, Error: errMsg}
	if out.Answers == nil {
		out.Answers = []string{}
	}
	if len(answer) == 1 {
		out.Answer = answer[0]
	}
	countStatus(&out)
	return out
}

// WaitOutput is a wait step's output: met, or timed out (a failure with
// errMsg), or pending.
func WaitOutput(status string, met, timedOut bool, errMsg string) StepOutput {
	out := StepOutput{Status: status, Count: 1, Results: []ActionOutput{}, Met: met, TimedOut: timedOut, Error: errMsg,
		Answers: []string{}}
	countStatus(&out)
	return out
}

func countStatus(out *StepOutput) {
	switch out.Status {
	case StepSucceeded:
		out.Succeeded = 1
	case StepFailed:
		out.Failed = 1
	case StepSkipped:
		out.Skipped = 1
	default:
		out.Pending = 1
	}
}

// outputOnly names the kind of step an output field belongs to, for
// checkFlow: "" when every step has it.
func outputOnly(field string) string {
	switch {
	case slices.Contains(askOnlyOutputs, field):
		return "ask"
	case slices.Contains(waitOnlyOutputs, field):
		return "wait"
	case slices.Contains(waitingOutputs, field):
		return "ask or wait"
	}
	return ""
}

// checkOutputField reports what is wrong with reading field of step t's
// output, "" when nothing.
func checkOutputField(t *Step, field string) string {
	switch outputOnly(field) {
	case "ask":
		if t.Ask == nil {
			return fmt.Sprintf("step %q has no %s: only ask steps answer", t.ID, field)
		}
		if field == "answer" && t.Ask.Multiple {
			return fmt.Sprintf("step %q takes several answers (multiple: true): read answers, a list", t.ID)
		}
	case "wait":
		if t.Wait == nil {
			return fmt.Sprintf("step %q has no %s: only wait steps wait for a condition", t.ID, field)
		}
	case "ask or wait":
		if t.Ask == nil && t.Wait == nil {
			return fmt.Sprintf("step %q has no %s: only ask and wait steps time out", t.ID, field)
		}
	}
	return ""
}
