package cli

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/airsoc/air/internal/domain"
)

// TestActionsListStatusNarrows: -status narrows what is listed, as the
// API's filters do — `actions list -status succeeded` lists the succeeded
// action and not the pending one; the default is the pending view; and
// asking the pending view for succeeded actions is refused with a reason.
func TestActionsListStatusNarrows(t *testing.T) {
	t.Parallel()
	env, _, st, inc1, inc2 := incidentAPI(t)
	ctx := context.Background()
	now := time.Now()
	for _, a := range []*domain.Action{
		{ID: "act-pending", IncidentID: inc1, Playbook: "p", PlaybookVersion: 1, Step: "s", Type: "device.isolate",
			TargetKey: "device:ws1", TargetName: "ws1", Source: domain.SourceAutomated, Status: domain.ActionPending,
			Reason: "waits", CreatedAt: now, IdempotencyKey: "k-pending"},
		{ID: "act-done", IncidentID: inc2, Playbook: "p", PlaybookVersion: 1, Step: "s", Type: "device.isolate",
			TargetKey: "device:srv1", TargetName: "srv1", Source: domain.SourceAutomated, Status: domain.ActionSucceeded,
			Reason: "ran", CreatedAt: now, IdempotencyKey: "k-done"},
	} {
		if _, err := st.RecordAction(ctx, a, nil); err != nil {
			t.Fatal(err)
		}
	}
	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		e := env
		e.Stdout, e.Stderr = &out, &errb
		code := Run(ctx, e, append([]string{"actions", "list"}, args...))
		return code, out.String(), errb.String()
	}
	for _, tt := range []struct {
		args      []string
		want, not string
	}{
		{nil, "act-pending", "act-done"},
		{[]string{"-status", "succeeded"}, "act-done", "act-pending"},
		{[]string{"-status", "pending,succeeded"}, "act-pending", ""},
		{[]string{"-view", "history"}, "act-done", "act-pending"},
		{[]string{"-view", "all", "-status", "pending"}, "act-pending", "act-done"},
	} {
		code, out, errs := run(tt.args...)
		if code != 0 || !strings.Contains(out, tt.want) || (tt.not != "" && strings.Contains(out, tt.not)) {
			t.Errorf("actions list %v: exit %d, want %s listed and not %q\n%s%s", tt.args, code, tt.want, tt.not, out, errs)
		}
	}
	if code, out, errs := run("-status", "pending,succeeded"); code != 0 || !strings.Contains(out, "act-done") {
		t.Errorf("actions list -status pending,succeeded: exit %d, want both\n%s%s", code, out, errs)
	}
	if code, _, errs := run("-view", "pending", "-status", "succeeded"); code == 0 || !strings.Contains(errs, "status") {
		t.Errorf("actions list -view pending -status succeeded: exit %d, want refused naming status\n%s", code, errs)
	}
}

// TestIncidentsStopNeedsAReason: the stop command says why before it
// calls; without a workflow engine behind the API the call is refused.
func TestIncidentsStopNeedsAReason(t *testing.T) {
	t.Parallel()
	env, _, _, inc1, _ := incidentAPI(t)
	run := func(args ...string) (int, string) {
		var out, errb bytes.Buffer
		e := env
		e.Stdout, e.Stderr = &out, &errb
		code := Run(context.Background(), e, append([]string{"incidents", "stop"}, args...))
		return code, errb.String()
	}
	id := strconv.FormatInt(inc1, 10)
	if code, errs := run(id); code == 0 || !strings.Contains(errs, "-m REASON") {
		t.Errorf("stop without a reason: exit %d, %s", code, errs)
	}
	// The fixture's token is an analyst's: stopping needs a responder.
	if code, errs := run(id, "-m", "pentest"); code == 0 || !strings.Contains(errs, "403") {
		t.Errorf("stop as an analyst: exit %d, %s; want a 403", code, errs)
	}
}
