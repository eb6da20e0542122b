package playbook

import (
	"fmt"
	"slices"

	"github.com/airsoc/air/internal/actions"
	"github.com/airsoc/air/internal/domain"
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
	MaxExpressionLength = 2000
	// MaxRangeSpan is the most integers a range `a..b` may produce; its
	// bounds must be integer literals.
	MaxRangeSpan = 1000
	// MaxPredicateDepth is how deeply predicates over collections
	// (any, all, filter, map, count, …) may nest.
	MaxPredicateDepth = 2
	// MaxLets is how many let declarations an expression may have.
	MaxLets = 8
	// MaxForEach is the most items a step's for_each may yield.
	MaxForEach = 1000
	// maxFileSize bounds a playbook file.
	maxFileSize = 1 << 20
)

// Playbook is a parsed, validated and compiled playbook. It is immutable
// once built and safe for concurrent use; CompileCached shares one value
// between workflows.
type Playbook struct {
	Name        string
	Version     int
	Order       int // lower runs first when several playbooks match
	Description string
	Match       string // source of the match expression; "" matches every incident
	File        string // as given to Parse
	Source      []byte // the file's bytes, which a workflow pins and recompiles on replay
	// Stages holds each stage's steps in file order, indexed like the
	// package-level Stages (Stages[2] are the containment steps). An array,
	// not a map, so that ranging over it is ordered.
	Stages [numStages][]*Step

	match    *program
	nameLine int // position of the name, for duplicate-name diagnostics
	nameCol  int
}

// Step is one step of a playbook: an action, optionally repeated for each
// item of a list, under a condition, with templated arguments.
type Step struct {
	ID       string
	Stage    Stage
	Action   string
	Approval string        // ApprovalAuto, ApprovalRequired or ApprovalPolicy
	Spec     *actions.Spec // the action's registry entry
	Line     int           // where the step starts in its file
	// Expression sources, for plan output; "" when absent.
	When    string
	ForEach string
	Target  string

	playbook string // name, for runtime errors
	items    itemType
	forEach  *program
	when     *program
	target   *program
	args     []namedArg // sorted by name
}

// Invocation is one action a step asks for: the action type is the step's,
// the rest comes from evaluating the step on one item.
type Invocation struct {
	// ItemKey identifies the for_each item: an entity key or an alert id;
	// "" when the step has no for_each.
	ItemKey string
	// Target is the entity the action acts on; "" for actions on the
	// incident itself.
	Target     domain.EntityKey
	TargetName string
	// Args are the action's parameters after actions.Spec.CheckArgs
	// (defaults filled in): strings, integers, booleans and lists of
	// strings, all JSON-serialisable. The map is the caller's to keep.
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
// empty match applies to every incident. It is pure and deterministic: safe
// inside workflow code.
func (p *Playbook) Matches(env *Env) (bool, error) {
	if p.match == nil {
		return true, nil
	}
	if env == nil {
		return false, domain.Errorf(domain.KindInvalid, "playbook %s: match: no environment", p.Name)
	}
	ok, err := p.match.runBool(env)
	if err != nil {
		return false, domain.Errorf(domain.KindInvalid, "playbook %s: match: %v", p.Name, err)
	}
	return ok, nil
}

// Expand evaluates the step against env: its for_each (or a single
// invocation when it has none), then for every item its when, target and
// arguments. Items whose when is false yield nothing. Invocations come in
// for_each order, which for entity lists is key order.
//
// It is pure and deterministic, safe inside workflow code. Errors are
// domain.KindInvalid: evaluating again gives the same error, so a workflow
// should not retry.
func (s *Step) Expand(env *Env) ([]Invocation, error) {
	if env == nil {
		return nil, s.errorf("", "no environment")
	}
	if s.forEach == nil {
		inv, ok, err := s.invoke(env, "", nil)
		if err != nil || !ok {
			return nil, err
		}
		return []Invocation{inv}, nil
	}

	out, err := s.forEach.run(env)
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
		sc := &entityScope{Env: env}
		err = eachItem(out, func(v EntityView) error {
			sc.Item = v
			inv, ok, err := s.invoke(sc, v.Key, &sc.Item)
			if ok {
				invs = append(invs, inv)
			}
			return err
		})
	case itemAlert:
		sc := &alertScope{Env: env}
		err = eachItem(out, func(v AlertView) error {
			sc.Item = v
			inv, ok, err := s.invoke(sc, v.ID, nil)
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
	switch v.(type) {
	case nil:
		return "nil"
	case EntityView:
		return "an entity"
	case AlertView:
		return "an alert"
	}
	return fmt.Sprintf("%T", v)
}
