package storebench

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"net/url"
	"time"

	"github.com/airsoc/air/internal/api"
	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/records"
)

// QueueResult is one measured query of `starter bench queue`.
type QueueResult struct {
	Query     string  `json:"query"`
	Params    string  `json:"params"`
	Incidents int     `json:"incidents"`
	Matches   int     `json:"matches"`
	Runs      int     `json:"runs"`
	P50Ms     float64 `json:"p50_ms"`
	P99Ms     float64 `json:"p99_ms"`
}

// Queue is a run of `starter bench queue`: Incidents synthetic incidents
// (six months, with summaries, tags, assignees and device and user
// entities) seeded into a fresh store, and the queue's common queries
// measured through the code the API runs (api.ParseIncidentQuery, the
// store's QueryIncidents, the CSV export).
type Queue struct {
	// Store is sqlite or postgres; DSN is the PostgreSQL URL a fresh
	// schema is made in.
	Store, DSN string
	Incidents  int
	Runs       int // per query, after one that warms the cache
	// Keep keeps the seeded store: with postgres the schema name, with
	// sqlite the file path; "" drops it.
	Keep string
	// Explain prints PostgreSQL's plan of each query (EXPLAIN ANALYZE) to
	// Log.
	Explain bool
	// Log receives the seeding's progress and the plans.
	Log io.Writer
}

// queueQueries are the measured queries, as the API's query strings.
var queueQueries = []struct{ name, params string }{
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

// Run seeds the store and measures every query.
func (q Queue) Run(ctx context.Context) ([]QueueResult, error) {
	st, cleanup, err := openStore(ctx, q.Store, q.DSN, true, q.Keep)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	now := time.Now()
	start := time.Now()
	if err := st.SeedQueue(ctx, q.Incidents, now, func(done int) {
		fmt.Fprintf(q.Log, "\rseeding: %d/%d incidents", done, q.Incidents)
	}); err != nil {
		return nil, err
	}
	fmt.Fprintf(q.Log, "\rseeded %d incidents in %.1f s\n", q.Incidents, time.Since(start).Seconds())

	srv := &api.Server{Store: st}
	admin := &auth.Principal{Name: "bench", Role: auth.Admin}
	var results []QueueResult
	for _, bq := range queueQueries {
		v, err := url.ParseQuery(bq.params)
		if err != nil {
			return nil, err
		}
		iq, err := api.ParseIncidentQuery(v, now)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", bq.name, err)
		}
		export := bq.name == "export first 1000 (CSV)"
		res := QueueResult{Query: bq.name, Params: bq.params, Incidents: q.Incidents, Runs: q.Runs}
		times := make([]time.Duration, 0, q.Runs)
		for i := 0; i <= q.Runs; i++ { // the first run warms the cache and is not counted
			t0 := time.Now()
			if export {
				cw := csv.NewWriter(io.Discard)
				err = srv.ExportIncidents(ctx, admin, iq, cw)
				res.Matches = iq.Limit
			} else {
				var page *records.IncidentPage
				page, err = srv.Incidents(ctx, admin, iq)
				if page != nil {
					res.Matches = page.Total
				}
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %w", bq.name, err)
			}
			if i > 0 {
				times = append(times, time.Since(t0))
			}
		}
		res.P50Ms, res.P99Ms = percentile(times, 0.5), percentile(times, 0.99)
		results = append(results, res)
		if q.Explain {
			plan, err := st.ExplainIncidentQuery(ctx, iq)
			if err != nil {
				return nil, err
			}
			fmt.Fprintf(q.Log, "== %s (%s)\n%s\n", bq.name, bq.params, plan)
		}
	}
	return results, nil
}
