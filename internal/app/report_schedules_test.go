package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/sirupsen/logrus"

	"github.com/airsoc/air/internal/api"
	"github.com/airsoc/air/internal/cli"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/engine"
	"github.com/airsoc/air/internal/nativestack"
	"github.com/airsoc/air/internal/notify"
	"github.com/airsoc/air/internal/printpdf"
	"github.com/airsoc/air/internal/records"
	"github.com/airsoc/air/internal/store"
	"github.com/airsoc/air/workflows"
)

// chatHook is an incoming chat webhook that records what it is sent,
// answering as Slack does ("ok").
type chatHook struct {
	mu    sync.Mutex
	texts []string
}

func (h *chatHook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	h.texts = append(h.texts, string(b))
	h.mu.Unlock()
	io.WriteString(w, "ok")
}

func (h *chatHook) received() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.texts...)
}

// TestReportScheduleRunsKeepsAndDelivers runs the service as `worker -dev`
// does, with a chat channel that is an httptest webhook: a report schedule
// made through the API is a Temporal Schedule (with its spec, time zone,
// catch-up window and overlap policy); running it keeps the daily report
// of the day before and sends the channel a summary linking to it; the
// kept report reads as JSON, HTML and PDF; a Temporal schedule lost is
// re-created from AIR's copy; deleting removes both.
func TestReportScheduleRunsKeepsAndDelivers(t *testing.T) {
	ctx := context.Background()
	hook := &chatHook{}
	hs := httptest.NewServer(hook)
	defer hs.Close()
	ncfg, err := notify.Parse("notify.yaml", []byte("channels:\n  soc-chat: {type: slack, urlEnv: HOOK}\n"),
		notify.Env{Getenv: func(string) string { return hs.URL + "/hook" }})
	if err != nil {
		t.Fatal(err)
	}
	port := nativestack.FreePort(t)
	c, dir := devService(t, Config{TemporalPort: port, Notify: ncfg})
	tc, err := client.Dial(client.Options{HostPort: fmt.Sprintf("127.0.0.1:%d", port), Logger: tlogNoop{}})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()

	type apiError struct{ Error api.ErrorDetail }
	for _, bad := range []struct{ body, field string }{
		{`{"cron":"0 6 * * *"}`, "kind"},
		{`{"kind":"weekly","cron":"0 6 * * *"}`, "kind"},
		{`{"kind":"daily"}`, "cron"},
		{`{"kind":"daily","cron":"0 6 * *"}`, "cron"},
		{`{"kind":"daily","cron":"61 6 * * *"}`, "cron"}, // refused by Temporal
		{`{"kind":"daily","calendar":{"hour":"6 7"}}`, "calendar.hour"},
		{`{"kind":"daily","cron":"0 6 * * *","timeZone":"Mars/Olympus"}`, "timeZone"},
		{`{"kind":"daily","cron":"0 6 * * *","channels":["nobody"]}`, "channels[0]"},
		{`{"kind":"daily","cron":"0 6 * * *","catchupWindow":"1s"}`, "catchupWindow"},
		{`{"kind":"daily","cron":"0 6 * * *","when":"dawn"}`, "when"},
	} {
		var e apiError
		if code := c.do(t, "POST", "/api/v1/reports/schedules", []byte(bad.body), &e); code != http.StatusBadRequest || e.Error.Field != bad.field {
			t.Errorf("POST %s: HTTP %d %+v, want 400 naming %s", bad.body, code, e, bad.field)
		}
	}

	var made api.ReportScheduleView
	if code := c.do(t, "POST", "/api/v1/reports/schedules",
		[]byte(`{"kind":"daily","calendar":{"hour":"6","minute":"30"},"timeZone":"Europe/Berlin","channels":["soc-chat"]}`), &made); code != http.StatusCreated {
		t.Fatalf("create schedule: HTTP %d %+v", code, made)
	}
	if made.Cron != "30 6 * * *" || made.TimeZone != "Europe/Berlin" || made.CatchupSeconds != 86400 || made.CreatedBy != "admin" {
		t.Errorf("created %+v", made.ReportSchedule)
	}
	if made.Temporal == nil || made.Temporal.Missing || len(made.Temporal.NextRuns) == 0 {
		t.Fatalf("Temporal's side: %+v, want a schedule with next runs", made.Temporal)
	}
	if next := made.Temporal.NextRuns[0].In(mustZone(t, "Europe/Berlin")); next.Hour() != 6 || next.Minute() != 30 {
		t.Errorf("next run %v, want 06:30 Berlin time", next)
	}
	h := tc.ScheduleClient().GetHandle(ctx, workflows.ReportScheduleID(made.ID))
	desc, err := h.Describe(ctx)
	if err != nil {
		t.Fatalf("Temporal has no schedule for %s: %v", made.ID, err)
	}
	if p := desc.Schedule.Policy; p.Overlap != enumspb.SCHEDULE_OVERLAP_POLICY_SKIP || p.CatchupWindow != 24*time.Hour {
		t.Errorf("policy %+v, want overlap skip and a 24h catch-up window", p)
	}
	if desc.Schedule.Spec.TimeZoneName != "Europe/Berlin" {
		t.Errorf("time zone %q", desc.Schedule.Spec.TimeZoneName)
	}
	if a, ok := desc.Schedule.Action.(*client.ScheduleWorkflowAction); !ok || a.Workflow != "ReportWorkflow" {
		t.Errorf("action %+v, want ReportWorkflow", desc.Schedule.Action)
	}

	var list struct{ Value []api.ReportScheduleView }
	c.do(t, "GET", "/api/v1/reports/schedules", nil, &list)
	if len(list.Value) != 1 || list.Value[0].ID != made.ID || strings.Join(list.Value[0].Channels, ",") != "soc-chat" {
		t.Errorf("list: %+v", list.Value)
	}

	// Change it: only what is given changes, in Temporal too, audited.
	for _, bad := range []struct{ body, field string }{
		{`{}`, ""},
		{`{"kind":"monthly"}`, "kind"},
		{`{"cron":"61 6 * * *"}`, "cron"},
		{`{"cron":"0 6 * * *","calendar":{"hour":"6"}}`, "cron"},
		{`{"timeZone":"Mars/Olympus"}`, "timeZone"},
		{`{"channels":["nobody"]}`, "channels[0]"},
	} {
		var e apiError
		if code := c.do(t, "PATCH", "/api/v1/reports/schedules/"+made.ID, []byte(bad.body), &e); code != http.StatusBadRequest || e.Error.Field != bad.field {
			t.Errorf("PATCH %s: HTTP %d %+v, want 400 naming %q", bad.body, code, e, bad.field)
		}
	}
	var changed api.ReportScheduleView
	if code := c.do(t, "PATCH", "/api/v1/reports/schedules/"+made.ID,
		[]byte(`{"cron":"15 5 * * 1-5","timeZone":"America/New_York","catchupWindow":"2d"}`), &changed); code != http.StatusOK {
		t.Fatalf("change schedule: HTTP %d %+v", code, changed)
	}
	if changed.Cron != "15 5 * * 1-5" || changed.Calendar != nil || changed.TimeZone != "America/New_York" || changed.CatchupSeconds != 2*86400 ||
		strings.Join(changed.Channels, ",") != "soc-chat" || changed.CreatedBy != "admin" || !changed.CreatedAt.Equal(made.CreatedAt) {
		t.Errorf("changed %+v", changed.ReportSchedule)
	}
	if changed.Temporal == nil || len(changed.Temporal.NextRuns) == 0 {
		t.Fatalf("Temporal's side after the change: %+v", changed.Temporal)
	}
	if next := changed.Temporal.NextRuns[0].In(mustZone(t, "America/New_York")); next.Hour() != 5 || next.Minute() != 15 ||
		next.Weekday() == time.Saturday || next.Weekday() == time.Sunday {
		t.Errorf("next run after the change %v, want 05:15 New York time on a weekday", next)
	}
	if desc, err := h.Describe(ctx); err != nil || desc.Schedule.Spec.TimeZoneName != "America/New_York" || desc.Schedule.Policy.CatchupWindow != 48*time.Hour ||
		desc.Schedule.Policy.Overlap != enumspb.SCHEDULE_OVERLAP_POLICY_SKIP {
		t.Errorf("Temporal's schedule after the change: %v %+v", err, desc)
	}
	var updated struct {
		Value []struct{ Verb, Object, Before, After string }
	}
	c.do(t, "GET", "/api/v1/audit?verb=report.schedule.updated", nil, &updated)
	if len(updated.Value) != 1 || updated.Value[0].Object != "report-schedule:"+made.ID || !strings.Contains(updated.Value[0].Before, "Europe/Berlin") ||
		!strings.Contains(updated.Value[0].After, "America/New_York") {
		t.Errorf("audit of the change: %+v", updated.Value)
	}
	var back api.ReportScheduleView
	if code := c.do(t, "PATCH", "/api/v1/reports/schedules/"+made.ID,
		[]byte(`{"calendar":{"hour":"6","minute":"30"},"timeZone":"Europe/Berlin","catchupWindow":""}`), &back); code != http.StatusOK ||
		back.Cron != "30 6 * * *" || back.Calendar == nil || back.CatchupSeconds != 86400 {
		t.Errorf("change back: HTTP %d %+v", code, back.ReportSchedule)
	}
	if code := c.do(t, "PATCH", "/api/v1/reports/schedules/no-such", []byte(`{"timeZone":"UTC"}`), nil); code != http.StatusNotFound {
		t.Errorf("PATCH an unknown schedule: HTTP %d, want 404", code)
	}

	// Run it now: the daily report of yesterday (UTC) is kept and sent.
	started := time.Now().UTC()
	if code := c.do(t, "POST", "/api/v1/reports/schedules/"+made.ID+"/run", nil, nil); code != http.StatusAccepted {
		t.Fatalf("run schedule: HTTP %d", code)
	}
	runs := waitFor(t, "a kept report", func() (records.ReportRunPage, bool) {
		var page records.ReportRunPage
		c.do(t, "GET", "/api/v1/reports/runs?schedule="+made.ID, nil, &page)
		return page, page.Total == 1
	})
	run := runs.Value[0]
	if want := started.AddDate(0, 0, -1).Format(time.DateOnly); run.Kind != domain.ReportDaily || run.Period != want || run.ScheduleID != made.ID ||
		run.GeneratedBy != "schedule:"+made.ID {
		t.Errorf("kept %+v, want the daily report of %s by the schedule", run, want)
	}
	path := fmt.Sprintf("/api/v1/reports/runs/%d", run.ID)
	kept := waitFor(t, "the report sent to soc-chat", func() (domain.ReportRun, bool) {
		var r domain.ReportRun
		c.do(t, "GET", path, nil, &r)
		return r, len(r.Deliveries) == 1 && r.Deliveries[0].Status == domain.NotificationSent
	})
	if kept.Deliveries[0].Channel != "soc-chat" || len(kept.Data) == 0 {
		t.Errorf("kept run %+v", kept)
	}
	var figures struct{ Period struct{ Name string } }
	if err := json.Unmarshal(kept.Data, &figures); err != nil || figures.Period.Name != run.Period {
		t.Errorf("kept figures: %v %s", err, kept.Data)
	}
	got := hook.received()
	if len(got) != 1 || !strings.Contains(got[0], "daily report "+run.Period) || !strings.Contains(got[0], fmt.Sprintf("/reports/runs/%d", run.ID)) ||
		!strings.Contains(got[0], "Open incidents") {
		t.Errorf("chat got %q, want one message with the summary and the link", got)
	}

	if desc, err := h.Describe(ctx); err == nil && len(desc.Info.RecentActions) > 0 && desc.Info.RecentActions[0].StartWorkflowResult != nil {
		recordWorkflowHistory(t, fmt.Sprintf("127.0.0.1:%d", port), desc.Info.RecentActions[0].StartWorkflowResult.WorkflowID, "report/daily-run-now-sent")
	} else if os.Getenv("AIR_RECORD_HISTORIES") != "" {
		t.Errorf("no recent run to record: %v", err)
	}

	// The command line: schedules, kept reports, one of them, its page.
	var out bytes.Buffer
	env := cli.Env{BaseURL: c.base, Token: c.token, Stdout: &out, Stderr: &out}
	htmlFile := filepath.Join(t.TempDir(), "report.html")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"reports", "schedule", "list"}, made.ID},
		{[]string{"reports", "schedule", "add", "monthly", "-hour", "7", "-day", "1", "-channel", "soc-chat"}, `the monthly report at "0 7 1 * *" (UTC), sent to soc-chat`},
		{[]string{"reports", "schedule", "add", "weekly", "-cron", "0 7 * * 1"}, "kind: unknown report"},
		{[]string{"reports", "schedule", "edit", made.ID, "-hour", "7", "-tz", "UTC"}, `changed ` + made.ID + `: the daily report at "0 7 * * *" (UTC), sent to soc-chat`},
		{[]string{"reports", "schedule", "edit", made.ID, "-tz", "Mars/Olympus"}, "timeZone"},
		{[]string{"reports", "runs", "-kind", "daily"}, run.Period},
		{[]string{"reports", "run", itoa(run.ID)}, "sent to soc-chat: sent"},
		{[]string{"reports", "run", itoa(run.ID), "-html", htmlFile}, "saved " + htmlFile},
	} {
		out.Reset()
		cli.Run(ctx, env, tc.args)
		if !strings.Contains(out.String(), tc.want) {
			t.Errorf("starter %s: %s, want %q", strings.Join(tc.args, " "), out.String(), tc.want)
		}
	}
	if b, err := os.ReadFile(htmlFile); err != nil || !strings.Contains(string(b), "Daily report · "+run.Period) {
		t.Errorf("saved page: %v %.200s", err, b)
	}

	// The kept page, on its own, and its PDF.
	resp := c.get(t, path+"?format=html")
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "Daily report · "+run.Period) || strings.Contains(string(body), "<script") ||
		!strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Errorf("html: HTTP %d %s %.300s", resp.StatusCode, resp.Header, body)
	}
	resp = c.get(t, path+".pdf")
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	switch {
	case printpdf.Find("") != "":
		if resp.StatusCode != 200 || !bytes.HasPrefix(body, []byte("%PDF")) || resp.Header.Get("Content-Type") != "application/pdf" {
			t.Errorf("pdf: HTTP %d %q…", resp.StatusCode, body[:min(len(body), 200)])
		}
	case os.Getenv("CI") == "true":
		t.Error("no Chromium on PATH under CI: install it (apt-get install -y chromium) or set AIR_CHROMIUM")
	default:
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "Chromium") {
			t.Errorf("pdf without a browser: HTTP %d %s, want 503 naming Chromium", resp.StatusCode, body)
		}
	}

	// Temporal loses the schedule; start-up re-creates it from AIR's copy.
	if err := h.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, filepath.Join(dir, "air.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	quiet := logrus.New()
	quiet.SetOutput(io.Discard)
	ensureReportSchedules(ctx, st, &engine.Engine{Client: tc}, quiet)
	if _, err := h.Describe(ctx); err != nil {
		t.Errorf("schedule not re-created: %v", err)
	}

	// Deleting removes both, audited.
	if code := c.do(t, "DELETE", "/api/v1/reports/schedules/"+made.ID, nil, nil); code != http.StatusOK {
		t.Fatalf("delete: HTTP %d", code)
	}
	var nf *serviceerror.NotFound
	if _, err := h.Describe(ctx); !errors.As(err, &nf) {
		t.Errorf("after delete, Temporal describes it: %v", err)
	}
	var e apiError
	if code := c.do(t, "DELETE", "/api/v1/reports/schedules/"+made.ID, nil, &e); code != http.StatusNotFound {
		t.Errorf("delete again: HTTP %d %+v, want 404", code, e)
	}
	var audit struct{ Value []records.AuditEntry }
	c.do(t, "GET", "/api/v1/audit?verb=report.schedule.&limit=10", nil, &audit)
	verbs := []string{}
	for _, a := range audit.Value {
		if a.Object == "report-schedule:"+made.ID {
			verbs = append(verbs, a.Verb)
		}
	}
	// Newest first: the three changes (API, back, command line) between.
	if want := "report.schedule.deleted,report.schedule.updated,report.schedule.updated,report.schedule.updated,report.schedule.created"; strings.Join(verbs, ",") != want {
		t.Errorf("audit of the schedule: %v", verbs)
	}
	// The kept report stays.
	if code := c.do(t, "GET", path, nil, nil); code != http.StatusOK {
		t.Errorf("kept report after its schedule was deleted: HTTP %d", code)
	}

	// Kept on demand, with no channel: listed beside the scheduled one.
	var demand domain.ReportRun
	if code := c.do(t, "POST", "/api/v1/reports/runs", []byte(`{"kind":"quarterly","period":"2026-Q1"}`), &demand); code != http.StatusCreated ||
		demand.Period != "2026-Q1" || demand.GeneratedBy != "admin" || demand.ScheduleID != "" {
		t.Errorf("keep on demand: HTTP %d %+v", code, demand)
	}
	if code := c.do(t, "POST", "/api/v1/reports/runs", []byte(`{"kind":"monthly","period":"2026-13"}`), &e); code != http.StatusBadRequest || e.Error.Field != "period" {
		t.Errorf("bad period: HTTP %d %+v, want 400 naming period", code, e)
	}
	var all records.ReportRunPage
	c.do(t, "GET", "/api/v1/reports/runs", nil, &all)
	if all.Total != 2 || all.Value[0].ID != demand.ID {
		t.Errorf("runs: %+v, want the on-demand one first of two", all)
	}
	for _, bad := range []struct{ path, field string }{{"/api/v1/reports/runs?kind=weekly", "kind"}, {"/api/v1/reports/runs?sort=x", "sort"},
		{"/api/v1/reports/runs/abc", "id"}, {path + "?format=doc", "format"}} {
		if code := c.do(t, "GET", bad.path, nil, &e); code != http.StatusBadRequest || e.Error.Field != bad.field {
			t.Errorf("GET %s: HTTP %d %+v, want 400 naming %s", bad.path, code, e, bad.field)
		}
	}
}

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// get is a GET whose answer the caller reads as it is.
func (c apiClient) get(t *testing.T, path string) *http.Response {
	t.Helper()
	req, err := http.NewRequest("GET", c.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// tlogNoop discards the test client's Temporal logs.
type tlogNoop struct{}

func (tlogNoop) Debug(string, ...any) {}
func (tlogNoop) Info(string, ...any)  {}
func (tlogNoop) Warn(string, ...any)  {}
func (tlogNoop) Error(string, ...any) {}
