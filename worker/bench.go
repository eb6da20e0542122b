package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/airsoc/air/internal/e2ebench"
	"github.com/airsoc/air/internal/engine"
	"github.com/airsoc/air/internal/floodbench"
	"github.com/airsoc/air/internal/profile"
)

// benchE2E runs `worker bench e2e`: the whole engine in this process on the
// embedded file-backed Temporal server, measured against a bare workflow on
// the same server. It lives in the worker, which links the Temporal server
// anyway, so that the analysts' `starter` does not.
func benchE2E(args []string) error {
	fs := flag.NewFlagSet("worker bench e2e", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: worker bench e2e [flags]

Measures alert-to-remediation on an embedded Temporal server (or the one
-temporal names): incidents/s through the whole engine against a bare
workflow's ceiling on the same server, and per-alert latency
(docs/performance.md).

Flags:
`)
		fs.PrintDefaults()
	}
	var o e2ebench.Options
	fs.IntVar(&o.Incidents, "incidents", 200, "incidents in the throughput phase")
	fs.Float64Var(&o.Rate, "rate", 5, "new incidents per second in the latency phase")
	fs.IntVar(&o.Samples, "samples", 100, "alerts measured in the latency phase")
	fs.StringVar(&o.DatabaseURL, "db", "", "postgres://… to measure on PostgreSQL (default: a SQLite file)")
	fs.StringVar(&o.Playbooks, "playbooks", "", "playbook directory; empty: the shipped set built into the binary")
	fs.DurationVar(&o.Timeout, "timeout", 5*time.Minute, "limit per phase")
	fs.StringVar(&o.Temporal, "temporal", "", "host:port of a running Temporal server to measure on (default: an embedded file-backed one)")
	fs.StringVar(&o.Namespace, "namespace", "", "with -temporal: a registered namespace of the run's own (its workflows are named incident-N, as real investigations)")
	fs.StringVar(&o.Compression, "temporal-compression", engine.CompressionNone, "gRPC compression of the calls to Temporal, as the worker's flag: none or gzip")
	asJSON := fs.Bool("json", false, "print one JSON object")
	cpuProfile := fs.String("cpuprofile", "", "write this process's CPU profile of the run to `file` (go tool pprof)")
	if help, err := parseBench(fs, args); help || err != nil {
		return err
	}
	if !*asJSON {
		o.Progress = os.Stderr
	}
	stopProfile, err := profile.CPU(*cpuProfile)
	if err != nil {
		return err
	}
	defer stopProfile()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	r, err := e2ebench.Run(ctx, o)
	if err != nil {
		return err
	}
	if *asJSON {
		fmt.Println(r.JSON())
		return nil
	}
	fmt.Print(r.String())
	return nil
}

// benchFlood runs `worker bench flood`: a child `worker -dev` under a
// generated alert flood through HTTP ingest, its memory and histories
// measured (internal/floodbench).
func benchFlood(args []string) error {
	fs := flag.NewFlagSet("worker bench flood", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: worker bench flood [flags]

Starts this worker with -dev as a child process, floods it through HTTP
ingest with generated alerts (a few hundred devices hit by a few noisy
detectors) or with an alert file replayed (-file), and prints per round:
alerts/s, incidents, workflow signals, the worker's peak and final RSS,
its Go heap split between AIR and the embedded Temporal server, and the
largest incident workflow history (docs/performance.md).

Flags:
`)
		fs.PrintDefaults()
	}
	var o floodbench.Options
	fs.IntVar(&o.Alerts, "alerts", 500_000, "alerts per round")
	fs.StringVar(&o.File, "file", "", "replay this alert file (Graph, OCSF or Sentinel; NDJSON, array; .gz) each round instead of a generated flood; later rounds get new ids and times")
	fs.IntVar(&o.Devices, "devices", 300, "devices hit (about one incident each)")
	fs.IntVar(&o.Detectors, "detectors", 5, "noisy detectors")
	fs.IntVar(&o.Rounds, "rounds", 1, "replays of the flood with new ids (memory should stay flat from one to the next)")
	fs.IntVar(&o.Batch, "batch", 2000, "alerts per ingest request")
	fs.StringVar(&o.DatabaseURL, "db", "", "AIR's store for the worker: a fresh postgres://… database (default: SQLite)")
	fs.IntVar(&o.WorkflowCache, "workflow-cache", 0, "the worker's -workflow-cache (0: its default)")
	fs.DurationVar(&o.Settle, "settle", 30*time.Second, "wait after each round before reading the final figures")
	asJSON := fs.Bool("json", false, "print one JSON object")
	if help, err := parseBench(fs, args); help || err != nil {
		return err
	}
	o.Progress = os.Stderr
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	r, err := floodbench.Run(ctx, o)
	if r != nil && len(r.Rounds) > 0 {
		if *asJSON {
			b, _ := json.Marshal(r)
			fmt.Println(string(b))
		} else {
			fmt.Print(r.String())
		}
	}
	return err
}

// parseBench parses a bench command's flags; help reports that -h was
// asked for (and answered).
func parseBench(fs *flag.FlagSet, args []string) (help bool, err error) {
	switch err := fs.Parse(args); {
	case err == flag.ErrHelp:
		return true, nil
	case err != nil:
		return false, err
	}
	if fs.NArg() > 0 {
		return false, fmt.Errorf("%s: unexpected argument %q", fs.Name(), fs.Arg(0))
	}
	return false, nil
}
