package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/airsoc/air/internal/domain"
)

// TestQuestionsListAndAnswer: questions list shows the open questions;
// answer refuses a choice the question does not offer with the reason, and
// passes a good one on to the workflow (none behind this API: 503).
func TestQuestionsListAndAnswer(t *testing.T) {
	t.Parallel()
	env, _, st, inc1, _ := incidentAPI(t)
	ctx := context.Background()
	now := time.Now()
	if _, err := st.RecordQuestion(ctx, &domain.Question{ID: "q-1", IncidentID: inc1, InvestigationID: "incident-1",
		Playbook: "p", PlaybookVersion: 1, Step: "confirm", Audience: domain.AudienceAnalyst, Text: "Is this phishing?",
		Choices: domain.StringList{"phishing", "clean"}, Status: domain.QuestionOpen, CreatedAt: now, Deadline: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		e := env
		e.Stdout, e.Stderr = &out, &errb
		code := Run(ctx, e, append([]string{"questions"}, args...))
		return code, out.String(), errb.String()
	}
	if code, out, errs := run("list"); code != 0 || !strings.Contains(out, "q-1") || !strings.Contains(out, "phishing | clean") {
		t.Errorf("questions list: exit %d\n%s%s", code, out, errs)
	}
	if code, out, _ := run("list", "--status", "answered"); code != 0 || strings.Contains(out, "q-1") {
		t.Errorf("questions list --status answered: exit %d, lists the open question\n%s", code, out)
	}
	if code, _, errs := run("answer", "q-1", "maybe", "-m", "hm"); code != 1 || !strings.Contains(errs, `"maybe" is not one of the choices (phishing, clean)`) {
		t.Errorf("answer with a choice not offered: exit %d, %s", code, errs)
	}
	if code, _, errs := run("answer", "q-1", "phishing"); code != 1 || !strings.Contains(errs, "503") {
		t.Errorf("answer without a workflow engine: exit %d, %s; want the 503 of the missing engine", code, errs)
	}
	if code, _, errs := run("answer", "q-1"); code != 2 || !strings.Contains(errs, "question id and the answer") {
		t.Errorf("answer without a choice: exit %d, %s; want a usage error", code, errs)
	}
}
