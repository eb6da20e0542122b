package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/airsoc/air/internal/api"
	"github.com/airsoc/air/internal/plan"
)

// backtestBatch is how many incidents one backtest request plans: small
// enough to report progress every few seconds, large enough that the
// requests' overhead does not count.
const backtestBatch = 50

// playbooksBacktest runs `starter playbooks backtest`: the running AIR
// plans every stored incident of the window with its loaded playbooks and
// with the candidate set of DIR, and this prints what the candidate would
// do otherwise. The incidents are read by the API, in batches, so that a
// long window reports progress on stderr.
func playbooksBacktest(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "playbooks backtest")
	fs.Usage = func() {
		fmt.Fprint(env.Stderr, "Usage: starter playbooks backtest [--since 7d] [--against DIR] [--limit N] [-v] [-json]\n\n"+
			"Plan every incident of the AIR at AIR_URL updated in the window twice — with the playbooks it\n"+
			"runs and with the candidate playbooks of DIR — from its stored alerts and the tenant's settings,\n"+
			"and print what the candidate would do otherwise: actions added or removed, decided otherwise\n"+
			"(runs on its own or waits for approval), waiting or asking for another reason, waits and\n"+
			"verdicts changed. Incidents without a difference are counted (listed with -v). Nothing is changed.\n\n")
		fs.PrintDefaults()
	}
	since := fs.String("since", "7d", "window start: a duration back from now (`7d`, 2w, 36h) or an RFC 3339 time or date")
	until := fs.String("until", "", "window end: a time or duration as for --since (default now)")
	against := fs.String("against", "playbooks", "directory of the candidate playbooks (every file of the set, sub-playbooks too)")
	limit := fs.Int("limit", 0, "plan at most `N` incidents, the newest (default every incident of the window)")
	verbose := fs.Bool("v", false, "list the incidents without a difference too")
	asJSON := fs.Bool("json", false, "print JSON (the API's answer, every batch merged) instead of the table")
	assume := fs.String("assume", "", "plan later steps as if the actions that would wait were `approved` or rejected")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) > 0:
		return usageError{fmt.Sprintf("playbooks backtest: unexpected argument %q (the candidate directory goes in --against)", pos[0])}
	case *limit < 0:
		return usageError{fmt.Sprintf("playbooks backtest: --limit must be 0 or more, got %d", *limit)}
	case *assume != plan.AssumePending && *assume != plan.AssumeApproved && *assume != plan.AssumeRejected:
		return usageError{fmt.Sprintf("playbooks backtest: --assume must be approved or rejected, got %q", *assume)}
	}
	// Check the window here, for a clear error before anything is sent.
	now := time.Now()
	for name, v := range map[string]string{"since": *since, "until": *until} {
		if v == "" {
			continue
		}
		if _, err := api.ParseSince(name, v, now); err != nil {
			return usageError{fmt.Sprintf("playbooks backtest: --%s: %v", name, strings.TrimPrefix(err.Error(), name+": "))}
		}
	}
	srcs, err := readCandidate(*against)
	if err != nil {
		return err
	}
	res, err := runBacktest(ctx, env, api.BacktestRequest{Playbooks: srcs, Since: *since, Until: *until,
		Verbose: *verbose, Assume: *assume}, *limit)
	if err != nil {
		return err
	}
	if *asJSON {
		printJSON(env.Stdout, res)
		return nil
	}
	printBacktest(env, *against, res)
	return nil
}

// readCandidate reads every playbook file of dir (not the tests), named
// as the user knows them, for the API to compile as one set.
func readCandidate(dir string) ([]api.BacktestSource, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("--against: %w", err)
	}
	var srcs []api.BacktestSource
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || strings.HasSuffix(name, ".test.yaml") || strings.HasSuffix(name, ".test.yml") ||
			!(strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml")) {
			continue
		}
		path := filepath.Join(dir, name)
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		srcs = append(srcs, api.BacktestSource{File: path, Source: string(b)})
	}
	if len(srcs) == 0 {
		return nil, fmt.Errorf("--against: no playbook (*.yaml) in %s", dir)
	}
	return srcs, nil
}

// runBacktest asks the API for the window in batches, the first fixing the
// window for the others, and merges the answers; progress goes to stderr
// when there is more than one batch.
func runBacktest(ctx context.Context, env Env, req api.BacktestRequest, limit int) (*api.BacktestResponse, error) {
	var out *api.BacktestResponse
	for {
		req.Limit = backtestBatch
		if limit > 0 {
			req.Limit = min(backtestBatch, limit-req.Offset)
		}
		body, err := json.Marshal(req)
		if err != nil {
			return nil, err
		}
		page, err := backtestPage(ctx, env, body)
		if err != nil {
			return nil, err
		}
		if out == nil {
			out = page
			// The next pages read the same window, whatever the clock says.
			req.Since, req.Until = page.Since.Format(time.RFC3339Nano), page.Until.Format(time.RFC3339Nano)
		} else {
			out.Report.Merge(&page.Report)
		}
		want := out.Total
		if limit > 0 {
			want = min(want, limit)
		}
		req.Offset += page.Incidents
		if want > backtestBatch {
			fmt.Fprintf(env.Stderr, "backtest: %d/%d incidents\n", req.Offset, want)
		}
		if page.Incidents == 0 || req.Offset >= want {
			return out, nil
		}
	}
}

// backtestPage posts one batch, waiting out a busy answer (the process's
// plan slots are taken: 429 with Retry-After) a few times, as ingest does.
func backtestPage(ctx context.Context, env Env, body []byte) (*api.BacktestResponse, error) {
	for attempt := 0; ; attempt++ {
		var page api.BacktestResponse
		_, err := call(ctx, env, http.MethodPost, "/api/v1/playbooks/backtest", body, &page)
		var retry *retryAfterError
		if errors.As(err, &retry) && attempt < 10 {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(retry.wait):
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		return &page, nil
	}
}

// printBacktest prints the report as a table: the window and the two
// sets, each incident that differs with its differences, then the totals.
func printBacktest(env Env, dir string, r *api.BacktestResponse) {
	w := env.Stdout
	fmt.Fprintf(w, "Backtest of %s against the running playbooks, incidents updated %s → %s\n", dir,
		r.Since.Local().Format("2006-01-02 15:04"), r.Until.Local().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "  running:   %s\n  candidate: %s\n", strings.Join(r.Baseline, ", "), strings.Join(r.Candidate, ", "))
	if r.Total == 0 {
		fmt.Fprintln(w, "No incident was updated in the window: nothing to backtest (widen it with --since).")
		return
	}
	fmt.Fprintf(w, "%s: %d would change, %d the same, %d failed to plan\n\n", plural(r.Incidents, "incident"), r.Changed, r.Unchanged, r.Failed)
	for _, inc := range r.Results {
		fmt.Fprintf(w, "Incident %d: %s\n", inc.IncidentID, inc.Incident)
		if len(inc.Differences) == 0 {
			fmt.Fprintf(w, "  no difference\n\n")
			continue
		}
		for _, d := range inc.Differences {
			printDifference(env, d)
		}
		fmt.Fprintln(w)
	}
	if len(r.Totals) == 0 {
		fmt.Fprintln(w, "No difference: the candidate playbooks would do what the running ones do.")
		return
	}
	fmt.Fprintln(w, "Totals:")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  KIND\tACTION\tCHANGE\tCOUNT\tINCIDENTS")
	for _, c := range r.Totals {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%d\t%d\n", c.Kind, c.Action, clip(c.Change, 60), c.Count, c.Incidents)
	}
	tw.Flush()
}

// differenceMarks start a difference's line: - gone, + new, ~ otherwise.
var differenceMarks = map[string]string{plan.DiffRemoved: "-", plan.DiffAdded: "+", plan.DiffError: "!"}

// printDifference prints one difference on a line (kind, step, action,
// target, what changed) and the reasons it is about under it, wrapped.
func printDifference(env Env, d plan.Difference) {
	w := env.Stdout
	mark := differenceMarks[d.Kind]
	if mark == "" {
		mark = "~"
	}
	s := d.New
	if s == nil {
		s = d.Old
	}
	if s == nil { // playbooks, verdict, error
		if d.Kind == plan.DiffError {
			fmt.Fprintf(w, "  %s %-9s\n", mark, d.Kind)
			for _, l := range []struct{ who, err string }{{"running", d.Before}, {"candidate", d.After}} {
				if l.err != "" {
					printWrapped(env, l.who+": "+l.err)
				}
			}
			return
		}
		fmt.Fprintf(w, "  %s %-9s %s\n", mark, d.Kind, d.Change())
		return
	}
	step := s.Playbook + "/" + s.Step
	if s.Via != "" {
		step = s.Via + " > " + s.Step
	}
	change := d.Change()
	switch d.Kind {
	case plan.DiffRemoved:
		change = "was " + s.Outcome
	case plan.DiffAdded:
		change = s.Outcome
	case plan.DiffParams:
		oldp, _ := json.Marshal(d.Old.Params)
		newp, _ := json.Marshal(d.New.Params)
		change = string(oldp) + " → " + string(newp)
	}
	cols := []string{clip(step, 44), s.Action}
	for _, c := range []string{shortKey(s.Target), change} {
		if c != "" {
			cols = append(cols, c)
		}
	}
	fmt.Fprintf(w, "  %s %-9s %s\n", mark, d.Kind, strings.Join(cols, "  "))
	switch {
	case d.Old != nil && d.New != nil && d.Old.Reason != d.New.Reason:
		printWrapped(env, "was: "+d.Old.Reason)
		printWrapped(env, "now: "+d.New.Reason)
	case d.Kind == plan.DiffAdded && (s.Outcome == "wait" || s.Outcome == "ask" || s.Outcome == "skip"):
		printWrapped(env, s.Reason)
	}
}

func printWrapped(env Env, text string) {
	for _, line := range wrap(text, planWidth-8) {
		fmt.Fprintf(env.Stdout, "        %s\n", line)
	}
}
