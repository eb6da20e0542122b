package policy

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/airsoc/air/internal/domain"
)

func TestDecide(t *testing.T) {
	full := Settings{Default: Full}
	tests := []struct {
		name string
		s    Settings
		in   Input
		want Outcome
	}{
		{"default is semi-all", Settings{}, Input{ActionType: "device.isolate", Verdict: domain.VerdictMalicious}, Wait},
		{"full runs malicious", full, Input{ActionType: "device.isolate", Verdict: domain.VerdictMalicious}, Run},
		{"full waits on suspicious", full, Input{ActionType: "device.isolate", Verdict: domain.VerdictSuspicious}, Wait},
		{"no threats never acts", full, Input{ActionType: "device.isolate", Verdict: domain.VerdictNoThreatsFound}, Skip},
		{"none skips", Settings{Default: None}, Input{ActionType: "device.isolate", Verdict: domain.VerdictMalicious}, Skip},
		{"group overrides default", Settings{Default: SemiAll, Groups: map[string]Level{"Labs": Full}},
			Input{ActionType: "device.isolate", Verdict: domain.VerdictMalicious, DeviceGroup: "Labs"}, Run},
		{"step requires approval", full, Input{ActionType: "device.isolate", Verdict: domain.VerdictMalicious, Approval: "required"}, Wait},
		{"step auto", Settings{}, Input{ActionType: "user.revoke_sessions", Verdict: domain.VerdictSuspicious, Approval: "auto"}, Run},
		{"email waits without opt-in", full, Input{ActionType: "email.soft_delete", Verdict: domain.VerdictMalicious}, Wait},
		{"email opt-in", Settings{Default: Full, AutoEmail: true}, Input{ActionType: "email.soft_delete", Verdict: domain.VerdictMalicious}, Run},
		{"semi-core OS folder", Settings{Default: SemiCore}, Input{ActionType: "file.stop_and_quarantine", Verdict: domain.VerdictMalicious, FilePath: `C:\Windows\System32\x.dll`}, Wait},
		{"semi-core elsewhere", Settings{Default: SemiCore}, Input{ActionType: "file.stop_and_quarantine", Verdict: domain.VerdictMalicious, FilePath: `C:\Users\a\x.exe`}, Run},
		{"semi-nontemp temp", Settings{Default: SemiNonTemp}, Input{ActionType: "file.stop_and_quarantine", Verdict: domain.VerdictMalicious, FilePath: `C:\Users\a\AppData\Local\Temp\x.exe`}, Run},
		{"protected tag waits even when full", Settings{Default: Full, Guardrails: Guardrails{ProtectedTags: []string{"critical"}}},
			Input{ActionType: "device.isolate", Verdict: domain.VerdictMalicious, EntityTags: []string{"dc", "critical"}}, Wait},
		{"protected tag beats step auto", Settings{Guardrails: Guardrails{ProtectedTags: []string{"critical"}}},
			Input{ActionType: "device.isolate", Verdict: domain.VerdictMalicious, Approval: "auto", EntityTags: []string{"critical"}}, Wait},
		{"rule runs", Settings{Rules: []Rule{{Name: "revoke on high", When: `action.type == "user.revoke_sessions" and incident.severity == "high"`, Then: Run}}},
			Input{ActionType: "user.revoke_sessions", Verdict: domain.VerdictSuspicious, Rule: RuleEnv{Incident: RuleIncident{Severity: "high"}}}, Run},
		{"rule does not hold", Settings{Rules: []Rule{{When: `action.type == "user.revoke_sessions" and incident.severity == "high"`, Then: Run}}},
			Input{ActionType: "user.revoke_sessions", Verdict: domain.VerdictSuspicious, Rule: RuleEnv{Incident: RuleIncident{Severity: "low"}}}, Wait},
		{"rule waits under full", Settings{Default: Full, Rules: []Rule{{When: `target.deviceGroup == "Servers"`, Then: Wait}}},
			Input{ActionType: "device.isolate", Verdict: domain.VerdictMalicious, Rule: RuleEnv{Target: RuleTarget{DeviceGroup: "Servers"}}}, Wait},
		{"guardrail beats rule", Settings{Rules: []Rule{{When: `true`, Then: Run}}, Guardrails: Guardrails{ProtectedTags: []string{"critical"}}},
			Input{ActionType: "device.isolate", Verdict: domain.VerdictMalicious, EntityTags: []string{"critical"}}, Wait},
		{"semi-nontemp Graph's folder-only temp path", Settings{Default: SemiNonTemp}, Input{ActionType: "file.stop_and_quarantine", Verdict: domain.VerdictMalicious, FilePath: `C:\Users\x\AppData\Local\Temp`}, Run},
		{"semi-nontemp folder-only downloads", Settings{Default: SemiNonTemp}, Input{ActionType: "file.stop_and_quarantine", Verdict: domain.VerdictMalicious, FilePath: `C:\Users\x\Downloads`}, Run},
		{"semi-nontemp a folder named like temp", Settings{Default: SemiNonTemp}, Input{ActionType: "file.stop_and_quarantine", Verdict: domain.VerdictMalicious, FilePath: `C:\Users\x\Templates`}, Wait},
		{"semi-core folder-only OS path", Settings{Default: SemiCore}, Input{ActionType: "file.stop_and_quarantine", Verdict: domain.VerdictMalicious, FilePath: `C:\Windows`}, Wait},
		{"semi-nontemp elsewhere", Settings{Default: SemiNonTemp}, Input{ActionType: "file.stop_and_quarantine", Verdict: domain.VerdictMalicious, FilePath: `C:\Users\a\x.exe`}, Wait},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Decide(tt.s, tt.in)
			if got.Outcome != tt.want || got.Reason == "" {
				t.Errorf("Decide() = %+v, want outcome %s with a reason", got, tt.want)
			}
		})
	}
}

// TestDecideCaseActions: an action on the incident itself has no device
// group and no verdict, so the tenant default decides (full runs, the semi
// levels wait, none leaves it out); the step's approval and the rules come
// first, as for other actions; a device group's level does not apply.
func TestDecideCaseActions(t *testing.T) {
	resolve := Input{ActionType: "incident.resolve", Incident: true}
	with := func(in Input, f func(*Input)) Input { f(&in); return in }
	tests := []struct {
		name   string
		s      Settings
		in     Input
		want   Outcome
		reason string
	}{
		{"full runs", Settings{Default: Full}, resolve, Run, "automation level full (tenant default): actions on the incident run automatically"},
		{"default semi-all waits", Settings{}, resolve, Wait, "automation level semi-all (tenant default): actions on the incident wait for approval"},
		{"semi-core waits", Settings{Default: SemiCore}, resolve, Wait, "semi-core"},
		{"semi-nontemp waits", Settings{Default: SemiNonTemp}, resolve, Wait, "semi-nontemp"},
		{"none skips", Settings{Default: None}, resolve, Skip, "automation level none"},
		{"a group's level does not apply", Settings{Default: SemiAll, Groups: map[string]Level{"": Full, "Labs": Full}}, resolve, Wait, "tenant default"},
		{"step auto under semi", Settings{}, with(resolve, func(in *Input) { in.Approval = "auto" }), Run, "playbook step approves automatically"},
		{"step required under full", Settings{Default: Full}, with(resolve, func(in *Input) { in.Approval = "required" }), Wait, "playbook step requires approval"},
		{"none beats step auto", Settings{Default: None}, with(resolve, func(in *Input) { in.Approval = "auto" }), Skip, "none"},
		{"no verdict needed under full", Settings{Default: Full}, with(resolve, func(in *Input) { in.Verdict = "" }), Run, "run automatically"},
		{"a rule runs it", Settings{Rules: []Rule{{Name: "close fps", When: `action.type == "incident.resolve" and action.params.classification == "falsePositive"`, Then: Run}}},
			with(resolve, func(in *Input) {
				in.Rule = RuleEnv{Action: RuleAction{Params: map[string]any{"classification": "falsePositive"}}}
			}), Run, "close fps"},
		{"a rule makes it wait", Settings{Default: Full, Rules: []Rule{{When: `action.type == "incident.set_severity"`, Then: Wait}}},
			Input{ActionType: "incident.set_severity", Incident: true}, Wait, "rule"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Decide(tt.s, tt.in)
			if got.Outcome != tt.want || !strings.Contains(got.Reason, tt.reason) {
				t.Errorf("Decide() = %+v, want outcome %s with a reason containing %q", got, tt.want, tt.reason)
			}
		})
	}
}

func TestSettingsJSONAndValidate(t *testing.T) {
	var s Settings
	if err := json.Unmarshal([]byte(`{"default":"full","guardrails":{"rates":{"device.isolate":{"max":10,"per":"1h"}}}}`), &s); err != nil {
		t.Fatal(err)
	}
	if got := time.Duration(s.Guardrails.Rates["device.isolate"].Per); got != time.Hour {
		t.Errorf("per: got %s, want 1h", got)
	}
	if err := s.Validate(); err != nil {
		t.Errorf("valid settings refused: %v", err)
	}
	bad := []string{
		`{"default":"sometimes"}`,
		`{"groups":{"Servers":"max"}}`,
		`{"guardrails":{"rates":{"device.isolate":{"max":-1,"per":"1h"}}}}`,
		`{"rules":[{"when":"action.typo == 1","then":"run"}]}`,
		`{"rules":[{"when":"now() > 0","then":"run"}]}`,
		`{"rules":[{"when":"true","then":"maybe"}]}`,
	}
	for _, b := range bad {
		var s Settings
		if err := json.Unmarshal([]byte(b), &s); err != nil {
			continue // refused while decoding: fine
		}
		if err := s.Validate(); err == nil || domain.KindOf(err) != domain.KindInvalid {
			t.Errorf("%s: got %v, want an invalid error naming the setting", b, err)
		}
	}
	var d Duration
	if err := json.Unmarshal([]byte(`"soon"`), &d); err == nil {
		t.Error("duration \"soon\" accepted")
	}
}

// TestHostileRules checks that an approval rule of a few hundred characters
// cannot stall the workflow that decides an action: what a static limit
// catches is refused when the settings are saved, the rest fails its one
// evaluation fast and the action waits, naming the budget.
func TestHostileRules(t *testing.T) {
	t.Parallel()
	list := "[" + strings.Repeat("1,", 299) + "1]"
	nested := Settings{Rules: []Rule{{When: "let a=" + list + "; all(a,{all(a,{all(a,{# > 0})})})", Then: Run}}}
	if err := nested.Validate(); err == nil || !strings.Contains(err.Error(), "predicates nest 3 deep, the limit is 2") {
		t.Errorf("nested: got %v, want the predicate depth limit named", err)
	}
	for _, tt := range []struct{ name, when, want string }{
		{"fan-out", "let a=" + list + "; let b=concat(a,a,a,a); let c=concat(b,b,b,b); all(c,{all(c,{# > 0})})",
			"expression exceeded its budget of 250000 steps"},
		{"squared", `let s="` + strings.Repeat("a", 40) + `"; let t=replace(s,"a",s); let u=replace(t,"a",t); let v=replace(u,"a",u); len(v) > 0`,
			"expression exceeded its budget of 1048576 bytes of strings"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := Settings{Default: Full, Rules: []Rule{{Name: "hostile", When: tt.when, Then: Run}}}
			if err := s.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			start := time.Now()
			d := Decide(s, Input{ActionType: "device.isolate", Verdict: domain.VerdictMalicious})
			if took := time.Since(start); took > 2*time.Second { // ~0.1 s alone; unbounded, minutes
				t.Errorf("took %v, want it to fail fast", took)
			}
			if d.Outcome != Wait || !strings.Contains(d.Reason, tt.want) {
				t.Errorf("Decide() = %+v, want wait naming %q", d, tt.want)
			}
		})
	}
}
