package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/airsoc/air/internal/api"
	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/records"
)

// tokens is `starter tokens create|list|revoke`. It talks to the API as an
// admin, like every other command, rather than to the database: the worker
// stays the one place that writes tokens and audits it, and the command
// line needs no database credentials.
func tokens(ctx context.Context, env Env, args []string) error {
	if len(args) == 0 {
		return usageError{"tokens: missing subcommand (create, list, revoke)"}
	}
	switch args[0] {
	case "create":
		return tokenCreate(ctx, env, args[1:])
	case "list":
		return tokenList(ctx, env, args[1:])
	case "revoke":
		return tokenRevoke(ctx, env, args[1:])
	}
	return usageError{fmt.Sprintf("unknown command %q", "tokens "+args[0])}
}

func tokenCreate(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "tokens create")
	role := fs.String("role", "", "viewer, analyst, responder or admin (required)")
	groups := fs.String("groups", "", "device groups the token is scoped to, comma-separated (default: every group)")
	name := fs.String("name", "", "who the token is for, as decisions and the audit log show it (default: the token's id)")
	out := outputFlag(fs, "table", "table|json")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := checkOutput(*out, "table|json"); err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError{fmt.Sprintf("tokens create: unexpected argument %q", pos[0])}
	}
	if *role == "" {
		return usageError{"tokens create: --role is required (viewer, analyst, responder or admin)"}
	}
	body, _ := json.Marshal(api.TokenRequest{Name: *name, Role: *role, Groups: auth.ParseGroups([]string{*groups})})
	var c auth.Created
	if _, err := call(ctx, env, http.MethodPost, "/api/v1/tokens", body, &c); err != nil {
		return err
	}
	if *out == "json" {
		printJSON(env.Stdout, c)
		return nil
	}
	scope := "every device group"
	if len(c.Token.Groups) > 0 {
		scope = "device groups " + strings.Join(c.Token.Groups, ", ")
	}
	fmt.Fprintf(env.Stdout, "token %s for %s: role %s, %s\n", c.Token.ID, c.Token.Name, c.Token.Role, scope)
	fmt.Fprintf(env.Stdout, "secret (shown once; keep it safe, send it as AIR_TOKEN or Authorization: Bearer):\n%s\n", c.Secret)
	return nil
}

func tokenList(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "tokens list")
	out := outputFlag(fs, "table", "table|json")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if err := checkOutput(*out, "table|json"); err != nil {
		return err
	}
	var page struct {
		Value []records.Token `json:"value"`
	}
	if _, err := call(ctx, env, http.MethodGet, "/api/v1/tokens", nil, &page); err != nil {
		return err
	}
	if *out == "json" {
		printJSON(env.Stdout, page.Value)
		return nil
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tROLE\tGROUPS\tCREATED\tLAST USED\tSTATE")
	for _, t := range page.Value {
		state := "active"
		if t.RevokedAt != nil {
			state = "revoked " + t.RevokedAt.UTC().Format(time.DateTime) + " by " + t.RevokedBy
		}
		groups := strings.Join(t.Groups, ",")
		if groups == "" {
			groups = "(all)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, t.Role, groups,
			t.CreatedAt.UTC().Format(time.DateTime), stamp(t.LastUsedAt), state)
	}
	return tw.Flush()
}

func stamp(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.DateTime)
}

func tokenRevoke(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "tokens revoke")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"tokens revoke: name one token id (starter tokens list shows them)"}
	}
	var t records.Token
	if _, err := call(ctx, env, http.MethodDelete, "/api/v1/tokens/"+url.PathEscape(pos[0]), nil, &t); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "token %s (%s) revoked; its page sessions ended\n", t.ID, t.Name)
	return nil
}

// audit is `starter audit`: the audit log with the API's filters.
func audit(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "audit")
	filters := map[string]*string{
		"actor":      fs.String("actor", "", "who, comma-separated"),
		"verb":       fs.String("verb", "", "what, comma-separated; a trailing . matches a prefix (action.)"),
		"object":     fs.String("object", "", "the object, such as action:ID or token:ID"),
		"incidentId": fs.String("incident", "", "one incident's entries"),
		"since":      fs.String("since", "", "at or after (RFC 3339 or YYYY-MM-DD)"),
		"until":      fs.String("until", "", "before (RFC 3339 or YYYY-MM-DD)"),
		"order":      fs.String("order", "", "asc for oldest first (default newest first)"),
		"limit":      fs.String("limit", "", "rows (at most 1000; 10000 for csv)"),
		"offset":     fs.String("offset", "", "rows to skip"),
	}
	out := outputFlag(fs, "table", "table|json|csv")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if err := checkOutput(*out, "table|json|csv"); err != nil {
		return err
	}
	var page records.AuditPage
	if table, err := listPage(ctx, env, "/api/v1/audit", url.Values{}, filters, *out, &page); err != nil || !table {
		return err
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "AT\tACTOR\tVERB\tOBJECT\tBEFORE → AFTER")
	for _, e := range page.Value {
		change := oneLine(e.After, 80)
		if e.Before != "" {
			change = oneLine(e.Before, 40) + " → " + change
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.At.UTC().Format(time.DateTime), e.Actor, e.Verb, e.Object, change)
	}
	return tw.Flush()
}
