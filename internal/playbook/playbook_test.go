package playbook

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airsoc/air/internal/actions"
	"github.com/airsoc/air/internal/domain"
)

// header starts every test playbook; errors in the body are on line 3 and on.
const header = "name: t\nversion: 1\n"

func TestParseGood(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		src   string
		check func(t *testing.T, pb *Playbook)
	}{
		{
			name: "minimal",
			src:  header,
			check: func(t *testing.T, pb *Playbook) {
				if pb.Name != "t" || pb.Version != 1 || pb.Order != 0 || pb.Match != "" {
					t.Errorf("got %q v%d order %d match %q, want t v1 order 0 no match", pb.Name, pb.Version, pb.Order, pb.Match)
				}
				for _, s := range Stages {
					if got := pb.Steps(s); len(got) != 0 {
						t.Errorf("Steps(%s) = %d steps, want none", s, len(got))
					}
				}
			},
		},
		{
			name: "every field",
			src: header + `order: -5
description: Everything at once.
match: |
  incident.severity == "high"
    and len(alerts) > 0
stages:
  triage:
    - id: note
      action: incident.comment
      when: incident.alertCount > 2
      with: {text: "{{ incident.alertCount }} alerts"}
  analysis: []
  containment:
    - id: isolate
      for_each: sortBy(filter(devices, {.verdict == "malicious"}), .name)
      when: item.osPlatform != "Linux"
      action: device.isolate
      approval: required
      with:
        isolationType: "{{ item.deviceGroup == 'servers' ? 'Selective' : 'Full' }}"
    - id: scan-alert-devices
      for_each: alerts
      target: first(devices)
      action: device.run_av_scan
      approval: auto
  eradication:
  review:
    - id: tag-users
      for_each: users
      action: incident.tag
      with:
        tags: ["user", "{{ item.upn }}", "{{ item.name }}-seen"]
`,
			check: func(t *testing.T, pb *Playbook) {
				if pb.Order != -5 || pb.Description != "Everything at once." {
					t.Errorf("order %d description %q", pb.Order, pb.Description)
				}
				want := map[Stage][]string{
					StageTriage:      {"note"},
					StageContainment: {"isolate", "scan-alert-devices"},
					StageReview:      {"tag-users"},
				}
				for _, s := range Stages {
					var got []string
					for _, st := range pb.Steps(s) {
						got = append(got, st.ID)
						if st.Stage != s {
							t.Errorf("step %s: Stage = %s, want %s", st.ID, st.Stage, s)
						}
					}
					if !reflect.DeepEqual(got, want[s]) {
						t.Errorf("Steps(%s) = %v, want %v", s, got, want[s])
					}
				}
				isolate := pb.Steps(StageContainment)[0]
				if isolate.Approval != ApprovalRequired || isolate.Spec == nil || isolate.Spec.Type != "device.isolate" {
					t.Errorf("isolate: approval %q spec %v", isolate.Approval, isolate.Spec)
				}
				if got := pb.Steps(StageTriage)[0].Approval; got != ApprovalPolicy {
					t.Errorf("default approval = %q, want policy", got)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pb, err := Parse("t.yaml", []byte(tt.src))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			tt.check(t, pb)
		})
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{
			name: "unknown step key",
			src:  header + "stages:\n  triage:\n    - id: a\n      action: incident.tag\n      whn: true\n      with: {tags: [x]}\n",
			want: []string{`t.yaml:7:7: unknown key "whn", want one of id, action, use, ask, wait, when, for_each, target, with, approval, timeout, retry, connectors, on_error, handler`},
		},
		{
			name: "unknown playbook key",
			src:  header + "stages: {}\nmatches: true\n",
			want: []string{`t.yaml:4:1: unknown key "matches", want one of name, version, kind, order, description, match, fallback, exclusive, beside, inputs, stages`},
		},
		{
			name: "unknown stage",
			src:  header + "stages:\n  contain:\n    - id: a\n      action: incident.tag\n",
			want: []string{`t.yaml:4:3: unknown key "contain", want one of triage, analysis, containment, eradication, recovery, review`},
		},
		{
			name: "unknown action",
			src:  header + "stages:\n  triage:\n    - id: a\n      action: device.isolat\n",
			want: []string{`t.yaml:6:15: unknown action "device.isolat" (did you mean device.isolate?), want one of ` + strings.Join(actions.Names(), ", ")},
		},
		{
			name: "bad argument name",
			src:  header + "stages:\n  triage:\n    - id: a\n      action: incident.tag\n      with: {tags: [x], colour: red}\n",
			want: []string{`t.yaml:7:25: incident.tag takes no argument "colour", want one of tags`},
		},
		{
			name: "duplicate argument",
			src:  header + "stages:\n  triage:\n    - id: a\n      action: incident.tag\n      with:\n        tags: [x]\n        tags: [y]\n",
			want: []string{`t.yaml:9:9: duplicate argument "tags", first at line 8`},
		},
		{
			name: "argument name not a string",
			src:  header + "stages:\n  triage:\n    - id: a\n      action: incident.tag\n      with: {tags: [x], 3: y}\n",
			want: []string{`t.yaml:7:25: argument names must be strings`},
		},
		{
			name: "bad enum value",
			src: header + "stages:\n  containment:\n    - id: a\n      for_each: devices\n      action: device.isolate\n" +
				"      with:\n        isolationType: Partial\n",
			want: []string{`t.yaml:9:24: with.isolationType: unknown value "Partial", want one of [Full Selective]`},
		},
		{
			name: "bad literal type",
			src:  header + "stages:\n  triage:\n    - id: a\n      action: incident.tag\n      with:\n        tags: 3\n",
			want: []string{`t.yaml:8:15: with.tags: want a list of strings, got an integer`},
		},
		{
			name: "missing required argument",
			src:  header + "stages:\n  triage:\n    - id: a\n      action: incident.tag\n",
			want: []string{`t.yaml:6:15: incident.tag needs argument "tags"`},
		},
		{
			name: "missing id",
			src:  header + "stages:\n  triage:\n    - action: incident.tag\n      with: {tags: [x]}\n",
			want: []string{`t.yaml:5:7: step has no id`},
		},
		{
			name: "bad id",
			src:  header + "stages:\n  triage:\n    - id: Tag It\n      action: incident.tag\n      with: {tags: [x]}\n",
			want: []string{`t.yaml:5:11: step id "Tag It": use lower-case letters, digits, '-' and '_'`},
		},
		{
			name: "duplicate step id across stages",
			src: header + "stages:\n  triage:\n    - id: a\n      action: incident.tag\n      with: {tags: [x]}\n" +
				"  review:\n    - id: a\n      action: incident.tag\n      with: {tags: [y]}\n",
			want: []string{`t.yaml:9:11: duplicate step id "a", first at line 5`},
		},
		{
			name: "expression syntax error",
			src:  header + "match: len(devices) > 0 and (\n",
			want: []string{`t.yaml:3:29: match: unexpected token EOF`},
		},
		{
			name: "expression type error",
			src:  header + "stages:\n  triage:\n    - id: a\n      when: incident.severity > 3\n      action: incident.tag\n      with: {tags: [x]}\n",
			want: []string{`t.yaml:6:31: when: invalid operation: > (mismatched types string and int)`},
		},
		{
			name: "unknown field with suggestion",
			src:  header + "match: any(devices, {.verdcit == \"malicious\"})\n",
			want: []string{`t.yaml:3:23: match: an entity has no field verdcit (did you mean verdict?)`},
		},
		{
			name: "when not boolean",
			src:  header + "stages:\n  triage:\n    - id: a\n      when: incident.alertCount\n      action: incident.tag\n      with: {tags: [x]}\n",
			want: []string{`t.yaml:6:13: when: want true or false, got int`},
		},
		{
			name: "for_each not a list",
			src:  header + "stages:\n  containment:\n    - id: a\n      for_each: incident.id\n      action: device.isolate\n",
			want: []string{`t.yaml:6:17: for_each: want a list of entities or alerts, got int`},
		},
		{
			name: "for_each a list of strings",
			src:  header + "stages:\n  containment:\n    - id: a\n      for_each: map(devices, .name)\n      action: device.isolate\n",
			want: []string{`t.yaml:6:17: for_each: want a list of entities or alerts, got a list of strings (map returns a plain list, which loses the items' entity type; filter, sortBy and take keep it; map makes a list of values, not entities: filter(devices, {...}) chooses entities)`},
		},
		{
			name: "kind mismatch",
			src:  header + "stages:\n  containment:\n    - id: a\n      for_each: filter(devices, {.verdict == \"malicious\"})\n      action: user.disable\n",
			want: []string{`t.yaml:7:15: user.disable acts on users, but for_each iterates devices`},
		},
		{
			name: "target kind mismatch",
			src:  header + "stages:\n  containment:\n    - id: a\n      target: first(users)\n      action: device.isolate\n",
			want: []string{`t.yaml:6:15: device.isolate acts on a device, but the target is a user`},
		},
		{
			name: "remediation without target",
			src:  header + "stages:\n  containment:\n    - id: a\n      for_each: alerts\n      action: device.isolate\n",
			want: []string{`t.yaml:7:15: device.isolate acts on a device: give it one with for_each over devices or with target`},
		},
		{
			name: "target on an incident action",
			src:  header + "stages:\n  triage:\n    - id: a\n      target: first(devices)\n      action: incident.tag\n      with: {tags: [x]}\n",
			want: []string{`t.yaml:6:15: incident.tag acts on the incident and takes no target`},
		},
		{
			name: "target not an entity",
			src:  header + "stages:\n  containment:\n    - id: a\n      target: incident\n      action: device.isolate\n",
			want: []string{`t.yaml:6:15: target: want an entity, got incident`},
		},
		{
			name: "banned builtin",
			src:  header + "stages:\n  triage:\n    - id: a\n      when: now().Hour() > 8\n      action: incident.tag\n      with: {tags: [x]}\n",
			want: []string{`t.yaml:6:13: when: now() is not allowed in playbooks: it reads the wall clock; time comes from the workflow`},
		},
		{
			name: "map order builtin",
			src:  header + "match: 'len(keys({\"a\": 1})) > 0'\n",
			want: []string{`t.yaml:3:13: match: keys() is not allowed in playbooks: map order is random`},
		},
		{
			name: "huge range",
			src:  header + "match: len(filter(1..20000, {# in [3]})) > 0\n",
			want: []string{`t.yaml:3:20: match: range 1..20000 spans 20000 integers, the limit is 1000`},
		},
		{
			name: "range with variable bound",
			src:  header + "match: len(1..incident.alertCount) > 0\n",
			want: []string{`t.yaml:3:13: match: range bounds must be integer literals`},
		},
		{
			name: "predicates nested too deep",
			src:  header + "match: any(alerts, {any(devices, {any(users, {.name == \"x\"})})})\n",
			want: []string{`t.yaml:3:46: match: predicates nest 3 deep, the limit is 2`},
		},
		{
			name: "reduce",
			src:  header + "match: reduce(alerts, {#acc + 1}, 0) > 0\n",
			want: []string{`t.yaml:3:8: match: reduce() is not allowed in playbooks: its accumulator can grow without bound; use sum, count, any or all`},
		},
		{
			name: "too many lets",
			src:  header + "match: " + strings.Repeat("let a = 1; ", MaxLets+1) + "true\n",
			want: []string{`t.yaml:3:100: match: more than 8 let declarations`},
		},
		{
			name: "escapes in a double-quoted expression: position of the scalar",
			src:  header + "match: \"len(devices) > 0 and \\\"x\\\" == foo\"\n",
			want: []string{`t.yaml:3:8: match: unknown name foo`},
		},
		{
			name: "expression too long",
			src:  header + "match: " + strings.Repeat("true and ", 250) + "true\n",
			want: []string{`t.yaml:3:8: match: expression is 2254 characters long, the limit is 2000`},
		},
		{
			name: "match not boolean",
			src:  header + "match: len(devices)\n",
			want: []string{`t.yaml:3:8: match: want true or false, got int`},
		},
		{
			name: "template type mismatch",
			src: header + "stages:\n  containment:\n    - id: a\n      for_each: devices\n      action: device.isolate\n" +
				"      with: {isolationType: \"{{ incident.alertCount }}\"}\n",
			want: []string{`t.yaml:8:29: with.isolationType: want a string, got int`},
		},
		{
			name: "template error in a block scalar",
			src: header + "stages:\n  triage:\n    - id: a\n      action: incident.comment\n      with:\n        text: |\n" +
				"          Incident {{ incident.id }}\n          owner {{ incident.owner }}\n",
			want: []string{`t.yaml:10:29: with.text: incident has no field owner`},
		},
		{
			name: "unterminated template",
			src:  header + "stages:\n  triage:\n    - id: a\n      action: incident.comment\n      with: {text: \"see {{ incident.id\"}\n",
			want: []string{`t.yaml:7:25: with.text: unterminated {{ in template`},
		},
		{
			name: "entity rendered as text",
			src: header + "stages:\n  containment:\n    - id: a\n      for_each: devices\n      action: device.isolate\n" +
				"      with: {comment: \"isolate {{ item }}\"}\n",
			want: []string{`t.yaml:8:35: with.comment: {{ item }} renders an entity as text; pick a field such as .name or .id`},
		},
		{
			name: "item without for_each",
			src:  header + "stages:\n  triage:\n    - id: a\n      action: incident.comment\n      with: {text: \"{{ item.name }}\"}\n",
			want: []string{`t.yaml:7:24: with.text: unknown name item (item exists in steps with for_each)`},
		},
		{
			name: "bad approval",
			src:  header + "stages:\n  containment:\n    - id: a\n      for_each: devices\n      action: device.isolate\n      approval: maybe\n",
			want: []string{`t.yaml:8:17: approval must be auto, required or policy, got "maybe"`},
		},
		{
			name: "approval on a bookkeeping action",
			src:  header + "stages:\n  triage:\n    - id: a\n      action: incident.tag\n      approval: required\n      with: {tags: [x]}\n",
			want: []string{`t.yaml:7:17: approval applies to remediation actions only; incident.tag runs without one`},
		},
		{
			name: "missing name and version",
			src:  "description: nothing\n",
			want: []string{`t.yaml:1:1: playbook has no name`, `t.yaml:1:1: playbook has no version`},
		},
		{
			name: "version not an integer",
			src:  "name: t\nversion: one\n",
			want: []string{`t.yaml:2:10: version must be an integer, got "one"`},
		},
		{
			name: "stage not a list",
			src:  header + "stages:\n  triage: tag\n",
			want: []string{`t.yaml:4:11: stage triage must be a list of steps, got "tag"`},
		},
		{
			name: "duplicate key",
			src:  header + "name: u\n",
			want: []string{`t.yaml:3:1: duplicate key "name", first at line 1`},
		},
		{
			name: "alias",
			src:  header + "stages:\n  triage: &s []\n  review: *s\n",
			want: []string{`t.yaml:5:11: YAML aliases are not supported in playbooks`},
		},
		{
			name: "yaml syntax error",
			src:  header + "stages:\n  triage:\n    - id: a\n     action: x\n",
			want: []string{`t.yaml:4:1: did not find expected '-' indicator`},
		},
		{
			name: "two documents",
			src:  header + "---\nname: u\n",
			want: []string{`t.yaml:3:1: a playbook file holds one YAML document`},
		},
		{
			name: "empty file",
			src:  "",
			want: []string{`t.yaml:1:1: empty file, want a playbook with at least name and version`},
		},
		{
			name: "not a mapping",
			src:  "- a\n",
			want: []string{`t.yaml:1:1: a playbook must be a mapping, got a list`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse("t.yaml", []byte(tt.src))
			var le *LoadError
			if !errors.As(err, &le) {
				t.Fatalf("Parse error = %v, want a *LoadError", err)
			}
			var got []string
			for _, d := range le.Diagnostics {
				got = append(got, d.String())
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("diagnostics:\ngot  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestParseReportsEveryErrorAtOnce(t *testing.T) {
	t.Parallel()
	src := `name: many
version: 1
match: incident.severity > 3
stages:
  triage:
    - id: tag
      action: incident.tag
      whn: true
      with: {tags: [a]}
  containment:
    - id: tag
      for_each: devices
      action: user.disable
  cleanup: []
`
	_, err := Parse("many.yaml", []byte(src))
	want := `many.yaml:3:26: match: invalid operation: > (mismatched types string and int)
many.yaml:8:7: unknown key "whn", want one of id, action, use, ask, wait, when, for_each, target, with, approval, timeout, retry, connectors, on_error, handler
many.yaml:11:11: duplicate step id "tag", first at line 6
many.yaml:13:15: user.disable acts on users, but for_each iterates devices
many.yaml:14:3: unknown key "cleanup", want one of triage, analysis, containment, eradication, recovery, review`
	if err == nil || err.Error() != want {
		t.Errorf("error:\ngot\n%v\nwant\n%s", err, want)
	}
	if got := domain.KindOf(err); got != domain.KindInvalid {
		t.Errorf("KindOf = %q, want %q", got, domain.KindInvalid)
	}
}

// snapshot is an incident with two devices, one malicious and one clean, a
// user and two alerts, given in an order NewEnv must not depend on.
func snapshot() (domain.Incident, []domain.Alert, []domain.Entity) {
	t0 := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	inc := domain.Incident{ID: 42, DisplayName: "Malware on WS-042", Severity: domain.SeverityHigh,
		Status: domain.IncidentActive, AlertCount: 2, CustomTags: domain.StringList{"vip"}}
	alerts := []domain.Alert{
		{ID: "da2", Title: "Suspicious PowerShell", Severity: domain.SeverityMedium, Status: domain.AlertNew,
			Category: "Execution", CreatedDateTime: t0.Add(time.Minute)},
		{ID: "da1", Title: "Mimikatz", Severity: domain.SeverityHigh, Status: domain.AlertNew,
			Category: "CredentialAccess", MitreTechniques: []string{"T1003"}, CreatedDateTime: t0},
	}
	entities := []domain.Entity{
		{Key: "user:alice@contoso.com", Kind: domain.KindUser, Name: "alice@contoso.com", Verdict: domain.VerdictSuspicious,
			Attrs: map[string]string{"upn": "alice@contoso.com", "accountName": "alice"}},
		{Key: "device:bbb", Kind: domain.KindDevice, Name: "ws-007", Verdict: domain.VerdictNoThreatsFound,
			Attrs: map[string]string{"mdeDeviceId": "bbb", "deviceGroup": "workstations"}},
		{Key: "device:aaa", Kind: domain.KindDevice, Name: "ws-042", Verdict: domain.VerdictMalicious,
			Attrs: map[string]string{"mdeDeviceId": "aaa", "deviceDnsName": "ws-042.corp.example", "osPlatform": "Windows11"}},
	}
	return inc, alerts, entities
}

func TestNewEnv(t *testing.T) {
	t.Parallel()
	inc, alerts, entities := snapshot()
	// A second sighting of ws-042 with a weaker verdict and a new attribute.
	entities = append(entities, domain.Entity{Key: "device:aaa", Kind: domain.KindDevice, Verdict: domain.VerdictSuspicious,
		Attrs: map[string]string{"rbacGroupName": "tier0", "osPlatform": "Linux"}})
	env := NewEnv(inc, alerts, entities)

	if got := []string{env.Alerts[0].ID, env.Alerts[1].ID}; !reflect.DeepEqual(got, []string{"da1", "da2"}) {
		t.Errorf("alert order = %v, want creation order [da1 da2]", got)
	}
	wantDevices := []EntityView{
		{Key: "device:aaa", Kind: "device", Name: "ws-042", Verdict: "malicious", ProviderVerdict: "malicious", VerdictSource: "provider", MDEDeviceID: "aaa",
			DNSName: "ws-042.corp.example", OSPlatform: "Windows11", DeviceType: "workstation", DeviceGroup: "tier0", Tags: []string{}},
		{Key: "device:bbb", Kind: "device", Name: "ws-007", Verdict: "noThreatsFound", ProviderVerdict: "noThreatsFound", VerdictSource: "provider", MDEDeviceID: "bbb",
			DeviceGroup: "workstations", Tags: []string{}},
	}
	if !reflect.DeepEqual(env.Devices, wantDevices) {
		t.Errorf("devices:\ngot  %+v\nwant %+v", env.Devices, wantDevices)
	}
	if len(env.Users) != 1 || env.Users[0].UPN != "alice@contoso.com" || env.Users[0].AccountName != "alice" {
		t.Errorf("users = %+v", env.Users)
	}
	for name, l := range map[string][]EntityView{"mailboxes": env.Mailboxes, "files": env.Files, "processes": env.Processes,
		"ips": env.IPs, "urls": env.URLs, "messages": env.Messages, "oauthApps": env.OAuthApps} {
		if l == nil {
			t.Errorf("%s is nil, want an empty list", name)
		}
	}
	if !reflect.DeepEqual(env.Incident.Tags, []string{"vip"}) || env.Incident.Severity != "high" || env.Incident.ID != 42 {
		t.Errorf("incident = %+v", env.Incident)
	}
}

// isolateSrc is a playbook of the first shipped version of
// device-compromise: tag, then isolate every malicious or suspicious device.
// The tests of Expand use it; the shipped playbooks have their own tests.
const isolateSrc = `name: device-compromise
version: 1
order: 10
match: len(devices) > 0 and any(alerts, {.severity in ["medium", "high"]})
stages:
  triage:
    - id: tag
      action: incident.tag
      with:
        tags: [device-compromise]
  containment:
    - id: isolate
      for_each: filter(devices, {.verdict in ["malicious", "suspicious"]})
      action: device.isolate
      approval: policy
      with:
        isolationType: Full
        comment: "AIR incident {{ incident.id }}: isolate {{ item.name }} ({{ item.verdict }})"
`

func loadShipped(t testing.TB) *Playbook {
	t.Helper()
	pb, err := Parse("device-compromise.yaml", []byte(isolateSrc))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return pb
}

func TestExpandShippedPlaybook(t *testing.T) {
	t.Parallel()
	pb := loadShipped(t)
	env := NewEnv(snapshot())

	if ok, err := pb.Matches(env); err != nil || !ok {
		t.Fatalf("Matches = %v, %v; want true", ok, err)
	}
	tests := []struct {
		stage Stage
		want  []Invocation
	}{
		{StageTriage, []Invocation{{Args: map[string]any{"tags": []any{"device-compromise"}}}}},
		{StageContainment, []Invocation{{
			ItemKey: "device:aaa", Target: "device:aaa", TargetName: "ws-042",
			Args: map[string]any{"isolationType": "Full", "comment": "AIR incident 42: isolate ws-042 (malicious)"},
		}}},
	}
	for _, tt := range tests {
		steps := pb.Steps(tt.stage)
		if len(steps) != 1 {
			t.Fatalf("Steps(%s) = %d steps, want 1", tt.stage, len(steps))
		}
		got, err := steps[0].Expand(env)
		if err != nil {
			t.Fatalf("%s: Expand: %v", tt.stage, err)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: Expand:\ngot  %#v\nwant %#v", tt.stage, got, tt.want)
		}
		if _, err := json.Marshal(got); err != nil {
			t.Errorf("%s: invocations do not serialise: %v", tt.stage, err)
		}
	}
}

func TestExpand(t *testing.T) {
	t.Parallel()
	env := NewEnv(snapshot())
	tests := []struct {
		name string
		step string // YAML of one containment step
		want []Invocation
	}{
		{
			name: "when filters items",
			step: "for_each: devices\n      when: item.verdict == \"malicious\"\n      action: device.run_av_scan",
			want: []Invocation{{ItemKey: "device:aaa", Target: "device:aaa", TargetName: "ws-042",
				Args: map[string]any{"scanType": "Quick"}}},
		},
		{
			name: "when false without for_each",
			step: "when: incident.severity == \"low\"\n      action: incident.comment\n      with: {text: hi}",
			want: nil,
		},
		{
			name: "alerts with a target expression",
			step: "for_each: filter(alerts, {.category == \"CredentialAccess\"})\n      target: first(users)\n" +
				"      action: user.revoke_sessions\n      with: {comment: \"{{ item.title }} ({{ join(item.mitreTechniques, ', ') }})\"}",
			want: []Invocation{{ItemKey: "da1", Target: "user:alice@contoso.com", TargetName: "alice@contoso.com",
				Args: map[string]any{"comment": "Mimikatz (T1003)"}}},
		},
		{
			name: "typed whole templates",
			step: "action: incident.tag\n      with: {tags: \"{{ map(devices, .name) }}\"}",
			want: []Invocation{{Args: map[string]any{"tags": []any{"ws-042", "ws-007"}}}},
		},
		{
			name: "templates inside a list",
			step: "for_each: users\n      action: incident.tag\n      with: {tags: [user, \"{{ item.accountName }}\", \"{{ item.verdict }}-user\"]}",
			want: []Invocation{{ItemKey: "user:alice@contoso.com",
				Args: map[string]any{"tags": []any{"user", "alice", "suspicious-user"}}}},
		},
		{
			name: "empty for_each",
			step: "for_each: files\n      action: incident.tag\n      with: {tags: [x]}",
			want: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := header + "stages:\n  containment:\n    - id: s\n      " + tt.step + "\n"
			pb, err := Parse("t.yaml", []byte(src))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			got, err := pb.Steps(StageContainment)[0].Expand(env)
			if err != nil {
				t.Fatalf("Expand: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Expand:\ngot  %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

func TestExpandErrors(t *testing.T) {
	t.Parallel()
	inc, alerts, entities := snapshot()
	for i := range MaxForEach + 1 {
		entities = append(entities, domain.Entity{Key: domain.EntityKey(fmt.Sprintf("ip:10.0.%d.%d", i/256, i%256)),
			Kind: domain.KindIP, Name: "x"})
	}
	env := NewEnv(inc, alerts, entities)
	tests := []struct {
		name string
		step string
		want string
	}{
		{
			name: "fan-out over the limit",
			step: "for_each: ips\n      action: incident.tag\n      with: {tags: [x]}",
			want: `playbook t step "s": for_each yields 1001 items, more than the limit of 1000`,
		},
		{
			name: "target of the wrong kind at run time",
			step: "target: 'incident.severity == \"high\" ? first(users) : first(devices)'\n      action: device.isolate",
			want: `playbook t step "s": device.isolate acts on a device, but the target user:alice@contoso.com is a user`,
		},
		{
			name: "enum decided at run time",
			step: "for_each: devices\n      action: device.isolate\n      with: {isolationType: \"{{ item.name }}\"}",
			want: `playbook t step "s" item "device:aaa": isolationType: unknown value "ws-042", want one of [Full Selective]`,
		},
		{
			name: "runtime expression error",
			step: "when: alerts[5].title == \"x\"\n      action: incident.tag\n      with: {tags: [x]}",
			want: `playbook t step "s": when: alerts[5].title == "x": index out of range: 5 (array length is 2)`,
		},
		{
			name: "target missing at run time",
			step: "target: first(filter(devices, {.name == \"nope\"}))\n      action: device.isolate",
			want: `playbook t step "s": target: want an entity, got nil`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := header + "stages:\n  containment:\n    - id: s\n      " + tt.step + "\n"
			pb, err := Parse("t.yaml", []byte(src))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			_, err = pb.Steps(StageContainment)[0].Expand(env)
			if err == nil || err.Error() != tt.want {
				t.Errorf("Expand error:\ngot  %v\nwant %s", err, tt.want)
			}
			if domain.KindOf(err) != domain.KindInvalid {
				t.Errorf("KindOf(%v) = %q, want invalid", err, domain.KindOf(err))
			}
		})
	}
}

func TestExpandIsDeterministic(t *testing.T) {
	t.Parallel()
	pb := loadShipped(t)
	inc, alerts, entities := snapshot()
	want, err := pb.Steps(StageContainment)[0].Expand(NewEnv(inc, alerts, entities))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		// Same snapshot, other orders.
		e := append([]domain.Entity{}, entities...)
		a := append([]domain.Alert{}, alerts...)
		if i%2 == 1 {
			e[0], e[len(e)-1] = e[len(e)-1], e[0]
			a[0], a[1] = a[1], a[0]
		}
		got, err := pb.Steps(StageContainment)[0].Expand(NewEnv(inc, a, e))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("run %d: got %#v, want %#v", i, got, want)
		}
	}
}

func TestInvocationArgsAreTheCallersToKeep(t *testing.T) {
	t.Parallel()
	pb := loadShipped(t)
	env := NewEnv(snapshot())
	step := pb.Steps(StageTriage)[0]
	first, err := step.Expand(env)
	if err != nil {
		t.Fatal(err)
	}
	first[0].Args["tags"].([]any)[0] = "changed"
	again, err := step.Expand(env)
	if err != nil {
		t.Fatal(err)
	}
	if got := again[0].Args["tags"].([]any)[0]; got != "device-compromise" {
		t.Errorf("after changing a result, tags[0] = %v, want device-compromise", got)
	}
}

func TestMatches(t *testing.T) {
	t.Parallel()
	withDevices := NewEnv(snapshot())
	inc, alerts, _ := snapshot()
	noDevices := NewEnv(inc, alerts, nil)
	tests := []struct {
		match string
		env   *Env
		want  bool
	}{
		{"", noDevices, true},
		{`len(devices) > 0`, withDevices, true},
		{`len(devices) > 0`, noDevices, false},
		{`any(alerts, {.category in ["CredentialAccess", "Execution"]}) and incident.severity == "high"`, withDevices, true},
		{`all(devices, {.verdict == "malicious"})`, withDevices, false},
		{`"T1003" in alerts[0].mitreTechniques`, withDevices, true},
		{`incident.alertCount >= 3`, withDevices, false},
		{`"vip" in incident.tags`, withDevices, true},
	}
	for _, tt := range tests {
		src := header
		if tt.match != "" {
			src += "match: '" + strings.ReplaceAll(tt.match, "'", "''") + "'\n"
		}
		pb, err := Parse("t.yaml", []byte(src))
		if err != nil {
			t.Fatalf("%s: Parse: %v", tt.match, err)
		}
		got, err := pb.Matches(tt.env)
		if err != nil || got != tt.want {
			t.Errorf("Matches(%s) = %v, %v; want %v", tt.match, got, err, tt.want)
		}
	}
}

func TestLoadDirShipped(t *testing.T) {
	t.Parallel()
	pbs, err := LoadDir("../../playbooks")
	if err != nil {
		t.Fatalf("LoadDir: %v", err)
	}
	var names []string
	for _, pb := range pbs {
		names = append(names, pb.Name)
	}
	if !contains(names, "device-compromise") {
		t.Errorf("LoadDir names = %v, want device-compromise among them", names)
	}
}

func TestLoadDir(t *testing.T) {
	t.Parallel()
	write := func(t *testing.T, dir, name, src string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("sorted by order then name, tests skipped", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		write(t, dir, "a.yaml", "name: zeta\nversion: 1\norder: 1\n")
		write(t, dir, "b.yml", "name: alpha\nversion: 2\norder: 5\n")
		write(t, dir, "c.yaml", "name: beta\nversion: 1\norder: 1\n")
		write(t, dir, "a.test.yaml", "not: [a playbook\n")
		write(t, dir, "notes.txt", "ignored")
		if err := os.Mkdir(filepath.Join(dir, "sub.yaml"), 0o755); err != nil {
			t.Fatal(err)
		}
		pbs, err := LoadDir(dir)
		if err != nil {
			t.Fatalf("LoadDir: %v", err)
		}
		var got []string
		for _, pb := range pbs {
			got = append(got, pb.Name)
		}
		if want := []string{"beta", "zeta", "alpha"}; !reflect.DeepEqual(got, want) {
			t.Errorf("order = %v, want %v", got, want)
		}
	})

	t.Run("every file's errors and duplicate names", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		write(t, dir, "a.yaml", "name: same\nversion: 1\n")
		write(t, dir, "b.yaml", "name: same\nversion: 1\n")
		write(t, dir, "c.yaml", "name: c\nversion: 0\n")
		write(t, dir, "d.yaml", "name: d\nversion: 1\nmatch: bogus\n")
		_, err := LoadDir(dir)
		want := strings.Join([]string{
			filepath.Join(dir, "b.yaml") + `:1:7: duplicate playbook name "same", also in ` + filepath.Join(dir, "a.yaml"),
			filepath.Join(dir, "c.yaml") + `:2:10: version must be 1 or more, got 0`,
			filepath.Join(dir, "d.yaml") + `:3:8: match: unknown name bogus`,
		}, "\n")
		if err == nil || err.Error() != want {
			t.Errorf("LoadDir error:\ngot\n%v\nwant\n%s", err, want)
		}
	})

	t.Run("missing directory", func(t *testing.T) {
		t.Parallel()
		if _, err := LoadDir(filepath.Join(t.TempDir(), "nope")); err == nil {
			t.Error("LoadDir of a missing directory succeeded")
		}
	})
}

func TestCompileCached(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("../../playbooks/device-compromise.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	got := make([]*Playbook, 8)
	for i := range got {
		wg.Go(func() {
			pb, err := CompileCached("device-compromise.yaml", src)
			if err != nil {
				t.Errorf("CompileCached: %v", err)
			}
			got[i] = pb
		})
	}
	wg.Wait()
	for i, pb := range got {
		if pb != got[0] {
			t.Errorf("call %d returned another playbook: compiled twice", i)
		}
	}
	if _, err := CompileCached("bad.yaml", []byte("name: x\n")); err == nil {
		t.Error("CompileCached of a bad playbook succeeded")
	}
}

// BenchmarkWhen measures one typical `when` evaluated for one item, as
// Expand does per for_each item.
func BenchmarkWhen(b *testing.B) {
	src := header + `stages:
  containment:
    - id: isolate
      for_each: devices
      when: item.verdict in ["malicious", "suspicious"] and incident.severity in ["medium", "high"] and item.osPlatform != "Linux"
      action: device.isolate
`
	pb, err := Parse("bench.yaml", []byte(src))
	if err != nil {
		b.Fatal(err)
	}
	step := pb.Steps(StageContainment)[0]
	env := NewEnv(snapshot())
	scope := &entityScope{Env: env, Item: env.Devices[0]}
	b.ReportAllocs()
	for b.Loop() {
		ok, err := step.when.runBool(scope)
		if err != nil || !ok {
			b.Fatalf("when = %v, %v", ok, err)
		}
	}
}

// BenchmarkExpand measures a whole step: for_each, when, target and args for
// two devices.
func BenchmarkExpand(b *testing.B) {
	pb := loadShipped(b)
	step := pb.Steps(StageContainment)[0]
	env := NewEnv(snapshot())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := step.Expand(env); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	src, err := os.ReadFile("../../playbooks/device-compromise.yaml")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("device-compromise.yaml", src); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(isolateSrc)
	shipped, _ := filepath.Glob("../../playbooks/*.yaml")
	for _, p := range shipped {
		if src, err := os.ReadFile(p); err == nil && !strings.HasSuffix(p, ".test.yaml") {
			f.Add(string(src))
		}
	}
	f.Add(header + "match: any(alerts, {.severity == \"high\"})\nstages:\n  triage:\n    - id: a\n      action: incident.comment\n      with: {text: \"x {{ incident.id }} y\"}\n")
	f.Add(header + "stages:\n  containment:\n    - id: a\n      for_each: devices\n      action: device.isolate\n      with:\n        comment: |\n          {{ item.name }}\n")
	f.Add("name: x\nversion: 1\nmatch: >\n  len(devices)\n  > 0\n")
	f.Add("{{{{")
	f.Add(header + "stages:\n  containment:\n    - id: r\n      for_each: filter(alerts, {.category == 'X'})\n" +
		"      target: first(users)\n      action: user.revoke_sessions\n      with: {comment: [\"{{ item.id }}\", \"a {{ 1..3 }}\"]}\n")
	f.Add(header + "match: 'let a = [1, 2]; all(a, {any(devices, {.verdict == \"x\"})})'\n")
	env := NewEnv(snapshot())
	f.Fuzz(func(t *testing.T, src string) {
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
			return
		}
		// A playbook that loads must evaluate without panicking.
		_, _ = pb.Matches(env)
		for _, s := range Stages {
			for _, st := range pb.Steps(s) {
				_, _ = st.Expand(env)
			}
		}
	})
}

// TestHostileExpressionsAreBounded checks that expressions of a few hundred
// characters that used to stall a workflow task are refused at load, when
// a static limit tells, or fail their one evaluation fast with the budget
// named, as a match and as a step's when.
func TestHostileExpressionsAreBounded(t *testing.T) {
	t.Parallel()
	list := "[" + strings.Repeat("1,", 299) + "1]"
	nested := "let a=" + list + "; all(a,{all(a,{all(a,{# > 0})})})"
	fanOut := "let a=" + list + "; let b=concat(a,a,a,a); let c=concat(b,b,b,b); all(c,{all(c,{# > 0})})"
	squared := `let s="` + strings.Repeat("a", 40) + `"; let t=replace(s,"a",s); let u=replace(t,"a",t); let v=replace(u,"a",u); len(v) > 0`

	_, err := Parse("t.yaml", []byte(header+"match: '"+nested+"'\n"))
	if err == nil || !strings.Contains(err.Error(), "predicates nest 3 deep, the limit is 2") {
		t.Errorf("nested: got %v, want the predicate depth limit named", err)
	}

	for _, tt := range []struct{ name, src, want string }{
		{"fan-out", fanOut, "expression exceeded its budget of 250000 steps"},
		{"squared", squared, "expression exceeded its budget of 1048576 bytes of strings"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			quoted := strings.ReplaceAll(tt.src, "'", "''")
			for _, src := range []string{
				header + "match: '" + quoted + "'\n",
				header + "stages:\n  containment:\n    - id: a\n      when: '" + quoted + "'\n      action: incident.tag\n      with: {tags: [x]}\n",
			} {
				pb, err := Parse("t.yaml", []byte(src))
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				start := time.Now()
				if pb.match != nil {
					_, err = pb.Matches(NewEnv(snapshot()))
				} else {
					_, err = pb.Steps(StageContainment)[0].Expand(NewEnv(snapshot()))
				}
				if took := time.Since(start); took > 2*time.Second { // ~0.1 s alone; unbounded, minutes
					t.Errorf("took %v, want it to fail fast", took)
				}
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("got %v, want %q", err, tt.want)
				}
			}
		})
	}
}

// TestEntityViewVerdictSource: an analyst's verdict is the entity's
// verdict in expressions, with the provider's beside it and the source
// named; without one the provider's is both.
func TestEntityViewVerdictSource(t *testing.T) {
	t.Parallel()
	e := domain.Entity{Key: "device:aaa", Kind: domain.KindDevice, Verdict: domain.VerdictNoThreatsFound,
		ProviderVerdict: domain.VerdictMalicious, Decision: &domain.VerdictDecision{Source: "analyst", By: "ana"}}
	if v := entityView(e); v.Verdict != "noThreatsFound" || v.ProviderVerdict != "malicious" || v.VerdictSource != "analyst" {
		t.Errorf("with an analyst's verdict: %s / %s / %s", v.Verdict, v.ProviderVerdict, v.VerdictSource)
	}
	e.Decision, e.ProviderVerdict, e.Verdict = nil, "", domain.VerdictSuspicious
	if v := entityView(e); v.Verdict != "suspicious" || v.ProviderVerdict != "suspicious" || v.VerdictSource != "provider" {
		t.Errorf("the provider's: %s / %s / %s", v.Verdict, v.ProviderVerdict, v.VerdictSource)
	}
}
