package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/airsoc/air/internal/report"
	"github.com/airsoc/air/internal/review"
)

// reports prints the daily, monthly or quarterly report as tables, or as
// the API's JSON with -json.
func reports(ctx context.Context, env Env, args []string) error {
	if len(args) == 0 {
		return usageError{"reports: name daily, monthly or quarterly"}
	}
	kind, param, example := args[0], "", ""
	switch kind {
	case "sla":
		return reportsSLA(ctx, env, args[1:])
	case "schedule", "schedules":
		return reportsSchedule(ctx, env, args[1:])
	case "runs":
		return reportsRuns(ctx, env, args[1:])
	case "run":
		return reportsRun(ctx, env, args[1:])
	case "keep":
		return reportsKeep(ctx, env, args[1:])
	case "daily":
		param, example = "date", "the day, YYYY-MM-DD in UTC (default today)"
	case "monthly":
		param, example = "month", "the month, YYYY-MM (default this month)"
	case "quarterly":
		param, example = "quarter", "the quarter, YYYY-Qn (default this quarter)"
	default:
		return usageError{fmt.Sprintf("reports: unknown report %q; want daily, monthly, quarterly, sla, schedule, runs, run or keep", kind)}
	}
	fs := newFlags(env, "reports "+kind)
	period := fs.String(param, "", example)
	asJSON := fs.Bool("json", false, "print the report as JSON")
	pos, err := parse(fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError{fmt.Sprintf("reports %s: unexpected argument %q; give the period as -%s", kind, pos[0], param)}
	}
	path := "/api/v1/reports/" + kind
	if *period != "" {
		path += "?" + url.Values{param: {*period}}.Encode()
	}
	var rep any
	switch kind {
	case "daily":
		rep = &report.Daily{}
	case "monthly":
		rep = &report.Monthly{}
	default:
		rep = &report.Quarterly{}
	}
	if _, err := call(ctx, env, http.MethodGet, path, nil, rep); err != nil {
		return err
	}
	if *asJSON {
		printJSON(env.Stdout, rep)
		return nil
	}
	printReport(env.Stdout, rep)
	return nil
}

// printReport prints a report as tables.
func printReport(w io.Writer, rep any) {
	switch r := rep.(type) {
	case *report.Daily:
		printDaily(w, r)
	case *report.Monthly:
		printMonthly(w, r)
	case *report.Quarterly:
		printQuarterly(w, r)
	}
}

func printHeader(w io.Writer, title string, p report.Period, scoped bool) {
	fmt.Fprintf(w, "%s %s: %s to %s UTC", title, p.Name, fmtTime(&p.Since), fmtTime(&p.Until))
	if p.ToDate {
		fmt.Fprint(w, " (to date)")
	}
	if scoped {
		fmt.Fprint(w, ", your device groups only")
	}
	fmt.Fprintln(w)
}

func printCounts(w io.Writer, title string, cs []report.Count) {
	fmt.Fprintf(w, "\n%s\n", title)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, c := range cs {
		fmt.Fprintf(tw, "  %s\t%d\t%s\n", c.Label, c.Count, strings.Repeat("#", min(c.Count, 40)))
	}
	tw.Flush()
}

func printDaily(w io.Writer, d *report.Daily) {
	printHeader(w, "Daily report", d.Period, d.Scoped)
	fmt.Fprintf(w, "Open incidents at %s UTC: %d; actions waiting: %d; SLA breaches: %d\n",
		fmtTime(&d.At), d.Open.Total, d.Pending.Total, len(d.Breaches))
	printCounts(w, "Open by severity", d.Open.BySeverity)
	printCounts(w, "Open by age", d.Open.ByAge)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "\nActions waiting for a decision, oldest first (%d)\n", d.Pending.Total)
	fmt.Fprintf(tw, "  WAITED\tACTION\tTYPE\tTARGET\tINCIDENT\n")
	for _, a := range d.Pending.Oldest {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%d %s\n", a.Waited, short(a.ID), a.Type, oneLine(a.Target, 40), a.IncidentID, oneLine(a.IncidentName, 50))
	}
	tw.Flush()
	var sla []string
	for _, l := range d.SLA.Lines() {
		sla = append(sla, string(l.Severity)+" "+l.Within.String())
	}
	fmt.Fprintf(w, "\nSLA breaches (time to acknowledge: %s)\n", strings.Join(sla, ", "))
	fmt.Fprintf(tw, "  OVER BY\tINCIDENT\tSEVERITY\tSLA\tACKNOWLEDGED\tNAME\n")
	for _, b := range d.Breaches {
		ack := "not yet"
		if b.Acknowledged {
			ack = fmtTime(b.AcknowledgedAt) + " (late)"
		}
		fmt.Fprintf(tw, "  %s\t%d\t%s\t%s\t%s\t%s\n", b.Over, b.ID, b.Severity, b.SLA, ack, oneLine(b.DisplayName, 60))
	}
	tw.Flush()
}

func short(id string) string { return id[:min(len(id), 12)] }

func printMonthly(w io.Writer, m *report.Monthly) {
	printHeader(w, "Automation review", m.Period, m.Scoped)
	fmt.Fprintf(w, "Automation rate: %s (%d of %d remediations ran without a human decision)\n",
		ratio(m.Automation), m.Automation.Automated, m.Automation.Executed)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "\nAutomation by action type and device group\n")
	fmt.Fprintf(tw, "  TYPE\tDEVICE GROUP\tRAN\tAUTOMATED\tRATE\n")
	for _, l := range append(slices.Clone(m.ByType), m.ByGroup...) {
		fmt.Fprintf(tw, "  %s\t%s\t%d\t%d\t%s\n", l.Type, orDash(l.DeviceGroup), l.Executed, l.Automated, ratio(l.Automation))
	}
	tw.Flush()
	fmt.Fprintf(w, "\nApprovals and rejections\n")
	fmt.Fprintf(tw, "  TYPE\tDEVICE GROUP\tAPPROVED\tREJECTED\tEXPIRED\tAPPROVAL RATE\n")
	for _, l := range m.Decisions {
		fmt.Fprintf(tw, "  %s\t%s\t%d\t%d\t%d\t%.0f%%\n", l.Type, orDash(l.DeviceGroup), l.Approved, l.Rejected, l.Expired, 100*l.ApprovalRate)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nReasons given (%d)\n", len(m.Comments))
	for _, c := range m.Comments {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s on %s\t%s\n", fmtTime(&c.At), c.By, c.Decision, c.Type, oneLine(c.Target, 30), oneLine(c.Comment, 80))
	}
	tw.Flush()
	fmt.Fprintf(w, "\nActions undone (%d)\n", len(m.Undone))
	for _, u := range m.Undone {
		fmt.Fprintf(tw, "  %s\t%s\t%s on %s\tincident %d\t%s\n", fmtTime(&u.UndoneAt), u.UndoneBy, u.Type, oneLine(u.TargetName, 30), u.IncidentID, oneLine(u.UndoReason, 60))
	}
	tw.Flush()
	fmt.Fprintf(w, "\nDetectors behind the most incidents\n")
	fmt.Fprintf(tw, "  DETECTOR\tINCIDENTS\tFALSE POSITIVES\tSHARE\n")
	for _, d := range m.Detectors {
		fmt.Fprintf(tw, "  %s\t%d\t%d\t%.0f%%\n", oneLine(d.Detector, 50), d.Incidents, d.FalsePositives, 100*d.FPRate)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nSettings changes (%d)\n", len(m.SettingsChanges))
	for _, e := range m.SettingsChanges {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", fmtTime(&e.At), e.Actor, e.Object, oneLine(e.After, 80))
	}
	tw.Flush()
	fmt.Fprintf(w, "\nSuggestions (%d)\n", len(m.Suggestions))
	for _, s := range m.Suggestions {
		fmt.Fprintf(w, "  - %s\n", s.Text)
	}
}

func ratio(a review.Automation) string {
	if a.Executed == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f%%", 100*a.Ratio)
}

func printQuarterly(w io.Writer, q *report.Quarterly) {
	printHeader(w, "Quarterly report", q.Period, q.Scoped)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "\n")
	fmt.Fprintf(tw, "  MONTH\tINCIDENTS\tMTTA\tTIME TO CONTAIN\tMTTR\tAUTOMATION\n")
	for _, m := range q.Months {
		fmt.Fprintf(tw, "  %s\t%d\t%s\t%s\t%s\t%s\n", m.Period.Name, m.Incidents, orDash(m.TimeToAcknowledge.Mean),
			orDash(m.TimeToContain.Mean), orDash(m.TimeToResolve.Mean), ratio(m.Automation))
	}
	tw.Flush()
	for _, k := range []struct{ name, key string }{{"Incidents", "incidents"}, {"MTTA", "mtta"}, {"Time to contain", "timeToContain"},
		{"MTTR", "mttr"}, {"Automation", "automation"}} {
		fmt.Fprintf(w, "  %s: %s\n", k.name, q.How[k.key])
	}
	fmt.Fprintf(w, "\nTop tactics\n")
	for _, t := range q.Tactics {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%d\n", t.Category, orDash(t.ID), orDash(t.Name), t.Alerts)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nTop techniques\n")
	for _, t := range q.Techniques {
		fmt.Fprintf(tw, "  %s\t%s\t%d\n", t.ID, orDash(t.Name), t.Alerts)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nBiggest incidents\n")
	fmt.Fprintf(tw, "  INCIDENT\tSEVERITY\tALERTS\tSTATUS\tNAME\n")
	for _, b := range q.Biggest {
		fmt.Fprintf(tw, "  %d\t%s\t%d\t%s\t%s\n", b.ID, b.Severity, b.AlertCount, b.Status, oneLine(b.DisplayName, 60))
	}
	tw.Flush()
}

// reportsSLA prints the SLA the daily report measures breaches against,
// or, given SEVERITY=TIME pairs, replaces it (admin).
func reportsSLA(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "reports sla")
	pairs, err := parse(fs, args)
	if err != nil {
		return err
	}
	var sla report.SLA
	if len(pairs) == 0 {
		if _, err := call(ctx, env, http.MethodGet, "/api/v1/settings/sla", nil, &sla); err != nil {
			return err
		}
	} else {
		body := map[string]map[string]string{"acknowledge": {}}
		for _, p := range pairs {
			sev, t, ok := strings.Cut(p, "=")
			if !ok || sev == "" || t == "" {
				return usageError{fmt.Sprintf("reports sla: %q is not SEVERITY=TIME (e.g. high=1h)", p)}
			}
			body["acknowledge"][sev] = t
		}
		b, _ := json.Marshal(body)
		if _, err := call(ctx, env, http.MethodPut, "/api/v1/settings/sla", b, &sla); err != nil {
			return err
		}
	}
	fmt.Fprintln(env.Stdout, "Time to acknowledge, per incident severity:")
	for _, l := range sla.Lines() {
		fmt.Fprintf(env.Stdout, "  %-13s %s\n", l.Severity, l.Within)
	}
	return nil
}
