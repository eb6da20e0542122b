package cli

import (
	"bytes"
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/airsoc/air/internal/api"
	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/playbook"
	"github.com/airsoc/air/internal/store/storetest"
)

// TestPlaybooksInputs: `playbooks inputs NAME` shows a playbook's tenant
// switches; KEY=VALUE sets them (typed as declared) for an admin, keeping
// the others; --reset goes back to the defaults; mistakes are named.
func TestPlaybooksInputs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := storetest.SQLite(t)
	books, err := playbook.LoadDir("../../playbooks")
	if err != nil {
		t.Fatal(err)
	}
	log := logrus.New()
	log.SetOutput(io.Discard)
	access := &auth.Service{Store: st}
	srv := &api.Server{Store: st, Log: log, Auth: access, Limiter: &auth.Limiter{Rate: auth.Rate{PerSecond: -1}}, Playbooks: books}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	token := func(role auth.Role) string {
		c, err := access.CreateToken(ctx, "test", auth.NewToken{Name: string(role), Role: role})
		if err != nil {
			t.Fatal(err)
		}
		return c.Secret
	}
	admin, analyst := token(auth.Admin), token(auth.Analyst)
	run := func(tok string, args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := Run(ctx, Env{BaseURL: hs.URL, Token: tok, Stdout: &out, Stderr: &errb}, append([]string{"playbooks", "inputs"}, args...))
		return code, out.String(), errb.String()
	}
	line := func(out, input string) string {
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, input+" ") {
				return strings.Join(strings.Fields(l), " ")
			}
		}
		return ""
	}
	code, out, errs := run(analyst, "device-compromise")
	if code != 0 || !strings.Contains(out, "Playbook device-compromise v4") ||
		!strings.HasPrefix(line(out, "containHosts"), "containHosts bool true - true contain") {
		t.Fatalf("show: exit %d\n%s%s", code, out, errs)
	}
	if code, _, errs := run(analyst, "device-compromise", "containHosts=no"); code == 0 || !strings.Contains(errs, "admin") {
		t.Errorf("an analyst sets: exit %d, %s", code, errs)
	}
	code, out, errs = run(admin, "device-compromise", "containHosts=no")
	if code != 0 || !strings.HasPrefix(line(out, "containHosts"), "containHosts bool true false false") {
		t.Errorf("set containHosts: exit %d\n%s%s", code, out, errs)
	}
	code, out, errs = run(admin, "device-compromise", "escalateTo=tier2-ir")
	if code != 0 || !strings.HasPrefix(line(out, "containHosts"), "containHosts bool true false false") ||
		!strings.HasPrefix(line(out, "escalateTo"), `escalateTo string "" "tier2-ir" "tier2-ir"`) {
		t.Errorf("set escalateTo keeps containHosts: exit %d\n%s%s", code, out, errs)
	}
	for _, tt := range []struct{ args []string }{
		{[]string{"device-compromise", "containHosts=maybe"}},
		{[]string{"device-compromise", "contain=no"}},
		{[]string{"device-compromise", "containHosts"}},
		{[]string{"no-such-playbook"}},
		{nil},
	} {
		if code, out, errs := run(admin, tt.args...); code == 0 {
			t.Errorf("%v: exit 0, want refused\n%s%s", tt.args, out, errs)
		}
	}
	code, out, _ = run(admin, "device-compromise", "--reset", "-o", "json")
	if code != 0 || !strings.Contains(out, `"inputs": {}`) || !strings.Contains(out, `"containHosts": true`) {
		t.Errorf("--reset: exit %d\n%s", code, out)
	}
}

// TestPlaybooksPlanInputs: plan mode takes --input, typed by the
// playbooks' declarations, and shows the inputs it planned with.
func TestPlaybooksPlanInputs(t *testing.T) {
	t.Parallel()
	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := Run(context.Background(), Env{Stdout: &out, Stderr: &errb},
			append([]string{"playbooks", "plan", "--playbooks", "../../playbooks", "--incident", "../graph/testdata/sample-alert.json"}, args...))
		return code, out.String(), errb.String()
	}
	code, out, errs := run()
	if code != 0 || !strings.Contains(out, "inputs of device-compromise: containHosts=true escalateTo=\"\"") ||
		!strings.Contains(out, "device-compromise/contain > isolate") {
		t.Errorf("defaults: exit %d\n%s%s", code, out, errs)
	}
	code, out, errs = run("--input", "containHosts=false", "--input", "device-compromise.escalateTo=ir")
	if code != 0 || !strings.Contains(out, "inputs of device-compromise: containHosts=false escalateTo=\"ir\"") ||
		strings.Contains(out, "device-compromise/contain > isolate") {
		t.Errorf("containHosts=false: exit %d\n%s%s", code, out, errs)
	}
	if code, _, errs := run("--input", "containHosts=perhaps"); code == 0 || !strings.Contains(errs, "want true or false") {
		t.Errorf("a bad value: exit %d, %s", code, errs)
	}
	if code, _, errs := run("--input", "nope=1"); code == 0 || !strings.Contains(errs, `no playbook declares an input "nope"`) {
		t.Errorf("an unknown input: exit %d, %s", code, errs)
	}
}
