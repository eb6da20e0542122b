package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode/utf8"

	"github.com/airsoc/air/internal/api"
	"github.com/airsoc/air/internal/decode"
	"github.com/airsoc/air/internal/plan"
	"github.com/airsoc/air/internal/plan/scratch"
	"github.com/airsoc/air/internal/playbook"
	"github.com/airsoc/air/internal/policy"
)

// playbooksPlan runs `starter playbooks plan`: what the playbooks would do
// to an incident — from a file of alerts, correlated in memory, or an
// incident of the running AIR — without doing anything; with --against,
// how that differs from other versions of the playbooks.
func playbooksPlan(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "playbooks plan")
	fs.Usage = func() {
		fmt.Fprint(env.Stderr, "Usage: starter playbooks plan --incident FILE|ID [--against OLD_DIR] [--playbooks DIR] [--input KEY=VALUE ...] [-o table|json]\n\n"+
			"Print every action the playbooks would take for the incident, its parameters, and whether it\n"+
			"would run or wait for approval and why. FILE holds alerts in any form ingest accepts (they are\n"+
			"correlated in memory); ID is an incident of the AIR at AIR_URL. Nothing is changed anywhere.\n\n")
		fs.PrintDefaults()
	}
	incident := fs.String("incident", "", "alerts file, or incident id")
	dir := fs.String("playbooks", "", "playbook directory (default: the shipped set built into starter)")
	against := fs.String("against", "", "older playbook directory to compare with")
	level := fs.String("automation", "", "automation level for a FILE (default: semi-all); an ID uses the tenant's settings")
	out := fs.String("o", "table", "output: table (fits 120 columns), wide (one line per step, with parameters) or json (every field)")
	assume := fs.String("assume", "", "plan later steps as if the actions that would wait were `approved` or rejected (default: still pending)")
	answers := answerFlag{}
	fs.Var(answers, "answer", "assume an ask step's answer: `STEP=CHOICE[,CHOICE…]` (repeat for several steps; default: its default, else still open)")
	var inputs inputFlags
	fs.Var(&inputs, "input", "a playbook input's value, `KEY=VALUE` (every playbook declaring KEY) or PLAYBOOK.KEY=VALUE; repeatable; over the tenant's values for an ID")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if *assume != plan.AssumePending && *assume != plan.AssumeApproved && *assume != plan.AssumeRejected {
		return usageError{fmt.Sprintf("playbooks plan: --assume must be approved or rejected, got %q", *assume)}
	}
	opts := plan.Options{Assume: *assume, Answers: answers}
	if *incident == "" {
		return usageError{"playbooks plan: --incident FILE|ID is required"}
	}
	books, err := playbook.Load(*dir)
	if err != nil {
		return err
	}
	var old []*playbook.Playbook
	if *against != "" {
		if old, err = playbook.LoadDir(*against); err != nil {
			return fmt.Errorf("--against: %w", err)
		}
	}
	incs, err := planInputs(ctx, env, *incident, *level)
	if err != nil {
		return err
	}
	values, err := applyInputs(books, inputs, tenantInputs(ctx, env, books, *incident))
	if err != nil {
		return err
	}
	for i := range incs {
		incs[i].Inputs = values
	}
	type result struct {
		Plan    *plan.Plan    `json:"plan"`
		Changes []plan.Change `json:"changes,omitempty"`
	}
	var results []result
	for _, in := range incs {
		p, err := plan.MakeWith(books, in, opts)
		if err != nil {
			return err
		}
		r := result{Plan: p}
		if old != nil {
			op, err := plan.MakeWith(old, in, opts)
			if err != nil {
				return fmt.Errorf("--against: %w", err)
			}
			r.Changes = plan.Diff(op, p)
		}
		results = append(results, r)
	}
	if *out == "json" {
		printJSON(env.Stdout, results)
		return nil
	}
	for _, r := range results {
		printPlan(env, r.Plan, *out == "wide")
		if old != nil {
			printChanges(env, *against, *dir, r.Changes)
		}
	}
	return nil
}

// planInputs reads the incidents to plan: alerts from a file, correlated in
// memory, or an incident (and the tenant's settings) from the API.
func planInputs(ctx context.Context, env Env, incident, level string) ([]plan.Incident, error) {
	if id, err := strconv.ParseInt(incident, 10, 64); err == nil {
		if _, statErr := os.Stat(incident); statErr != nil {
			var d api.IncidentDetail
			if _, err := call(ctx, env, http.MethodGet, fmt.Sprintf("/api/v1/incidents/%d", id), nil, &d); err != nil {
				return nil, err
			}
			var set policy.Settings
			if _, err := call(ctx, env, http.MethodGet, "/api/v1/settings/automation", nil, &set); err != nil {
				return nil, err
			}
			return []plan.Incident{{Incident: d.Incident, Alerts: d.Alerts, Entities: d.Entities, Settings: set, Actions: d.Actions}}, nil
		}
	}
	f, err := os.Open(incident)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	alerts, problems, err := decode.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", incident, err)
	}
	for _, p := range problems {
		fmt.Fprintf(env.Stderr, "%s: alert #%d left out: %s: %s\n", incident, p.Index, p.Field, p.Reason)
	}
	set := policy.Settings{Default: policy.SemiAll}
	if level != "" {
		if set.Default, err = policy.ParseLevel("automation", level); err != nil {
			return nil, err
		}
	}
	return scratch.Incidents(ctx, alerts, set)
}

// tenantInputs reads, for a plan of an incident of the running AIR (an
// ID), the tenant's values of the inputs of the playbooks that declare
// some; a playbook that AIR does not know has none. A plan of a file of
// alerts starts from the defaults.
func tenantInputs(ctx context.Context, env Env, books []*playbook.Playbook, incident string) map[string]map[string]any {
	out := map[string]map[string]any{}
	if _, err := strconv.ParseInt(incident, 10, 64); err != nil {
		return out
	}
	if _, err := os.Stat(incident); err == nil {
		return out
	}
	for _, pb := range books {
		if len(pb.Inputs) == 0 || pb.Kind == playbook.KindSub {
			continue
		}
		var cur api.PlaybookInputs
		if _, err := call(ctx, env, http.MethodGet, "/api/v1/playbooks/"+pb.Name+"/inputs", nil, &cur); err == nil && len(cur.Inputs) > 0 {
			out[pb.Name] = cur.Inputs
		}
	}
	return out
}

// planWidth is the width the plan table keeps to.
const planWidth = 120

func printPlan(env Env, p *plan.Plan, wide bool) {
	fmt.Fprintf(env.Stdout, "Incident %d: %s\n  playbooks: %v\n", p.IncidentID, p.Incident, p.Playbooks)
	for _, name := range slices.Sorted(maps.Keys(p.Inputs)) {
		vals := p.Inputs[name]
		parts := make([]string, 0, len(vals))
		for _, k := range slices.Sorted(maps.Keys(vals)) {
			parts = append(parts, k+"="+inputText(vals[k]))
		}
		fmt.Fprintf(env.Stdout, "  inputs of %s: %s\n", name, strings.Join(parts, " "))
	}
	for _, n := range p.NotRun {
		fmt.Fprintf(env.Stdout, "  not run: %s (%s)\n", n.Playbook, n.Reason)
	}
	for _, o := range p.Overlaps {
		fmt.Fprintf(env.Stdout, "  overlap: %s\n", o)
	}
	if p.Assumed != "" {
		fmt.Fprintf(env.Stdout, "  assuming every action that would wait is %s\n", p.Assumed)
	}
	if wide {
		printPlanWide(env, p)
		return
	}
	// One line per step (step, action, target, outcome), its reason on the
	// next, wrapped: the table fits 120 columns whatever the reasons say
	// (step names are cut at 44, targets shortened); parameters are in
	// -o wide and -o json.
	rows := make([][3]string, len(p.Steps))
	var width [3]int
	for i, s := range p.Steps {
		step := s.Playbook + "/" + s.Step
		if s.Via != "" {
			step = s.Via + " > " + s.Step
		}
		rows[i] = [3]string{clip(step, 44), s.Action, shortKey(s.Target)}
		for j, c := range rows[i] {
			width[j] = max(width[j], utf8.RuneCountInString(c))
		}
	}
	stage := playbook.Stage("")
	for i, s := range p.Steps {
		if s.Stage != stage {
			stage = s.Stage
			fmt.Fprintf(env.Stdout, "  %s\n", stage)
		}
		r := rows[i]
		fmt.Fprintf(env.Stdout, "    %s  %s  %s  %s\n", pad(r[0], width[0]), pad(r[1], width[1]), pad(r[2], width[2]), s.Outcome)
		for _, line := range wrap(s.Reason, planWidth-8) {
			fmt.Fprintf(env.Stdout, "        %s\n", line)
		}
	}
}

// pad fills s with spaces to n characters.
func pad(s string, n int) string {
	return s + strings.Repeat(" ", max(0, n-utf8.RuneCountInString(s)))
}

// printPlanWide prints one line per step with every column, for grep.
func printPlanWide(env Env, p *plan.Plan) {
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  STAGE\tPLAYBOOK\tSTEP\tACTION\tTARGET\tOUTCOME\tWHY\tPARAMS")
	for _, s := range p.Steps {
		step := s.Step
		if s.Via != "" {
			step = s.Via + " > " + s.Step
		}
		params, _ := json.Marshal(s.Params)
		fmt.Fprintf(tw, "  %s\t%s v%d\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Stage, s.Playbook, s.Version, step, s.Action, s.Target, s.Outcome, s.Reason, params)
	}
	tw.Flush()
}

// shortKey shortens a long entity key (a 40-digit device id, a sha256) to
// its kind and the first characters of its id.
func shortKey(key string) string {
	kind, id, ok := strings.Cut(key, ":")
	if !ok || len([]rune(id)) <= 20 {
		return key
	}
	return kind + ":" + string([]rune(id)[:12]) + "…"
}

// clip cuts s to n characters, marking the cut.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// wrap breaks text into lines of at most width characters at spaces (a
// longer word stays whole).
func wrap(text string, width int) []string {
	var lines []string
	var cur []rune
	for _, w := range strings.Fields(text) {
		word := []rune(w)
		if len(cur) > 0 && len(cur)+1+len(word) > width {
			lines = append(lines, string(cur))
			cur = nil
		}
		if len(cur) > 0 {
			cur = append(cur, ' ')
		}
		cur = append(cur, word...)
	}
	if len(cur) > 0 {
		lines = append(lines, string(cur))
	}
	return lines
}

func printChanges(env Env, oldDir, newDir string, changes []plan.Change) {
	if len(changes) == 0 {
		fmt.Fprintf(env.Stdout, "  no difference between %s and %s\n\n", oldDir, newDir)
		return
	}
	fmt.Fprintf(env.Stdout, "  changes from %s to %s:\n", oldDir, newDir)
	line := func(mark string, s *plan.Step) {
		params, _ := json.Marshal(s.Params)
		fmt.Fprintf(env.Stdout, "  %s %s v%d %s: %s %s → %s %s\n", mark, s.Playbook, s.Version, s.Step, s.Action, s.Target, s.Outcome, params)
	}
	for _, c := range changes {
		switch c.Kind {
		case "added":
			line("+", c.New)
		case "removed":
			line("-", c.Old)
		default:
			line("~", c.Old)
			line(" ", c.New)
		}
	}
	fmt.Fprintln(env.Stdout)
}

// answerFlag collects --answer STEP=CHOICE[,CHOICE…] flags.
type answerFlag map[string][]string

func (a answerFlag) String() string { return "" }

func (a answerFlag) Set(v string) error {
	step, choices, ok := strings.Cut(v, "=")
	if !ok || step == "" || choices == "" {
		return fmt.Errorf("want STEP=CHOICE, got %q", v)
	}
	a[step] = strings.Split(choices, ",")
	return nil
}
