package app

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestHostileRuleDelaysNoIncident is the load test of bounded expressions:
// an admin saves an approval rule that passes every static limit but would
// run for minutes (two nested predicates over 1,200 elements); eight
// incidents then arrive at once. Every one of them gets its pending action
// (the rule's one evaluation fails on its step budget, and the action waits
// naming it) instead of a workflow task stalled past Temporal's deadlock
// detector holding the others back.
func TestHostileRuleDelaysNoIncident(t *testing.T) {
	c, _ := devService(t, Config{})
	list := "[" + strings.Repeat("1,", 299) + "1]"
	rule := "let a=" + list + "; let b=concat(a,a,a,a); let c=concat(b,b,b,b); all(c,{all(c,{# > 0})})"
	body, _ := json.Marshal(map[string]any{"default": "full", "rules": []map[string]string{{"name": "hostile", "when": rule, "then": "run"}}})
	var e json.RawMessage
	if code := c.do(t, "PUT", "/api/v1/settings/automation", body, &e); code != http.StatusOK {
		t.Fatalf("save the rule: HTTP %d %s", code, e)
	}
	acts := pendingActions(t, c, 8)
	for _, a := range acts {
		if !strings.Contains(a.Reason, "budget") {
			t.Errorf("action %s of incident %d waits for %q, want the rule's budget named", a.ID, a.IncidentID, a.Reason)
		}
	}
}
