package playbook

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/airsoc/air/internal/domain"
)

// TestStepConnectors: a step's connectors are checked against the registry
// at load, each error at its file:line:col naming the connectors that do
// carry the action type.
func TestStepConnectors(t *testing.T) {
	t.Parallel()
	step := func(action, extra string) string {
		return header + "stages:\n  containment:\n    - id: s\n      for_each: devices\n      action: " + action + "\n" + extra
	}
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{"a kind that cannot carry the type", step("device.isolate", "      connectors: [mde, graph]\n"),
			[]string{"t.yaml:8:25: connector graph cannot carry out device.isolate; lab, mde, falcon, webhook can"}},
		{"a webhook's name for a type webhooks cannot carry", header + "stages:\n  review:\n    - id: s\n      action: incident.resolve\n" +
			"      with: {classification: falsePositive, determination: notMalicious}\n      connectors: [soar]\n",
			[]string{"t.yaml:8:20: connector soar (no connector kind, so a webhook's name) cannot carry out incident.resolve; air can"}},
		{"listed twice", step("device.isolate", "      connectors: [mde, mde]\n"),
			[]string{"t.yaml:8:25: connector mde is listed twice"}},
		{"not a name", step("device.isolate", "      connectors: [\"Some EDR\"]\n"),
			[]string{`t.yaml:8:20: connector "Some EDR": want a connector kind (lab, mde, graph, falcon, okta, exo, webhook, air) or a configured webhook's name (lower-case letters, digits, '-' and '_')`}},
		{"not a list", step("device.isolate", "      connectors: mde\n"),
			[]string{"t.yaml:8:19: connectors must be a list of connector names in order of preference, got \"mde\""}},
		{"bookkeeping", header + "stages:\n  triage:\n    - id: s\n      action: incident.tag\n      with: {tags: [x]}\n      connectors: [lab]\n",
			[]string{"t.yaml:8:7: connectors apply to remediation actions only; incident.tag runs in the workflow"}},
		{"a determination that does not fit its classification", header + "stages:\n  review:\n    - id: s\n      action: incident.resolve\n" +
			"      with: {classification: falsePositive, determination: malware}\n",
			[]string{"t.yaml:7:60: with.determination: malware does not fit classification falsePositive: want one of notMalicious, notEnoughDataToValidate, other"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(tt.src))
			var got []string
			if le, ok := err.(*LoadError); ok {
				for _, d := range le.Diagnostics {
					got = append(got, d.String())
				}
			} else if err != nil {
				got = []string{err.Error()}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("diagnostics:\ngot  %q\nwant %q", got, tt.want)
			}
		})
	}

	pb, err := Parse("t.yaml", []byte(step("device.isolate", "      connectors: [mde, soar, lab]\n")))
	if err != nil {
		t.Fatal(err)
	}
	if st := pb.Step("s"); !slices.Equal(st.Connectors, []string{"mde", "soar", "lab"}) {
		t.Errorf("connectors %v", st.Connectors)
	}
}

// TestPlaybookInputs: a playbook's inputs read at their defaults, the
// tenant's values, and the checks of values set through the API or CLI.
func TestPlaybookInputs(t *testing.T) {
	t.Parallel()
	src := header + `match: inputs.enabled and len(devices) > 0
inputs:
  enabled: {type: bool, default: true}
  maxDevices: {type: int, default: 2}
  queue: {type: string, default: tier1}
  skip: {type: strings, default: [dc-01]}
stages:
  containment:
    - id: iso
      for_each: filter(devices, {.name not in inputs.skip})
      when: len(devices) <= inputs.maxDevices
      action: device.isolate
      with: {comment: "for {{ inputs.queue }}"}
`
	pb, err := Parse("t.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	env := NewEnv(domain.Incident{ID: 1, Severity: domain.SeverityHigh}, nil, []domain.Entity{
		{Key: "device:d1", Kind: domain.KindDevice, Name: "dc-01"}, {Key: "device:d2", Kind: domain.KindDevice, Name: "ws-1"}})
	count := func(values InputValues) (bool, int, string) {
		t.Helper()
		ok, err := pb.MatchesWith(env, values)
		if err != nil {
			t.Fatal(err)
		}
		invs, err := pb.Step("iso").Expand(WithPlaybookInputs(env, pb, values))
		if err != nil {
			t.Fatal(err)
		}
		comment := ""
		if len(invs) > 0 {
			comment, _ = invs[0].Args["comment"].(string)
		}
		return ok, len(invs), comment
	}
	for _, tt := range []struct {
		name    string
		values  InputValues
		match   bool
		n       int
		comment string
	}{
		{"defaults", nil, true, 1, "for tier1"},
		{"switched off", InputValues{"enabled": false}, false, 1, "for tier1"},
		{"JSON numbers and lists", InputValues{"maxDevices": 1.0, "skip": []any{}}, true, 0, ""},
		{"nothing skipped", InputValues{"skip": []any{}, "queue": "ir"}, true, 2, "for ir"},
		{"a stale value of the wrong type reads the default", InputValues{"enabled": "yes", "gone": 1}, true, 1, "for tier1"},
	} {
		ok, n, comment := count(tt.values)
		if ok != tt.match || n != tt.n || comment != tt.comment {
			t.Errorf("%s: match %v, %d invocations, comment %q; want %v, %d, %q", tt.name, ok, n, comment, tt.match, tt.n, tt.comment)
		}
	}
	if ok, _ := pb.Matches(env); !ok {
		t.Error("Matches reads the defaults")
	}

	for _, tt := range []struct {
		values InputValues
		err    string
	}{
		{InputValues{"enabled": false, "maxDevices": 3.0, "skip": []any{"a"}}, ""},
		{InputValues{"enable": false}, `inputs.enable: playbook t has no input "enable"; want one of enabled, maxDevices, queue, skip`},
		{InputValues{"maxDevices": "3"}, "inputs.maxDevices: input maxDevices: want an integer, got a string"},
		{InputValues{"maxDevices": 2.5}, "inputs.maxDevices: input maxDevices: want an integer, got a number"},
		{InputValues{"skip": []any{1}}, "inputs.skip: input skip: want a list of strings, got a list"},
	} {
		got, err := pb.CheckInputValues(tt.values)
		msg := ""
		if err != nil {
			msg = err.Error()
		}
		if msg != tt.err {
			t.Errorf("CheckInputValues(%v): %q, want %q", tt.values, msg, tt.err)
		}
		if err == nil && got["maxDevices"] != 3 {
			t.Errorf("CheckInputValues converts JSON numbers: %#v", got["maxDevices"])
		}
	}
	for _, tt := range []struct{ name, text, want string }{
		{"enabled", "no", "false"}, {"enabled", "TRUE", "true"}, {"maxDevices", "7", "7"}, {"skip", "a, b,", "[a b]"},
		{"queue", "tier 2", "tier 2"}, {"enabled", "maybe", "error"}, {"maxDevices", "x", "error"}, {"nope", "1", "error"},
	} {
		v, err := pb.ParseInputText(tt.name, tt.text)
		got := fmt.Sprint(v)
		if err != nil {
			got = "error"
		}
		if got != tt.want {
			t.Errorf("ParseInputText(%s, %q) = %s (%v), want %s", tt.name, tt.text, got, err, tt.want)
		}
	}
	if !strings.Contains(pb.Inputs[0].Name, "enabled") {
		t.Errorf("inputs in file order: %+v", pb.Inputs)
	}
}
