package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"strings"

	"github.com/sirupsen/logrus"
	"go.temporal.io/sdk/client"

	"github.com/airsoc/air/internal/engine"
	ingestpkg "github.com/airsoc/air/internal/ingest"
	"github.com/airsoc/air/internal/logging"
	"github.com/airsoc/air/internal/profile"
	"github.com/airsoc/air/internal/storebench"
)

const benchUsage = `starter bench ingest FILE [flags]

Replays an alert file (Graph, OCSF or Sentinel; one object, an array, a page or
NDJSON; .gz is read as gzip) through AIR's real ingest: decode, upsert,
correlation into incidents and the workflow notifications (batched per
incident, counted by a recording notifier instead of Temporal). It prints
alerts/s, p50/p99 latency and peak memory per path, and the raw PostgreSQL
insert rate of the same rows as the ceiling.

The temporal path is the batch path with the notifications really sent:
SignalWithStart of each incident's investigation on the Temporal frontend
--temporal names, on a task queue no worker polls (--task-queue), so that
the figure is ingest plus Temporal's signalling and nothing else:

  starter bench ingest shaw.ndjson.gz --path batch,temporal --temporal 127.0.0.1:7233
`

// bench runs `starter bench ingest`.
func bench(ctx context.Context, env Env, args []string) error {
	if len(args) == 0 || args[0] != "ingest" {
		return usageError{"bench: want `bench ingest FILE` or `bench queue` (bench e2e: go run ./worker bench e2e)"}
	}
	fs := newFlags(env, "bench ingest")
	fs.Usage = func() { fmt.Fprint(env.Stderr, benchUsage); fs.PrintDefaults() }
	kind := fs.String("store", "sqlite", "store to measure: sqlite or postgres")
	dsn := fs.String("db", "", "PostgreSQL URL (default $TEST_DATABASE_URL); a fresh schema is made and dropped")
	asJSON := fs.Bool("json", false, "print one JSON object per measured path")
	paths := fs.String("path", "batch,http", "paths to measure, comma-separated: batch, http, temporal (the batch path signalling Temporal)")
	temporalAddr := fs.String("temporal", "", "temporal path: the Temporal frontend HOST:PORT (e.g. a worker -dev's 127.0.0.1:7233)")
	namespace := fs.String("namespace", "default", "temporal path: the Temporal namespace")
	taskQueue := fs.String("task-queue", "air-bench-ingest", "temporal path: the task queue the investigations are started on; keep it one no worker polls")
	batchSize := fs.Int("batch", 1000, "alerts per batch on the batch path")
	workers := fs.Int("workers", 128, "concurrent senders on the HTTP path (many sensors posting one alert each)")
	repeat := fs.Int("repeat", 1, "batch path: replay the file this many times (ids suffixed, times shifted) for long runs")
	httpMax := fs.Int("http-max", 0, "send at most this many alerts on the HTTP path (0: all)")
	keep := fs.String("keep", "", "keep the batch path's store: a SQLite file path, or with postgres the schema name")
	export := fs.String("export", "", "write the batch path's alert,incident assignment CSV here")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the run here")
	pos, err := parse(fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"bench ingest: name one alert file"}
	}
	file := pos[0]
	if *kind != "sqlite" && *kind != "postgres" {
		return usageError{fmt.Sprintf("bench ingest: --store must be sqlite or postgres, got %q", *kind)}
	}
	if *dsn == "" {
		*dsn = os.Getenv("TEST_DATABASE_URL")
	}
	if *kind == "postgres" && *dsn == "" {
		return usageError{"bench ingest: --store postgres needs --db or TEST_DATABASE_URL"}
	}
	logger := logrus.New()
	logger.SetOutput(io.Discard)
	stopProfile, err := profile.CPU(*cpuProfile)
	if err != nil {
		return err
	}
	defer stopProfile()

	var results []storebench.IngestResult
	for _, p := range strings.Split(*paths, ",") {
		p = strings.TrimSpace(p)
		if p != "batch" && p != "http" && p != "temporal" {
			return usageError{fmt.Sprintf("bench ingest: unknown path %q (batch, http, temporal)", p)}
		}
		var next ingestpkg.Notifier
		if p == "temporal" {
			if *temporalAddr == "" {
				return usageError{"bench ingest: the temporal path needs --temporal HOST:PORT"}
			}
			// The compression a worker uses by default (-temporal-compression).
			compression, _ := engine.Compression(engine.CompressionNone)
			tc, err := client.Dial(client.Options{HostPort: *temporalAddr, Namespace: *namespace, Logger: logging.NewTemporal(logger),
				ConnectionOptions: client.ConnectionOptions{GrpcCompression: compression}})
			if err != nil {
				return fmt.Errorf("bench ingest: Temporal at %s: %w", *temporalAddr, err)
			}
			defer tc.Close()
			next = &engine.Engine{Client: tc, TaskQueue: *taskQueue}
		}
		r, err := storebench.Ingest{File: file, Path: p, Store: *kind, DSN: *dsn, BatchSize: *batchSize, Repeat: *repeat,
			Workers: *workers, HTTPMax: *httpMax, Keep: *keep, Export: *export, Notifier: next}.Run(ctx)
		if err != nil {
			return err
		}
		results = append(results, r)
	}

	// The ceiling: the same rows, raw into PostgreSQL.
	ceiling := 0.0
	if *dsn != "" {
		if ceiling, err = storebench.Ceiling(ctx, *dsn, file, *batchSize); err != nil {
			return err
		}
	}
	for i := range results {
		results[i].CeilingAlertsPerS = math.Round(ceiling*10) / 10
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
	fmt.Fprintf(env.Stdout, "bench ingest %s (%s store)\n", file, *kind)
	for _, r := range results {
		fmt.Fprintf(env.Stdout, "  %-5s %8d alerts  %9.0f alerts/s  p50 %7.2f ms  p99 %7.2f ms  peak RSS %6.1f MB  RSS by quarter %v MB  %d incidents  %d signals (%d alert ids)\n",
			r.Path, r.Alerts, r.AlertsPerS, r.P50Ms, r.P99Ms, r.PeakRSSMB, r.RSSMBAt, r.Incidents, r.Notifications, r.NotifiedAlerts)
		fmt.Fprintf(env.Stdout, "        includes: %s\n", r.Included)
	}
	if ceiling > 0 {
		fmt.Fprintf(env.Stdout, "  ceiling: raw PostgreSQL insert of the same alert rows, same batch size: %.0f alerts/s\n", ceiling)
	} else {
		fmt.Fprintln(env.Stdout, "  ceiling: not measured (no PostgreSQL: set TEST_DATABASE_URL or --db)")
	}
	return nil
}
