package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/airsoc/air/internal/e2ebench"
)

// benchE2E runs `worker bench e2e`: the whole engine in this process on the
// embedded file-backed Temporal server, measured against a bare workflow on
// the same server. It lives in the worker, which links the Temporal server
// anyway, so that the analysts' `starter` does not.
func benchE2E(args []string) error {
	fs := flag.NewFlagSet("worker bench e2e", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: worker bench e2e [flags]

Measures alert-to-remediation on an embedded Temporal server: incidents/s
through the whole engine against a bare workflow's ceiling on the same
server, and per-alert latency (docs/performance.md).

Flags:
`)
		fs.PrintDefaults()
	}
	var o e2ebench.Options
	fs.IntVar(&o.Incidents, "incidents", 200, "incidents in the throughput phase")
	fs.Float64Var(&o.Rate, "rate", 5, "new incidents per second in the latency phase")
	fs.IntVar(&o.Samples, "samples", 100, "alerts measured in the latency phase")
	fs.StringVar(&o.DatabaseURL, "db", "", "postgres://… to measure on PostgreSQL (default: a SQLite file)")
	fs.StringVar(&o.Playbooks, "playbooks", "playbooks", "playbook directory")
	fs.DurationVar(&o.Timeout, "timeout", 5*time.Minute, "limit per phase")
	asJSON := fs.Bool("json", false, "print one JSON object")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bench e2e: unexpected argument %q", fs.Arg(0))
	}
	if !*asJSON {
		o.Progress = os.Stderr
	}
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
