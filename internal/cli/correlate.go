package cli

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/airsoc/air/internal/correlate"
	"github.com/airsoc/air/internal/decode"
	"github.com/airsoc/air/internal/domain"
)

const correlateUsage = `Usage: starter correlate FILE [--export CSV] [--explain ALERT_ID] [rule flags]

Runs the correlation engine on an alert file in memory — the same engine,
batches and rules as ingest, no database — and prints how many incidents it
made and how fast. --export writes the grouping as alert_id,incident_id CSV
(the format of ` + "`starter alerts export`" + `, for score_correlation.py);
--explain prints why one alert went where it did. FILE: a Graph alert, an
array, a page or NDJSON (any format ingest takes); .gz is read as gzip.
`

// correlateCmd runs `starter correlate`.
func correlateCmd(_ context.Context, env Env, args []string) error {
	fs := newFlags(env, "correlate")
	fs.Usage = func() { fmt.Fprint(env.Stderr, correlateUsage); fs.PrintDefaults() }
	export := fs.String("export", "", "write the alert_id,incident_id CSV here")
	explain := fs.String("explain", "", "print the reasons for this alert's assignment")
	batch := fs.Int("batch", 1000, "alerts per engine run (ingest's transaction size)")
	window := fs.Duration("window", 0, "correlation window (0: default 24h)")
	linkGap := fs.Duration("link-gap", 0, "time proximity for a shared entity (0: default 1h)")
	burst := fs.Duration("burst", 0, "campaign burst (0: default 1m; negative: off)")
	stormGap := fs.Duration("storm-gap", 0, "attack-under-way gap (0: default 40m; negative: off)")
	pivot := fs.Duration("pivot", 0, "pivot window: a destination that becomes a source on another host (0: default 24h; negative: off)")
	commonAfter := fs.Int("common-after", 0, "too common to link after this many open incidents (0: default 25; negative: off)")
	routineBuckets := fs.Int("routine-buckets", 0, "routine after this many buckets (0: default 3; negative: off)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"correlate: name one alert file"}
	}
	rules := correlate.Rules{Window: *window, LinkGap: *linkGap, Burst: *burst, StormGap: *stormGap, Pivot: *pivot,
		CommonAfter: *commonAfter, RoutineBuckets: *routineBuckets}
	if err := rules.Validate(); err != nil {
		return usageError{"correlate: " + err.Error()}
	}
	rd, err := decode.OpenFile(pos[0], 1)
	if err != nil {
		return err
	}
	defer rd.Close()
	readStart := time.Now()
	var alerts []*domain.Alert
	for {
		part, err := rd.Next(10000)
		if err != nil {
			return fmt.Errorf("%s: %w", pos[0], err)
		}
		if len(part) == 0 {
			break
		}
		alerts = append(alerts, part...)
	}
	read := time.Since(readStart)

	m := correlate.NewMemory(rules)
	m.Batch = *batch
	start := time.Now()
	if _, err := m.Ingest(alerts); err != nil {
		return err
	}
	took := time.Since(start)
	fmt.Fprintf(env.Stdout, "correlate %s: %d alerts → %d incidents (%d merges); engine %.0f alerts/s (%s), read+decode %s\n",
		pos[0], len(alerts), m.Incidents(), len(m.Merges), float64(len(alerts))/took.Seconds(),
		took.Round(time.Millisecond), read.Round(time.Millisecond))
	if *export != "" {
		if err := writeAssignments(m, *export); err != nil {
			return err
		}
	}
	if *explain != "" {
		return explainAlert(env, m, *explain)
	}
	return nil
}

// writeAssignments writes alert_id,incident_id in alert id order (as
// `starter alerts export` does).
func writeAssignments(m *correlate.Memory, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	ids := slices.Clone(m.AlertIDs())
	slices.Sort(ids)
	w := bufio.NewWriterSize(f, 1<<20)
	w.WriteString("alert_id,incident_id\n")
	for _, id := range ids {
		fmt.Fprintf(w, "%s,%d\n", id, m.IncidentOf(id))
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// explainAlert prints the decision for one alert, and the merges that
// moved its incident afterwards.
func explainAlert(env Env, m *correlate.Memory, id string) error {
	d, ok := m.Explained[id]
	if !ok {
		return usageError{fmt.Sprintf("correlate --explain: no alert %q in the file", id)}
	}
	out := env.Stdout
	fmt.Fprintf(out, "alert %s: %s, incident %d", id, d.Outcome, d.Incident)
	if d.NewIncident {
		fmt.Fprint(out, " (opened by it)")
	}
	fmt.Fprintln(out)
	for _, r := range d.Reasons {
		fmt.Fprintf(out, "  - %s\n", r)
	}
	inc := d.Incident
	for _, mg := range m.Merges {
		if mg.Source == inc {
			fmt.Fprintf(out, "  - later: incident %d merged into %d (%s)\n", inc, mg.Target, mg.Why)
			inc = mg.Target
		}
	}
	if now := m.IncidentOf(id); now != d.Incident {
		fmt.Fprintf(out, "  now in incident %d\n", now)
	}
	if len(d.NewKeys) > 0 {
		keys := make([]string, len(d.NewKeys))
		for i, k := range d.NewKeys {
			keys[i] = string(k)
		}
		fmt.Fprintf(out, "  new to the incident: %s\n", strings.Join(keys, ", "))
	}
	return nil
}
