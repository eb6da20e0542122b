package cli

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime"
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
made; a speed line on stderr says how fast (end to end, and the engine's
share). --export writes the grouping as alert_id,incident_id CSV
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
	decoders := fs.Int("decoders", 2, "goroutines that decode while one reads and one correlates (0: one per CPU, at most 4)")
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
	// One goroutine reads (and unzips), decoders decode, this one
	// correlates each batch as soon as it is decoded: the batches are the
	// ones Ingest would cut from the whole file, so the grouping is the
	// same.
	m := correlate.NewMemory(rules)
	m.Batch = *batch
	per := *batch
	if per <= 0 {
		per = 1000
	}
	start := time.Now()
	var engine time.Duration
	alerts := 0
	err = rd.Each(*decoders, per, func(part []*domain.Alert) error {
		t := time.Now()
		_, err := m.Ingest(part)
		engine += time.Since(t)
		alerts += len(part)
		return err
	})
	if err != nil {
		return fmt.Errorf("%s: %w", pos[0], err)
	}
	total := time.Since(start)
	fmt.Fprintf(env.Stdout, "correlate %s: %d alerts → %d incidents (%d merges)\n", pos[0], alerts, m.Incidents(), len(m.Merges))
	// The speed line: end to end, the engine's share, and the time the
	// engine waited for read+decode (1 reader and --decoders decoders
	// run beside it).
	fmt.Fprintf(env.Stderr, "correlate speed: %d alerts in %.3f s = %.0f alerts/s end to end; engine %.3f s (%.0f alerts/s); waiting for read+decode %.3f s (1 reader, %d decoders)\n",
		alerts, total.Seconds(), rate(alerts, total), engine.Seconds(), rate(alerts, engine), (total - engine).Seconds(), decodersUsed(*decoders))
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

// decodersUsed is the number of decoders decode.File.Each runs for n.
func decodersUsed(n int) int {
	if n <= 0 {
		return min(4, runtime.GOMAXPROCS(0))
	}
	return n
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
