package playbook

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/airsoc/air/internal/domain"
)

const askPlaybook = header + `stages:
  triage:
    - id: confirm
      ask:
        to: analyst
        question: "Is {{ incident.displayName }} phishing?"
        choices: [phishing, clean]
        timeout: 4h
        remind: 1h
        default: clean
    - id: accounts
      ask:
        to: analyst
        question: Which accounts shall AIR disable?
        choices: "{{ map(users, .upn) }}"
        multiple: true
    - id: was_it_you
      ask:
        to: user
        question: "Did you sign in from {{ alerts[0].title }}?"
        choices: ["yes", "no"]
      target: first(users)
  containment:
    - id: disable
      for_each: filter(users, {.upn in steps.accounts.answers})
      when: steps.confirm.answer == "phishing" and steps.was_it_you.answer != "yes" and not steps.confirm.timedOut
      action: user.disable
  recovery:
    - id: release
      wait:
        until: incident.classification == "truePositive" and steps.disable.succeeded > 0
        timeout: 48h
    - id: note
      when: steps.release.met
      action: incident.comment
      with: {text: "released after {{ steps.confirm.answeredBy }} answered"}
`

func TestParseAskAndWait(t *testing.T) {
	t.Parallel()
	pb, err := Parse("t.yaml", []byte(askPlaybook))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	confirm := pb.Step("confirm")
	if a := confirm.Ask; a == nil || a.To != AskAnalyst || a.Timeout != 4*time.Hour || a.Remind != time.Hour ||
		!slices.Equal(a.Choices, []string{"phishing", "clean"}) || !slices.Equal(a.Default, []string{"clean"}) || a.Multiple {
		t.Errorf("confirm: %+v", confirm.Ask)
	}
	if a := pb.Step("accounts").Ask; a == nil || !a.Multiple || a.Choices != nil || a.ChoicesExpr == "" || a.Timeout != DefaultWait {
		t.Errorf("accounts: %+v", a)
	}
	if w := pb.Step("release").Wait; w == nil || w.Timeout != 48*time.Hour || !strings.Contains(w.Until, "truePositive") {
		t.Errorf("release: %+v", w)
	}
	if got := pb.Step("disable").Reads; !slices.Equal(got, []string{"accounts", "confirm", "was_it_you"}) {
		t.Errorf("disable reads %v", got)
	}
	if got := pb.Step("release").Reads; !slices.Equal(got, []string{"disable"}) {
		t.Errorf("release reads %v", got)
	}

	env := NewEnv(domain.Incident{ID: 7, DisplayName: "Mail to bob"}, []domain.Alert{{ID: "a1", Title: "Lagos"}},
		[]domain.Entity{
			{Key: "user:bob@corp.example", Kind: domain.KindUser, Name: "bob", Attrs: map[string]string{"upn": "bob@corp.example"}},
			{Key: "user:eve@corp.example", Kind: domain.KindUser, Name: "eve", Attrs: map[string]string{"upn": "eve@corp.example"}},
		})
	invs, err := confirm.Expand(env)
	if err != nil || len(invs) != 1 {
		t.Fatalf("expand confirm: %v, %v", invs, err)
	}
	if q := invs[0].Args["question"]; q != "Is Mail to bob phishing?" {
		t.Errorf("question %q", q)
	}
	invs, err = pb.Step("accounts").Expand(env)
	if err != nil || len(invs) != 1 {
		t.Fatalf("expand accounts: %v, %v", invs, err)
	}
	if c, _ := Strings(invs[0].Args["choices"]); !slices.Equal(c, []string{"bob@corp.example", "eve@corp.example"}) {
		t.Errorf("choices from an expression: %v", invs[0].Args["choices"])
	}
	invs, err = pb.Step("was_it_you").Expand(env)
	if err != nil || len(invs) != 1 || invs[0].Target != "user:bob@corp.example" {
		t.Fatalf("expand was_it_you: %+v, %v", invs, err)
	}

	// The answers steer later steps, typed.
	env.Steps = map[string]StepOutput{
		"confirm":    AskOutput(StepSucceeded, []string{"phishing"}, "ana", false, ""),
		"accounts":   AskOutput(StepSucceeded, []string{"eve@corp.example"}, "ana", false, ""),
		"was_it_you": AskOutput(StepSucceeded, []string{"no"}, "ana", false, ""),
	}
	invs, err = pb.Step("disable").Expand(env)
	if err != nil || len(invs) != 1 || invs[0].Target != "user:eve@corp.example" {
		t.Errorf("disable after the answers: %+v, %v; want eve only", invs, err)
	}
	env.Steps["confirm"] = AskOutput(StepSucceeded, []string{"clean"}, "system:timeout", true, "")
	if invs, err = pb.Step("disable").Expand(env); err != nil || len(invs) != 0 {
		t.Errorf("disable after a clean answer: %+v, %v; want nothing", invs, err)
	}

	release := pb.Step("release")
	env.Steps["disable"] = StepOutput{Status: StepSucceeded, Count: 1, Succeeded: 1}
	if met, err := release.Met(env); err != nil || met {
		t.Errorf("met before classification: %v, %v", met, err)
	}
	fresh := NewEnv(domain.Incident{ID: 7, Classification: "truePositive"}, nil, nil)
	if met, err := release.Met(Refresh(env, fresh)); err != nil || !met {
		t.Errorf("met after classification: %v, %v", met, err)
	}
}

func TestParseAskAndWaitErrors(t *testing.T) {
	t.Parallel()
	step := func(body string) string { return header + "stages:\n  triage:\n" + body }
	cases := []struct {
		name string
		src  string
		want []string
	}{
		{"unknown audience", step("    - id: a\n      ask: {to: boss, question: q, choices: [y]}\n"),
			[]string{`t.yaml:6:17: ask.to: unknown audience "boss", want analyst or user`}},
		{"audience misspelt", step("    - id: a\n      ask: {to: analist, question: q, choices: [y]}\n"),
			[]string{`t.yaml:6:17: ask.to: unknown audience "analist", want analyst or user (did you mean analyst?)`}},
		{"empty choices", step("    - id: a\n      ask: {to: analyst, question: q, choices: []}\n"),
			[]string{`t.yaml:6:48: ask.choices: no choices: give at least one`}},
		{"choice twice", step("    - id: a\n      ask: {to: analyst, question: q, choices: [y, y]}\n"),
			[]string{`t.yaml:6:48: ask.choices: "y" is offered twice`}},
		{"choices not strings", step("    - id: a\n      ask: {to: analyst, question: q, choices: \"{{ incident.id }}\"}\n"),
			[]string{`t.yaml:6:48: ask.choices: want a list of strings, got int`}},
		{"default not a choice", step("    - id: a\n      ask:\n        to: analyst\n        question: q\n        choices: [phishing, clean]\n        default: maybe\n"),
			[]string{`t.yaml:10:18: ask.default: "maybe" is not one of the choices (phishing, clean)`}},
		{"several defaults for one answer", step("    - id: a\n      ask:\n        to: analyst\n        question: q\n        choices: [a, b]\n        default: [a, b]\n"),
			[]string{`t.yaml:10:18: ask.default: one choice, as the question takes one (add multiple: true to take several)`}},
		{"bad duration", step("    - id: a\n      ask: {to: analyst, question: q, choices: [y], timeout: 4hours}\n"),
			[]string{`t.yaml:6:62: ask.timeout must be a duration such as 30s, 5m or 1h, got "4hours"`}},
		{"timeout too long", step("    - id: a\n      wait: {until: true, timeout: 800h}\n"),
			[]string{`t.yaml:6:36: wait.timeout is 800h, the limit is 720h0m0s`}},
		{"reminder not before the timeout", step("    - id: a\n      ask: {to: analyst, question: q, choices: [y], timeout: 1h, remind: 2h}\n"),
			[]string{`t.yaml:6:74: ask.remind 2h0m0s is not shorter than ask.timeout 1h0m0s: no reminder would be sent`}},
		{"bad expression", step("    - id: a\n      wait: {until: incident.classfication == \"truePositive\"}\n"),
			[]string{`t.yaml:6:30: wait.until: incident has no field classfication (did you mean classification?)`}},
		{"until not a condition", step("    - id: a\n      wait: {until: incident.severity}\n"),
			[]string{`t.yaml:6:21: wait.until: want true or false, got string`}},
		{"no question", step("    - id: a\n      ask: {to: analyst, choices: [y]}\n"),
			[]string{`t.yaml:6:12: ask has no question`}},
		{"user without target", step("    - id: a\n      ask: {to: user, question: q, choices: [y]}\n"),
			[]string{`t.yaml:6:12: ask.to: user needs target: the user to ask (target: first(users), target: inputs.user)`}},
		{"user target a device", step("    - id: a\n      ask: {to: user, question: q, choices: [y]}\n      target: first(devices)\n"),
			[]string{`t.yaml:7:15: ask.to: user asks a user, but the target is a device`}},
		{"ask with action", step("    - id: a\n      action: incident.tag\n      ask: {to: analyst, question: q, choices: [y]}\n"),
			[]string{`t.yaml:7:7: a step has one of action, use, ask and wait, not both action and ask`}},
		{"ask with for_each and timeout", step("    - id: a\n      for_each: users\n      timeout: 1h\n      ask: {to: analyst, question: q, choices: [y]}\n"),
			[]string{
				`t.yaml:6:7: an ask step takes no for_each: ask steps run once: to ask (or wait) for each item, put the step in a sub-playbook and use it with for_each`,
				`t.yaml:7:7: an ask step takes no timeout: give it under ask (ask.timeout)`,
			}},
		{"answer of an action step", step("    - id: a\n      action: incident.tag\n      with: {tags: [x]}\n    - id: b\n      when: steps.a.answer == \"y\"\n      action: incident.tag\n      with: {tags: [y]}\n"),
			[]string{`t.yaml:9:13: when: step "a" has no answer: only ask steps answer`}},
		{"answer of a multiple-choice ask", step("    - id: a\n      ask: {to: analyst, question: q, choices: [x, y], multiple: true}\n    - id: b\n      when: steps.a.answer == \"y\"\n      action: incident.tag\n      with: {tags: [y]}\n"),
			[]string{`t.yaml:8:13: when: step "a" takes several answers (multiple: true): read answers, a list`}},
		{"met of an ask", step("    - id: a\n      ask: {to: analyst, question: q, choices: [x]}\n    - id: b\n      when: steps.a.met\n      action: incident.tag\n      with: {tags: [y]}\n"),
			[]string{`t.yaml:8:13: when: step "a" has no met: only wait steps wait for a condition`}},
		{"unknown ask key", step("    - id: a\n      ask: {to: analyst, question: q, choices: [x], remindr: 1h}\n"),
			[]string{`t.yaml:6:53: unknown key "remindr", want one of to, question, choices, multiple, timeout, remind, default`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse("t.yaml", []byte(c.src))
			if err == nil {
				t.Fatalf("parse succeeded, want %v", c.want)
			}
			if got := diagnostics(t, err); !slices.Equal(got, c.want) {
				t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(c.want, "\n  "))
			}
		})
	}
}
