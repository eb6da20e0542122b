package actions

import (
	"errors"
	"slices"
	"testing"

	"github.com/airsoc/air/internal/domain"
)

// TestCaseActionArgs checks the case actions' parameters, each on its own
// and against each other (a determination must fit its classification,
// SPEC §1), as CheckArgs applies them when a step runs.
func TestCaseActionArgs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		typ   string
		args  map[string]any
		field string // the field the error names; "" for no error
	}{
		{"incident.set_severity", map[string]any{"severity": "high"}, ""},
		{"incident.set_severity", map[string]any{"severity": "severe"}, "severity"},
		{"incident.set_severity", map[string]any{}, "severity"},
		{"incident.classify", map[string]any{"classification": "truePositive", "determination": "malware"}, ""},
		{"incident.classify", map[string]any{"classification": "falsePositive", "determination": "clean"}, ""}, // an alias
		{"incident.classify", map[string]any{"classification": "unknown"}, ""},
		{"incident.classify", map[string]any{"classification": "truePositive", "determination": "notMalicious"}, "determination"},
		{"incident.classify", map[string]any{"classification": "truePositive"}, "determination"},
		{"incident.classify", map[string]any{"classification": "bad", "determination": "malware"}, "classification"},
		{"incident.assign", map[string]any{"assignedTo": "tier2"}, ""},
		{"incident.assign", map[string]any{"assignedTo": ""}, ""}, // unassigns
		{"incident.assign", map[string]any{}, "assignedTo"},
		{"incident.resolve", map[string]any{"classification": "falsePositive", "determination": "notMalicious", "comment": "benign scan"}, ""},
		{"incident.resolve", map[string]any{"classification": "falsePositive"}, "determination"},
		{"incident.resolve", map[string]any{"classification": "informationalExpectedActivity", "determination": "malware"}, "determination"},
		{"incident.resolve", map[string]any{"classification": "falsePositive", "determination": "other", "text": "x"}, "text"},
	}
	for _, tt := range tests {
		spec, ok := Lookup(tt.typ)
		if !ok {
			t.Fatalf("%s is not registered", tt.typ)
		}
		_, err := spec.CheckArgs(tt.args)
		got := ""
		if err != nil {
			var de *domain.Error
			if !errors.As(err, &de) || de.Kind != domain.KindInvalid {
				t.Errorf("%s %v: got %v, want an invalid error", tt.typ, tt.args, err)
				continue
			}
			got = de.Field
			if got == "" {
				got = "?"
			}
		}
		if got != tt.field {
			t.Errorf("%s %v: error field %q (%v), want %q", tt.typ, tt.args, got, err, tt.field)
		}
	}
}

// TestCaseActionSpecs checks what makes a case action: it acts on the
// incident, goes through policy and the action center (Remediation), and
// only AIR carries it out.
func TestCaseActionSpecs(t *testing.T) {
	t.Parallel()
	var cases []string
	for _, s := range All() {
		if s.CaseAction() {
			cases = append(cases, s.Type)
			// A message sent cannot be taken back; the incident's fields can.
			risk := "reversible"
			if s.Type == "incident.notify" {
				risk = "irreversible"
			}
			if !slices.Equal(s.Connectors, []string{AIR}) || s.Target != "" || s.Risk() != risk || s.Undo != "" {
				t.Errorf("%s: connectors %v, target %q, risk %s, undo %q; want air, the incident, %s, none",
					s.Type, s.Connectors, s.Target, s.Risk(), s.Undo, risk)
			}
		}
		if s.CarriedBy(AIR) && !s.CaseAction() {
			t.Errorf("%s: only actions on the incident are carried out by AIR", s.Type)
		}
	}
	for _, want := range []string{"incident.set_severity", "incident.classify", "incident.assign", "incident.resolve", "incident.notify"} {
		if !slices.Contains(cases, want) {
			t.Errorf("case actions %v lack %s", cases, want)
		}
	}
	for _, typ := range []string{"incident.tag", "incident.comment", "device.isolate"} {
		if s, _ := Lookup(typ); s.CaseAction() {
			t.Errorf("%s is no case action", typ)
		}
	}
	if !IsConnectorKind(AIR) || IsConnectorKind("soar") {
		t.Error("IsConnectorKind: air is a kind, a webhook's name is not")
	}
}

// TestCheckTogether is the load-time check of literal arguments: values an
// expression computes are left to CheckArgs at run time.
func TestCheckTogether(t *testing.T) {
	t.Parallel()
	spec, _ := Lookup("incident.resolve")
	computed := struct{}{}
	for _, tt := range []struct {
		args map[string]any
		ok   bool
	}{
		{map[string]any{"classification": "truePositive", "determination": "malware"}, true},
		{map[string]any{"classification": "truePositive", "determination": "clean"}, false},
		{map[string]any{"classification": "truePositive", "determination": computed}, true},
		{map[string]any{"classification": computed, "determination": "clean"}, true},
	} {
		if err := spec.CheckTogether(tt.args); (err == nil) != tt.ok {
			t.Errorf("%v: got %v, want ok %v", tt.args, err, tt.ok)
		}
	}
}

// TestIrreversibleOn: a reversible action is irreversible on a connector
// that carries it but not its undo, and only there.
func TestIrreversibleOn(t *testing.T) {
	t.Parallel()
	for typ, want := range map[string][]string{
		"file.stop_and_quarantine": {MDE},
		"persistence.remove":       {MDE},
		"device.isolate":           nil,
		"user.reset_password":      nil, // irreversible everywhere: not a per-connector matter
	} {
		s, ok := Lookup(typ)
		if !ok {
			t.Fatalf("%s is not registered", typ)
		}
		if got := s.IrreversibleOn(); !slices.Equal(got, want) {
			t.Errorf("%s: irreversible on %v, want %v", typ, got, want)
		}
	}
}
