package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/airsoc/air/internal/api"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/records"
)

// defaultToken is AIR_TOKEN, else the dev worker's admin token file.
func defaultToken() string {
	if t := strings.TrimSpace(os.Getenv("AIR_TOKEN")); t != "" {
		return t
	}
	dir := os.Getenv("AIR_DATA_DIR")
	if dir == "" {
		dir = ".air"
	}
	b, err := os.ReadFile(filepath.Join(dir, "admin-token"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// outputFlag binds --output and its short form -o.
func outputFlag(fs *flag.FlagSet, def, allowed string) *string {
	out := fs.String("output", def, "output: "+allowed)
	fs.StringVar(out, "o", def, "short for --output")
	return out
}

// parseOne parses a show-style command's flags and its one positional
// argument, what names it (e.g. "one action id"), and checks --output.
func parseOne(fs *flag.FlagSet, args []string, out *string, allowed, what string) (string, error) {
	pos, err := parsePositional(fs, args, out, allowed, what, func(n int) bool { return n == 1 })
	if err != nil {
		return "", err
	}
	return pos[0], nil
}

// parseSome is parseOne for commands that take one or more arguments.
func parseSome(fs *flag.FlagSet, args []string, out *string, allowed, what string) ([]string, error) {
	return parsePositional(fs, args, out, allowed, what, func(n int) bool { return n > 0 })
}

func parsePositional(fs *flag.FlagSet, args []string, out *string, allowed, what string, ok func(int) bool) ([]string, error) {
	pos, err := parse(fs, args)
	if err != nil {
		return nil, err
	}
	if err := checkOutput(*out, allowed); err != nil {
		return nil, err
	}
	if !ok(len(pos)) {
		return nil, usageError{fmt.Sprintf("%s: name %s", fs.Name(), what)}
	}
	return pos, nil
}

func checkOutput(out, allowed string) error {
	for _, a := range strings.Split(allowed, "|") {
		if out == a {
			return nil
		}
	}
	return usageError{fmt.Sprintf("--output %q: want %s", out, allowed)}
}

// actionsList is `starter actions list`: the action center's filters, as
// the API takes them (see api.ParseActionQuery).
func actionsList(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "actions list")
	view := fs.String("view", "pending", "pending, history or all; with -status and no -view: all (the statuses choose)")
	filters := map[string]*string{
		"status":      fs.String("status", "", "statuses, comma-separated (pending, approved, rejected, expired, running, succeeded, failed, undone)"),
		"type":        fs.String("type", "", "action types, comma-separated (device.isolate, …)"),
		"source":      fs.String("source", "", "automated or manual"),
		"incidentId":  fs.String("incident", "", "incident ids, comma-separated"),
		"deviceGroup": fs.String("group", "", "device groups, comma-separated"),
		"decidedBy":   fs.String("decided-by", "", "who decided, comma-separated"),
		"since":       fs.String("since", "", "created at or after (RFC 3339 or YYYY-MM-DD)"),
		"until":       fs.String("until", "", "created before (RFC 3339 or YYYY-MM-DD)"),
		"newerThan":   fs.String("newer-than", "", "created within this age (90m, 24h, 7d, 2w)"),
		"olderThan":   fs.String("older-than", "", "created longer ago than this age (90m, 24h, 7d, 2w)"),
		"sort":        fs.String("sort", "", "column (createdAt, decidedAt, type, status, incidentId, target, source, decidedBy), - first for descending"),
		"limit":       fs.String("limit", "", "rows per page (at most 1000; 10000 for csv)"),
		"offset":      fs.String("offset", "", "rows to skip"),
	}
	out := outputFlag(fs, "table", "table|json|csv")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if err := checkOutput(*out, "table|json|csv"); err != nil {
		return err
	}
	// -status narrows what is listed: without -view it picks from every
	// action, not from the default pending view (which it would
	// contradict, unless it asks for pending).
	viewSet := false
	fs.Visit(func(f *flag.Flag) { viewSet = viewSet || f.Name == "view" })
	if *filters["status"] != "" && !viewSet {
		*view = "all"
	}
	q := url.Values{}
	if *view != "all" {
		q.Set("view", *view)
	}
	var page records.ActionPage
	if table, err := listPage(ctx, env, "/api/v1/actions", q, filters, *out, &page); err != nil || !table {
		return err
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tINCIDENT\tTYPE\tTARGET\tSTATUS\tCREATED\tDECIDED BY\tWHY")
	for _, a := range page.Value {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", a.ID, a.IncidentID, a.Type, a.TargetName, a.Status,
			a.CreatedAt.UTC().Format(time.DateTime), a.DecidedBy, oneLine(a.Reason, 80))
	}
	tw.Flush()
	morePages(env, page.Total, page.Offset, len(page.Value))
	return nil
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len([]rune(s)) > n {
		return string([]rune(s)[:n-1]) + "…"
	}
	return s
}

func actionsShow(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "actions show")
	out := outputFlag(fs, "json", "json|table")
	id, err := parseOne(fs, args, out, "json|table", "one action id")
	if err != nil {
		return err
	}
	var a domain.Action
	if _, err := call(ctx, env, http.MethodGet, "/api/v1/actions/"+url.PathEscape(id), nil, &a); err != nil {
		return err
	}
	if *out == "json" {
		printJSON(env.Stdout, a)
		return nil
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	for _, kv := range [][2]string{{"id", a.ID}, {"incident", fmt.Sprint(a.IncidentID)}, {"type", a.Type},
		{"target", a.TargetName + " (" + string(a.TargetKey) + ")"}, {"params", string(a.Params)},
		{"source", string(a.Source)}, {"requested by", a.RequestedBy}, {"status", string(a.Status)},
		{"why", a.Reason}, {"decided by", a.DecidedBy}, {"comment", a.DecisionComment},
		{"created", a.CreatedAt.UTC().Format(time.RFC3339)}, {"result", a.Result}, {"error", a.Error},
		{"connectors", strings.Join(a.Connectors, ", ")}, {"carried by", a.Connector}, {"passed over", a.ConnectorNote},
		{"undo of", a.UndoOf}, {"playbook", fmt.Sprintf("%s v%d step %s", a.Playbook, a.PlaybookVersion, a.Step)}} {
		if kv[1] != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", kv[0], kv[1])
		}
	}
	return tw.Flush()
}

// decide approves or rejects: one id through the action's own endpoint,
// several through the bulk endpoint (all of one type).
func decide(ctx context.Context, env Env, verb string, args []string) error {
	fs := newFlags(env, "actions "+verb)
	comment := fs.String("m", "", "comment recorded with the decision")
	fs.StringVar(comment, "comment", "", "same as -m")
	out := outputFlag(fs, "table", "table|json")
	ids, err := parseSome(fs, args, out, "table|json", "at least one action id")
	if err != nil {
		return err
	}
	if len(ids) == 1 {
		body, _ := json.Marshal(api.DecisionBody{Comment: *comment})
		var a domain.Action
		if _, err := call(ctx, env, http.MethodPost, "/api/v1/actions/"+url.PathEscape(ids[0])+"/"+verb, body, &a); err != nil {
			return err
		}
		if *out == "json" {
			printJSON(env.Stdout, a)
			return nil
		}
		fmt.Fprintf(env.Stdout, "action %s (%s on %s): %s by %s\n", a.ID, a.Type, a.TargetName, a.Status, a.DecidedBy)
		return nil
	}
	body, _ := json.Marshal(api.BulkDecisionBody{IDs: ids, Decision: domain.Decision(verb), Comment: *comment})
	var resp api.BulkDecisionResponse
	if _, err := call(ctx, env, http.MethodPost, "/api/v1/actions/decide", body, &resp); err != nil {
		return err
	}
	if *out == "json" {
		printJSON(env.Stdout, resp)
	} else {
		for _, r := range resp.Results {
			if r.OK {
				fmt.Fprintf(env.Stdout, "action %s (%s on %s): %s by %s\n", r.ID, r.Action.Type, r.Action.TargetName, r.Action.Status, r.Action.DecidedBy)
			} else {
				fmt.Fprintf(env.Stdout, "action %s: not decided: %s (%s)\n", r.ID, r.Error.Message, r.Error.Kind)
			}
		}
	}
	if resp.Failed > 0 {
		return fmt.Errorf("%d of %d actions were not decided", resp.Failed, len(resp.Results))
	}
	return nil
}

func undo(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "actions undo")
	comment := fs.String("m", "", "comment recorded with the undo")
	fs.StringVar(comment, "comment", "", "same as -m")
	out := outputFlag(fs, "table", "table|json")
	id, err := parseOne(fs, args, out, "table|json", "one action id")
	if err != nil {
		return err
	}
	body, _ := json.Marshal(map[string]string{"comment": *comment})
	var a domain.Action
	if _, err := call(ctx, env, http.MethodPost, "/api/v1/actions/"+url.PathEscape(id)+"/undo", body, &a); err != nil {
		return err
	}
	if *out == "json" {
		printJSON(env.Stdout, a)
		return nil
	}
	fmt.Fprintf(env.Stdout, "undo of %s: action %s (%s on %s) %s\n", id, a.ID, a.Type, a.TargetName, a.Status)
	return nil
}

// callRaw copies a 2xx answer (a CSV export) to w; other answers become
// errors as in call.
func callRaw(ctx context.Context, env Env, path string, w io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(env.BaseURL, "/")+path, nil)
	if err != nil {
		return err
	}
	if env.Token != "" {
		req.Header.Set("Authorization", "Bearer "+env.Token)
	}
	resp, err := env.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach AIR at %s (is the worker running? set AIR_URL): %w", env.BaseURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		_, err := io.Copy(w, resp.Body)
		return err
	}
	data, _ := io.ReadAll(resp.Body)
	var e struct {
		Error struct{ Kind, Field, Message string } `json:"error"`
	}
	if json.Unmarshal(data, &e) == nil && e.Error.Message != "" {
		if e.Error.Field != "" {
			return fmt.Errorf("%s (%d): %s: %s", e.Error.Kind, resp.StatusCode, e.Error.Field, e.Error.Message)
		}
		return fmt.Errorf("%s (%d): %s", e.Error.Kind, resp.StatusCode, e.Error.Message)
	}
	return errors.New(resp.Status)
}

// listPage fetches a filtered list from path: as CSV it is streamed as the
// API writes it, as JSON printed; for a table it is decoded into page and
// listPage reports that the caller prints it.
func listPage(ctx context.Context, env Env, path string, q url.Values, filters map[string]*string, out string, page any) (table bool, err error) {
	for k, v := range filters {
		if *v != "" {
			q.Set(k, *v)
		}
	}
	if out == "csv" {
		q.Set("format", "csv")
		return false, callRaw(ctx, env, path+"?"+q.Encode(), env.Stdout)
	}
	if _, err := call(ctx, env, http.MethodGet, path+"?"+q.Encode(), nil, page); err != nil {
		return false, err
	}
	if out == "json" {
		printJSON(env.Stdout, page)
		return false, nil
	}
	return true, nil
}

// morePages tells on standard error, after a page of a list, how to get
// the next one.
func morePages(env Env, total, offset, n int) {
	if total > offset+n {
		fmt.Fprintf(env.Stderr, "%d-%d of %d; --offset %d for more\n", offset+1, offset+n, total, offset+n)
	}
}
