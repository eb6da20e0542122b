package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/records"
	"github.com/airsoc/air/internal/report"
)

// listFlag is a flag that may be given more than once, or once with
// commas (-channel soc-chat -channel soc-mail, -channel soc-chat,soc-mail).
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

// scheduleView is a schedule as the API answers it.
type scheduleView struct {
	domain.ReportSchedule
	Temporal *domain.ReportScheduleState `json:"temporal"`
}

// reportsSchedule manages report schedules: list, add, edit, delete, run.
func reportsSchedule(ctx context.Context, env Env, args []string) error {
	if len(args) == 0 {
		return usageError{"reports schedule: want list, add, edit, delete or run"}
	}
	switch args[0] {
	case "list":
		return scheduleList(ctx, env, args[1:])
	case "add":
		return scheduleAdd(ctx, env, args[1:])
	case "edit":
		return scheduleEdit(ctx, env, args[1:])
	case "delete", "run":
		fs := newFlags(env, "reports schedule "+args[0])
		pos, err := parse(fs, args[1:])
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			return usageError{fmt.Sprintf("reports schedule %s: want one schedule id", args[0])}
		}
		id := url.PathEscape(pos[0])
		if args[0] == "delete" {
			if _, err := call(ctx, env, http.MethodDelete, "/api/v1/reports/schedules/"+id, nil, &map[string]string{}); err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "deleted report schedule %s (the reports it kept stay)\n", pos[0])
			return nil
		}
		if _, err := call(ctx, env, http.MethodPost, "/api/v1/reports/schedules/"+id+"/run", nil, &map[string]string{}); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "started a run of %s: starter reports runs -schedule %s\n", pos[0], pos[0])
		return nil
	}
	return usageError{fmt.Sprintf("reports schedule: unknown %q; want list, add, edit, delete or run", args[0])}
}

func scheduleList(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "reports schedule list")
	asJSON := fs.Bool("json", false, "print the API's JSON")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	var out struct{ Value []scheduleView }
	if _, err := call(ctx, env, http.MethodGet, "/api/v1/reports/schedules", nil, &out); err != nil {
		return err
	}
	if *asJSON {
		printJSON(env.Stdout, out)
		return nil
	}
	if len(out.Value) == 0 {
		fmt.Fprintln(env.Stdout, "No report schedules; add one with: starter reports schedule add daily -cron '0 6 * * *'")
		return nil
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tREPORT\tCRON\tTIME ZONE\tCHANNELS\tNEXT RUN (UTC)\tBY")
	for _, s := range out.Value {
		next := "—"
		if s.Temporal != nil && s.Temporal.Missing {
			next = "missing in Temporal"
		} else if s.Temporal != nil && len(s.Temporal.NextRuns) > 0 {
			next = s.Temporal.NextRuns[0].UTC().Format("2006-01-02 15:04")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, s.Kind, s.Cron, s.TimeZone, orDash(strings.Join(s.Channels, ",")), next, s.CreatedBy)
	}
	return tw.Flush()
}

// scheduleFlags are the flags that say when a schedule runs and where its
// runs go, shared by add and edit.
type scheduleFlags struct {
	cron, tz, catchup string
	cal               domain.ReportCalendar
	chans             listFlag
}

func (f *scheduleFlags) define(fs *flag.FlagSet) {
	fs.StringVar(&f.cron, "cron", "", `when, as cron: "MIN HOUR DAY-OF-MONTH MONTH DAY-OF-WEEK" (e.g. "0 6 * * *"; replaces a calendar)`)
	fs.StringVar(&f.cal.Minute, "minute", "", "when, as a calendar (replaces cron): the minute (default 0)")
	fs.StringVar(&f.cal.Hour, "hour", "", "the hour (default 0)")
	fs.StringVar(&f.cal.DayOfMonth, "day", "", "the day of the month (default any)")
	fs.StringVar(&f.cal.Month, "month", "", "the month (default any)")
	fs.StringVar(&f.cal.DayOfWeek, "weekday", "", "the day of the week, 0-6 or MON-SUN (default any)")
	fs.StringVar(&f.tz, "tz", "", "the IANA time zone the time is in (a new schedule: UTC)")
	fs.StringVar(&f.catchup, "catchup", "", "how late a missed run may still start (a new schedule: 1d for daily, 7d otherwise)")
	fs.Var(&f.chans, "channel", "a notification channel to send each run to (repeat, or comma-separate)")
}

func scheduleAdd(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "reports schedule add")
	var f scheduleFlags
	f.define(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"reports schedule add: want the report: daily, monthly or quarterly"}
	}
	req := report.ScheduleRequest{Kind: domain.ReportKind(pos[0]), Cron: f.cron, TimeZone: f.tz, CatchupWindow: f.catchup, Channels: f.chans}
	if f.cal != (domain.ReportCalendar{}) {
		req.Calendar = &f.cal
	}
	b, _ := json.Marshal(req)
	var s scheduleView
	if _, err := call(ctx, env, http.MethodPost, "/api/v1/reports/schedules", b, &s); err != nil {
		return err
	}
	printSchedule(env, "scheduled", s)
	return nil
}

// scheduleEdit changes a schedule: only the flags given change.
func scheduleEdit(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "reports schedule edit")
	var f scheduleFlags
	f.define(fs)
	noChannels := fs.Bool("no-channels", false, "send runs nowhere (keep them only)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"reports schedule edit: want one schedule id, then what to change (-cron, -hour …, -tz, -channel, -no-channels, -catchup)"}
	}
	var ch report.ScheduleChange
	fs.Visit(func(given *flag.Flag) {
		switch given.Name {
		case "cron":
			ch.Cron = &f.cron
		case "minute", "hour", "day", "month", "weekday":
			ch.Calendar = &f.cal
		case "tz":
			ch.TimeZone = &f.tz
		case "catchup":
			ch.CatchupWindow = &f.catchup
		case "channel":
			ch.Channels = (*[]string)(&f.chans)
		case "no-channels":
			if *noChannels {
				ch.Channels = &[]string{}
			}
		}
	})
	if *noChannels && len(f.chans) > 0 {
		return usageError{"reports schedule edit: -channel and -no-channels contradict each other"}
	}
	b, _ := json.Marshal(ch)
	var s scheduleView
	if _, err := call(ctx, env, http.MethodPatch, "/api/v1/reports/schedules/"+url.PathEscape(pos[0]), b, &s); err != nil {
		return err
	}
	printSchedule(env, "changed", s)
	return nil
}

// printSchedule says what a schedule does and when it runs next.
func printSchedule(env Env, verb string, s scheduleView) {
	fmt.Fprintf(env.Stdout, "%s %s: the %s report at %q (%s)", verb, s.ID, s.Kind, s.Cron, s.TimeZone)
	if len(s.Channels) > 0 {
		fmt.Fprintf(env.Stdout, ", sent to %s", strings.Join(s.Channels, ", "))
	}
	fmt.Fprintln(env.Stdout)
	if s.Temporal != nil && len(s.Temporal.NextRuns) > 0 {
		fmt.Fprintf(env.Stdout, "next run: %s UTC\n", s.Temporal.NextRuns[0].UTC().Format("2006-01-02 15:04"))
	}
}

// reportsRuns lists the kept reports.
func reportsRuns(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "reports runs")
	kind := fs.String("kind", "", "daily, monthly or quarterly")
	sched := fs.String("schedule", "", "the schedule that made them")
	limit := fs.Int("limit", 0, "how many (default 100)")
	asJSON := fs.Bool("json", false, "print the API's JSON")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	q := url.Values{}
	if *kind != "" {
		q.Set("kind", *kind)
	}
	if *sched != "" {
		q.Set("schedule", *sched)
	}
	if *limit != 0 {
		q.Set("limit", strconv.Itoa(*limit))
	}
	path := "/api/v1/reports/runs"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var page records.ReportRunPage
	if _, err := call(ctx, env, http.MethodGet, path, nil, &page); err != nil {
		return err
	}
	if *asJSON {
		printJSON(env.Stdout, page)
		return nil
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tREPORT\tPERIOD\tMADE (UTC)\tBY\tSENT TO")
	for _, r := range page.Value {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Kind, r.Period, r.GeneratedAt.UTC().Format("2006-01-02 15:04"), r.GeneratedBy,
			orDash(strings.Join(r.Channels, ",")))
	}
	tw.Flush()
	fmt.Fprintf(env.Stdout, "%d of %d kept reports\n", len(page.Value), page.Total)
	return nil
}

// reportsRun shows one kept report, or saves its page or PDF.
func reportsRun(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "reports run")
	asJSON := fs.Bool("json", false, "print the API's JSON (figures under data)")
	htmlFile := fs.String("html", "", "save the report's page to this file")
	pdfFile := fs.String("pdf", "", "save the report's PDF to this file (the server prints it with Chromium)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"reports run: want one kept report's id (starter reports runs lists them)"}
	}
	id, err := strconv.ParseInt(pos[0], 10, 64)
	if err != nil || id <= 0 {
		return usageError{fmt.Sprintf("reports run: %q is not a kept report's id", pos[0])}
	}
	path := "/api/v1/reports/runs/" + strconv.FormatInt(id, 10)
	for _, f := range []struct{ file, format string }{{*htmlFile, "html"}, {*pdfFile, "pdf"}} {
		if f.file == "" {
			continue
		}
		var buf bytes.Buffer
		if err := callRaw(ctx, env, path+"?format="+f.format, &buf); err != nil {
			return err
		}
		if err := os.WriteFile(f.file, buf.Bytes(), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "saved %s (%d bytes)\n", f.file, buf.Len())
	}
	if *htmlFile != "" || *pdfFile != "" {
		return nil
	}
	var run domain.ReportRun
	if _, err := call(ctx, env, http.MethodGet, path, nil, &run); err != nil {
		return err
	}
	if *asJSON {
		printJSON(env.Stdout, run)
		return nil
	}
	printRun(env, &run)
	return nil
}

func printRun(env Env, run *domain.ReportRun) {
	w := env.Stdout
	fmt.Fprintf(w, "Kept report %d: %s %s, made %s UTC by %s\n", run.ID, run.Kind, run.Period, run.GeneratedAt.UTC().Format("2006-01-02 15:04"), run.GeneratedBy)
	for _, d := range run.Deliveries {
		line := fmt.Sprintf("  sent to %s: %s after %d attempt(s)", d.Channel, d.Status, d.Attempts)
		if d.LastError != "" {
			line += ": " + d.LastError
		}
		fmt.Fprintln(w, line)
	}
	var rep any
	switch run.Kind {
	case domain.ReportDaily:
		rep = &report.Daily{}
	case domain.ReportMonthly:
		rep = &report.Monthly{}
	default:
		rep = &report.Quarterly{}
	}
	if json.Unmarshal(run.Data, rep) == nil {
		fmt.Fprintln(w)
		printReport(w, rep)
	}
}

// reportsKeep makes a report now and keeps it (admin).
func reportsKeep(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "reports keep")
	period := fs.String("period", "", "the day, month or quarter (default the current one, to date)")
	var chans listFlag
	fs.Var(&chans, "channel", "a notification channel to send it to (repeat, or comma-separate)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"reports keep: want the report: daily, monthly or quarterly"}
	}
	b, _ := json.Marshal(map[string]any{"kind": pos[0], "period": *period, "channels": []string(chans)})
	var run domain.ReportRun
	if _, err := call(ctx, env, http.MethodPost, "/api/v1/reports/runs", b, &run); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "kept report %d: %s %s; starter reports run %d -pdf report.pdf saves its PDF\n", run.ID, run.Kind, run.Period, run.ID)
	return nil
}
