package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/exercise"
)

// exerciseCmd runs breach exercises: run a scenario, list them, show one
// and its score (docs/secops.md).
func exerciseCmd(ctx context.Context, env Env, args []string) error {
	if len(args) == 0 {
		return usageError{"exercise: want run, list, show or score"}
	}
	switch args[0] {
	case "run":
		return exerciseRun(ctx, env, args[1:])
	case "list":
		fs := newFlags(env, "exercise list")
		out := outputFlag(fs, "table", "table|json")
		if _, err := parsePositional(fs, args[1:], out, "table|json", "no arguments", func(n int) bool { return n == 0 }); err != nil {
			return err
		}
		var list struct {
			Value []domain.Exercise `json:"value"`
		}
		if _, err := call(ctx, env, http.MethodGet, "/api/v1/exercises", nil, &list); err != nil {
			return err
		}
		if *out == "json" {
			printJSON(env.Stdout, list.Value)
			return nil
		}
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tSPEED\tALERTS\tINCIDENTS\tSTARTED\tFINISHED\tBY")
		for _, e := range list.Value {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%d\t%s\t%s\t%s\n", e.ID, e.Name, speedName(e.Speed), e.Alerts, e.Incidents,
				fmtTime(&e.CreatedAt), fmtTime(e.Finished), e.CreatedBy)
		}
		return tw.Flush()
	case "show", "score":
		fs := newFlags(env, "exercise "+args[0])
		out := outputFlag(fs, "table", "table|json")
		arg, err := parseOne(fs, args[1:], out, "table|json", "one exercise id")
		if err != nil {
			return err
		}
		id, err := strconv.ParseInt(arg, 10, 64)
		if err != nil || id <= 0 {
			return usageError{fmt.Sprintf("exercise %s: want an exercise id, got %q", args[0], arg)}
		}
		var sc domain.ExerciseScore
		if _, err := call(ctx, env, http.MethodGet, fmt.Sprintf("/api/v1/exercises/%d/score", id), nil, &sc); err != nil {
			return err
		}
		var incidents []int64
		if args[0] == "show" {
			var d struct {
				IncidentIDs []int64 `json:"incidentIds"`
			}
			if _, err := call(ctx, env, http.MethodGet, fmt.Sprintf("/api/v1/exercises/%d", id), nil, &d); err != nil {
				return err
			}
			incidents = d.IncidentIDs
		}
		if *out == "json" {
			printJSON(env.Stdout, sc)
			return nil
		}
		printScore(env.Stdout, &sc)
		if args[0] == "show" {
			fmt.Fprintf(env.Stdout, "\nIncidents (not in the queue; starter incidents show ID): %v\n", incidents)
		}
		return nil
	}
	return usageError{fmt.Sprintf("exercise: unknown %q; want run, list, show or score", args[0])}
}

// exerciseBatch bounds the alerts one replay request carries.
const exerciseBatch = 500

// exerciseRun replays a scenario into a new exercise: alerts go in batches
// at their (compressed) offsets, a progress line on standard error, then
// the exercise is finished and its score printed.
func exerciseRun(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "exercise run")
	speed := fs.Float64("speed", 60, "replay speed: 60 replays a minute of the scenario per second")
	realTime := fs.Bool("real-time", false, "replay at the scenario's own pace (speed 1)")
	name := fs.String("name", "", "the exercise's name (default: the scenario's)")
	limit := fs.Int("limit", 0, "replay only the first N alerts (0: all)")
	out := outputFlag(fs, "table", "table|json")
	pos, err := parsePositional(fs, args, out, "table|json", "one scenario file", func(n int) bool { return n == 1 })
	if err != nil {
		return err
	}
	if *realTime {
		*speed = 1
	}
	if *speed <= 0 {
		return usageError{fmt.Sprintf("exercise run: --speed wants more than 0, got %g", *speed)}
	}
	sc, err := exercise.Load(pos[0])
	if err != nil {
		return err
	}
	if *limit > 0 && *limit < len(sc.Steps) {
		sc.Steps = sc.Steps[:*limit]
	}
	if *name == "" {
		*name = sc.Name
	}
	body, _ := json.Marshal(map[string]any{"name": *name, "source": pos[0], "speed": *speed})
	var ex domain.Exercise
	if _, err := call(ctx, env, http.MethodPost, "/api/v1/exercises", body, &ex); err != nil {
		return err
	}
	fmt.Fprintf(env.Stderr, "exercise %d: %s, %d alerts over %s, at %s\n", ex.ID, ex.Name, len(sc.Steps),
		sc.Steps[len(sc.Steps)-1].After, speedName(*speed))
	start := time.Now()
	sent := 0
	for _, b := range sc.Batches(*speed, time.Second, exerciseBatch) {
		if err := sleepCtx(ctx, time.Until(start.Add(b.At))); err != nil {
			return fmt.Errorf("exercise %d stopped after %d alerts: %w", ex.ID, sent, err)
		}
		items := make([]domain.ExerciseAlert, 0, b.End-b.Start)
		for _, st := range sc.Steps[b.Start:b.End] {
			doc, err := st.Body(start)
			if err != nil {
				return err
			}
			items = append(items, domain.ExerciseAlert{Label: st.Label.Label, Phase: st.Label.Phase, Alert: domain.RawJSON(doc)})
		}
		req, _ := json.Marshal(map[string]any{"alerts": items})
		if err := sendExerciseBatch(ctx, env, ex.ID, req); err != nil {
			return fmt.Errorf("exercise %d stopped after %d alerts: %w", ex.ID, sent, err)
		}
		sent += len(items)
		fmt.Fprintf(env.Stderr, "\rexercise %d: %d/%d alerts sent, scenario time %s, %s elapsed   ", ex.ID, sent, len(sc.Steps),
			sc.Steps[b.End-1].After.Round(time.Second), time.Since(start).Round(time.Second))
	}
	fmt.Fprintln(env.Stderr)
	if _, err := call(ctx, env, http.MethodPost, fmt.Sprintf("/api/v1/exercises/%d/finish", ex.ID), nil, &ex); err != nil {
		return err
	}
	var score domain.ExerciseScore
	if _, err := call(ctx, env, http.MethodGet, fmt.Sprintf("/api/v1/exercises/%d/score", ex.ID), nil, &score); err != nil {
		return err
	}
	if *out == "json" {
		printJSON(env.Stdout, score)
		return nil
	}
	printScore(env.Stdout, &score)
	fmt.Fprintf(env.Stdout, "\nThe score moves on while people act on the exercise's incidents: starter exercise score %d\n", ex.ID)
	return nil
}

// sendExerciseBatch posts one batch, waiting out throttling (429, or 503
// with Retry-After) a few times: ingest is idempotent, so a batch sent
// again stores nothing twice.
func sendExerciseBatch(ctx context.Context, env Env, id int64, body []byte) error {
	for attempt := 0; ; attempt++ {
		var res struct {
			Rejected int `json:"rejected"`
			Problems []struct {
				Index   int    `json:"index"`
				Field   string `json:"field"`
				Message string `json:"message"`
			} `json:"problems"`
		}
		_, err := call(ctx, env, http.MethodPost, fmt.Sprintf("/api/v1/exercises/%d/alerts", id), body, &res)
		var ra *retryAfterError
		if errors.As(err, &ra) && attempt < 5 {
			if err := sleepCtx(ctx, ra.wait); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		for _, p := range res.Problems {
			fmt.Fprintf(env.Stderr, "\nalert #%d rejected: %s: %s", p.Index, p.Field, p.Message)
		}
		return nil
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func speedName(s float64) string {
	if s == 1 {
		return "real time"
	}
	return strconv.FormatFloat(s, 'g', 4, 64) + "×"
}

// printScore prints an exercise's score as tables.
func printScore(w io.Writer, sc *domain.ExerciseScore) {
	e, g := sc.Exercise, sc.Grouping
	state := "running"
	if e.Finished != nil {
		state = "finished " + fmtTime(e.Finished)
	}
	fmt.Fprintf(w, "Exercise %d: %s (%s), %s, %d alerts, %d incidents, %s\n\n", e.ID, e.Name, orDash(e.Source),
		speedName(e.Speed), e.Alerts, e.Incidents, state)
	fmt.Fprintf(w, "Grouping (score_correlation.py's figures)\n")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  phase_f1\t%.4f\tphase_p %.4f, phase_r %.4f\n", g.PhaseF1, g.PhaseP, g.PhaseR)
	fmt.Fprintf(tw, "  story\t%.4f\tshare of attack-phase pairs that meet in an incident\n", g.Story)
	fmt.Fprintf(tw, "  f1\t%.4f\tprecision %.4f, recall %.4f\n", g.F1, g.Precision, g.Recall)
	fmt.Fprintf(tw, "  incidents\t%d\t%d holding attack alerts; %d of %d alerts in none\n", g.Incidents, g.AttackInc, g.Missing, g.Alerts)
	tw.Flush()
	fmt.Fprintf(w, "\nPer attack phase (from its first alert reaching AIR)\n")
	fmt.Fprintln(tw, "  PHASE\tALERTS\tINCIDENTS\tTO ACKNOWLEDGE\tTO CONTAIN")
	for _, p := range sc.Phases {
		fmt.Fprintf(tw, "  %s\t%d\t%d\t%s\t%s\n", p.Phase, p.Alerts, len(p.Incidents), secs(p.TimeToAcknowledge), secs(p.TimeToContain))
	}
	tw.Flush()
	a := sc.Actions
	fmt.Fprintf(w, "\nActions: %d by automation alone, %d after an analyst's approval, %d waiting for people, %d rejected or expired\n",
		a.Automated, a.Approved, a.Waiting, a.Refused)
	if len(a.ByType) > 0 {
		fmt.Fprintln(tw, "  TYPE\tAUTOMATED\tAPPROVED\tWAITING\tREFUSED")
		for _, t := range a.ByType {
			fmt.Fprintf(tw, "  %s\t%d\t%d\t%d\t%d\n", t.Type, t.Automated, t.Approved, t.Waiting, t.Refused)
		}
		tw.Flush()
	}
}

// secs writes a duration in seconds as 1h2m3s, or "-" when it has not
// happened.
func secs(s *float64) string {
	if s == nil {
		return "not yet"
	}
	return (time.Duration(*s * float64(time.Second))).Round(time.Second).String()
}
