package cli

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"text/tabwriter"

	"github.com/airsoc/air/internal/review"
)

// incidentsReview prints the post-incident review of a resolved incident.
func incidentsReview(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "incidents review")
	out := outputFlag(fs, "table", "table|json")
	arg, err := parseOne(fs, args, out, "table|json", "one resolved incident's id")
	if err != nil {
		return err
	}
	id, err := incidentID(arg)
	if err != nil {
		return err
	}
	var r review.Report
	if _, err := call(ctx, env, http.MethodGet, fmt.Sprintf("/api/v1/incidents/%d/review", id), nil, &r); err != nil {
		return err
	}
	if *out == "json" {
		printJSON(env.Stdout, r)
		return nil
	}
	w := env.Stdout
	fmt.Fprintf(w, "Post-incident review of incident %d: %s\n", r.Incident.ID, r.Incident.DisplayName)
	fmt.Fprintf(w, "  %s, %s / %s, resolved by %s: %s\n\n", r.Incident.Severity, r.Incident.Classification,
		r.Incident.Determination, orDash(r.Incident.LastModifiedBy), oneLine(r.Incident.ResolvingComment, 100))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  investigation started\t%s\t%s\n", fmtTime(&r.InvestigationStarted.At), r.InvestigationStarted.Source)
	for _, m := range []struct {
		name string
		m    *review.Milestone
	}{{"time to acknowledge", r.TimeToAcknowledge}, {"time to contain", r.TimeToContain}, {"time to resolve", r.TimeToResolve}} {
		if m.m == nil {
			fmt.Fprintf(tw, "  %s\t-\tnot reached\n", m.name)
			continue
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s: %s (%s)\n", m.name, m.m.Duration, orDash(m.m.By), oneLine(m.m.What, 80), m.m.Source)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nTactics:")
	for _, t := range r.Tactics {
		fmt.Fprintf(w, " %s %s (%d)", t.Name, t.ID, t.Alerts)
	}
	fmt.Fprintf(w, "\nTechniques:")
	for _, t := range r.Techniques {
		fmt.Fprintf(w, " %s (%d)", t.ID, t.Alerts)
	}
	// Threat context, when MITRE ATT&CK is imported (docs/intel.md).
	for i, t := range r.Techniques {
		if t.Name == "" {
			continue
		}
		if i == 0 || r.Techniques[i-1].Name == "" {
			fmt.Fprintf(w, "\n\nThreat context (MITRE ATT&CK)")
		}
		fmt.Fprintf(w, "\n  %s %s", t.ID, t.Name)
		if t.DescribedBy != "" {
			fmt.Fprintf(w, " (described by its parent %s)", t.DescribedBy)
		}
		fmt.Fprintf(w, "\n    %s", oneLine(t.Description, 160))
		for _, m := range t.Mitigations {
			fmt.Fprintf(w, "\n    mitigation %s %s", m.ID, m.Name)
		}
	}
	fmt.Fprintf(w, "\n\nWho decided what (%d)\n", len(r.Decisions))
	for _, d := range r.Decisions {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", fmtTime(&d.At), d.By, oneLine(d.What, 80), oneLine(d.Comment, 60))
	}
	tw.Flush()
	fmt.Fprintf(w, "\nTimeline (%d)\n", len(r.Timeline))
	for _, e := range r.Timeline {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", fmtTime(&e.At), e.Kind, oneLine(e.What, 90), orDash(e.By))
	}
	tw.Flush()
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	return nil
}

// metrics prints MTTA, MTTR, the automation rate and the pending-time
// distribution over a time range.
func metrics(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "metrics")
	rng := fs.String("range", "30d", "the window: 1d, 3d, 7d, 30d or 182d")
	out := outputFlag(fs, "table", "table|json")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if err := checkOutput(*out, "table|json"); err != nil {
		return err
	}
	var m review.Metrics
	if _, err := call(ctx, env, http.MethodGet, "/api/v1/metrics/summary?range="+url.QueryEscape(*rng), nil, &m); err != nil {
		return err
	}
	if *out == "json" {
		printJSON(env.Stdout, m)
		return nil
	}
	w := env.Stdout
	fmt.Fprintf(w, "From %s to %s\n", fmtTime(&m.Since), fmtTime(&m.Until))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  \tCOUNT\tMEAN\tP50\tP90\n")
	for _, s := range []struct {
		name string
		s    review.Stat
	}{{"time to acknowledge (MTTA)", m.TimeToAcknowledge}, {"time to contain", m.TimeToContain},
		{"time to resolve (MTTR)", m.TimeToResolve}, {"action pending time", m.Pending.Stat}} {
		fmt.Fprintf(tw, "  %s\t%d\t%s\t%s\t%s\n", s.name, s.s.Count, orDash(s.s.Mean), orDash(s.s.P50), orDash(s.s.P90))
	}
	tw.Flush()
	fmt.Fprintf(w, "\nAutomation rate: %.0f%% (%d of %d executed remediations ran without a person)\n",
		100*m.Automation.Ratio, m.Automation.Automated, m.Automation.Executed)
	fmt.Fprintf(w, "Pending time (%d expired):\n", m.Pending.Expired)
	for _, b := range m.Pending.Buckets {
		fmt.Fprintf(tw, "  %s\t%d\n", b.Label, b.Count)
	}
	return tw.Flush()
}
