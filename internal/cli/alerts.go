package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"

	"github.com/airsoc/air/internal/api"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/records"
	"github.com/airsoc/air/internal/storebench"
)

// alerts runs `starter alerts export|move`.
func alerts(ctx context.Context, env Env, args []string) error {
	if len(args) == 0 {
		return usageError{"alerts: missing subcommand (export, move, update)"}
	}
	switch args[0] {
	case "export":
		return alertsExport(ctx, env, args[1:])
	case "move":
		return alertsMove(ctx, env, args[1:])
	case "update":
		return alertsUpdate(ctx, env, args[1:])
	}
	return usageError{fmt.Sprintf("unknown command %q", "alerts "+args[0])}
}

// alertsExport writes "alert_id,incident_id" CSV lines, header first, from
// the API (GET /api/v1/alerts/export) or, with --db, straight from a store
// (for scoring a replay that `starter bench ingest --keep` left behind).
func alertsExport(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "alerts export")
	db := fs.String("db", "", "read this store (postgres://… or a SQLite file) instead of calling the API")
	out := fs.String("o", "-", "write to this file (- for standard output)")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	w := env.Stdout
	if *out != "-" {
		f, err := os.Create(*out)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	if *db == "" {
		return callRaw(ctx, env, "/api/v1/alerts/export", w)
	}
	return storebench.ExportAssignments(ctx, *db, w)
}

// alertsMove moves an alert to another incident, or a new one.
func alertsMove(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "alerts move")
	to := fs.Int64("to", 0, "the incident to move the alert to (0 or absent: a new incident)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"alerts move: name one alert id"}
	}
	body, _ := json.Marshal(api.MoveBody{IncidentID: *to})
	var res api.MoveResult
	if _, err := call(ctx, env, http.MethodPost, "/api/v1/alerts/"+url.PathEscape(pos[0])+"/move", body, &res); err != nil {
		return err
	}
	note := ""
	if res.NewIncident {
		note = " (new incident)"
	}
	fmt.Fprintf(env.Stdout, "alert %s is now in incident %s%s\n", res.AlertID, strconv.FormatInt(res.IncidentID, 10), note)
	if res.Warning != "" {
		fmt.Fprintln(env.Stdout, "warning:", res.Warning)
	}
	return nil
}

// alertsUpdate manages one alert (PATCH /api/v1/alerts/{id}): status,
// classification and determination, assignment, a comment.
func alertsUpdate(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "alerts update")
	status := fs.String("status", "", "new, inProgress or resolved (resolving an incident's last open alert resolves it; reopening one reopens it)")
	class := fs.String("classification", "", "truePositive, falsePositive, informationalExpectedActivity or unknown (with --determination)")
	det := fs.String("determination", "", "the determination that fits the classification (starter incidents --help lists them)")
	assign := fs.String("assign", "", `assign the alert to this person ("-" unassigns)`)
	comment := fs.String("m", "", "a comment, in the incident's activity log on the alert")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"alerts update: name one alert id"}
	}
	var ch records.AlertChange
	set := func(v string) *string {
		if v == "" {
			return nil
		}
		return &v
	}
	if *status != "" {
		st := domain.AlertStatus(*status)
		ch.Status = &st
	}
	ch.Classification, ch.Determination = set(*class), set(*det)
	if *assign == "-" {
		ch.AssignedTo = new(string)
	} else {
		ch.AssignedTo = set(*assign)
	}
	ch.Comment = *comment
	body, _ := json.Marshal(ch)
	var a domain.Alert
	if _, err := call(ctx, env, http.MethodPatch, "/api/v1/alerts/"+url.PathEscape(pos[0]), body, &a); err != nil {
		return err
	}
	who := a.AssignedTo
	if who == "" {
		who = "-"
	}
	fmt.Fprintf(env.Stdout, "alert %s: %s, %s/%s, assigned to %s\n", a.ID, a.Status, orDash(a.Classification), orDash(a.Determination), who)
	return nil
}
