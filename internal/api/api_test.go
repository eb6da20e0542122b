package api_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/airsoc/air/internal/api"
	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/correlate"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/records"
	"github.com/airsoc/air/internal/store"
	"github.com/airsoc/air/internal/store/storetest"
	"github.com/airsoc/air/workflows"
)

// undoOnly is an Engine whose only working method is Undo. Tests here
// check what the API refuses before it reaches the workflow, and undo; the
// decide Update itself runs on a real Temporal server in internal/app.
type undoOnly struct {
	mu      sync.Mutex
	undos   []workflows.UndoRequest
	answers []workflows.AnswerRequest
}

// Answer records the answer and returns the question answered, as the
// workflow would once it recorded it (internal/app runs the real one).
func (e *undoOnly) Answer(_ context.Context, incidentID int64, req workflows.AnswerRequest) (*domain.Question, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.answers = append(e.answers, req)
	return &domain.Question{ID: req.QuestionID, IncidentID: incidentID, Status: domain.QuestionAnswered,
		Answer: domain.StringList(req.Answer), AnsweredBy: req.By, Note: req.Note}, nil
}

var errNoWorkflow = errors.New("no workflow in this test")

func (e *undoOnly) Decide(context.Context, int64, workflows.DecideRequest) (*domain.Action, error) {
	return nil, errNoWorkflow
}
func (e *undoOnly) State(context.Context, int64) (*workflows.State, error) { return nil, errNoWorkflow }
func (e *undoOnly) IncidentChanged(context.Context, int64, workflows.IncidentChange) error {
	return errNoWorkflow
}
func (e *undoOnly) Stop(context.Context, int64, workflows.StopRequest) (*workflows.State, error) {
	return nil, errNoWorkflow
}
func (e *undoOnly) Request(context.Context, int64, workflows.ManualRequest) (*domain.Action, error) {
	return nil, errNoWorkflow
}
func (e *undoOnly) Undo(_ context.Context, incidentID int64, req workflows.UndoRequest) (*domain.Action, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.undos = append(e.undos, req)
	return &domain.Action{ID: "undo-" + req.ActionID, IncidentID: incidentID, Type: "device.release",
		Status: domain.ActionApproved, UndoOf: req.ActionID, DecidedBy: req.By}, nil
}

type fixture struct {
	t      *testing.T
	st     *store.Store
	srv    *api.Server
	url    string
	log    *bytes.Buffer
	engine *undoOnly
	tokens map[string]string // name → secret
	inc1   int64             // Workstations: ws1, alice
	inc2   int64             // Servers: srv1
}

// newFixture serves the real handler over a real SQLite store holding two
// incidents and actions on them, and makes one token per role plus a
// responder scoped to Servers.
func newFixture(t *testing.T, rate auth.Rate) *fixture {
	t.Helper()
	return newFixtureOn(t, rate, storetest.SQLite(t))
}

// newFixtureOn is newFixture on a given store (see storetest.Each).
func newFixtureOn(t *testing.T, rate auth.Rate, st *store.Store) *fixture {
	t.Helper()
	f := &fixture{t: t, st: st, log: &bytes.Buffer{}, engine: &undoOnly{}, tokens: map[string]string{}}
	log := logrus.New()
	log.SetOutput(f.log)
	log.SetLevel(logrus.DebugLevel)
	access := &auth.Service{Store: st}
	f.srv = &api.Server{Store: st, Engine: f.engine, Log: log, Auth: access, Limiter: &auth.Limiter{Rate: rate}}
	hs := httptest.NewServer(f.srv.Handler())
	t.Cleanup(hs.Close)
	f.url = hs.URL
	for _, tok := range []struct {
		name   string
		role   auth.Role
		groups []string
	}{{"vic", auth.Viewer, nil}, {"al", auth.Analyst, nil}, {"rita", auth.Responder, nil}, {"adam", auth.Admin, nil},
		{"sam", auth.Responder, []string{"Servers"}}} {
		c, err := access.CreateToken(context.Background(), "test", auth.NewToken{Name: tok.name, Role: tok.role, Groups: tok.groups})
		if err != nil {
			t.Fatal(err)
		}
		f.tokens[tok.name] = c.Secret
	}
	f.seed()
	return f
}

func (f *fixture) seed() {
	ctx := context.Background()
	dev := func(id, group string) domain.Evidence {
		return domain.Evidence{Type: "deviceEvidence", Verdict: domain.VerdictMalicious, Entity: &domain.Entity{
			Key: domain.EntityKey("device:" + id), Kind: domain.KindDevice, Name: id, Verdict: domain.VerdictMalicious,
			Attrs: map[string]string{"deviceGroup": group}}}
	}
	alert := func(id string, ev ...domain.Evidence) *domain.Alert {
		now := time.Now()
		return &domain.Alert{ID: id, Title: "alert " + id, Status: domain.AlertNew, Severity: domain.SeverityHigh,
			Category: "Execution", CreatedDateTime: now, LastUpdateDateTime: now, Evidence: ev}
	}
	r1, err := f.st.IngestAlert(ctx, alert("al1", dev("ws1", "Workstations")), correlate.Rules{})
	if err != nil {
		f.t.Fatal(err)
	}
	r2, err := f.st.IngestAlert(ctx, alert("al2", dev("srv1", "Servers")), correlate.Rules{})
	if err != nil {
		f.t.Fatal(err)
	}
	f.inc1, f.inc2 = r1.IncidentID, r2.IncidentID
	t0 := time.Now().Add(-time.Hour)
	for i, a := range []domain.Action{
		{ID: "iso-ws1", IncidentID: f.inc1, Type: "device.isolate", TargetKey: "device:ws1", TargetName: "=HYPERLINK(\"http://evil\")", Status: domain.ActionPending},
		{ID: "iso-srv1", IncidentID: f.inc2, Type: "device.isolate", TargetKey: "device:srv1", TargetName: "srv1", Status: domain.ActionPending},
		{ID: "scan-srv1", IncidentID: f.inc2, Type: "device.run_av_scan", TargetKey: "device:srv1", TargetName: "srv1", Status: domain.ActionPending},
		{ID: "done-srv1", IncidentID: f.inc2, Type: "device.isolate", TargetKey: "device:srv1", TargetName: "srv1", Status: domain.ActionSucceeded, DecidedBy: "rita"},
		{ID: "scan-done", IncidentID: f.inc2, Type: "device.run_av_scan", TargetKey: "device:srv1", TargetName: "srv1", Status: domain.ActionSucceeded},
	} {
		a.Playbook, a.PlaybookVersion, a.Step, a.Params = "p", 1, "s", []byte(`{}`)
		a.Source, a.RequestedBy, a.Reason, a.IdempotencyKey = domain.SourceAutomated, "playbook", "semi-all", a.ID
		a.CreatedAt = t0.Add(time.Duration(i) * time.Minute)
		if _, err := f.st.RecordAction(ctx, &a, nil); err != nil {
			f.t.Fatal(err)
		}
	}
}

// call sends a request as the named token holder ("" for none; a secret
// starting with air_ is sent as is) and decodes a JSON answer into out.
func (f *fixture) call(who, method, path string, body string, out any) *http.Response {
	f.t.Helper()
	req, err := http.NewRequest(method, f.url+path, strings.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	secret := f.tokens[who]
	if strings.HasPrefix(who, "air_") {
		secret = who
	}
	if secret != "" {
		req.Header.Set("Authorization", "Bearer "+secret)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil {
		if s, ok := out.(*string); ok {
			*s = string(data)
		} else if err := json.Unmarshal(data, out); err != nil {
			f.t.Fatalf("%s %s: HTTP %d, body not JSON: %s", method, path, resp.StatusCode, data)
		}
	}
	return resp
}

type errResp struct {
	Error api.ErrorDetail `json:"error"`
}

func TestEveryEndpointNeedsAToken(t *testing.T) {
	t.Parallel()
	f := newFixture(t, auth.Rate{PerSecond: -1})
	for _, rt := range f.srv.Routes() {
		method, path, _ := strings.Cut(rt.Pattern, " ")
		path = strings.ReplaceAll(path, "{id}", "1")
		for _, who := range []string{"", "air_not-a-token"} {
			var body string
			resp := f.call(who, method, path, "{}", &body)
			var e errResp
			json.Unmarshal([]byte(body), &e)
			if rt.Role == "" {
				if resp.StatusCode == http.StatusUnauthorized {
					t.Errorf("%s is open but answered 401", rt.Pattern)
				}
				continue
			}
			if resp.StatusCode != http.StatusUnauthorized || e.Error.Kind != "unauthenticated" ||
				!strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s with token %q: HTTP %d %+v, want 401 with WWW-Authenticate", rt.Pattern, who, resp.StatusCode, e)
			}
		}
	}
	var me auth.Principal
	if resp := f.call("sam", "GET", "/api/v1/me", "", &me); resp.StatusCode != 200 || me.Name != "sam" ||
		me.Role != auth.Responder || len(me.Groups) != 1 {
		t.Errorf("me: HTTP %d %+v", resp.StatusCode, me)
	}
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	f := newFixture(t, auth.Rate{PerSecond: 0.5, Burst: 3})
	for i := range 3 {
		if resp := f.call("vic", "GET", "/api/v1/me", "", nil); resp.StatusCode != 200 {
			t.Fatalf("request %d within the burst: HTTP %d", i, resp.StatusCode)
		}
	}
	var e errResp
	resp := f.call("vic", "GET", "/api/v1/me", "", &e)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "2" || e.Error.Kind != "rate_limited" {
		t.Errorf("past the burst: HTTP %d, Retry-After %q, %+v; want 429, 2", resp.StatusCode, resp.Header.Get("Retry-After"), e)
	}
	if resp := f.call("rita", "GET", "/api/v1/me", "", nil); resp.StatusCode != 200 {
		t.Errorf("another token: HTTP %d, want its own budget", resp.StatusCode)
	}
	// Guessing tokens spends the address's budget.
	codes := ""
	for range 4 {
		codes += " " + http.StatusText(f.call("air_guess", "GET", "/api/v1/me", "", nil).StatusCode)
	}
	if codes != " Unauthorized Unauthorized Unauthorized Too Many Requests" {
		t.Errorf("guessing: got%s", codes)
	}
}

func TestTokensNeverAppearInLogs(t *testing.T) {
	t.Parallel()
	f := newFixture(t, auth.Rate{PerSecond: -1})
	var c auth.Created
	if resp := f.call("adam", "POST", "/api/v1/tokens", `{"role":"viewer","name":"new"}`, &c); resp.StatusCode != http.StatusCreated || c.Secret == "" {
		t.Fatalf("create: HTTP %d %+v", resp.StatusCode, c)
	}
	f.call(c.Secret, "GET", "/api/v1/actions?view=pending", "", nil)
	f.call("air_wrong-secret-xyz", "GET", "/api/v1/actions", "", nil)
	f.call("adam", "GET", "/api/v1/incidents/999?token="+c.Secret, "", nil)
	// An internal error is logged; the request carrying a token must not be.
	f.st.Close()
	if resp := f.call(c.Secret, "GET", "/api/v1/actions", "", nil); resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("closed store: HTTP %d, want 500", resp.StatusCode)
	}
	logged := f.log.String()
	if !strings.Contains(logged, "request failed") {
		t.Fatalf("the internal error was not logged:\n%s", logged)
	}
	for name, secret := range f.tokens {
		if strings.Contains(logged, secret) {
			t.Errorf("the log holds %s's token:\n%s", name, logged)
		}
	}
	for _, s := range []string{c.Secret, "air_wrong-secret-xyz", "Bearer", auth.Hash(c.Secret)} {
		if strings.Contains(logged, s) {
			t.Errorf("the log holds %q:\n%s", s, logged)
		}
	}
}

func TestTokenEndpoints(t *testing.T) {
	t.Parallel()
	f := newFixture(t, auth.Rate{PerSecond: -1})
	for _, tt := range []struct{ body, field string }{
		{`{"role":"admin","groups":["Servers"]}`, "groups"},
		{`{"role":"root"}`, "role"},
		{`{}`, "role"},
		{`{"role":"viewer","extra":1}`, "extra"},
		{``, ""},
	} {
		var e errResp
		if resp := f.call("adam", "POST", "/api/v1/tokens", tt.body, &e); resp.StatusCode != 400 || e.Error.Field != tt.field {
			t.Errorf("create %s: HTTP %d %+v, want 400 naming %q", tt.body, resp.StatusCode, e, tt.field)
		}
	}
	var c auth.Created
	f.call("adam", "POST", "/api/v1/tokens", `{"role":"analyst","groups":["Servers"," servers "]}`, &c)
	if c.Token == nil || c.Token.Role != "analyst" || len(c.Token.Groups) != 1 || c.Token.Name != c.Token.ID {
		t.Errorf("created: %+v", c.Token)
	}
	var list string
	f.call("adam", "GET", "/api/v1/tokens", "", &list)
	if !strings.Contains(list, c.Token.ID) || strings.Contains(list, c.Secret) || strings.Contains(list, auth.Hash(c.Secret)) {
		t.Errorf("list shows the id but never the secret or its hash: %s", list)
	}
	if resp := f.call(c.Secret, "GET", "/api/v1/me", "", nil); resp.StatusCode != 200 {
		t.Fatalf("new token: HTTP %d", resp.StatusCode)
	}
	if resp := f.call("adam", "DELETE", "/api/v1/tokens/"+c.Token.ID, "", nil); resp.StatusCode != 200 {
		t.Fatalf("revoke: HTTP %d", resp.StatusCode)
	}
	if resp := f.call(c.Secret, "GET", "/api/v1/me", "", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("revoked token: HTTP %d, want 401", resp.StatusCode)
	}
	var e errResp
	if resp := f.call("adam", "DELETE", "/api/v1/tokens/"+c.Token.ID, "", &e); resp.StatusCode != http.StatusConflict {
		t.Errorf("revoke twice: HTTP %d %+v, want 409", resp.StatusCode, e)
	}
	var audit records.AuditPage
	f.call("adam", "GET", "/api/v1/audit?verb=token.&order=asc&object=token:"+c.Token.ID, "", &audit)
	if audit.Total != 2 || audit.Value[0].Actor != "adam" || audit.Value[1].Verb != "token.revoked" {
		t.Errorf("audit of the token: %+v", audit)
	}
}

func TestActionQueriesAndExport(t *testing.T) {
	t.Parallel()
	f := newFixture(t, auth.Rate{PerSecond: -1})
	for _, tt := range []struct{ query, want string }{
		{"view=pending", "scan-srv1 iso-srv1 iso-ws1"},
		{"view=history", "scan-done done-srv1"},
		{"view=pending&type=device.isolate&sort=createdAt", "iso-ws1 iso-srv1"},
		{"view=pending&deviceGroup=servers", "scan-srv1 iso-srv1"},
		{"view=pending&status=pending&deviceGroup=servers", "scan-srv1 iso-srv1"},
		{"view=history&status=succeeded", "scan-done done-srv1"},
		{"incidentId=" + itoa(1) + "&status=pending", "iso-ws1"},
		{"newerThan=1d&olderThan=58m30s&sort=createdAt", "iso-ws1 iso-srv1"},
		{"view=all&limit=2&offset=1", "done-srv1 scan-srv1"},
	} {
		var page records.ActionPage
		if resp := f.call("vic", "GET", "/api/v1/actions?"+tt.query, "", &page); resp.StatusCode != 200 {
			t.Errorf("%s: HTTP %d", tt.query, resp.StatusCode)
			continue
		}
		var got []string
		for _, a := range page.Value {
			got = append(got, a.ID)
		}
		if strings.Join(got, " ") != tt.want {
			t.Errorf("%s: got %v, want %s", tt.query, got, tt.want)
		}
	}
	for _, tt := range []struct{ query, field string }{
		{"view=later", "view"}, {"status=done", "status"}, {"type=device.explode", "type"}, {"source=robot", "source"},
		{"incidentId=x", "incidentId"}, {"since=yesterday", "since"}, {"olderThan=-3d", "olderThan"},
		{"sort=-params", "sort"}, {"limit=0", "limit"}, {"limit=5000", "limit"}, {"offset=-1", "offset"},
		{"colour=red", "colour"}, {"format=xml", "format"},
		// status= narrows a view, never widens it: a status outside the view is a contradiction.
		{"view=pending&status=succeeded", "status"}, {"view=history&status=pending", "status"},
	} {
		var e errResp
		if resp := f.call("vic", "GET", "/api/v1/actions?"+tt.query, "", &e); resp.StatusCode != 400 || e.Error.Field != tt.field || e.Error.Message == "" {
			t.Errorf("%s: HTTP %d %+v, want 400 naming %s", tt.query, resp.StatusCode, e, tt.field)
		}
	}
	var body string
	resp := f.call("vic", "GET", "/api/v1/actions?view=pending&format=csv&sort=createdAt", "", &body)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("csv: HTTP %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil || len(rows) != 4 || strings.Join(rows[0], ",") != strings.Join(api.ActionCSVHeader, ",") {
		t.Fatalf("csv rows: %v, %v", rows, err)
	}
	if got := rows[1][5]; got != `'=HYPERLINK("http://evil")` {
		t.Errorf("a formula in a cell: got %q, want it defused with a leading quote", got)
	}
	var audit string
	if resp := f.call("adam", "GET", "/api/v1/audit?format=csv&verb=action.created&order=asc", "", &audit); resp.StatusCode != 200 ||
		strings.Count(audit, "\n") != 6 || !strings.HasPrefix(audit, "id,at,actor,verb,object,incidentId,before,after\n") {
		t.Errorf("audit csv: HTTP %d\n%s", resp.StatusCode, audit)
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestScoping(t *testing.T) {
	t.Parallel()
	f := newFixture(t, auth.Rate{PerSecond: -1})
	var page records.ActionPage
	f.call("sam", "GET", "/api/v1/actions?view=all", "", &page)
	for _, a := range page.Value {
		if a.IncidentID != f.inc2 {
			t.Errorf("sam (Servers) sees %s of incident %d", a.ID, a.IncidentID)
		}
	}
	if page.Total != 4 {
		t.Errorf("sam sees %d actions, want the 4 on srv1", page.Total)
	}
	var e errResp
	for _, req := range []struct{ method, path string }{
		{"GET", "/api/v1/actions/iso-ws1"},
		{"POST", "/api/v1/actions/iso-ws1/approve"},
		{"POST", "/api/v1/actions/iso-ws1/reject"},
		{"POST", "/api/v1/actions/iso-ws1/undo"},
		{"GET", "/api/v1/incidents/" + itoa(f.inc1)},
	} {
		if resp := f.call("sam", req.method, req.path, "", &e); resp.StatusCode != http.StatusNotFound {
			t.Errorf("sam %s %s: HTTP %d %+v, want 404 (out of scope is as if absent)", req.method, req.path, resp.StatusCode, e)
		}
	}
	var incs struct{ Value []domain.Incident }
	f.call("sam", "GET", "/api/v1/incidents", "", &incs)
	if len(incs.Value) != 1 || incs.Value[0].ID != f.inc2 {
		t.Errorf("sam's incidents: %+v, want only %d", incs.Value, f.inc2)
	}
	f.call("rita", "GET", "/api/v1/incidents", "", &incs)
	if len(incs.Value) != 2 {
		t.Errorf("an unscoped token sees %d incidents, want 2", len(incs.Value))
	}

	// One incident with a device in each group: sam sees it, with the
	// action on the server only — in the actions and in the activity log.
	ctx := context.Background()
	now := time.Now()
	ev := func(id, group string) domain.Evidence {
		return domain.Evidence{Type: "deviceEvidence", Verdict: domain.VerdictMalicious, Entity: &domain.Entity{
			Key: domain.EntityKey("device:" + id), Kind: domain.KindDevice, Name: id, Verdict: domain.VerdictMalicious,
			Attrs: map[string]string{"deviceGroup": group}}}
	}
	r, err := f.st.IngestAlert(ctx, &domain.Alert{ID: "mixed", Title: "mixed", Status: domain.AlertNew, Severity: domain.SeverityHigh,
		Category: "Execution", CreatedDateTime: now, LastUpdateDateTime: now,
		Evidence: []domain.Evidence{ev("ws7", "Workstations"), ev("srv7", "Servers")}}, correlate.Rules{})
	if err != nil {
		t.Fatal(err)
	}
	for _, dev := range []string{"ws7", "srv7"} {
		a := domain.Action{ID: "iso-" + dev, IncidentID: r.IncidentID, Type: "device.isolate", TargetKey: domain.EntityKey("device:" + dev),
			TargetName: dev, Status: domain.ActionPending, Playbook: "p", PlaybookVersion: 1, Step: "s", Params: []byte(`{}`),
			Source: domain.SourceAutomated, RequestedBy: "playbook", Reason: "isolate device:" + dev, IdempotencyKey: "k-" + dev, CreatedAt: now}
		if _, err := f.st.RecordAction(ctx, &a, nil); err != nil {
			t.Fatal(err)
		}
	}
	for who, want := range map[string][]string{"sam": {"iso-srv7"}, "rita": {"iso-srv7", "iso-ws7"}} {
		var d api.IncidentDetail
		if resp := f.call(who, "GET", "/api/v1/incidents/"+itoa(r.IncidentID), "", &d); resp.StatusCode != 200 {
			t.Fatalf("%s: HTTP %d", who, resp.StatusCode)
		}
		var acts, logged []string
		for _, a := range d.Actions {
			acts = append(acts, a.ID)
		}
		for _, e := range d.Activity {
			if id, ok := strings.CutPrefix(e.Object, "action:"); ok && !slices.Contains(logged, id) {
				logged = append(logged, id)
			}
		}
		slices.Sort(acts)
		slices.Sort(logged)
		if !slices.Equal(acts, want) || !slices.Equal(logged, want) {
			t.Errorf("%s sees actions %v and activity about %v; want %v in both", who, acts, logged, want)
		}
	}
}

func TestBulkAndUndoRefusals(t *testing.T) {
	t.Parallel()
	f := newFixture(t, auth.Rate{PerSecond: -1})
	for _, tt := range []struct {
		who, body string
		status    int
		field     string
	}{
		{"al", `{"ids":["iso-ws1"],"decision":"approve"}`, 403, ""},
		{"rita", `{"ids":["iso-ws1","scan-srv1"],"decision":"approve"}`, 400, "ids"},
		{"rita", `{"ids":["iso-ws1","iso-ws1"],"decision":"reject"}`, 400, "ids[1]"},
		{"rita", `{"ids":["iso-ws1","nope"],"decision":"reject"}`, 404, "ids[1]"},
		{"rita", `{"ids":[],"decision":"reject"}`, 400, "ids"},
		{"rita", `{"ids":["iso-ws1"],"decision":"maybe"}`, 400, "decision"},
		{"rita", `{"ids":["iso-ws1"],"decision":"approve","comment":"` + strings.Repeat("x", 2001) + `"}`, 400, "comment"},
		{"sam", `{"ids":["iso-srv1","iso-ws1"],"decision":"approve"}`, 404, "ids[1]"},
	} {
		var e errResp
		if resp := f.call(tt.who, "POST", "/api/v1/actions/decide", tt.body, &e); resp.StatusCode != tt.status || e.Error.Field != tt.field {
			t.Errorf("%s bulk %.60s: HTTP %d %+v, want %d naming %q", tt.who, tt.body, resp.StatusCode, e, tt.status, tt.field)
		}
	}
	for _, tt := range []struct {
		who, id string
		status  int
	}{
		{"vic", "done-srv1", 403},
		{"al", "done-srv1", 403},
		{"rita", "iso-ws1", 409},   // pending: nothing to undo
		{"rita", "scan-done", 409}, // a scan has no undo
		{"rita", "nope", 404},
	} {
		var e errResp
		if resp := f.call(tt.who, "POST", "/api/v1/actions/"+tt.id+"/undo", "", &e); resp.StatusCode != tt.status || e.Error.Message == "" {
			t.Errorf("%s undo %s: HTTP %d %+v, want %d with a reason", tt.who, tt.id, resp.StatusCode, e, tt.status)
		}
	}
	var undone domain.Action
	if resp := f.call("sam", "POST", "/api/v1/actions/done-srv1/undo", `{"comment":"false positive"}`, &undone); resp.StatusCode != 200 || undone.UndoOf != "done-srv1" {
		t.Fatalf("undo: HTTP %d %+v", resp.StatusCode, undone)
	}
	want := workflows.UndoRequest{ActionID: "done-srv1", Comment: "false positive", By: "sam", Role: auth.Responder}
	if len(f.engine.undos) != 1 || f.engine.undos[0] != want {
		t.Errorf("undo requests: %+v, want [%+v]", f.engine.undos, want)
	}
}
