package playbook

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/airsoc/air/internal/domain"
)

// diagnostics returns the diagnostics of err as strings, failing the test
// when err is not a *LoadError.
func diagnostics(t *testing.T, err error) []string {
	t.Helper()
	var le *LoadError
	if !errors.As(err, &le) {
		t.Fatalf("error = %v, want a *LoadError", err)
	}
	var got []string
	for _, d := range le.Diagnostics {
		got = append(got, d.String())
	}
	return got
}

// writeDir writes files (name → content) into a new directory.
func writeDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestParseStepOptions(t *testing.T) {
	t.Parallel()
	src := header + `stages:
  containment:
    - id: isolate
      for_each: devices
      action: device.isolate
      timeout: 5m
      retry: {attempts: 3, backoff: 10s, max_backoff: 5m, non_retryable: [invalid, not_found, forbidden]}
      on_error: note_failure
    - id: scan
      for_each: devices
      action: device.run_av_scan
      on_error: continue
    - id: note_failure
      handler: true
      action: incident.comment
      with: {text: "{{ failed_step }} failed: {{ error }}"}
`
	pb, err := Parse("t.yaml", []byte(src))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	isolate, scan, note := pb.Step("isolate"), pb.Step("scan"), pb.Step("note_failure")
	if isolate.Timeout != 5*time.Minute || isolate.OnError != "note_failure" || isolate.Handler {
		t.Errorf("isolate: timeout %v on_error %q handler %v", isolate.Timeout, isolate.OnError, isolate.Handler)
	}
	want := RetryPolicy{Attempts: 3, Backoff: 10 * time.Second, MaxBackoff: 5 * time.Minute,
		NonRetryable: []string{"invalid", "not_found", "forbidden"}}
	if !reflect.DeepEqual(isolate.Retry, want) {
		t.Errorf("retry = %+v, want %+v", isolate.Retry, want)
	}
	if scan.OnError != OnErrorContinue || scan.Timeout != 0 || !reflect.DeepEqual(scan.Retry, RetryPolicy{}) {
		t.Errorf("scan: on_error %q timeout %v retry %+v", scan.OnError, scan.Timeout, scan.Retry)
	}
	if !note.Handler || note.OnError != OnErrorFail {
		t.Errorf("note_failure: handler %v on_error %q, want a handler that fails", note.Handler, note.OnError)
	}
	if pb.Step("nope") != nil {
		t.Error("Step(nope) found a step")
	}
}

func TestParseLanguageErrors(t *testing.T) {
	t.Parallel()
	const stages = "stages:\n  containment:\n    - id: a\n      for_each: devices\n      action: device.isolate\n"
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{
			name: "timeout not a duration",
			src:  header + stages + "      timeout: 5\n",
			want: []string{`t.yaml:8:16: timeout must be a duration such as 30s, 5m or 1h, got 5`},
		},
		{
			name: "timeout unparsable",
			src:  header + stages + "      timeout: five minutes\n",
			want: []string{`t.yaml:8:16: timeout must be a duration such as 30s, 5m or 1h, got "five minutes"`},
		},
		{
			name: "timeout negative",
			src:  header + stages + "      timeout: -1s\n",
			want: []string{`t.yaml:8:16: timeout must be positive, got -1s`},
		},
		{
			name: "timeout too long",
			src:  header + stages + "      timeout: 48h\n",
			want: []string{`t.yaml:8:16: timeout is 48h, the limit is 24h0m0s`},
		},
		{
			name: "retry problems",
			src: header + stages + "      retry:\n        attempts: 0\n        backoff: 1m\n        max_backoff: 10s\n" +
				"        non_retryable: [invalid, bogus, invalid]\n        jitter: true\n",
			want: []string{
				`t.yaml:9:19: retry.attempts must be 1 to 20, got 0`,
				`t.yaml:11:22: retry.max_backoff 10s is shorter than retry.backoff 1m0s`,
				`t.yaml:12:34: retry.non_retryable: unknown error kind "bogus", want one of invalid, not_found, conflict, forbidden, throttled, timeout, failed`,
				`t.yaml:12:41: retry.non_retryable: "invalid" is listed twice`,
				`t.yaml:13:9: unknown key "jitter", want one of attempts, backoff, max_backoff, non_retryable`,
			},
		},
		{
			name: "retry not a mapping",
			src:  header + stages + "      retry: 3\n",
			want: []string{`t.yaml:8:14: retry must be a mapping, got 3`},
		},
		{
			name: "on_error to a missing step",
			src:  header + stages + "      on_error: handle\n",
			want: []string{`t.yaml:8:17: on_error: no step "handle"; want fail, continue or the id of a handler step`},
		},
		{
			name: "on_error to a step that is not a handler",
			src:  header + stages + "      on_error: b\n    - id: b\n      action: incident.comment\n      with: {text: x}\n",
			want: []string{`t.yaml:8:17: on_error: step "b" is not an error handler: mark it handler: true`},
		},
		{
			name: "handler never used",
			src:  header + stages + "    - id: b\n      handler: true\n      action: incident.comment\n      with: {text: x}\n",
			want: []string{`t.yaml:9:7: handler step "b" is never used: no step names it in on_error`},
		},
		{
			name: "handler handing errors on to a handler",
			src: header + stages + "      on_error: b\n    - id: b\n      handler: true\n      on_error: c\n      action: incident.comment\n      with: {text: x}\n" +
				"    - id: c\n      handler: true\n      action: incident.comment\n      with: {text: y}\n",
			want: []string{
				`t.yaml:11:17: on_error of an error handler is fail or continue, not another handler`,
				`t.yaml:15:7: handler step "c" is never used: no step names it in on_error`,
			},
		},
		{
			name: "handler not boolean",
			src:  header + stages + "      handler: yes please\n",
			want: []string{`t.yaml:8:16: handler must be true or false, got "yes please"`},
		},
		{
			name: "reading a missing step",
			src:  header + stages + "      when: steps.tga.status == \"succeeded\"\n  triage:\n    - id: tag\n      action: incident.tag\n      with: {tags: [x]}\n",
			want: []string{`t.yaml:8:13: when: no step "tga" (did you mean tag?)`},
		},
		{
			name: "reading a later stage",
			src: header + "stages:\n  triage:\n    - id: note\n      when: steps.a.failed > 0\n      action: incident.comment\n      with: {text: x}\n" +
				"  containment:\n    - id: a\n      for_each: devices\n      action: device.isolate\n",
			want: []string{`t.yaml:6:13: when: step "a" runs later (containment) than this step (triage)`},
		},
		{
			name: "reading a later step of the same stage",
			src:  header + stages + "      when: steps.b.count == 0\n    - id: b\n      action: incident.comment\n      with: {text: x}\n",
			want: []string{`t.yaml:8:13: when: step "b" runs later (containment) than this step (containment)`},
		},
		{
			name: "reading itself",
			src:  header + stages + "      when: steps.a.count == 0\n",
			want: []string{`t.yaml:8:13: when: a step cannot read its own output (steps.a)`},
		},
		{
			name: "reading a handler",
			src: header + stages + "      on_error: h\n    - id: h\n      handler: true\n      action: incident.comment\n      with: {text: x}\n" +
				"    - id: c\n      action: incident.comment\n      with: {text: \"{{ steps.h.status }}\"}\n",
			want: []string{`t.yaml:15:24: with.text: step "h" is an error handler; other steps cannot read its output`},
		},
		{
			name: "a handler reading past the step it handles",
			src: header + stages + "      on_error: h\n    - id: b\n      action: incident.comment\n      with: {text: x}\n" +
				"    - id: h\n      handler: true\n      action: incident.comment\n      with: {text: \"{{ steps.b.status }}\"}\n",
			want: []string{`t.yaml:15:24: with.text: step "b" runs later (containment) than step "a" (containment), whose errors this handler handles`},
		},
		{
			name: "steps with a computed id",
			src:  header + stages + "      when: steps[item.name].count == 0\n",
			want: []string{`t.yaml:8:13: when: read a step's output as steps.ID or steps["ID"], with the id written out`},
		},
		{
			name: "steps in match",
			src:  header + "match: steps.a.count > 0\n",
			want: []string{`t.yaml:3:8: match: match cannot read step outputs: no step has run when playbooks are chosen`},
		},
		{
			name: "error outside a handler",
			src:  header + stages + "      with: {comment: \"{{ error }}\"}\n",
			want: []string{`t.yaml:8:27: with.comment: error is set only in error handlers (steps with handler: true)`},
		},
		{
			name: "failed_step in match",
			src:  header + "match: failed_step == \"\"\n",
			want: []string{`t.yaml:3:8: match: failed_step is set only in error handlers (steps with handler: true)`},
		},
		{
			name: "step output field misspelt",
			src:  header + stages + "    - id: b\n      when: steps.a.succeded > 0\n      action: incident.comment\n      with: {text: x}\n",
			want: []string{`t.yaml:9:21: when: a step output has no field succeded (did you mean succeeded?)`},
		},
		{
			name: "action and use",
			src:  header + "stages:\n  triage:\n    - id: a\n      action: incident.tag\n      use: other\n      with: {tags: [x]}\n",
			want: []string{`t.yaml:7:7: a step has one of action, use, ask and wait, not both action and use`},
		},
		{
			name: "neither action nor use",
			src:  header + "stages:\n  triage:\n    - id: a\n",
			want: []string{`t.yaml:5:7: step has no action: give it action: TYPE, use: SUB-PLAYBOOK, ask: (a question) or wait: (a condition)`},
		},
		{
			name: "use with a duplicate input",
			src:  header + "stages:\n  containment:\n    - id: a\n      use: contain\n      with:\n        device: first(devices)\n        device: last(devices)\n",
			want: []string{`t.yaml:9:9: duplicate input "device", first at line 8`},
		},
		{
			name: "use with approval, timeout, retry and target",
			src: header + "stages:\n  containment:\n    - id: a\n      use: contain\n      approval: required\n      timeout: 1m\n" +
				"      retry: {attempts: 2}\n      target: first(devices)\n",
			want: []string{
				`t.yaml:7:7: a use step takes no approval: the sub-playbook's steps set their own`,
				`t.yaml:8:7: a use step takes no timeout: the sub-playbook's steps set their own`,
				`t.yaml:9:7: a use step takes no retry: the sub-playbook's steps set their own`,
				`t.yaml:10:7: a use step takes no target: pass entities to the sub-playbook in with`,
			},
		},
		{
			name: "bad kind",
			src:  header + "kind: library\n",
			want: []string{`t.yaml:3:7: kind must be sub (a sub-playbook), got "library"; leave kind out for a playbook that matches incidents`},
		},
		{
			name: "sub-playbook with match, order, fallback and exclusive",
			src:  header + "kind: sub\nmatch: true\norder: 3\nfallback: true\nexclusive: true\n",
			want: []string{
				`t.yaml:4:1: a sub-playbook (kind: sub) takes no match: it runs only where a step says use: t`,
				`t.yaml:5:1: a sub-playbook (kind: sub) takes no order: it runs only where a step says use: t`,
				`t.yaml:6:1: a sub-playbook (kind: sub) takes no fallback: it runs only where a step says use: t`,
				`t.yaml:7:1: a sub-playbook (kind: sub) takes no exclusive: it runs only where a step says use: t`,
			},
		},
		{
			name: "exclusive not a boolean",
			src:  header + "exclusive: yes please\n",
			want: []string{`t.yaml:3:12: exclusive must be true or false, got "yes please"`},
		},
		{
			name: "entity inputs on a playbook",
			src:  header + "inputs: {device: device}\n",
			want: []string{`t.yaml:3:10: input device: a playbook's inputs are tenant switches of type string, int, bool, strings; entity inputs (device) are for sub-playbooks (kind: sub)`},
		},
		{
			name: "a playbook's input without a default",
			src:  header + "inputs:\n  containHosts: {type: bool}\n  mode: string\n",
			want: []string{
				`t.yaml:4:3: input containHosts needs a default: a tenant that never sets it runs the playbook with the default`,
				`t.yaml:5:3: input mode needs a default: a tenant that never sets it runs the playbook with the default`,
			},
		},
		{
			name: "a playbook's input of the wrong type in an expression",
			src: header + "inputs:\n  containHosts: {type: bool, default: true}\nstages:\n  containment:\n" +
				"    - id: iso\n      for_each: devices\n      when: inputs.containHosts == \"yes\"\n      action: device.isolate\n" +
				"    - id: tag\n      when: inputs.containHost\n      action: incident.tag\n      with: {tags: [x]}\n",
			want: []string{
				`t.yaml:9:33: when: invalid operation: == (mismatched types bool and string)`,
				`t.yaml:12:20: when: inputs has no field containHost (did you mean containHosts?)`,
			},
		},
		{
			name: "bad inputs",
			src: header + "kind: sub\ninputs:\n  device: machine\n  my-input: string\n  n: {type: int, default: many}\n" +
				"  d: {type: device, default: x}\n  s: {description: no type}\n  f: {type: bool, colour: red}\n",
			want: []string{
				`t.yaml:5:11: input device: unknown type "machine", want one of device, user, mailbox, file, process, ip, url, message, oauthApp, string, int, bool, strings`,
				`t.yaml:6:3: input name "my-input": use letters, digits and '_', not starting with a digit (expressions read inputs.my-input)`,
				`t.yaml:7:27: input n: default must be an integer, got "many"`,
				`t.yaml:8:30: input d: an entity input has no default`,
				`t.yaml:9:6: input s has no type`,
				`t.yaml:10:19: unknown key "colour", want one of type, default, description`,
			},
		},
		{
			name: "inputs in a playbook's expressions",
			src:  header + "match: inputs.device.verdict == \"malicious\"\n",
			want: []string{`t.yaml:3:8: match: unknown name inputs (declare inputs: at the top of the playbook)`},
		},
		{
			name: "misspelt input",
			src: header + "kind: sub\ninputs: {device: device}\nstages:\n  containment:\n    - id: a\n      target: inputs.devce\n" +
				"      action: device.isolate\n",
			want: []string{`t.yaml:8:22: target: inputs has no field devce (did you mean device?)`},
		},
		{
			name: "expression nested too deep",
			src:  header + "match: len(" + strings.Repeat("[", MaxNesting) + "1" + strings.Repeat("]", MaxNesting) + ") > 0\n",
			want: []string{`t.yaml:3:74: match: expression nests more than 64 deep`},
		},
		{
			name: "with nested too deep",
			src: header + "stages:\n  triage:\n    - id: a\n      action: incident.tag\n      with: {tags: " +
				strings.Repeat("[", MaxWithDepth+1) + "x" + strings.Repeat("]", MaxWithDepth+1) + "}\n",
			want: []string{`t.yaml:7:29: with.tags[0][0][0][0][0][0][0][0][0]: lists and mappings nest more than 8 deep`},
		},
		{
			name: "too many steps",
			src: header + "stages:\n  triage:\n" + strings.Repeat("    - action: incident.tag\n      with: {tags: [x]}\n", MaxSteps) +
				"    - id: last\n      action: incident.tag\n      with: {tags: [x]}\n",
			want: append(repeatString(`step has no id`, MaxSteps), `t.yaml:405:7: more than 200 steps in a playbook`),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse("t.yaml", []byte(tt.src))
			got := diagnostics(t, err)
			if tt.name == "too many steps" { // only the last one matters
				got, tt.want = got[len(got)-1:], tt.want[len(tt.want)-1:]
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("diagnostics:\ngot  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func repeatString(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

// subDir is a caller and a sub-playbook that contains a device the way
// public SOAR playbooks do.
var subDir = map[string]string{
	"contain.yaml": `name: contain-device
version: 2
kind: sub
description: Isolate one device if it is a workstation, not isolated and connected.
inputs:
  device: device
  isolation: {type: string, default: Full, description: Full or Selective}
  tags: {type: strings, default: [contained]}
stages:
  containment:
    - id: isolate
      when: inputs.device.deviceType == "workstation" and not inputs.device.isolated and not inputs.device.disconnected
      target: inputs.device
      action: device.isolate
      with:
        isolationType: "{{ inputs.isolation }}"
        comment: "isolate {{ inputs.device.name }}"
  review:
    - id: tag
      when: steps.isolate.succeeded > 0
      action: incident.tag
      with: {tags: "{{ inputs.tags }}"}
`,
	"main.yaml": `name: main
version: 1
stages:
  containment:
    - id: contain
      for_each: filter(devices, {.verdict == "malicious"})
      use: contain-device
      with: {device: "{{ item }}"}
`,
}

func TestLoadDirLinksSubPlaybooks(t *testing.T) {
	t.Parallel()
	pbs, err := LoadDir(writeDir(t, subDir))
	if err != nil {
		t.Fatalf("LoadDir: %v", err)
	}
	if len(pbs) != 2 || pbs[0].Name != "contain-device" || pbs[1].Name != "main" {
		t.Fatalf("LoadDir = %v, want contain-device and main", pbs)
	}
	sub, main := pbs[0], pbs[1]
	wantInputs := []Input{
		{Name: "device", Type: "device", Required: true},
		{Name: "isolation", Type: "string", Default: "Full", Description: "Full or Selective"},
		{Name: "tags", Type: "strings", Default: []string{"contained"}},
	}
	if sub.Kind != KindSub || !reflect.DeepEqual(sub.Inputs, wantInputs) {
		t.Errorf("sub: kind %q inputs %+v, want sub %+v", sub.Kind, sub.Inputs, wantInputs)
	}
	use := main.Step("contain")
	if use.Use != "contain-device" || use.Callee != sub || use.Spec != nil || use.Action != "" || use.Approval != "" {
		t.Fatalf("use step: use %q callee %p (want %p) spec %v action %q approval %q", use.Use, use.Callee, sub, use.Spec, use.Action, use.Approval)
	}
	if got := sub.Step("tag").Reads; !reflect.DeepEqual(got, []string{"isolate"}) {
		t.Errorf("tag reads %v, want [isolate]", got)
	}

	env := NewEnv(snapshot())
	env.Devices[0].HealthStatus, env.Devices[0].DeviceType = "active", "workstation"
	if ok, err := sub.Matches(env); ok || err != nil {
		t.Errorf("a sub-playbook matches: %v, %v", ok, err)
	}
	invs, err := use.Expand(env)
	if err != nil {
		t.Fatalf("Expand use step: %v", err)
	}
	wantUse := []Invocation{{ItemKey: "device:aaa", Args: map[string]any{"device": "device:aaa", "isolation": "Full", "tags": []string{"contained"}}}}
	if !reflect.DeepEqual(invs, wantUse) {
		t.Fatalf("use invocations:\ngot  %#v\nwant %#v", invs, wantUse)
	}

	// The workflow records the args (a JSON round trip) and runs the callee.
	raw, err := json.Marshal(invs[0].Args)
	if err != nil {
		t.Fatal(err)
	}
	var args map[string]any
	if err := json.Unmarshal(raw, &args); err != nil {
		t.Fatal(err)
	}
	callEnv := WithInputs(env, args)
	got, err := sub.Step("isolate").Expand(callEnv)
	if err != nil {
		t.Fatalf("Expand sub step: %v", err)
	}
	want := []Invocation{{Target: "device:aaa", TargetName: "ws-042",
		Args: map[string]any{"isolationType": "Full", "comment": "isolate ws-042"}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("sub step:\ngot  %#v\nwant %#v", got, want)
	}
	// Its review step reads the sub-playbook's own step outputs.
	if got, err := sub.Step("tag").Expand(callEnv); err != nil || len(got) != 0 {
		t.Errorf("tag before isolate ran = %v, %v; want nothing (isolate reads as skipped)", got, err)
	}
	callEnv.Steps = map[string]StepOutput{"isolate": {Status: StepSucceeded, Count: 1, Succeeded: 1}}
	got, err = sub.Step("tag").Expand(callEnv)
	if err != nil || len(got) != 1 || !reflect.DeepEqual(got[0].Args["tags"], []string{"contained"}) {
		t.Errorf("tag after isolate = %#v, %v; want tags [contained]", got, err)
	}

	// Without inputs, or with a bad one, a sub step says why.
	if _, err := sub.Step("isolate").Expand(env); err == nil || !strings.Contains(err.Error(), "WithInputs") {
		t.Errorf("sub step without inputs: %v", err)
	}
	_, err = sub.Step("isolate").Expand(WithInputs(env, map[string]any{"device": "device:zzz"}))
	if want := `playbook contain-device step "isolate": input device: no device "device:zzz" in the incident`; err == nil || err.Error() != want {
		t.Errorf("unknown device: got %v, want %s", err, want)
	}
	_, err = sub.Step("isolate").Expand(WithInputs(env, map[string]any{}))
	if want := `playbook contain-device step "isolate": input device is required`; err == nil || err.Error() != want {
		t.Errorf("missing device: got %v, want %s", err, want)
	}
}

func TestLinkErrors(t *testing.T) {
	t.Parallel()
	sub := subDir["contain.yaml"]
	caller := func(step string) string {
		return "name: main\nversion: 1\nstages:\n  containment:\n    - id: c\n" + step
	}
	tests := []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{
			name:  "no such sub-playbook",
			files: map[string]string{"main.yaml": caller("      use: contain-devcie\n"), "sub.yaml": sub},
			want:  []string{`main.yaml:6:12: use: no sub-playbook "contain-devcie" (did you mean contain-device?)`},
		},
		{
			name:  "not a sub-playbook",
			files: map[string]string{"main.yaml": caller("      use: other\n"), "other.yaml": "name: other\nversion: 1\n"},
			want:  []string{`main.yaml:6:12: use: "other" is a playbook that matches incidents, not a sub-playbook (kind: sub)`},
		},
		{
			name:  "missing input",
			files: map[string]string{"main.yaml": caller("      use: contain-device\n"), "sub.yaml": sub},
			want:  []string{`main.yaml:6:12: sub-playbook contain-device needs input "device"`},
		},
		{
			name: "unknown input and wrong types",
			files: map[string]string{"sub.yaml": sub, "main.yaml": caller("      for_each: users\n      use: contain-device\n" +
				"      with:\n        device: \"{{ item }}\"\n        isolation: 3\n        colour: red\n        tags: \"x {{ incident.id }}\"\n")},
			want: []string{
				`main.yaml:9:9: with.device: want a device, got a user`,
				`main.yaml:10:9: with.isolation: want a string, got an integer`,
				`main.yaml:11:9: sub-playbook contain-device takes no input "colour", want one of device, isolation, tags`,
				`main.yaml:12:9: with.tags: want a list of strings, but text with templates renders a string`,
			},
		},
		{
			name: "an entity input given a string",
			files: map[string]string{"sub.yaml": sub, "main.yaml": caller("      use: contain-device\n" +
				"      with: {device: \"device:aaa\"}\n")},
			want: []string{`main.yaml:7:14: with.device: want a device: give an entity expression such as "{{ item }}"`},
		},
		{
			name: "a sub-playbook with errors of its own is not reported missing",
			files: map[string]string{"main.yaml": caller("      use: contain-device\n"),
				"sub.yaml": strings.Replace(sub, "version: 2", "version: 0", 1)},
			want: []string{`sub.yaml:2:10: version must be 1 or more, got 0`},
		},
		{
			name: "a loop",
			files: map[string]string{
				"a.yaml": "name: a\nversion: 1\nkind: sub\nstages:\n  triage:\n    - id: x\n      use: b\n",
				"b.yaml": "name: b\nversion: 1\nkind: sub\nstages:\n  triage:\n    - id: y\n      use: a\n",
			},
			want: []string{
				`a.yaml:7:12: use: b calls itself: a → b → a`,
				`b.yaml:7:12: use: a calls itself: b → a → b`,
			},
		},
		{
			name: "too deep",
			files: map[string]string{
				"s1.yaml": "name: s1\nversion: 1\nkind: sub\nstages:\n  triage:\n    - id: x\n      use: s2\n",
				"s2.yaml": "name: s2\nversion: 1\nkind: sub\nstages:\n  triage:\n    - id: x\n      use: s3\n",
				"s3.yaml": "name: s3\nversion: 1\nkind: sub\nstages:\n  triage:\n    - id: x\n      use: s4\n",
				"s4.yaml": "name: s4\nversion: 1\nkind: sub\nstages:\n  triage:\n    - id: x\n      use: s5\n",
				"s5.yaml": "name: s5\nversion: 1\nkind: sub\n",
			},
			want: []string{`s1.yaml:7:12: use: sub-playbooks nest 4 deep, the limit is 4: s1 → s2 → s3 → s4 → s5`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := writeDir(t, tt.files)
			_, err := LoadDir(dir)
			got := diagnostics(t, err)
			for i := range got {
				got[i] = strings.TrimPrefix(got[i], dir+string(filepath.Separator))
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("diagnostics:\ngot  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestStepOutputsAndHandlers(t *testing.T) {
	t.Parallel()
	src := header + `stages:
  containment:
    - id: disable
      for_each: filter(users, {not .privileged})
      action: user.disable
      on_error: report
    - id: notify
      for_each: users
      when: any(steps.disable.results, {.target == item.key and .status == "succeeded"})
      action: incident.comment
      with: {text: "disabled {{ item.name }} ({{ steps.disable.succeeded }} of {{ steps.disable.count }})"}
    - id: report
      handler: true
      action: incident.comment
      with: {text: "{{ failed_step }}: {{ error }}; {{ join(map(filter(steps.disable.results, {.status == 'failed'}), .targetName), ', ') }}"}
`
	pb, err := Parse("t.yaml", []byte(src))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	env := NewEnv(snapshot())
	// Nothing recorded yet: disable reads as skipped, so nobody is notified.
	if got, err := pb.Step("notify").Expand(env); err != nil || len(got) != 0 {
		t.Errorf("notify before disable = %v, %v; want nothing", got, err)
	}
	env.Steps = map[string]StepOutput{"disable": {Status: StepSucceeded, Count: 1, Succeeded: 1,
		Results: []ActionOutput{{Target: "user:alice@contoso.com", TargetName: "alice@contoso.com", Status: "succeeded"}}}}
	got, err := pb.Step("notify").Expand(env)
	want := []Invocation{{ItemKey: "user:alice@contoso.com", Args: map[string]any{"text": "disabled alice@contoso.com (1 of 1)"}}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("notify = %#v, %v; want %#v", got, err, want)
	}

	env.Steps = map[string]StepOutput{"disable": {Status: StepFailed, Count: 1, Failed: 1, Error: "forbidden",
		Results: []ActionOutput{{Target: "user:alice@contoso.com", TargetName: "alice@contoso.com", Status: "failed", Error: "forbidden"}}}}
	got, err = pb.Step("report").Expand(WithError(env, "disable", "admin accounts cannot be disabled"))
	want = []Invocation{{Args: map[string]any{"text": "disable: admin accounts cannot be disabled; alice@contoso.com"}}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("report = %#v, %v; want %#v", got, err, want)
	}
	if env.Error != "" || env.FailedStep != "" {
		t.Errorf("WithError changed its argument: %+v", env)
	}
}

func TestSelect(t *testing.T) {
	t.Parallel()
	dir := writeDir(t, map[string]string{
		"a.yaml":    "name: devices\nversion: 1\norder: 20\nmatch: len(devices) > 0\n",
		"b.yaml":    "name: early\nversion: 1\norder: 5\nmatch: len(devices) > 0\n",
		"c.yaml":    "name: mail\nversion: 1\nmatch: len(messages) > 0\n",
		"d.yaml":    "name: generic\nversion: 1\norder: 100\nfallback: true\n",
		"e.yaml":    "name: nothing\nversion: 1\nfallback: true\nmatch: incident.severity == 'low'\n",
		"sub.yaml":  "name: helper\nversion: 1\nkind: sub\n",
		"zzz.yaml":  "name: also-devices\nversion: 1\norder: 20\nmatch: len(devices) > 0\n",
		"mail.yaml": "name: mail-b\nversion: 1\norder: 1\nmatch: len(messages) > 1\n",
	})
	pbs, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	inc, alerts, entities := snapshot()
	tests := []struct {
		name string
		env  *Env
		want []string
	}{
		{"matching playbooks by order then name", NewEnv(inc, alerts, entities), []string{"early", "also-devices", "devices"}},
		{"nothing matches: the fallbacks that match", NewEnv(inc, alerts, nil), []string{"generic"}},
	}
	for _, tt := range tests {
		got, err := Select(pbs, tt.env)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, pb := range got {
			names = append(names, pb.Name)
		}
		if !reflect.DeepEqual(names, tt.want) {
			t.Errorf("%s: Select = %v, want %v", tt.name, names, tt.want)
		}
	}
}

// TestChoose pins the exclusive rule: candidates by order then name, the
// first exclusive one runs alone, and the others are left with a reason.
func TestChoose(t *testing.T) {
	t.Parallel()
	inc, alerts, entities := snapshot()
	env := NewEnv(inc, alerts, entities)
	tests := []struct {
		name  string
		files map[string]string
		run   []string
		left  []string
	}{
		{
			name: "no exclusive: all that match",
			files: map[string]string{
				"a.yaml": "name: a\nversion: 1\norder: 2\n",
				"b.yaml": "name: b\nversion: 1\norder: 1\n",
			},
			run: []string{"b", "a"},
		},
		{
			name: "an exclusive playbook runs alone, whatever its order",
			files: map[string]string{
				"a.yaml": "name: a\nversion: 1\norder: 1\n",
				"b.yaml": "name: b\nversion: 1\norder: 5\nexclusive: true\n",
				"c.yaml": "name: c\nversion: 1\norder: 9\n",
				"f.yaml": "name: f\nversion: 1\nfallback: true\n",
			},
			run:  []string{"b"},
			left: []string{"f: fallback: another playbook matched", "a: exclusive playbook b runs alone", "c: exclusive playbook b runs alone"},
		},
		{
			name: "two exclusive: the first by order, then name",
			files: map[string]string{
				"x.yaml": "name: x\nversion: 1\norder: 3\nexclusive: true\n",
				"w.yaml": "name: w\nversion: 1\norder: 3\nexclusive: true\n",
				"v.yaml": "name: v\nversion: 1\norder: 4\nexclusive: true\n",
			},
			run:  []string{"w"},
			left: []string{"x: exclusive playbook w runs alone", "v: exclusive playbook w runs alone"},
		},
		{
			name: "an exclusive playbook that does not match changes nothing",
			files: map[string]string{
				"a.yaml": "name: a\nversion: 1\n",
				"b.yaml": "name: b\nversion: 1\nexclusive: true\nmatch: len(messages) > 0\n",
			},
			run: []string{"a"},
		},
		{
			name: "a beside playbook runs with the fallback and beside an exclusive one",
			files: map[string]string{
				"s.yaml": "name: s\nversion: 1\norder: 1\nbeside: true\n",
				"f.yaml": "name: f\nversion: 1\nfallback: true\n",
			},
			run: []string{"f", "s"},
		},
		{
			name: "a beside playbook is not left out by an exclusive one",
			files: map[string]string{
				"s.yaml": "name: s\nversion: 1\norder: 1\nbeside: true\n",
				"x.yaml": "name: x\nversion: 1\norder: 5\nexclusive: true\n",
				"a.yaml": "name: a\nversion: 1\norder: 9\n",
			},
			run:  []string{"s", "x"},
			left: []string{"a: exclusive playbook x runs alone"},
		},
		{
			name: "exclusive among fallbacks",
			files: map[string]string{
				"a.yaml": "name: a\nversion: 1\nmatch: len(messages) > 0\n",
				"f.yaml": "name: f\nversion: 1\nfallback: true\n",
				"g.yaml": "name: g\nversion: 1\nfallback: true\nexclusive: true\norder: 9\n",
			},
			run:  []string{"g"},
			left: []string{"f: exclusive playbook g runs alone"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pbs, err := LoadDir(writeDir(t, tt.files))
			if err != nil {
				t.Fatal(err)
			}
			c, err := Choose(pbs, env)
			if err != nil {
				t.Fatal(err)
			}
			var run, left []string
			for _, pb := range c.Run {
				run = append(run, pb.Name)
			}
			for _, l := range c.Left {
				left = append(left, l.Playbook.Name+": "+l.Reason)
			}
			if !reflect.DeepEqual(run, tt.run) || !reflect.DeepEqual(left, tt.left) {
				t.Errorf("Choose run %q left %q; want run %q left %q", run, left, tt.run, tt.left)
			}
		})
	}
}

func TestCompileSet(t *testing.T) {
	t.Parallel()
	srcs := []Source{{File: "main.yaml", Source: []byte(subDir["main.yaml"])}, {File: "contain.yaml", Source: []byte(subDir["contain.yaml"])}}
	a, err := CompileSet(srcs)
	if err != nil {
		t.Fatalf("CompileSet: %v", err)
	}
	b, err := CompileSet(srcs)
	if err != nil || len(a) != 2 || &a[0] != &b[0] {
		t.Errorf("second CompileSet: %v, shared %v; want the cached result", err, len(a) == 2 && &a[0] == &b[0])
	}
	if a[1].Step("contain").Callee != a[0] {
		t.Error("use step not linked")
	}
	// The same main with another sub-playbook version is another set.
	other := []Source{srcs[0], {File: "contain.yaml", Source: []byte(strings.Replace(subDir["contain.yaml"], "version: 2", "version: 3", 1))}}
	c, err := CompileSet(other)
	if err != nil || c[0].Version != 3 || c[1].Step("contain").Callee != c[0] || a[1].Step("contain").Callee.Version != 2 {
		t.Errorf("other set: %v; versions must not leak between sets", err)
	}
	if _, err := CompileSet(srcs[:1]); err == nil || !strings.Contains(err.Error(), `use: no sub-playbook "contain-device"`) {
		t.Errorf("CompileSet without the sub-playbook: %v", err)
	}
}

func TestDerivedEntityFields(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		e    domain.Entity
		want func(v EntityView) bool
	}{
		{"windows client is a workstation", dev(map[string]string{"osPlatform": "Windows11"}), func(v EntityView) bool { return v.DeviceType == "workstation" }},
		{"macOS is a workstation", dev(map[string]string{"osPlatform": "macOS"}), func(v EntityView) bool { return v.DeviceType == "workstation" }},
		{"windows server", dev(map[string]string{"osPlatform": "WindowsServer2022"}), func(v EntityView) bool { return v.DeviceType == "server" }},
		{"linux is unknown", dev(map[string]string{"osPlatform": "Linux"}), func(v EntityView) bool { return v.DeviceType == "" }},
		{"android is mobile", dev(map[string]string{"osPlatform": "Android"}), func(v EntityView) bool { return v.DeviceType == "mobile" }},
		{"inventory type wins", dev(map[string]string{"osPlatform": "Windows11", "deviceType": "Server"}), func(v EntityView) bool { return v.DeviceType == "server" }},
		{"isolated", dev(map[string]string{"isolationState": "Isolated"}), func(v EntityView) bool { return v.Isolated }},
		{"not isolated", dev(map[string]string{"isolationState": "NotIsolated"}), func(v EntityView) bool { return !v.Isolated }},
		{"inactive is disconnected", dev(map[string]string{"healthStatus": "inactive"}), func(v EntityView) bool { return v.Disconnected }},
		{"active is connected", dev(map[string]string{"healthStatus": "active"}), func(v EntityView) bool { return !v.Disconnected }},
		{"unknown health is not disconnected", dev(nil), func(v EntityView) bool { return !v.Disconnected }},
		{"privileged by attribute", usr(map[string]string{"privileged": "true"}, nil), func(v EntityView) bool { return v.Privileged }},
		{"privileged by adminCount", usr(map[string]string{"adminCount": "1"}, nil), func(v EntityView) bool { return v.Privileged }},
		{"privileged by tag", usr(nil, []string{"Privileged"}), func(v EntityView) bool { return v.Privileged }},
		{"adminCount 0", usr(map[string]string{"adminCount": "0"}, nil), func(v EntityView) bool { return !v.Privileged }},
		{"manager", usr(map[string]string{"manager": "carol@corp.example"}, nil), func(v EntityView) bool { return v.Manager == "carol@corp.example" }},
		{"tags sorted", usr(nil, []string{"vip", "finance", "vip"}), func(v EntityView) bool { return reflect.DeepEqual(v.Tags, []string{"finance", "vip"}) }},
	}
	for _, tt := range tests {
		v := entityView(tt.e)
		if !tt.want(v) {
			t.Errorf("%s: got %+v", tt.name, v)
		}
	}
	// Sightings merge their tags.
	env := NewEnv(domain.Incident{}, nil, []domain.Entity{usr(nil, []string{"b"}), usr(nil, []string{"a", "b"})})
	if got := env.Users[0].Tags; !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Errorf("merged tags = %v, want [a b]", got)
	}
}

func dev(attrs map[string]string) domain.Entity {
	return domain.Entity{Key: "device:d", Kind: domain.KindDevice, Name: "d", Attrs: attrs}
}

func usr(attrs map[string]string, tags []string) domain.Entity {
	return domain.Entity{Key: "user:u@x", Kind: domain.KindUser, Name: "u@x", Attrs: attrs, Tags: tags}
}
