package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/airsoc/air/internal/actions"
)

func TestActionTypes(t *testing.T) {
	t.Parallel()
	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := Run(context.Background(), Env{Stdout: &out, Stderr: &errb}, append([]string{"actions", "types"}, args...))
		return code, out.String(), errb.String()
	}
	code, out, _ := run()
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{
		"TYPE", "CONNECTORS",
		"device.isolate", "device.release", "reversible", "lab,mde,webhook", "isolationType=Full|Selective comment",
		"user.revoke_sessions", "irreversible", "lab,graph,webhook",
		"mailbox.remove_inbox_rule", "ruleId!",
		"incident.tag", "incident", "tags!:[]string",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "\n"); n != len(actions.All())+1 {
		t.Errorf("table: got %d lines, want a header and one per type (%d)", n, len(actions.All()))
	}

	code, out, _ = run("-o", "json")
	var specs []actions.Spec
	if code != 0 || json.Unmarshal([]byte(out), &specs) != nil || len(specs) != len(actions.All()) {
		t.Fatalf("json: exit %d, %d specs:\n%s", code, len(specs), out)
	}
	if specs[0].Type != "device.isolate" || specs[0].Undo != "device.release" || !specs[0].Reversible ||
		!specs[0].CarriedBy(actions.MDE) || specs[0].Params[0].Name != "isolationType" {
		t.Errorf("first spec: %+v", specs[0])
	}

	if code, _, errs := run("-o", "yaml"); code != 2 || !strings.Contains(errs, "want table|json") {
		t.Errorf("-o yaml: exit %d, %q; want a usage error", code, errs)
	}
	if code, _, _ := run("extra"); code != 2 {
		t.Errorf("an argument: exit %d, want 2", code)
	}
}
