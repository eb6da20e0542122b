package playbook

import (
	"fmt"
	"slices"

	"github.com/expr-lang/expr/ast"
	"gopkg.in/yaml.v3"

	"github.com/airsoc/air/internal/exprsafe"
)

// flow is what checking how a playbook's steps refer to each other needs:
// every declared id (valid steps or not, so that a reference to a step with
// an error of its own is not reported again) and the valid steps in the
// order they run.
type flow struct {
	declared map[string]*yaml.Node
	steps    []*stepInfo
}

// stepInfo is a step with its place in the run order and the nodes its
// diagnostics point at.
type stepInfo struct {
	step       *Step
	id         string // "" when the id was invalid or a duplicate
	ord        int    // run order: earlier stages first, then file order
	node       *yaml.Node
	onError    *yaml.Node // the on_error value, if any
	handlerKey *yaml.Node // the handler key, when handler: true
	refs       []stepRef
}

// checkFlow checks on_error targets, handlers and step references: a step
// reads only steps that run before it, and an error handler only steps
// that ran before every step whose errors it handles.
func (l *loader) checkFlow(pb *Playbook, fl *flow) {
	byID := map[string]*stepInfo{}
	for _, s := range fl.steps {
		if s.id != "" {
			byID[s.id] = s
		}
	}
	ids := make([]string, 0, len(fl.declared))
	for id := range fl.declared {
		ids = append(ids, id)
	}
	slices.Sort(ids)

	callers := map[string][]*stepInfo{} // handler id → steps that hand it their errors
	for _, s := range fl.steps {
		on := s.step.OnError
		if s.onError == nil || on == OnErrorFail || on == OnErrorContinue {
			continue
		}
		h := byID[on]
		switch {
		case h == nil && fl.declared[on] == nil:
			l.errorf(s.onError, "on_error: no step %q%s; want fail, continue or the id of a handler step", on, suggest(on, ids))
		case h == nil:
			// That step has errors of its own, reported already.
		case s.step.Handler:
			l.errorf(s.onError, "on_error of an error handler is fail or continue, not another handler")
		case !h.step.Handler:
			l.errorf(s.onError, "on_error: step %q is not an error handler: mark it handler: true", on)
		default:
			callers[on] = append(callers[on], s)
		}
	}

	for _, s := range fl.steps {
		if s.step.Handler && len(callers[s.id]) == 0 && s.handlerKey != nil && s.id != "" {
			l.errorf(s.handlerKey, "handler step %q is never used: no step names it in on_error", s.id)
		}
		var reads []string
		for _, r := range s.refs {
			t := byID[r.id]
			switch {
			case t == nil && fl.declared[r.id] == nil:
				l.add(r.line, r.col, "%s: no step %q%s", r.what, r.id, suggest(r.id, ids))
				continue
			case t == nil:
				continue // that step has errors of its own
			case t == s:
				l.add(r.line, r.col, "%s: a step cannot read its own output (steps.%s)", r.what, r.id)
				continue
			case t.step.Handler:
				l.add(r.line, r.col, "%s: step %q is an error handler; other steps cannot read its output", r.what, r.id)
				continue
			}
			if msg := checkOutputField(t.step, r.field); msg != "" {
				l.add(r.line, r.col, "%s: %s", r.what, msg)
				continue
			}
			if !s.step.Handler {
				if t.ord > s.ord {
					l.add(r.line, r.col, "%s: %s than this step (%s)", r.what, runsLater(t), s.step.Stage)
					continue
				}
			} else {
				late := false
				for _, c := range callers[s.id] {
					if t.ord > c.ord {
						l.add(r.line, r.col, "%s: %s than step %q (%s), whose errors this handler handles",
							r.what, runsLater(t), c.id, c.step.Stage)
						late = true
						break
					}
				}
				if late {
					continue
				}
			}
			if !slices.Contains(reads, r.id) {
				reads = append(reads, r.id)
			}
		}
		slices.Sort(reads)
		s.step.Reads = reads
	}
}

func runsLater(t *stepInfo) string {
	return fmt.Sprintf("step %q runs later (%s)", t.id, t.step.Stage)
}

// suggest returns " (did you mean X?)" for a near name, else "".
func suggest(name string, candidates []string) string {
	if s := closest(name, candidates); s != "" {
		return fmt.Sprintf(" (did you mean %s?)", s)
	}
	return ""
}

// checkNames walks a compiled expression for the names whose use depends on
// where the expression is: steps.ID (recorded for checkFlow; match cannot
// read steps), and error and failed_step, which only error handlers see.
// It reports false when it recorded a problem.
func (l *loader) checkNames(n *yaml.Node, off int, what string, tree ast.Node) bool {
	ok := true
	lets := map[string]bool{}
	fields := map[ast.Node]string{} // steps.ID node → the field read of it
	var walk func(node ast.Node)
	walk = func(node ast.Node) {
		switch v := node.(type) {
		case nil:
			return
		case *ast.VariableDeclaratorNode:
			lets[v.Name] = true
		case *ast.MemberNode:
			if inner, isMember := v.Node.(*ast.MemberNode); isMember {
				if prop, isStr := v.Property.(*ast.StringNode); isStr {
					fields[inner] = prop.Value
				}
			}
			if id, isID := v.Node.(*ast.IdentifierNode); isID && id.Value == "steps" && !lets["steps"] {
				prop, isStr := v.Property.(*ast.StringNode)
				switch {
				case !isStr:
					l.errorAt(n, off+id.Location().From, "%s: read a step's output as steps.ID or steps[\"ID\"], with the id written out", what)
					ok = false
				case l.cur == nil:
					l.errorAt(n, off+id.Location().From, "%s: match cannot read step outputs: no step has run when playbooks are chosen", what)
					ok = false
				default:
					line, col := l.posIn(n, off+id.Location().From)
					l.cur.refs = append(l.cur.refs, stepRef{id: prop.Value, line: line, col: col, what: what, field: fields[v]})
				}
				return
			}
		case *ast.IdentifierNode:
			switch {
			case lets[v.Value]:
			case v.Value == "steps":
				l.errorAt(n, off+v.Location().From, "%s: read a step's output as steps.ID or steps[\"ID\"], with the id written out", what)
				ok = false
			case (v.Value == "error" || v.Value == "failed_step") && (l.cur == nil || !l.cur.handler):
				l.errorAt(n, off+v.Location().From, "%s: %s is set only in error handlers (steps with handler: true)", what, v.Value)
				ok = false
			}
		}
		for _, c := range exprsafe.Children(node) {
			walk(c)
		}
	}
	walk(tree)
	return ok
}
