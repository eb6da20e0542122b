// Package reportrun keeps and delivers the SOC's reports: it makes a
// report (internal/report) for a period, renders it as a whole HTML
// document, keeps the document and its figures in the store, and queues a
// short message with a link to it on notification channels.
//
// A scheduled run is a Temporal Schedule (engine) starting
// workflows.ReportWorkflow, whose activities (activities.Reports) call the
// Keeper; a report kept on demand (POST /api/v1/reports/runs) calls it from
// the API. Both end in the same rows.
//
// Delivery goes through the notification outbox (internal/notify), one
// message per run and channel under domain.ReportDeliveryKey: the outbox
// retries a failing channel on its own and records each channel's outcome,
// which a run reads back as its deliveries. A channel that fails never
// fails the run: the report is kept first, and queuing is one insert.
package reportrun

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/notify"
	"github.com/airsoc/air/internal/report"
	"github.com/airsoc/air/internal/store"
)

// Renderer renders a report as a whole HTML document;
// *web.ReportDocuments is one.
type Renderer interface {
	RenderReport(rep any, run string) ([]byte, error)
}

// Enqueuer queues messages on notification channels; *notify.Service is
// one.
type Enqueuer interface {
	Enqueue(ctx context.Context, m notify.Message) (int, error)
}

// Keeper makes, keeps and delivers reports. Store and Render are
// required; Notify nil means no channels (a run asking for some fails
// delivery, saying so).
type Keeper struct {
	Store  *store.Store
	Render Renderer
	Notify Enqueuer
	// BaseURL is AIR's address as people reach it, for the link in a
	// message; "" writes the path only.
	BaseURL string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// PDF prints a kept page for mail attachments; nil, or one without a
	// browser, attaches the page alone.
	PDF Printer
}

// Printer prints an HTML page to PDF; *printpdf.Printer is one.
type Printer interface {
	Available() bool
	Print(ctx context.Context, html []byte) ([]byte, error)
}

func (k *Keeper) now() time.Time {
	if k.Now != nil {
		return k.Now()
	}
	return time.Now()
}

// Request is one report to keep.
type Request struct {
	Kind   domain.ReportKind
	Period report.Period
	// Key makes keeping idempotent: the same key kept again returns the
	// first run. ScheduledKey makes it for a schedule; "" means a fresh
	// one (on demand: every request keeps a report).
	Key        string
	ScheduleID string
	Channels   []string
	By         string
}

// ScheduledKey is the key of a schedule's run for a period: a retried or
// re-delivered activity keeps the report once.
func ScheduledKey(scheduleID string, p report.Period) string {
	return "schedule:" + scheduleID + ":" + p.Name
}

// Keep makes the report, renders it and keeps both; created is false
// when the key was kept before (the earlier run is returned).
func (k *Keeper) Keep(ctx context.Context, r Request) (run *domain.ReportRun, created bool, err error) {
	if r.Key == "" {
		b := make([]byte, 8)
		if _, err := rand.Read(b); err != nil {
			return nil, false, err
		}
		r.Key = "demand:" + hex.EncodeToString(b)
	} else if prior, err := k.Store.ReportRunByKey(ctx, r.Key); err != nil {
		return nil, false, err
	} else if prior != nil {
		return prior, false, nil
	}
	now := k.now()
	rep, err := report.Make(ctx, k.Store, k.Store, r.Kind, r.Period, now)
	if err != nil {
		return nil, false, fmt.Errorf("make %s report %s: %w", r.Kind, r.Period.Name, err)
	}
	data, err := json.Marshal(rep)
	if err != nil {
		return nil, false, err
	}
	html, err := k.Render.RenderReport(rep, "")
	if err != nil {
		return nil, false, err
	}
	run = &domain.ReportRun{Kind: r.Kind, Period: r.Period.Name, Since: r.Period.Since, Until: r.Period.Until,
		ScheduleID: r.ScheduleID, Channels: r.Channels, GeneratedAt: now, GeneratedBy: r.By, HTML: string(html), Data: data}
	id, created, err := k.Store.AddReportRun(ctx, r.Key, *run)
	if err != nil {
		return nil, false, err
	}
	if !created {
		run, err = k.Store.ReportRun(ctx, id)
		return run, false, err
	}
	run.ID = id
	return run, true, nil
}

// Link is where people read a kept report.
func (k *Keeper) Link(id int64) string {
	return strings.TrimRight(k.BaseURL, "/") + "/reports/runs/" + strconv.FormatInt(id, 10)
}

// Deliver queues a kept run's message on its channels and returns how
// many it queued (none when queued before). The message is the report's
// headline figures and the link to it.
func (k *Keeper) Deliver(ctx context.Context, id int64) (int, error) {
	run, err := k.Store.ReportRun(ctx, id)
	if err != nil {
		return 0, err
	}
	if len(run.Channels) == 0 {
		return 0, nil
	}
	if k.Notify == nil {
		return 0, domain.Invalid("channels", "no notification channels are configured, so report %d cannot be sent to %s",
			id, strings.Join(run.Channels, ", "))
	}
	rep, err := decode(run.Kind, run.Data)
	if err != nil {
		return 0, err
	}
	per := report.Period{Name: run.Period}
	text := report.Summary(rep) + "\nThe whole report: " + k.Link(id) + "\n"
	return k.Notify.Enqueue(ctx, notify.Message{Key: domain.ReportDeliveryKey(id), Channels: run.Channels,
		Subject: "AIR " + strings.ToLower(report.Title(run.Kind, per)[:1]) + report.Title(run.Kind, per)[1:], Text: text})
}

// Attachments are the files a report's message carries to channels that
// take files (notify.Service.Attach): the kept page, which reads offline
// (style inline, no script), and its PDF when a browser can print it. Other
// messages carry none. A PDF that fails to print is left out, the page
// returned with the reason as the error.
func (k *Keeper) Attachments(ctx context.Context, key string) ([]notify.Attachment, error) {
	id, ok := domain.ReportRunOfKey(key)
	if !ok {
		return nil, nil
	}
	run, err := k.Store.ReportRun(ctx, id)
	if err != nil {
		return nil, err
	}
	name := fmt.Sprintf("air-%s-report-%s", run.Kind, run.Period)
	files := []notify.Attachment{{Name: name + ".html", ContentType: "text/html; charset=utf-8", Data: []byte(run.HTML)}}
	if k.PDF != nil && k.PDF.Available() {
		pdf, err := k.PDF.Print(ctx, []byte(run.HTML))
		if err != nil {
			return files, fmt.Errorf("print report %d for mail: %w", id, err)
		}
		files = append(files, notify.Attachment{Name: name + ".pdf", ContentType: "application/pdf", Data: pdf})
	}
	return files, nil
}

// decode reads a kept report's figures back.
func decode(k domain.ReportKind, data json.RawMessage) (any, error) {
	var rep any
	switch k {
	case domain.ReportDaily:
		rep = &report.Daily{}
	case domain.ReportMonthly:
		rep = &report.Monthly{}
	case domain.ReportQuarterly:
		rep = &report.Quarterly{}
	default:
		return nil, fmt.Errorf("kept report of unknown kind %q", k)
	}
	if err := json.Unmarshal(data, rep); err != nil {
		return nil, fmt.Errorf("decode kept %s report: %w", k, err)
	}
	return rep, nil
}
