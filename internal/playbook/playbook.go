package playbook

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/airsoc/air/internal/actions"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/exprsafe"
)

// Stage is one of the six incident-response stages a playbook's steps are
// grouped in.
type Stage string

// The stages, in the order they run.
const (
	StageTriage      Stage = "triage"
	StageAnalysis    Stage = "analysis"
	StageContainment Stage = "containment"
	StageEradication Stage = "eradication"
	StageRecovery    Stage = "recovery"
	StageReview      Stage = "review"
)

// numStages is len(Stages), the length of Playbook.Stages.
const numStages = 6

// Stages lists every stage in the order they run.
var Stages = []Stage{StageTriage, StageAnalysis, StageContainment, StageEradication, StageRecovery, StageReview}

// index returns the stage's position in Stages, or -1.
func (s Stage) index() int { return slices.Index(Stages, s) }

// Approval modes of a step.
const (
	// ApprovalPolicy lets the automation level, guardrails and approval
	// rules decide (the default).
	ApprovalPolicy = "policy"
	// ApprovalRequired always waits for an analyst.
	ApprovalRequired = "required"
	// ApprovalAuto runs without approval unless a guardrail stops it.
	ApprovalAuto = "auto"
)

// Limits the loader and the evaluator enforce, so that an expression can
// neither run long enough to trip the workflow deadlock detector nor fan a
// step out without bound.
const (
	// MaxExpressionLength is the longest expression accepted, in characters.
	MaxExpressionLength = exprsafe.MaxLength
	// MaxRangeSpan is the most integers a range `a..b` may produce; its
	// bounds must be integer literals.
	MaxRangeSpan = exprsafe.MaxRangeSpan
	// MaxPredicateDepth is how deeply predicates over collections
	// (any, all, filter, map, count, …) may nest.
	MaxPredicateDepth = exprsafe.MaxPredicateDepth
	// MaxLets is how many let declarations an expression may have.
	MaxLets = exprsafe.MaxLets
	// MaxForEach is the most items a step's for_each may yield.
	MaxForEach = 1000
	// MaxNesting is how deeply an expression's parts may nest (brackets,
	// calls, operators).
	MaxNesting = exprsafe.MaxNesting
	// MaxSteps is the most steps a playbook may have.
	MaxSteps = 200
	// MaxWithDepth is how deeply lists and mappings in a with may nest.
	MaxWithDepth = 8
	// MaxInputs is the most inputs a sub-playbook may declare.
	MaxInputs = 32
	// MaxCallDepth is how deeply use steps may nest: a playbook calling a
	// sub-playbook that calls another is depth 2.
	MaxCallDepth = 4
	// MaxAttempts is the most tries a retry policy may ask for.
	MaxAttempts = 20
	// MaxTimeout is the longest timeout or backoff a step may declare.
	MaxTimeout = 24 * time.Hour
	// maxFileSize bounds a playbook file.
	maxFileSize = 1 << 20
)

// Playbook kinds.
const (
	// KindPlaybook ("" in Playbook.Kind) is a playbook that applies to the
	// incidents its match selects.
	KindPlaybook = ""
	// KindSub is a sub-playbook: it never matches an incident on its own and
	// runs only where another playbook's step says `use: NAME`.
	KindSub = "sub"
)

// Playbook is a parsed, validated and compiled playbook. It is immutable
// once built and safe for concurrent use; CompileCached and CompileSet share
// one value between workflows.
type Playbook struct {
	Name        string
	Version     int
	Kind        string // KindPlaybook ("") or KindSub
	Order       int    // lower runs first when several playbooks match
	Description string
	Match       string // source of the match expression; "" matches every incident
	// Fallback playbooks apply only to incidents no other playbook matched.
	Fallback bool
	// Exclusive playbooks run alone: when one matches, the other playbooks
	// that match do not run (Select).
	Exclusive bool
	// Beside playbooks run beside the others (evidence analysis for every
	// incident): they do not count as a match that keeps the fallback
	// playbooks out, and an exclusive playbook does not leave them out.
	Beside bool
	// Inputs are what a sub-playbook takes from the step that uses it, or
	// for a playbook its tenant switches (settable per tenant without
	// editing the file; each has a default), in file order.
	Inputs []Input
	File   string // as given to Parse
	Source []byte // the file's bytes, which a workflow pins and recompiles on replay
	// Stages holds each stage's steps in file order, indexed like the
	// package-level Stages (Stages[2] are the containment steps). An array,
	// not a map, so that ranging over it is ordered.
	Stages [numStages][]*Step

	match    *program
	scopes   *scopeSet // the expression environments of the playbook's steps
	uses     []*Step   // steps with use, for linking
	nameLine int       // position of the name, for duplicate-name diagnostics
	nameCol  int
}

// Input is a value a sub-playbook takes from its caller's `with`, read in
// its expressions as inputs.NAME.
type Input struct {
	Name string
	// Type is an entity kind ("device", "user", …; the value is an entity
	// of the incident) or one of "string", "int", "bool", "strings" (a list
	// of strings).
	Type        string
	Required    bool // false when the input has a default
	Default     any  // for optional inputs
	Description string
}

// Input types other than entity kinds.
const (
	InputString  = "string"
	InputInt     = "int"
	InputBool    = "bool"
	InputStrings = "strings"
)

// On-error modes of a step (Step.OnError); any other value is the id of a
// handler step.
const (
	// OnErrorFail stops the playbook and fails the investigation (the default).
	OnErrorFail = "fail"
	// OnErrorContinue records the failure and goes on with the next step.
	OnErrorContinue = "continue"
)

// Error kinds a retry policy may name as not worth retrying. They are the
// kinds connectors classify failures into.
var ErrorKinds = []string{"invalid", "not_found", "conflict", "forbidden", "throttled", "timeout", "failed"}

// RetryPolicy says how often and how patiently a failed invocation of a step
// is tried again. Its zero value means the workflow's defaults.
type RetryPolicy struct {
	// Attempts is the total number of tries, the first included; 0 is the
	// default, 1 never retries.
	Attempts int
	// Backoff is the wait before the first retry; it doubles after each one,
	// up to MaxBackoff. 0 is the default.
	Backoff    time.Duration
	MaxBackoff time.Duration
	// NonRetryable lists error kinds (ErrorKinds) that fail at once.
	NonRetryable []string
}

// Step is one step of a playbook: an action (or a sub-playbook), optionally
// repeated for each item of a list, under a condition, with templated
// arguments.
type Step struct {
	ID    string
	Stage Stage
	// Action is the action type; "" for a step that uses a sub-playbook.
	Action string
	// Use names the sub-playbook the step runs; "" for an action step.
	Use string
	// Ask is set on an ask step: the question it puts to a person; Wait
	// on a wait step: the condition it waits for. Such steps have neither
	// Action nor Use.
	Ask  *Ask
	Wait *Wait
	// Callee is the sub-playbook Use names. LoadDir and CompileSet set it;
	// it is nil after Parse alone, which sees one file.
	Callee   *Playbook
	Approval string        // ApprovalAuto, ApprovalRequired or ApprovalPolicy; "" for a use, ask or wait step
	Spec     *actions.Spec // the action's registry entry; nil for a use, ask or wait step
	Line     int           // where the step starts in its file
	// Expression sources, for plan output; "" when absent.
	When    string
	ForEach string
	Target  string

	// Timeout bounds one invocation's execution; 0 means the default.
	Timeout time.Duration
	Retry   RetryPolicy
	// Connectors are the connectors the step's actions go through, in
	// order of preference (connector kinds or configured connectors'
	// names); empty means the tenant's routes decide. Each carries the
	// action type (the loader checked it against the registry).
	Connectors []string
	// OnError is OnErrorFail, OnErrorContinue or the id of a handler step of
	// the same playbook that runs when this step fails.
	OnError string
	// Handler steps are skipped in the normal flow; they run only as another
	// step's on_error, with error and failed_step set.
	Handler bool
	// Reads lists the steps whose outputs the step's expressions read
	// (steps.ID), sorted, without duplicates.
	Reads []string

	playbook string // name, for runtime errors
	sub      bool   // the step belongs to a sub-playbook: expressions see inputs
	items    itemType
	scope    *scopeSet
	forEach  *program
	when     *program
	target   *program
	args     []namedArg // sorted by name
	withLine int        // position of the with key, for link diagnostics
	withCol  int
	useLine  int // position of the use value
	useCol   int
	refs     []stepRef // steps.ID references, for order checks
}

// Invocation is one action a step asks for: the action type is the step's,
// the rest comes from evaluating the step on one item.
type Invocation struct {
	// ItemKey identifies the for_each item: an entity key or an alert id;
	// "" when the step has no for_each.
	ItemKey string
	// Target is the entity the action acts on; "" for actions on the
	// incident itself and for use steps.
	Target     domain.EntityKey
	TargetName string
	// Args are the action's parameters after actions.Spec.CheckArgs
	// (defaults filled in): strings, integers, booleans and lists of
	// strings, all JSON-serialisable. For a use step they are the
	// sub-playbook's inputs, an entity input given as its key (a string);
	// pass them to WithInputs. The map is the caller's to keep.
	Args map[string]any
}

// Steps returns the steps of a stage in file order (nil for an unknown
// stage or an empty one).
func (p *Playbook) Steps(stage Stage) []*Step {
	i := stage.index()
	if i < 0 {
		return nil
	}
	return slices.Clip(p.Stages[i]) // appending must not write into the playbook
}

// Matches reports whether the playbook applies to the incident in env. An
// empty match applies to every incident; a sub-playbook applies to none (it
// runs only through use). It is pure and deterministic: safe inside workflow
// code. Select applies the fallback rule on top.
//
// A playbook's match sees its inputs at their defaults; MatchesWith gives
// the tenant's values.
func (p *Playbook) Matches(env *Env) (bool, error) { return p.MatchesWith(env, nil) }

// MatchesWith is Matches with the tenant's values of the playbook's inputs
// (nil: the defaults).
func (p *Playbook) MatchesWith(env *Env, values InputValues) (bool, error) {
	if p.Kind == KindSub {
		return false, nil
	}
	if p.match == nil {
		return true, nil
	}
	if env == nil {
		return false, domain.Errorf(domain.KindInvalid, "playbook %s: match: no environment", p.Name)
	}
	if len(p.Inputs) > 0 {
		env = WithPlaybookInputs(env, p, values)
	}
	sc, err := p.scopes.bind(env, itemNone)
	if err != nil {
		return false, domain.Errorf(domain.KindInvalid, "playbook %s: match: %v", p.Name, err)
	}
	ok, err := p.match.runBool(sc.value)
	if err != nil {
		return false, domain.Errorf(domain.KindInvalid, "playbook %s: match: %v", p.Name, err)
	}
	return ok, nil
}

// Select returns the playbooks that apply to the incident in env, in the
// order they run: by Order, then Name. Sub-playbooks never apply on their
// own; fallback playbooks apply only when no other playbook matched; an
// exclusive playbook that applies runs alone (Choose tells why the others
// do not run). It is pure and deterministic: safe inside workflow code.
func Select(pbs []*Playbook, env *Env) ([]*Playbook, error) {
	c, err := Choose(pbs, env)
	if err != nil {
		return nil, err
	}
	return c.Run, nil
}

// Choice is which playbooks apply to an incident (Run, in the order they
// run) and which matched but do not run, with the reason (Left).
type Choice struct {
	Run  []*Playbook
	Left []Left
}

// Left is a playbook that matched an incident but does not run for it.
type Left struct {
	Playbook *Playbook
	Reason   string // e.g. "exclusive playbook device-compromise runs alone"
}

// Choose is Select with the playbooks that matched and do not run, and why.
// The rule, in this order:
//
//  1. every playbook whose match is true is a candidate; if no candidate is
//     a non-fallback playbook, the fallback candidates are the candidates,
//     else the fallback ones are left out ("another playbook matched");
//  2. candidates sort by Order, then Name;
//  3. if any candidate is exclusive, the first exclusive one in that order
//     runs alone and every other candidate is left out;
//  4. beside playbooks (beside: true) that match run too, in order with
//     the others: they neither keep the fallbacks out nor yield to an
//     exclusive playbook.
//
// It is pure and deterministic: safe inside workflow code.
func Choose(pbs []*Playbook, env *Env) (Choice, error) { return ChooseWith(pbs, env, nil) }

// ChooseWith is Choose with the tenant's values of the playbooks' inputs,
// by playbook name, which their match expressions read.
func ChooseWith(pbs []*Playbook, env *Env, inputs map[string]map[string]any) (Choice, error) {
	var matched, fallbacks, beside []*Playbook
	for _, pb := range pbs {
		ok, err := pb.MatchesWith(env, inputs[pb.Name])
		if err != nil {
			return Choice{}, err
		}
		switch {
		case !ok:
		case pb.Fallback:
			fallbacks = append(fallbacks, pb)
		case pb.Beside:
			beside = append(beside, pb)
		default:
			matched = append(matched, pb)
		}
	}
	var c Choice
	if len(matched) == 0 {
		matched = fallbacks
	} else {
		slices.SortStableFunc(fallbacks, byOrder)
		for _, pb := range fallbacks {
			c.Left = append(c.Left, Left{Playbook: pb, Reason: "fallback: another playbook matched"})
		}
	}
	slices.SortStableFunc(matched, byOrder)
	if i := slices.IndexFunc(matched, func(pb *Playbook) bool { return pb.Exclusive }); i >= 0 {
		alone := matched[i]
		for _, pb := range matched {
			if pb != alone {
				c.Left = append(c.Left, Left{Playbook: pb, Reason: "exclusive playbook " + alone.Name + " runs alone"})
			}
		}
		matched = []*Playbook{alone}
	}
	matched = append(matched, beside...)
	slices.SortStableFunc(matched, byOrder)
	c.Run = matched
	return c, nil
}

// byOrder orders playbooks by Order, then Name.
func byOrder(a, b *Playbook) int {
	if a.Order != b.Order {
		return a.Order - b.Order
	}
	return strings.Compare(a.Name, b.Name)
}

// Step returns the step with the given id, or nil.
func (p *Playbook) Step(id string) *Step {
	for _, steps := range p.Stages {
		for _, st := range steps {
			if st.ID == id {
				return st
			}
		}
	}
	return nil
}

// Expand evaluates the step against env: its for_each (or a single
// invocation when it has none), then for every item its when, target and
// arguments. Items whose when is false yield nothing. Invocations come in
// for_each order, which for entity lists is key order.
//
// For a step of a sub-playbook, env must come from WithInputs. For a
// use step, each invocation's Args are the sub-playbook's inputs. A step
// output the step reads (steps.ID) that env.Steps lacks reads as skipped.
//
// It is pure and deterministic, safe inside workflow code. Errors are
// domain.KindInvalid: evaluating again gives the same error, so a workflow
// should not retry.
func (s *Step) Expand(env *Env) ([]Invocation, error) {
	if env == nil {
		return nil, s.errorf("", "no environment")
	}
	env = s.withReads(env)
	sc, err := s.scope.bind(env, s.items)
	if err != nil {
		return nil, s.errorf("", "%v", err)
	}
	if s.forEach == nil {
		inv, ok, err := s.invoke(sc.value, "", nil)
		if err != nil || !ok {
			return nil, err
		}
		return []Invocation{inv}, nil
	}

	base := sc
	if s.items != itemNone {
		if base, err = s.scope.bind(env, itemNone); err != nil {
			return nil, s.errorf("", "%v", err)
		}
	}
	out, err := s.forEach.run(base.value)
	if err != nil {
		return nil, s.errorf("", "for_each: %v", err)
	}
	n, err := itemCount(out)
	if err != nil {
		return nil, s.errorf("", "for_each: %v", err)
	}
	if n > MaxForEach {
		return nil, s.errorf("", "for_each yields %d items, more than the limit of %d", n, MaxForEach)
	}

	var invs []Invocation
	switch s.items {
	case itemEntity:
		err = eachItem(out, func(v EntityView) error {
			sc.setItem(v)
			inv, ok, err := s.invoke(sc.value, v.Key, &v)
			if ok {
				invs = append(invs, inv)
			}
			return err
		})
	case itemAlert:
		err = eachItem(out, func(v AlertView) error {
			sc.setItem(v)
			inv, ok, err := s.invoke(sc.value, v.ID, nil)
			if ok {
				invs = append(invs, inv)
			}
			return err
		})
	}
	if err != nil {
		if _, ok := err.(*domain.Error); !ok {
			err = s.errorf("", "for_each: %v", err)
		}
		return nil, err
	}
	return invs, nil
}

// WhyNone says why Expand gave no invocation for env: "for_each yields no
// items" or "when is false" (for every item of a for_each, with their
// number). Plan mode shows it for the steps that do nothing. Like Expand
// it is pure.
func (s *Step) WhyNone(env *Env) (string, error) {
	if s.forEach == nil {
		if s.When == "" {
			return "nothing to act on", nil
		}
		return "when is false: " + oneLine(s.When), nil
	}
	env = s.withReads(env)
	base, err := s.scope.bind(env, itemNone)
	if err != nil {
		return "", s.errorf("", "%v", err)
	}
	out, err := s.forEach.run(base.value)
	if err != nil {
		return "", s.errorf("", "for_each: %v", err)
	}
	n, err := itemCount(out)
	if err != nil {
		return "", s.errorf("", "for_each: %v", err)
	}
	if n == 0 {
		return "for_each yields no items: " + oneLine(s.ForEach), nil
	}
	return fmt.Sprintf("when is false for each of the %d items: %s", n, oneLine(s.When)), nil
}

// oneLine collapses an expression's white space (a folded > scalar keeps
// line breaks) for a one-line reason.
func oneLine(src string) string { return strings.Join(strings.Fields(src), " ") }

// withReads returns env, or a copy of it in which every step output the
// step reads and env.Steps lacks is present with status skipped, so that
// `steps.x.status == "succeeded"` is false rather than a surprise.
func (s *Step) withReads(env *Env) *Env {
	missing := false
	for _, id := range s.Reads {
		if _, ok := env.Steps[id]; !ok {
			missing = true
			break
		}
	}
	if !missing {
		return env
	}
	c := *env
	c.Steps = make(map[string]StepOutput, len(env.Steps)+len(s.Reads))
	for k, v := range env.Steps {
		c.Steps[k] = v
	}
	for _, id := range s.Reads {
		if _, ok := c.Steps[id]; !ok {
			c.Steps[id] = StepOutput{Status: StepSkipped, Results: []ActionOutput{}}
		}
	}
	return &c
}

// invoke evaluates when, target and arguments for one item. scope is the
// environment the step's expressions were compiled against; item is the
// for_each entity, the default target.
func (s *Step) invoke(scope any, itemKey string, item *EntityView) (Invocation, bool, error) {
	inv := Invocation{ItemKey: itemKey}
	if s.when != nil {
		ok, err := s.when.runBool(scope)
		if err != nil {
			return inv, false, s.errorf(itemKey, "when: %v", err)
		}
		if !ok {
			return inv, false, nil
		}
	}

	switch {
	case s.Ask != nil:
		inv, err := s.askInvocation(scope, inv)
		return inv, err == nil, err
	case s.Wait != nil:
		return inv, true, nil
	}
	if s.Use != "" {
		args, err := s.inputArgs(scope)
		if err != nil {
			return inv, false, s.errorf(itemKey, "%v", err)
		}
		inv.Args = args
		return inv, true, nil
	}

	if s.Spec.Target != "" {
		target := item
		if s.target != nil {
			out, err := s.target.run(scope)
			if err != nil {
				return inv, false, s.errorf(itemKey, "target: %v", err)
			}
			v, ok := out.(EntityView)
			if !ok {
				return inv, false, s.errorf(itemKey, "target: want an entity, got %s", describe(out))
			}
			target = &v
		}
		if target == nil {
			return inv, false, s.errorf(itemKey, "no target")
		}
		if target.Kind != string(s.Spec.Target) {
			return inv, false, s.errorf(itemKey, "%s acts on a %s, but the target %s is a %s",
				s.Action, s.Spec.Target, target.Key, target.Kind)
		}
		if target.Key == "" {
			return inv, false, s.errorf(itemKey, "target has no key")
		}
		inv.Target = domain.EntityKey(target.Key)
		inv.TargetName = target.Name
	}

	args := make(map[string]any, len(s.args))
	for _, a := range s.args {
		v, err := a.value.eval(scope)
		if err != nil {
			return inv, false, s.errorf(itemKey, "with.%s: %v", a.name, err)
		}
		args[a.name] = v
	}
	checked, err := s.Spec.CheckArgs(args)
	if err != nil {
		return inv, false, s.errorf(itemKey, "%v", err)
	}
	inv.Args = checked
	return inv, true, nil
}

// errorf makes an evaluation error naming the playbook, the step and the
// item it failed on.
func (s *Step) errorf(itemKey, format string, args ...any) error {
	where := fmt.Sprintf("playbook %s step %q", s.playbook, s.ID)
	if itemKey != "" {
		where += fmt.Sprintf(" item %q", itemKey)
	}
	return domain.Errorf(domain.KindInvalid, "%s: %s", where, fmt.Sprintf(format, args...))
}

// itemCount returns the length of a for_each result.
func itemCount(v any) (int, error) {
	switch l := v.(type) {
	case []EntityView:
		return len(l), nil
	case []AlertView:
		return len(l), nil
	case []any:
		return len(l), nil
	case nil:
		return 0, nil
	}
	return 0, fmt.Errorf("want a list, got %s", describe(v))
}

// eachItem calls fn for every element of a for_each result, which is either
// a []T or a []any of T.
func eachItem[T any](v any, fn func(T) error) error {
	switch l := v.(type) {
	case []T:
		for _, it := range l {
			if err := fn(it); err != nil {
				return err
			}
		}
	case []any:
		for i, it := range l {
			t, ok := it.(T)
			if !ok {
				var want T
				return fmt.Errorf("item %d is %s, want %s", i, describe(it), describe(want))
			}
			if err := fn(t); err != nil {
				return err
			}
		}
	}
	return nil
}

// describe names a value's type for error messages.
func describe(v any) string {
	if v == nil {
		return "nil"
	}
	return valueName(v)
}
