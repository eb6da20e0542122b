package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/airsoc/air/internal/e2ebench"
)

// benchE2E runs `starter bench e2e`: the whole engine in this process on
// the embedded file-backed Temporal server, measured against a bare
// workflow on the same server.
func benchE2E(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "bench e2e")
	var o e2ebench.Options
	fs.IntVar(&o.Incidents, "incidents", 200, "incidents in the throughput phase")
	fs.Float64Var(&o.Rate, "rate", 5, "new incidents per second in the latency phase")
	fs.IntVar(&o.Samples, "samples", 100, "alerts measured in the latency phase")
	fs.StringVar(&o.DatabaseURL, "db", "", "postgres://… to measure on PostgreSQL (default: a SQLite file)")
	fs.StringVar(&o.Playbooks, "playbooks", "playbooks", "playbook directory")
	fs.DurationVar(&o.Timeout, "timeout", 5*time.Minute, "limit per phase")
	asJSON := fs.Bool("json", false, "print one JSON object")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if !*asJSON {
		o.Progress = env.Stderr
	}
	r, err := e2ebench.Run(ctx, o)
	if err != nil {
		return err
	}
	if *asJSON {
		fmt.Fprintln(env.Stdout, r.JSON())
		return nil
	}
	fmt.Fprint(env.Stdout, r.String())
	return nil
}
