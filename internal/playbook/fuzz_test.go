package playbook

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzExpr feeds arbitrary expressions through the compile path every
// expression of a playbook takes (shape checks, type check against the real
// environment, step references) in each place one can stand: match, a when
// over entities, a when over alerts, a template, a sub-playbook's when. One
// that compiles must evaluate without panicking, and quickly: the loader's
// limits exist so that no accepted expression can stall a workflow.
func FuzzExpr(f *testing.F) {
	for _, s := range []string{
		`incident.severity in ["medium", "high"]`,
		`any(alerts, {.category == "CredentialAccess" or any(.mitreTechniques, {# startsWith "T1110"})})`,
		`filter(devices, {.verdict == "malicious"})`,
		`item.deviceType == "workstation" and not item.isolated and not item.disconnected`,
		`steps.a.succeeded > 0 and any(steps.a.results, {.target == item.key})`,
		`inputs.device.name + " " + inputs.note`,
		`len(1..1000) > 0`,
		`let x = [1, 2]; all(x, {# > 0})`,
		`join(uniq(map(alerts, .category)), ", ")`,
		`error + failed_step`,
		`{"a": {"b": 1}}.a.b == 1`,
		`sortBy(users, .name)[0:2]`,
		`now()`, `keys({})`, `1..100000`, `((((((((((true))))))))))`, `"\u0000"`, `[[[[[[[[1]]]]]]]]`,
	} {
		f.Add(s)
	}
	env := NewEnv(snapshot())
	env.Steps = map[string]StepOutput{"a": {Status: StepSucceeded, Count: 1, Succeeded: 1,
		Results: []ActionOutput{{Target: "device:aaa", Status: "succeeded"}}}}
	f.Fuzz(func(t *testing.T, expr string) {
		if strings.ContainsAny(expr, "\n\r") {
			return // one line, so that it fits every YAML position below
		}
		q := "'" + strings.ReplaceAll(expr, "'", "''") + "'"
		srcs := []string{
			header + "match: " + q + "\n",
			header + "stages:\n  triage:\n    - id: a\n      action: incident.tag\n      with: {tags: [x]}\n" +
				"  containment:\n    - id: b\n      for_each: devices\n      when: " + q + "\n      action: device.run_av_scan\n",
			header + "stages:\n  containment:\n    - id: b\n      for_each: alerts\n      when: " + q + "\n      action: incident.tag\n      with: {tags: [x]}\n",
			header + "stages:\n  triage:\n    - id: a\n      action: incident.comment\n      with: {text: " + q + "}\n" +
				"  review:\n    - id: b\n      action: incident.comment\n      with: {text: '{{ " + strings.ReplaceAll(expr, "'", "''") + " }}'}\n",
			header + "kind: sub\ninputs: {device: device, note: string}\nstages:\n  containment:\n    - id: b\n      when: " + q +
				"\n      target: inputs.device\n      action: device.run_av_scan\n",
		}
		for _, src := range srcs {
			pb, err := Parse("f.yaml", []byte(src))
			if err != nil {
				var le *LoadError
				if !errors.As(err, &le) || len(le.Diagnostics) == 0 {
					t.Fatalf("Parse error %v is not a *LoadError with diagnostics", err)
				}
				for _, d := range le.Diagnostics {
					if d.Line < 1 || d.Column < 1 {
						t.Fatalf("diagnostic without a position: %v", d)
					}
				}
				continue
			}
			start := time.Now()
			_, _ = pb.Matches(env)
			scope := env
			if pb.Kind == KindSub {
				scope = WithInputs(env, map[string]any{"device": "device:aaa", "note": "n"})
				scope.Steps = env.Steps
			}
			for _, s := range Stages {
				for _, st := range pb.Steps(s) {
					_, _ = st.Expand(scope)
				}
			}
			if d := time.Since(start); d > time.Second {
				t.Fatalf("an accepted expression took %v to evaluate: %s", d, expr)
			}
		}
	})
}

// FuzzParseTestFile feeds arbitrary bytes to the test file decoder: an
// error with positions or a test file, never a panic.
func FuzzParseTestFile(f *testing.F) {
	files, _ := filepath.Glob("../../playbooks/*.test.yaml")
	for _, p := range files {
		if src, err := os.ReadFile(p); err == nil {
			f.Add(string(src))
		}
	}
	f.Add("playbook: x\ncases:\n  - name: a\n    alerts: [{id: a1}]\n    expect: {actions: []}\n")
	f.Add("playbook: x\ncases:\n  - name: a\n    incident: {severity: high, alerts: [{id: a1, evidence: [{}]}]}\n    expect: {}\n")
	f.Fuzz(func(t *testing.T, src string) {
		tf, err := ParseTestFile("f.test.yaml", []byte(src))
		if err != nil {
			var le *LoadError
			if !errors.As(err, &le) || len(le.Diagnostics) == 0 {
				t.Fatalf("error %v is not a *LoadError with diagnostics", err)
			}
			for _, d := range le.Diagnostics {
				if d.Line < 1 || d.Column < 1 {
					t.Fatalf("diagnostic without a position: %v", d)
				}
			}
			return
		}
		if tf.Playbook == "" || len(tf.Cases) == 0 {
			t.Fatalf("accepted a test file without a playbook or cases: %q", src)
		}
	})
}
