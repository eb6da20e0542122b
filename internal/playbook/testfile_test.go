package playbook

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/policy"
)

func TestParseTestFile(t *testing.T) {
	t.Parallel()
	src := `playbook: device-compromise
cases:
  - name: approved
    automation: {default: semi-all, groups: {Servers: full}, autoEmail: true}
    alerts:
      - id: a1
        title: Malware
        severity: high
        createdDateTime: 2026-01-01T10:00:00Z
        evidence:
          - {"@odata.type": "#microsoft.graph.security.deviceEvidence", mdeDeviceId: dev1, verdict: malicious, rbacGroupId: 12}
    entities:
      "device:dev1": {attrs: {isolationState: Isolated, adminCount: 1}, tags: [critical]}
    results:
      - {action: device.isolate, target: "device:dev1", error: machine not found, kind: not_found}
      - {action: incident.comment, result: done, output: {n: 1, names: [a]}}
    decisions:
      - {action: device.isolate, decision: approve, by: ana, comment: go}
    expect:
      state: partiallyRemediated
      tags: [x]
      comments: [y]
      actions:
        - {type: device.isolate, target: "device:dev1", run: wait, reason: semi-all, status: failed}
  - name: from an incident
    incident:
      severity: high
      customTags: [vip]
      alerts: [{id: a2}]
    expect: {}
`
	tf, err := ParseTestFile("t.test.yaml", []byte(src))
	if err != nil {
		t.Fatalf("ParseTestFile: %v", err)
	}
	if tf.File != "t.test.yaml" || tf.Playbook != "device-compromise" || len(tf.Cases) != 2 {
		t.Fatalf("got %+v", tf)
	}
	c := tf.Cases[0]
	if c.Name != "approved" || c.Line != 3 {
		t.Errorf("name %q line %d", c.Name, c.Line)
	}
	wantAuto := &policy.Settings{Default: "semi-all", Groups: map[string]policy.Level{"Servers": "full"}, AutoEmail: true}
	if !reflect.DeepEqual(c.Automation, wantAuto) {
		t.Errorf("automation = %+v, want %+v", c.Automation, wantAuto)
	}
	var alert map[string]any
	if len(c.Alerts) != 1 || json.Unmarshal(c.Alerts[0], &alert) != nil {
		t.Fatalf("alerts = %s", c.Alerts)
	}
	ev := alert["evidence"].([]any)[0].(map[string]any)
	if alert["createdDateTime"] != "2026-01-01T10:00:00Z" || ev["rbacGroupId"] != float64(12) || ev["@odata.type"] != "#microsoft.graph.security.deviceEvidence" {
		t.Errorf("alert JSON = %s", c.Alerts[0])
	}
	wantFacts := map[domain.EntityKey]EntityFacts{"device:dev1": {Attrs: map[string]string{"isolationState": "Isolated", "adminCount": "1"}, Tags: []string{"critical"}}}
	if !reflect.DeepEqual(c.Entities, wantFacts) {
		t.Errorf("entities = %+v", c.Entities)
	}
	wantResults := []MockResult{
		{Action: "device.isolate", Target: "device:dev1", Error: "machine not found", Kind: "not_found", Line: 15},
		{Action: "incident.comment", Result: "done", Output: map[string]any{"n": float64(1), "names": []any{"a"}}, Line: 16},
	}
	if !reflect.DeepEqual(c.Results, wantResults) || !c.Results[0].Failed() || c.Results[1].Failed() {
		t.Errorf("results = %+v", c.Results)
	}
	if want := []TestDecision{{Action: "device.isolate", Decision: "approve", By: "ana", Comment: "go", Line: 18}}; !reflect.DeepEqual(c.Decisions, want) {
		t.Errorf("decisions = %+v", c.Decisions)
	}
	wantExpect := Expectation{State: "partiallyRemediated", Tags: []string{"x"}, Comments: []string{"y"},
		Actions: []ExpectedAction{{Type: "device.isolate", Target: "device:dev1", Run: "wait", Reason: "semi-all", Status: "failed", Line: 24}}}
	if !reflect.DeepEqual(c.Expect, wantExpect) {
		t.Errorf("expect = %+v, want %+v", c.Expect, wantExpect)
	}

	// pending and expect.not.
	src = "playbook: p\ncases:\n  - name: no\n    alerts: [{id: a1}]\n    pending: reject\n" +
		"    expect: {not: {actions: [{type: device.isolate}, {type: user.disable, target: \"user:a@b\"}], tags: [t], comments: [c]}}\n"
	nf, err := ParseTestFile("n.test.yaml", []byte(src))
	if err != nil {
		t.Fatalf("ParseTestFile: %v", err)
	}
	wantNot := Absence{Actions: []ExpectedAction{{Type: "device.isolate", Line: 6}, {Type: "user.disable", Target: "user:a@b", Line: 6}},
		Tags: []string{"t"}, Comments: []string{"c"}}
	if nc := nf.Cases[0]; nc.Pending != PendingReject || !reflect.DeepEqual(nc.Expect.Not, wantNot) {
		t.Errorf("pending %q, not %+v; want reject, %+v", nc.Pending, nc.Expect.Not, wantNot)
	}

	inc := tf.Cases[1]
	if string(inc.Incident) != `{"customTags":["vip"],"severity":"high"}` || len(inc.Alerts) != 1 || inc.Expect.Actions != nil {
		t.Errorf("incident case: incident %s alerts %s actions %v", inc.Incident, inc.Alerts, inc.Expect.Actions)
	}

	// Facts reach the entities they name, and name the ones that are missing.
	got, missing := c.WithFacts([]domain.Entity{{Key: "device:dev1", Kind: domain.KindDevice, Attrs: map[string]string{"osPlatform": "Windows11"}}})
	if !reflect.DeepEqual(got[0].Attrs, map[string]string{"osPlatform": "Windows11", "isolationState": "Isolated", "adminCount": "1"}) ||
		!reflect.DeepEqual(got[0].Tags, []string{"critical"}) || len(missing) != 0 {
		t.Errorf("WithFacts = %+v, missing %v", got, missing)
	}
	if _, missing := c.WithFacts(nil); !reflect.DeepEqual(missing, []domain.EntityKey{"device:dev1"}) {
		t.Errorf("WithFacts(nil) missing = %v", missing)
	}
}

func TestParseTestFileErrors(t *testing.T) {
	t.Parallel()
	const alert = "    alerts: [{id: a1}]\n"
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{
			name: "nothing",
			src:  "",
			want: []string{`t.test.yaml:1:1: empty file, want a playbook test with playbook and cases`},
		},
		{
			name: "no playbook, no cases",
			src:  "cases: []\nextra: 1\n",
			want: []string{`t.test.yaml:1:1: playbook test has no playbook: name the playbook under test`,
				`t.test.yaml:1:8: cases must be a list of at least one test case`,
				`t.test.yaml:2:1: unknown key "extra", want one of playbook, cases`},
		},
		{
			name: "case problems",
			src: "playbook: p\ncases:\n  - name: a\n    alerts: [{id: a1, severity: severe}]\n    expect: {state: done, actions: [{type: incident.tag}, {type: device.isolat, run: now, status: over, target: dev1}]}\n" +
				"  - name: a\n    alert: []\n",
			want: []string{
				`t.test.yaml:4:14: alerts[0]: severity: unknown value "severe", want one of unknown, informational, low, medium, high`,
				`t.test.yaml:5:21: state: unknown investigation state "done", want one of queued, running, pendingApproval, pendingResource, successfullyRemediated, partiallyRemediated, benign, failed, partiallyInvestigated, terminatedByUser, terminatedBySystem, unsupportedAlertType`,
				`t.test.yaml:5:44: type: incident.tag is incident bookkeeping, not a remediation action; check it with tags or comments`,
				`t.test.yaml:5:66: type: unknown action "device.isolat" (did you mean device.isolate?)`,
				`t.test.yaml:5:86: run must be auto or wait, got "now"`,
				`t.test.yaml:5:99: status: unknown action status "over", want one of pending, approved, rejected, expired, running, succeeded, failed, undone`,
				`t.test.yaml:5:113: target "dev1": want an entity key KIND:ID such as device:dev1 or user:alice@corp.example`,
				`t.test.yaml:6:5: test case has no alerts: give alerts, or an incident with its alerts`,
				`t.test.yaml:6:5: test case has no expect: say what the playbook must do`,
				`t.test.yaml:6:5: duplicate case name "a", first at line 3`,
				`t.test.yaml:7:5: unknown key "alert", want one of name, automation, alerts, incident, entities, results, decisions, pending, answers, inputs, intel, history, expect`,
			},
		},
		{
			name: "results, decisions, entities, automation",
			src: "playbook: p\ncases:\n  - name: a\n" + alert +
				"    automation: {default: most}\n" +
				"    entities: {\"host:x\": {}, \"device:d\": {attrs: {a: [1]}, colour: red}}\n" +
				"    results: [{action: device.isolate, kind: timeout}, {action: device.isolate, kind: nope, error: x}, {action: device.isolate, result: ok, error: x}]\n" +
				"    decisions: [{action: device.isolate, decision: maybe}, {decision: approve}]\n" +
				"    expect: {}\n",
			want: []string{
				`t.test.yaml:5:17: automation: default: unknown value "most", want one of full, semi-all, semi-core, semi-nontemp, none`,
				`t.test.yaml:6:16: entity key "host:x": want KIND:ID with KIND one of device, user, mailbox, file, process, ip, url, message, oauthApp`,
				`t.test.yaml:6:54: attrs.a must be a string, got a list`,
				`t.test.yaml:6:60: unknown key "colour", want one of attrs, tags, vendor`,
				`t.test.yaml:7:40: kind says how an action fails: give the error too`,
				`t.test.yaml:7:87: kind: unknown error kind "nope", want one of invalid, not_found, conflict, forbidden, throttled, timeout, failed`,
				`t.test.yaml:7:129: a result is a success's text; a failing action has an error instead`,
				`t.test.yaml:8:52: decision must be approve or reject, got "maybe"`,
				`t.test.yaml:8:60: decision has no action`,
			},
		},
		{
			name: "vendor facts",
			src: "playbook: p\ncases:\n  - name: a\n" + alert +
				"    entities: {\"user:u\": {vendor: {risky_users: {}, risky_user: {riskLevl: high}, sign_ins: [1], error: {message: x}}}, \"device:d\": {vendor: []}}\n" +
				"    expect: {}\n",
			want: []string{
				`t.test.yaml:5:36: vendor: unknown fact kind "risky_users", want one of error, file_stats, ip_stats, logged_on_users, related_alerts, risky_user, sign_ins (did you mean risky_user?)`,
				`t.test.yaml:5:65: vendor.risky_user: json: unknown field "riskLevl"`,
				`t.test.yaml:5:93: vendor.sign_ins must be a mapping, got a list`,
				`t.test.yaml:5:142: vendor must be a mapping of fact kinds (error, file_stats, ip_stats, logged_on_users, related_alerts, risky_user, sign_ins) to values, got a list`,
			},
		},
		{
			name: "pending and expect.not",
			src: "playbook: p\ncases:\n  - name: a\n" + alert + "    pending: later\n" +
				"    expect: {not: {actions: [{type: incident.comment}, {target: \"device:d\"}, {type: device.isolate, status: failed}], tag: [x]}}\n",
			want: []string{
				`t.test.yaml:5:14: pending must be expire, approve or reject (what analysts do with pending actions no decision names), got "later"`,
				`t.test.yaml:6:37: type: incident.comment is incident bookkeeping, not a remediation action; check it with not.tags or not.comments`,
				`t.test.yaml:6:56: not.actions: an action needs a type`,
				`t.test.yaml:6:101: unknown key "status", want one of type, target`,
				`t.test.yaml:6:119: unknown key "tag", want one of actions, tags, comments`,
			},
		},
		{
			name: "unknown incident key",
			src:  "playbook: p\ncases:\n  - name: a\n    incident: {alerts: [{id: b}], owner: me}\n    expect: {}\n",
			want: []string{
				`t.test.yaml:4:35: unknown key "owner", want one of displayName, description, severity, status, classification, determination, assignedTo, customTags, alerts`,
			},
		},
		{
			name: "alerts and incident",
			src:  "playbook: p\ncases:\n  - name: a\n" + alert + "    incident: {alerts: [{id: b}], owner: me}\n    expect: {}\n",
			want: []string{
				`t.test.yaml:5:5: give alerts or an incident with its alerts, not both`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseTestFile("t.test.yaml", []byte(tt.src))
			got := diagnostics(t, err)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("diagnostics:\ngot  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestLoadTests(t *testing.T) {
	t.Parallel()
	dir := writeDir(t, map[string]string{
		"a.test.yaml": "playbook: a\ncases:\n  - name: x\n    alerts: [{id: a1}]\n    expect: {}\n",
		"b.test.yml":  "playbook: b\ncases: 3\n",
		"a.yaml":      "not: a test\n",
	})
	_, err := LoadTests(dir)
	got := diagnostics(t, err)
	if len(got) != 1 || got[0] != dir+"/b.test.yml:2:8: cases must be a list of at least one test case" {
		t.Errorf("LoadTests diagnostics = %q", got)
	}
}
