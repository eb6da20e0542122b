package reportrun_test

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/notify"
	"github.com/airsoc/air/internal/printpdf"
	"github.com/airsoc/air/internal/records"
	"github.com/airsoc/air/internal/report"
	"github.com/airsoc/air/internal/reportrun"
	"github.com/airsoc/air/internal/store"
	"github.com/airsoc/air/internal/store/storetest"
	"github.com/airsoc/air/internal/web"
	"github.com/airsoc/air/workflows"
)

// sender records what a channel is sent, or refuses it for good.
type sender struct {
	mu     sync.Mutex
	got    []notify.Outgoing
	refuse bool
}

func (s *sender) Send(_ context.Context, m notify.Outgoing) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refuse {
		return &notify.SendError{Permanent: true, Err: errors.New("mailbox does not exist")}
	}
	s.got = append(s.got, m)
	return nil
}

// newKeeper keeps reports in st and delivers them through a notification
// service whose channels "chat" and "mail" are the senders given.
func newKeeper(t *testing.T, st *store.Store, chat, mail notify.Sender) *reportrun.Keeper {
	t.Helper()
	cfg, err := notify.Parse("notify.yaml", []byte("channels:\n  chat: {type: slack, urlEnv: X}\n  mail: {type: slack, urlEnv: X}\n"),
		notify.Env{Getenv: func(string) string { return "https://hooks.example/x" }})
	if err != nil {
		t.Fatal(err)
	}
	log := logrus.New()
	log.SetOutput(io.Discard)
	svc := &notify.Service{Store: st, Config: cfg, Log: log, Senders: map[string]notify.Sender{"chat": chat, "mail": mail}}
	docs, err := web.NewReportDocuments("https://air.example")
	if err != nil {
		t.Fatal(err)
	}
	return &reportrun.Keeper{Store: st, Render: docs, Notify: svc, BaseURL: "https://air.example"}
}

// mailbox is a sender that takes files, as mail does.
type mailbox struct{ sender }

func (*mailbox) CarriesFiles() {}

// TestReportMailCarriesThePageAndItsPDF: a kept report's message goes to a
// channel that takes files with the kept page and its PDF printed by a real
// Chromium, to a chat channel with its text alone; messages that are not a
// report's carry nothing.
func TestReportMailCarriesThePageAndItsPDF(t *testing.T) {
	st := storetest.SQLite(t)
	ctx := context.Background()
	chat, mail := &sender{}, &mailbox{}
	k := newKeeper(t, st, chat, mail)
	k.PDF = &printpdf.Printer{Browser: browser(t)}
	svc := k.Notify.(*notify.Service)
	svc.Attach = k.Attachments
	period, err := report.ParseMonth("2026-11", time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	run, _, err := k.Keep(ctx, reportrun.Request{Kind: domain.ReportMonthly, Period: period, Channels: []string{"chat", "mail"}, By: "ana"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Deliver(ctx, run.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Dispatch(ctx); err != nil {
		t.Fatal(err)
	}
	if len(chat.got) != 1 || len(chat.got[0].Attachments) != 0 {
		t.Errorf("chat got %+v, want the text alone", chat.got)
	}
	if len(mail.got) != 1 {
		t.Fatalf("mail got %d messages", len(mail.got))
	}
	files := mail.got[0].Attachments
	if len(files) != 2 || files[0].Name != "air-monthly-report-2026-11.html" || string(files[0].Data) != run.HTML ||
		files[1].Name != "air-monthly-report-2026-11.pdf" || files[1].ContentType != "application/pdf" || !strings.HasPrefix(string(files[1].Data), "%PDF-") {
		names := []string{}
		for _, f := range files {
			names = append(names, f.Name+" "+f.ContentType)
		}
		t.Errorf("mail's files %v, want the kept page and its PDF", names)
	}
	if files, err := k.Attachments(ctx, "incident.created:7"); err != nil || files != nil {
		t.Errorf("another message's files: %v %v, want none", files, err)
	}
}

// browser finds Chromium as the other browser tests do: missing under CI
// fails, elsewhere skips.
func browser(t *testing.T) string {
	t.Helper()
	if p := printpdf.Find(""); p != "" {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no Chromium on PATH under CI: install it (apt-get install -y chromium) or set AIR_CHROMIUM")
	}
	t.Skip("no Chromium on PATH: the mailed PDF is not tested")
	return ""
}

// TestScheduledRunKeepsOnceAndDeliversPerChannel runs the report
// activities over a real store, the pages' renderer and the notification
// service: a run retried keeps one report, for the day before the
// scheduled time; its message is queued once per channel however often
// delivery is retried; one channel refusing it is recorded on the run as
// failed while the other's is sent; a schedule AIR no longer keeps keeps
// nothing.
func TestScheduledRunKeepsOnceAndDeliversPerChannel(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		chat, mail := &sender{}, &sender{refuse: true}
		k := newKeeper(t, st, chat, mail)
		svc := k.Notify.(*notify.Service)
		acts := &reportrun.Activities{Keeper: k}
		if err := st.CreateReportSchedule(ctx, domain.ReportSchedule{ID: "daily-1", Kind: domain.ReportDaily, Cron: "0 6 * * *", TimeZone: "UTC",
			Channels: []string{"chat", "mail"}, CatchupSeconds: 86400, CreatedBy: "root"}); err != nil {
			t.Fatal(err)
		}
		at := time.Date(2026, 12, 5, 6, 0, 0, 0, time.UTC)
		var kept workflows.KeptReport
		for i := range 2 { // an activity retried after it kept the report
			k, err := acts.KeepScheduledReport(ctx, workflows.KeepReportInput{ScheduleID: "daily-1", At: at})
			if err != nil {
				t.Fatal(err)
			}
			if k.Created != (i == 0) {
				t.Errorf("attempt %d: created %v", i, k.Created)
			}
			kept = k
		}
		if kept.Period != "2026-12-04" || kept.Kind != domain.ReportDaily || strings.Join(kept.Channels, ",") != "chat,mail" {
			t.Errorf("kept %+v, want the daily report of 2026-12-04 for chat and mail", kept)
		}
		if page, err := st.ReportRuns(ctx, records.ReportRunQuery{}); err != nil || page.Total != 1 {
			t.Fatalf("runs: %+v %v, want one", page, err)
		}
		for i := range 2 {
			n, err := acts.DeliverReport(ctx, kept.RunID)
			if err != nil {
				t.Fatal(err)
			}
			if want := map[int]int{0: 2, 1: 0}[i]; n != want {
				t.Errorf("delivery %d queued %d, want %d", i, n, want)
			}
		}
		if _, err := svc.Dispatch(ctx); err != nil {
			t.Fatal(err)
		}
		run, err := st.ReportRun(ctx, kept.RunID)
		if err != nil {
			t.Fatal(err)
		}
		status := map[string]domain.NotificationStatus{}
		for _, d := range run.Deliveries {
			status[d.Channel] = d.Status
		}
		if status["chat"] != domain.NotificationSent || status["mail"] != domain.NotificationFailed {
			t.Errorf("deliveries %+v, want chat sent and mail failed", run.Deliveries)
		}
		if len(chat.got) != 1 || !strings.Contains(chat.got[0].Text, "https://air.example/reports/runs/") ||
			!strings.Contains(chat.got[0].Subject, "daily report 2026-12-04") || !strings.Contains(chat.got[0].Text, "SLA breaches: 0") {
			t.Errorf("chat got %+v", chat.got)
		}
		if !strings.Contains(run.HTML, "Daily report · 2026-12-04") || !strings.Contains(run.HTML, `<base href="https://air.example/">`) {
			t.Errorf("kept page: %.300s", run.HTML)
		}

		if _, err := acts.KeepScheduledReport(ctx, workflows.KeepReportInput{ScheduleID: "gone", At: at}); err == nil ||
			!strings.Contains(err.Error(), "no longer kept") {
			t.Errorf("unknown schedule: %v, want it said", err)
		}
	})
}
