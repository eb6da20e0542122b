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
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/airsoc/air/internal/api"
	"github.com/airsoc/air/internal/domain"
)

// Env is what a command runs with.
type Env struct {
	BaseURL string // AIR_URL
	Stdout  io.Writer
	Stderr  io.Writer
	HTTP    *http.Client
}

const usage = `Usage: starter COMMAND [flags]

Commands:
  ingest FILE...                  send alerts (a Graph alert, an array, a page or NDJSON; - for stdin)
  incidents list [-status S,...]  list incidents
  incidents show ID               show an incident with its alerts, entities and actions
  actions list [-status S,...]    list actions (default: pending)
  actions show ID                 show one action
  actions approve ID [-m COMMENT] approve a pending action
  actions reject ID [-m COMMENT]  reject a pending action

Environment:
  AIR_URL   the AIR API (default http://127.0.0.1:8080)

Every list and show command takes -o table|json.
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
	case "incidents", "actions":
		if len(args) < 2 {
			return usageError{args[0] + ": missing subcommand"}
		}
		switch args[0] + " " + args[1] {
		case "incidents list":
			return list(ctx, env, "incidents", args[2:], "")
		case "incidents show":
			return show(ctx, env, "incidents", args[2:])
		case "actions list":
			return list(ctx, env, "actions", args[2:], "pending")
		case "actions show":
			return show(ctx, env, "actions", args[2:])
		case "actions approve":
			return decide(ctx, env, "approve", args[2:])
		case "actions reject":
			return decide(ctx, env, "reject", args[2:])
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

func ingest(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "ingest")
	out := fs.String("o", "table", "output: table or json")
	files, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return usageError{"ingest: name at least one file (- for stdin)"}
	}
	failed := false
	for _, f := range files {
		var body []byte
		if f == "-" {
			body, err = io.ReadAll(os.Stdin)
		} else {
			body, err = os.ReadFile(f)
		}
		if err != nil {
			return err
		}
		var resp api.IngestResponse
		status, err := call(ctx, env, http.MethodPost, "/api/v1/alerts", body, &resp)
		if err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		if status != http.StatusOK {
			failed = true
		}
		if *out == "json" {
			printJSON(env.Stdout, resp)
			continue
		}
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "%s: %d accepted, %d rejected\n", f, resp.Accepted, resp.Rejected)
		for _, r := range resp.Results {
			note := ""
			if r.NewIncident {
				note = "(new incident)"
			}
			fmt.Fprintf(tw, "  #%d\t%s\t%s\tincident %d %s\n", r.Index, r.ID, r.Outcome, r.IncidentID, note)
		}
		for _, p := range resp.Problems {
			fmt.Fprintf(tw, "  #%d\t%s\trejected\t%s: %s\n", p.Index, p.ID, p.Field, p.Reason)
		}
		if resp.Warning != "" {
			fmt.Fprintf(tw, "  warning: %s\n", resp.Warning)
		}
		tw.Flush()
	}
	if failed {
		return errors.New("some alerts were not accepted")
	}
	return nil
}

func list(ctx context.Context, env Env, what string, args []string, defStatus string) error {
	fs := newFlags(env, what+" list")
	status := fs.String("status", defStatus, "comma-separated statuses ('' for all)")
	incident := fs.String("incident", "", "only this incident's actions")
	out := fs.String("o", "table", "output: table or json")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	q := url.Values{}
	if *status != "" {
		q.Set("status", *status)
	}
	if *incident != "" {
		q.Set("incidentId", *incident)
	}
	path := "/api/v1/" + what
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var page struct {
		Value json.RawMessage `json:"value"`
	}
	if _, err := call(ctx, env, http.MethodGet, path, nil, &page); err != nil {
		return err
	}
	if *out == "json" {
		env.Stdout.Write(page.Value)
		fmt.Fprintln(env.Stdout)
		return nil
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	defer tw.Flush()
	if what == "incidents" {
		var incs []domain.Incident
		if err := json.Unmarshal(page.Value, &incs); err != nil {
			return err
		}
		fmt.Fprintln(tw, "ID\tSEVERITY\tSTATUS\tINVESTIGATION\tALERTS\tNAME")
		for _, i := range incs {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%s\n", i.ID, i.Severity, i.Status, i.InvestigationState, i.AlertCount, i.DisplayName)
		}
		return nil
	}
	var acts []domain.Action
	if err := json.Unmarshal(page.Value, &acts); err != nil {
		return err
	}
	fmt.Fprintln(tw, "ID\tINCIDENT\tTYPE\tTARGET\tSTATUS\tWHY")
	for _, a := range acts {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", a.ID, a.IncidentID, a.Type, a.TargetName, a.Status, a.Reason)
	}
	return nil
}

func show(ctx context.Context, env Env, what string, args []string) error {
	fs := newFlags(env, what+" show")
	fs.String("o", "json", "output: json")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{what + " show: name one id"}
	}
	var v json.RawMessage
	if _, err := call(ctx, env, http.MethodGet, "/api/v1/"+what+"/"+url.PathEscape(pos[0]), nil, &v); err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, v, "", "  "); err != nil {
		return err
	}
	fmt.Fprintln(env.Stdout, buf.String())
	return nil
}

func decide(ctx context.Context, env Env, verb string, args []string) error {
	fs := newFlags(env, "actions "+verb)
	comment := fs.String("m", "", "comment recorded with the decision")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"actions " + verb + ": name one action id"}
	}
	body, _ := json.Marshal(api.DecisionBody{Comment: *comment})
	var a domain.Action
	if _, err := call(ctx, env, http.MethodPost, "/api/v1/actions/"+url.PathEscape(pos[0])+"/"+verb, body, &a); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "action %s (%s on %s): %s by %s\n", a.ID, a.Type, a.TargetName, a.Status, a.DecidedBy)
	return nil
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
	if u := os.Getenv("USER"); u != "" {
		req.Header.Set("X-AIR-Actor", u)
	}
	resp, err := env.HTTP.Do(req)
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

func printJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
