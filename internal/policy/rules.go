package policy

import (
	"fmt"
	"sync"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/exprsafe"
)

// Rule is an approval rule: when When holds for a proposed action, Then
// decides whether it runs or waits, e.g.
//
//	{"name": "revoke on high", "when": "action.type == \"user.revoke_sessions\" and incident.severity == \"high\"", "then": "run"}
//
// Rules are tried in order after the playbook step's own approval setting;
// the first that holds decides. Guardrails still apply on top.
type Rule struct {
	Name string  `json:"name"`
	When string  `json:"when"`
	Then Outcome `json:"then"` // run or wait
}

// RuleEnv is what a rule's expression reads.
type RuleEnv struct {
	Action   RuleAction   `expr:"action"`
	Incident RuleIncident `expr:"incident"`
	Target   RuleTarget   `expr:"target"`
}

// RuleIncident is the incident as a rule sees it.
type RuleIncident struct {
	ID       int64    `expr:"id"`
	Severity string   `expr:"severity"`
	Tags     []string `expr:"tags"`
}

// RuleTarget is the action's target entity as a rule sees it.
type RuleTarget struct {
	Key         string   `expr:"key"`
	Kind        string   `expr:"kind"`
	Name        string   `expr:"name"`
	Verdict     string   `expr:"verdict"`
	DeviceGroup string   `expr:"deviceGroup"`
	Tags        []string `expr:"tags"`
}

// RuleAction is the proposed action as a rule sees it.
type RuleAction struct {
	Type   string         `expr:"type"`
	Params map[string]any `expr:"params"`
}

// conditions caches compiled rules by source: settings are re-read for
// every investigation, compiling is ~60µs, evaluating ~1µs.
var conditions sync.Map // string → *exprsafe.Condition

func compileRule(src string) (*exprsafe.Condition, error) {
	if c, ok := conditions.Load(src); ok {
		return c.(*exprsafe.Condition), nil
	}
	c, err := exprsafe.CompileCondition(src, RuleEnv{})
	if err != nil {
		return nil, err
	}
	conditions.Store(src, c)
	return c, nil
}

func (r Rule) validate(i int) error {
	field := fmt.Sprintf("rules[%d]", i)
	if r.Then != Run && r.Then != Wait {
		return domain.Invalid(field+".then", "want run or wait, got %q", r.Then)
	}
	if _, err := compileRule(r.When); err != nil {
		return domain.Invalid(field+".when", "%v", err)
	}
	return nil
}

// applyRules returns the decision of the first rule that holds, if any. A
// rule that fails to evaluate sends the action to wait, naming the rule.
func applyRules(rules []Rule, env RuleEnv) (Decision, bool) {
	for i, r := range rules {
		name := r.Name
		if name == "" {
			name = fmt.Sprintf("rules[%d]", i)
		}
		c, err := compileRule(r.When)
		if err != nil {
			return Decision{Wait, fmt.Sprintf("approval rule %q is invalid (%v): waiting", name, err)}, true
		}
		ok, err := c.Eval(env)
		if err != nil {
			return Decision{Wait, fmt.Sprintf("approval rule %q failed (%v): waiting", name, err)}, true
		}
		if ok {
			verb := "runs automatically"
			if r.Then == Wait {
				verb = "waits for approval"
			}
			return Decision{r.Then, fmt.Sprintf("approval rule %q: %s", name, verb)}, true
		}
	}
	return Decision{}, false
}
