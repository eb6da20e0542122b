package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/airsoc/air/internal/storebench"
)

const benchQueueUsage = `starter bench queue [flags]

Seeds N synthetic incidents (six months, with summaries, tags, assignees and
device and user entities) into a fresh PostgreSQL schema (or SQLite file) and
measures the incident queue's common queries through the same code the API
runs (api.ParseIncidentQuery, the store's QueryIncidents, the CSV export): p50 and
p99 over --runs runs each. The schema is dropped afterwards unless --keep.
`

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
	results, err := storebench.Queue{Store: *kind, DSN: *dsn, Incidents: *n, Runs: *runs, Keep: *keep, Explain: *explain,
		Log: env.Stderr}.Run(ctx)
	if err != nil {
		return err
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
