package cli

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/domain"
)

func TestIntelCommands(t *testing.T) {
	t.Parallel()
	env, viewer, st, inc1, _ := incidentAPI(t)
	c, err := (&auth.Service{Store: st}).CreateToken(context.Background(), "test", auth.NewToken{Name: "adam", Role: auth.Admin})
	if err != nil {
		t.Fatal(err)
	}
	admin := env
	admin.Token = c.Secret
	run := func(env Env, args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		env.Stdout, env.Stderr = &out, &errb
		code := Run(context.Background(), env, append([]string{"intel"}, args...))
		return code, out.String(), errb.String()
	}

	code, out, errs := run(admin, "import", "../intel/testdata/cobalt.txt.gz")
	if code != 0 || !strings.HasPrefix(out, "feed cobalt (list, threat intelligence): 134 indicators, 3 kept but not evaluated, 8 duplicates") ||
		!strings.Contains(out, `cobalt.txt.gz:31: "/xaczkajeieypiarll" kept but not evaluated`) {
		t.Errorf("import: exit %d\n%s%s", code, out, errs)
	}
	code, out, errs = run(admin, "import", "-name", "private", "../intel/testdata/rfc1918.json.gz")
	if code != 0 || !strings.HasPrefix(out, "feed private (misp, known-benign list): 3 indicators") {
		t.Errorf("import misp: exit %d\n%s%s", code, out, errs)
	}
	if code, _, errs := run(env, "import", "../intel/testdata/rfc1918.json.gz"); code != 1 || !strings.Contains(errs, "forbidden (403)") {
		t.Errorf("import as analyst: exit %d %s", code, errs)
	}
	if code, _, errs := run(admin, "import", "-format", "csv", "../intel/testdata/rfc1918.json.gz"); code != 1 || !strings.Contains(errs, "format: unknown format") {
		t.Errorf("import -format csv: exit %d %s", code, errs)
	}
	if code, _, _ := run(admin, "import"); code != 2 {
		t.Errorf("import without a file: exit %d; want 2", code)
	}

	code, out, _ = run(Env{BaseURL: env.BaseURL, Token: viewer}, "list")
	if code != 0 || !strings.Contains(out, "cobalt") || !strings.Contains(out, "private") || !strings.Contains(out, "benign") {
		t.Errorf("list: exit %d\n%s", code, out)
	}
	code, out, _ = run(Env{BaseURL: env.BaseURL, Token: viewer}, "lookup", "ip", "192.168.1.20")
	if code != 0 || !strings.Contains(out, "1 matches") || !strings.Contains(out, "private (benign)") || !strings.Contains(out, "192.168.0.0/16") ||
		!strings.Contains(out, "seen here: 0 alerts") {
		t.Errorf("lookup: exit %d\n%s", code, out)
	}
	code, out, _ = run(Env{BaseURL: env.BaseURL, Token: viewer}, "lookup", "domain", "API.Outlook.kz")
	if code != 0 || !strings.Contains(out, "cobalt") {
		t.Errorf("lookup domain: exit %d\n%s", code, out)
	}
	if code, _, errs := run(Env{BaseURL: env.BaseURL, Token: viewer}, "lookup", "hash", "x"); code != 1 || !strings.Contains(errs, "kind:") {
		t.Errorf("lookup hash: exit %d %s", code, errs)
	}
	code, out, _ = run(Env{BaseURL: env.BaseURL, Token: viewer}, "facts", "1")
	if code != 0 || !strings.HasPrefix(out, "no facts") {
		t.Errorf("facts: exit %d %q", code, out)
	}
	if err := st.RecordFacts(context.Background(), inc1, []domain.Fact{{Entity: "ip:198.51.100.1", Kind: domain.FactIntelMatch,
		Source: "intel:ipsum", Value: domain.RawJSON(`{"feed":"ipsum"}`), ObservedAt: time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)}}); err != nil {
		t.Fatal(err)
	}
	code, out, _ = run(Env{BaseURL: env.BaseURL, Token: viewer}, "facts", strconv.FormatInt(inc1, 10))
	if code != 0 || !strings.Contains(out, "ip:198.51.100.1  intel.match  intel:ipsum  2026-05-01 09:00:00  {\"feed\":\"ipsum\"}") {
		t.Errorf("facts: exit %d\n%s", code, out)
	}
	code, out, _ = run(admin, "delete", "private")
	if code != 0 || out != "feed private deleted (3 indicators)\n" {
		t.Errorf("delete: exit %d %q", code, out)
	}
}

func TestProgress(t *testing.T) {
	t.Parallel()
	var w bytes.Buffer
	p := &uploadProgress{r: strings.NewReader(strings.Repeat("x", 3<<20)), size: 3 << 20, w: &w, name: "ipsum", last: time.Now()}
	buf := make([]byte, 1<<20)
	for {
		if _, err := p.Read(buf); err != nil {
			break
		}
	}
	p.done()
	if !strings.Contains(w.String(), "importing ipsum: 1.0 MiB of 3.0 MiB (33%)\n") || !strings.HasSuffix(w.String(), "importing ipsum: 3.0 MiB sent\n") {
		t.Errorf("progress:\n%s", w.String())
	}
}
