// Package cli is the command-line client behind `starter`: analysts and SOC
// leads ingest alerts, look at incidents and decide pending actions through
// the HTTP API, so that the command line takes the same code path as the API
// and the pages.
package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Env is what a command runs with.
type Env struct {
	BaseURL string // AIR_URL
	// Token is the API token sent as a bearer token; empty means AIR_TOKEN,
	// else the dev worker's admin token in $AIR_DATA_DIR/admin-token
	// (default .air/admin-token).
	Token  string
	Stdout io.Writer
	Stderr io.Writer
	HTTP   *http.Client
}

const usage = `Usage: starter COMMAND [flags]

Commands:
  ingest FILE...                  send alerts (a Graph alert, an array, a page or NDJSON; .gz; - for stdin), streamed in batches with progress; --from N resumes
  alerts export [--db DSN]        alert,incident CSV of every alert (the grouping, for scoring)
  alerts move ID [--to INCIDENT]  move an alert to another incident (no --to: a new one)
  alerts update ID [--status S] [--classification C --determination D] [--assign U] [-m TEXT]
                                  manage one alert; its incident follows (last alert resolved: resolved)
  correlate FILE [--export CSV] [--explain ID]  run the correlation engine on a file in memory
  bench ingest FILE [flags]       measure ingest + correlation (starter bench ingest -h)
  bench queue [--incidents N]     measure the incident queue's queries on N seeded incidents (starter bench queue -h)
  incidents list [filters]        the incident queue; starter incidents list -h for filters, --csv to export
  incidents show ID               an incident's summary, alerts, actions, comments and activity
  incidents assign|tag|comment|classify|resolve|reopen|rename ID...
                                  manage incidents (several ids: one bulk change); starter incidents help
  incidents stop ID -m REASON     stop the running investigation (responder); its pending actions are rejected
  incidents review ID             post-incident review: times to acknowledge, contain, resolve; who decided what
  metrics [--range 30d]           MTTA, MTTR, time to contain, automation rate, pending-time distribution
  reports daily|monthly|quarterly [-date D|-month M|-quarter Q] [-json]
                                  the SOC's reports: open queue and SLA breaches; automation review; CISO figures
  reports sla [SEVERITY=TIME ...]  the SLA time to acknowledge per severity; pairs (high=1h) replace it (admin)
  reports schedule list|add KIND (-cron C | -hour H [-minute M -day D -weekday W]) [-tz Z] [-channel N]|delete ID|run ID
  reports schedule edit ID [-cron C | -hour H …] [-tz Z] [-channel N | -no-channels] [-catchup W]   only what is given changes
                                  report schedules (Temporal Schedules); each run keeps the period before and sends it (admin)
  reports runs [-kind K] [-schedule ID]   the kept reports, newest first
  reports run ID [-json] [-html FILE] [-pdf FILE]   a kept report, or its page or PDF saved to a file
  reports keep KIND [-period P] [-channel N]        make a report now and keep it (admin)
  actions list [filters]          the action center (default: pending); starter actions list -h for filters
  actions show ID                 show one action
  actions approve ID... [-m TEXT] approve pending actions (several: of one type, in one bulk decision)
  actions reject ID... [-m TEXT]  reject pending actions
  actions undo ID [-m TEXT]       undo a succeeded action (device.isolate → device.release, …)
  actions types                   the action types: target, parameters, undo, risk, connectors
  questions list [--status S] [--audience analyst|user] [--incident ID]
                                  the questions playbooks ask (open ones by default)
  questions answer ID CHOICE [CHOICE…] [-m NOTE]
                                  answer a question (analyst); several choices for one that takes several
  exercise run SCENARIO [--speed N | --real-time] [--name NAME] [--limit N]
                                  replay a labelled attack scenario (AIT NAME.ndjson.gz beside NAME.labels.csv.gz,
                                  or a scenario file) as a breach exercise (admin), then print its score
  exercise list|show ID|score ID  the exercises; one with its incidents; its score (docs/secops.md)
  tokens create --role ROLE [--groups G,...] [--name NAME]
                                  make an API token (admin); its secret is shown once
  tokens list                     list tokens (admin)
  tokens revoke ID                revoke a token and end its page sessions (admin)
  audit [filters]                 the audit log (admin); starter audit -h for filters
  notifications list [filters]    the notification delivery history (admin): status, attempts, last error;
                                  starter notifications list -h for filters
  notifications test CHANNEL      send a test message to a notification channel and say what became of it (admin)
  intel import FILE [-name FEED] [-format stix|misp|list] [-family NAME]
                                  import a threat-intelligence feed (admin; gzip or not); again replaces it
  intel list                      the imported feeds
  intel lookup KIND VALUE         which feeds name an ip, domain, url or file hash, and its prevalence here
  intel delete FEED               remove a feed (admin)
  intel facts INCIDENT            what analysis steps recorded about an incident's entities
  playbooks validate [DIR]        check the playbooks and playbook tests in DIR (default ./playbooks), no API needed
  playbooks test [--together] [DIR]
                                  run the playbook tests in DIR against the real workflow, no API needed;
                                  --together with all of them loaded, to show overlaps
  playbooks schema [DIR]          write the JSON Schemas of playbooks and tests into DIR/schema/ for editors
  playbooks plan --incident FILE|ID [--against OLD_DIR] [--input KEY=VALUE ...]
                                  what the playbooks would do to an incident, changing nothing
  playbooks backtest [--since 7d] [--against DIR] [--limit N] [-v] [-json]
                                  what the playbooks of DIR would do otherwise than the running ones
                                  to the stored incidents of the window, per incident and in total
  playbooks inputs NAME [KEY=VALUE ...] [--reset]
                                  a playbook's inputs and this tenant's values; KEY=VALUE sets one (admin)

Environment:
  AIR_URL       the AIR API (default http://127.0.0.1:8080)
  AIR_TOKEN     the API token to send; unset: the dev worker's admin token in
                $AIR_DATA_DIR/admin-token (default .air/admin-token)

List and show commands take --output (-o) table|json; actions list and audit also csv.
`

// Run runs one command and returns the process exit code: 0 done, 1 the
// API refused or failed, 2 a usage error.
func Run(ctx context.Context, env Env, args []string) int {
	if env.HTTP == nil {
		env.HTTP = &http.Client{Timeout: 60 * time.Second}
	}
	if env.BaseURL == "" {
		env.BaseURL = "http://127.0.0.1:8080"
	}
	if env.Token == "" {
		env.Token = defaultToken()
	}
	err := dispatch(ctx, env, args)
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(env.Stderr, "starter: %v\n\n%s", err, usage)
		return 2
	case errors.Is(err, flag.ErrHelp):
		return 0
	default:
		fmt.Fprintf(env.Stderr, "starter: %v\n", err)
		return 1
	}
}

type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

func dispatch(ctx context.Context, env Env, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(env.Stdout, usage)
		return nil
	}
	switch args[0] {
	case "ingest":
		return ingest(ctx, env, args[1:])
	case "tokens":
		return tokens(ctx, env, args[1:])
	case "alerts":
		return alerts(ctx, env, args[1:])
	case "correlate":
		return correlateCmd(ctx, env, args[1:])
	case "bench":
		if len(args) > 1 && args[1] == "e2e" {
			return usageError{"bench e2e moved to the worker, which embeds Temporal: go run ./worker bench e2e"}
		}
		if len(args) > 1 && args[1] == "queue" {
			return benchQueue(ctx, env, args[2:])
		}
		return bench(ctx, env, args[1:])
	case "audit":
		return audit(ctx, env, args[1:])
	case "notifications":
		return notifications(ctx, env, args[1:])
	case "playbooks":
		return playbooks(ctx, env, args[1:])
	case "incidents":
		return incidents(ctx, env, args[1:])
	case "metrics":
		return metrics(ctx, env, args[1:])
	case "reports":
		return reports(ctx, env, args[1:])
	case "intel":
		return intelCmd(ctx, env, args[1:])
	case "questions":
		return questions(ctx, env, args[1:])
	case "exercise", "exercises":
		return exerciseCmd(ctx, env, args[1:])
	case "actions":
		if len(args) < 2 {
			return usageError{args[0] + ": missing subcommand"}
		}
		switch args[0] + " " + args[1] {
		case "actions list":
			return actionsList(ctx, env, args[2:])
		case "actions show":
			return actionsShow(ctx, env, args[2:])
		case "actions approve":
			return decide(ctx, env, "approve", args[2:])
		case "actions reject":
			return decide(ctx, env, "reject", args[2:])
		case "actions undo":
			return undo(ctx, env, args[2:])
		case "actions types":
			return actionTypes(ctx, env, args[2:])
		}
		return usageError{fmt.Sprintf("unknown command %q", args[0]+" "+args[1])}
	}
	return usageError{fmt.Sprintf("unknown command %q", args[0])}
}

func newFlags(env Env, name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	return fs
}

// parse parses flags that may follow positional arguments too
// ("actions approve 3 -m ok").
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// call sends a request and decodes a 2xx answer into out. Other answers
// become errors carrying the API's message.
func call(ctx context.Context, env Env, method, path string, body []byte, out any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(env.BaseURL, "/")+path, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return do(env, env.HTTP, req, out)
}

// do sends req with the token and decodes the answer as call does.
func do(env Env, client *http.Client, req *http.Request, out any) (int, error) {
	if env.Token != "" {
		req.Header.Set("Authorization", "Bearer "+env.Token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("cannot reach AIR at %s (is the worker running? set AIR_URL): %w", env.BaseURL, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	// Errors carry {"error": {...}}; an ingest answer with rejected items
	// (207, or 400 when none was usable) is a report, decoded like a success.
	var e struct {
		Error struct {
			Kind, Field, Message string
		} `json:"error"`
	}
	if json.Unmarshal(data, &e) == nil && e.Error.Message != "" {
		if wait, ok := retryAfter(resp); ok {
			return resp.StatusCode, &retryAfterError{wait: wait, msg: fmt.Sprintf("%s (%d): %s", e.Error.Kind, resp.StatusCode, e.Error.Message)}
		}
		if resp.StatusCode == http.StatusUnauthorized && env.Token == "" {
			e.Error.Message += "; set AIR_TOKEN (or run worker -dev here, which keeps an admin token in .air/admin-token)"
		}
		if e.Error.Field != "" {
			return resp.StatusCode, fmt.Errorf("%s (%d): %s: %s", e.Error.Kind, resp.StatusCode, e.Error.Field, e.Error.Message)
		}
		return resp.StatusCode, fmt.Errorf("%s (%d): %s", e.Error.Kind, resp.StatusCode, e.Error.Message)
	}
	if resp.StatusCode >= 300 && !json.Valid(data) {
		return resp.StatusCode, fmt.Errorf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(data)))
	}
	return resp.StatusCode, json.Unmarshal(data, out)
}

// retryAfterError is a 429 or 503 answer that says when to come back.
type retryAfterError struct {
	wait time.Duration
	msg  string
}

func (e *retryAfterError) Error() string {
	return fmt.Sprintf("%s (retry after %s)", e.msg, e.wait)
}

// retryAfter reads the Retry-After seconds of a 429 or 503 answer.
func retryAfter(resp *http.Response) (time.Duration, bool) {
	if resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable {
		return 0, false
	}
	secs, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || secs < 0 {
		return 0, false
	}
	return min(time.Duration(secs)*time.Second, time.Minute), true
}

func printJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
