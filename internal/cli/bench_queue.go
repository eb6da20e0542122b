package cli

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"time"

	"github.com/airsoc/air/internal/api"
	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/records"
)

// QueueBenchResult is one measured query of `starter bench queue`.
type QueueBenchResult struct {
	Query     string  `json:"query"`
	Params    string  `json:"params"`
	Incidents int     `json:"incidents"`
	Matches   int     `json:"matches"`
	Runs      int     `json:"runs"`
	P50Ms     float64 `json:"p50_ms"`
	P99Ms     float64 `json:"p99_ms"`
}

const benchQueueUsage = `starter bench queue [flags]

Seeds N synthetic incidents (six months, with summaries, tags, assignees and
device and user entities) into a fresh PostgreSQL schema (or SQLite file) and
measures the incident queue's common queries through the same code the API
runs (api.ParseIncidentQuery, store.QueryIncidents, the CSV export): p50 and
p99 over --runs runs each. The schema is dropped afterwards unless --keep.
`

// queueBenchQueries are the measured queries, as the API's query strings.
var queueBenchQueries = []struct{ name, params string }{
	{"default filter + sort", ""},
	{"default filter, sort by priority", "sort=-priorityScore"},
	{"default filter, sort by severity", "sort=-severity"},
	{"everything, last updated first", "status=all&severity=all&range=all"},
	{"everything, sort by priority", "status=all&severity=all&range=all&sort=-priorityScore"},
	{"everything, sort by severity", "status=all&severity=all&range=all&sort=-severity"},
	{"search by name", "status=all&severity=all&range=all&search=lateral movement"},
	{"search by name, default filter", "search=credential"},
	{"search by id", "status=all&severity=all&range=all&search=31337"},
	{"search by asset", "status=all&severity=all&range=all&search=ws-01234"},
	{"filter assignedTo", "status=all&severity=all&range=all&assignedTo=analyst07"},
	{"filter unassigned, default filter", "assignedTo=unassigned"},
	{"tag filter", "status=all&severity=all&range=all&tag=ransomware"},
	{"device group filter, 30 days", "range=30d&deviceGroup=Servers"},
	{"page 50 at offset 5000", "status=all&severity=all&range=all&offset=5000&limit=50"},
	{"export first 1000 (CSV)", "status=all&severity=all&range=all&limit=1000"},
}

func benchQueue(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "bench queue")
	fs.Usage = func() { fmt.Fprint(env.Stderr, benchQueueUsage); fs.PrintDefaults() }
	kind := fs.String("store", "postgres", "store to measure: postgres or sqlite")
	dsn := fs.String("db", "", "PostgreSQL URL (default $TEST_DATABASE_URL); a fresh schema is made and dropped")
	n := fs.Int("incidents", 100000, "incidents to seed")
	runs := fs.Int("runs", 30, "runs per query")
	asJSON := fs.Bool("json", false, "print one JSON object per query")
	keep := fs.String("keep", "", "keep the seeded store: with postgres the schema name, with sqlite the file path")
	explain := fs.Bool("explain", false, "print PostgreSQL's plan of each query (EXPLAIN ANALYZE) to stderr")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if *kind != "sqlite" && *kind != "postgres" {
		return usageError{fmt.Sprintf("bench queue: --store must be sqlite or postgres, got %q", *kind)}
	}
	if *dsn == "" {
		*dsn = os.Getenv("TEST_DATABASE_URL")
	}
	if *kind == "postgres" && *dsn == "" {
		return usageError{"bench queue: --store postgres needs --db or TEST_DATABASE_URL"}
	}
	if *n < 1 || *runs < 1 {
		return usageError{"bench queue: --incidents and --runs must be at least 1"}
	}
	st, cleanup, err := benchStore(ctx, *kind, *dsn, true, *keep)
	if err != nil {
		return err
	}
	defer cleanup()
	now := time.Now()
	start := time.Now()
	if err := st.SeedQueue(ctx, *n, now, func(done int) {
		fmt.Fprintf(env.Stderr, "\rseeding: %d/%d incidents", done, *n)
	}); err != nil {
		return err
	}
	fmt.Fprintf(env.Stderr, "\rseeded %d incidents in %.1f s\n", *n, time.Since(start).Seconds())

	srv := &api.Server{Store: st}
	admin := &auth.Principal{Name: "bench", Role: auth.Admin}
	var results []QueueBenchResult
	for _, bq := range queueBenchQueries {
		v, err := url.ParseQuery(bq.params)
		if err != nil {
			return err
		}
		q, err := api.ParseIncidentQuery(v, now)
		if err != nil {
			return fmt.Errorf("%s: %w", bq.name, err)
		}
		export := bq.name == "export first 1000 (CSV)"
		res := QueueBenchResult{Query: bq.name, Params: bq.params, Incidents: *n, Runs: *runs}
		times := make([]time.Duration, 0, *runs)
		for i := 0; i <= *runs; i++ { // the first run warms the cache and is not counted
			t0 := time.Now()
			if export {
				cw := csv.NewWriter(io.Discard)
				err = srv.ExportIncidents(ctx, admin, q, cw)
				res.Matches = q.Limit
			} else {
				var page *records.IncidentPage
				page, err = srv.Incidents(ctx, admin, q)
				if page != nil {
					res.Matches = page.Total
				}
			}
			if err != nil {
				return fmt.Errorf("%s: %w", bq.name, err)
			}
			if i > 0 {
				times = append(times, time.Since(t0))
			}
		}
		res.P50Ms, res.P99Ms = percentile(times, 0.5), percentile(times, 0.99)
		results = append(results, res)
		if *explain {
			plan, err := st.ExplainIncidentQuery(ctx, q)
			if err != nil {
				return err
			}
			fmt.Fprintf(env.Stderr, "== %s (%s)\n%s\n", bq.name, bq.params, plan)
		}
	}
	if *asJSON {
		enc := json.NewEncoder(env.Stdout)
		for _, r := range results {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	}
	fmt.Fprintf(env.Stdout, "bench queue: %d incidents (%s store), %d runs per query\n", *n, *kind, *runs)
	fmt.Fprintf(env.Stdout, "  %-36s %9s %9s %9s\n", "query", "matches", "p50 ms", "p99 ms")
	for _, r := range results {
		fmt.Fprintf(env.Stdout, "  %-36s %9d %9.2f %9.2f\n", r.Query, r.Matches, r.P50Ms, r.P99Ms)
	}
	return nil
}
