package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/airsoc/air/internal/api"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/records"
)

const incidentsUsage = `starter incidents COMMAND

  list [filters] [--json|--csv]      the incident queue (default: active and in progress, high to low, last week)
  show ID [--json]                   summary, alerts, actions and activity of one incident
  assign ID... --to USER             assign incidents and their alerts (--to "" unassigns)
  tag ID... [--add T,...] [--remove T,...]
  comment ID... -m TEXT              comment on incidents
  classify ID... --classification C [--determination D]
  resolve ID... [-m RESOLVING_COMMENT] [--classification C --determination D]
  reopen ID...                       set resolved incidents active again
  rename ID --name NAME
  stop ID -m REASON                  stop the incident's running investigation (responder): no
                                     step runs after it, its pending actions are rejected
  review ID [-o json]                the post-incident review of a resolved incident: times to
                                     acknowledge, contain and resolve, who decided what, timeline

Several ids make one bulk change; each incident succeeds or fails on its own.
Classifications and their determinations:
  truePositive                   multiStagedAttack, maliciousUserActivity, compromisedAccount, malware,
                                 phishing, unwantedSoftware, other
  informationalExpectedActivity  securityTesting, lineOfBusinessApplication, confirmedActivity, other
  falsePositive                  notMalicious, notEnoughDataToValidate, other
  unknown                        unknown
`

// incidents runs `starter incidents …`.
func incidents(ctx context.Context, env Env, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(env.Stdout, incidentsUsage)
		return nil
	}
	switch args[0] {
	case "list":
		return incidentsList(ctx, env, args[1:])
	case "show":
		return incidentsShow(ctx, env, args[1:])
	case "review":
		return incidentsReview(ctx, env, args[1:])
	case "stop":
		return incidentsStop(ctx, env, args[1:])
	case "assign", "tag", "comment", "classify", "resolve", "reopen", "rename":
		return incidentsManage(ctx, env, args[0], args[1:])
	}
	return usageError{fmt.Sprintf("unknown command %q", "incidents "+args[0])}
}

// incidentListFlags are the queue's filters as flags: flag name → query
// parameter (api.ParseIncidentQuery).
var incidentListFlags = []struct{ flag, param, doc string }{
	{"status", "status", "statuses, comma-separated: active, inProgress, resolved, redirected, or all (default active,inProgress)"},
	{"severity", "severity", "severities: high, medium, low, informational, unknown, or all (default high,medium,low)"},
	{"assigned-to", "assignedTo", `assignees, comma-separated; "unassigned" for none`},
	{"tag", "tag", "tags (custom or system), comma-separated"},
	{"service-source", "serviceSource", "service sources, comma-separated"},
	{"detection-source", "detectionSource", "detection sources, comma-separated"},
	{"category", "category", "MITRE tactics, comma-separated (CredentialAccess, …)"},
	{"classification", "classification", "classifications, comma-separated"},
	{"determination", "determination", "determinations, comma-separated"},
	{"investigation-state", "investigationState", "investigation states, comma-separated"},
	{"device-group", "deviceGroup", "device groups, comma-separated"},
	{"entity", "entity", "an entity key (device:ws-042) or name"},
	{"multiple-service-sources", "multipleServiceSources", "yes or no"},
	{"range", "range", "1d, 3d, 1w, 30d, 6m, custom or all (default 1w, on last update)"},
	{"since", "since", "last updated at or after (RFC 3339 or YYYY-MM-DD; implies --range custom)"},
	{"until", "until", "last updated before (RFC 3339 or YYYY-MM-DD)"},
	{"search", "search", "name, id or impacted asset"},
	{"sort", "sort", "column, - first for descending: " + strings.Join(records.SortableIncidentColumns(), ", ") + " (default -lastUpdateDateTime)"},
	{"limit", "limit", "rows per page (1 to 1000, default 50; csv: every row unless set)"},
	{"offset", "offset", "rows to skip"},
}

func incidentsList(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "incidents list")
	fs.Usage = func() {
		fmt.Fprintln(env.Stderr, "starter incidents list [filters] [--json|--csv|-o table|json|csv]")
		fs.PrintDefaults()
	}
	vals := map[string]*string{}
	for _, f := range incidentListFlags {
		vals[f.param] = fs.String(f.flag, "", f.doc)
	}
	asJSON := fs.Bool("json", false, "print the page as JSON")
	asCSV := fs.Bool("csv", false, "export every matching incident as CSV")
	out := outputFlag(fs, "table", "table|json|csv")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError{"incidents list: takes no arguments, only flags (did you mean --search " + pos[0] + "?)"}
	}
	if err := checkOutput(*out, "table|json|csv"); err != nil {
		return err
	}
	switch {
	case *asJSON && *asCSV:
		return usageError{"incidents list: --json or --csv, not both"}
	case *asJSON:
		*out = "json"
	case *asCSV:
		*out = "csv"
	}
	q := url.Values{}
	for _, f := range incidentListFlags {
		if v := *vals[f.param]; v != "" || flagSet(fs, f.flag) {
			q.Set(f.param, v)
		}
	}
	if *out == "csv" {
		return callRaw(ctx, env, "/api/v1/incidents/export?"+q.Encode(), env.Stdout)
	}
	var page records.IncidentPage
	if _, err := call(ctx, env, http.MethodGet, "/api/v1/incidents?"+q.Encode(), nil, &page); err != nil {
		return err
	}
	if *out == "json" {
		printJSON(env.Stdout, page)
		return nil
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSEVERITY\tPRIORITY\tSTATUS\tASSIGNED TO\tALERTS\tUPDATED\tINVESTIGATION\tNAME")
	for _, r := range page.Value {
		fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%s\t%d/%d\t%s\t%s\t%s\n", r.ID, r.Severity, r.PriorityScore, r.Status,
			orDash(r.AssignedTo), r.ActiveAlerts, r.AlertCount, r.LastUpdateDateTime.UTC().Format(time.DateTime),
			r.InvestigationState, oneLine(r.DisplayName, 80))
	}
	tw.Flush()
	switch {
	case page.Total == 0:
		fmt.Fprintln(env.Stderr, "no incidents match (the default shows active and in-progress incidents of high to low severity updated in the last week; --status all --severity all --range all shows every one)")
	default:
		morePages(env, page.Total, page.Offset, len(page.Value))
	}
	return nil
}

func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			set = true
		}
	})
	return set
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func incidentsShow(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "incidents show")
	asJSON := fs.Bool("json", false, "print the incident as JSON")
	out := outputFlag(fs, "table", "table|json")
	arg, err := parseOne(fs, args, out, "table|json", "one incident id")
	if err != nil {
		return err
	}
	id, err := incidentID(arg)
	if err != nil {
		return err
	}
	var d api.IncidentDetail
	if _, err := call(ctx, env, http.MethodGet, fmt.Sprintf("/api/v1/incidents/%d", id), nil, &d); err != nil {
		return err
	}
	if *asJSON || *out == "json" {
		printJSON(env.Stdout, d)
		return nil
	}
	w := env.Stdout
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "Incident %d: %s\n", d.ID, d.DisplayName)
	kv := [][2]string{{"severity", string(d.Severity)}, {"status", string(d.Status)}, {"assigned to", orDash(d.AssignedTo)},
		{"classification", d.Classification + " / " + d.Determination}, {"investigation", string(d.InvestigationState)},
		{"tags", strings.Join(d.CustomTags, ", ")}, {"description", d.Description}, {"resolving comment", d.ResolvingComment},
		{"first activity", fmtTime(&d.FirstActivity)}, {"last activity", fmtTime(&d.LastActivity)},
		{"created", fmtTime(&d.CreatedDateTime)}, {"last update", fmtTime(&d.LastUpdateDateTime) + " by " + orDash(d.LastModifiedBy)},
		{"acknowledged", fmtTime(d.AcknowledgedDateTime)}, {"contained", fmtTime(d.ContainedDateTime)},
		{"resolved", fmtTime(d.ResolvedDateTime)}}
	if d.RedirectIncidentID != nil {
		kv = append(kv, [2]string{"merged into", strconv.FormatInt(*d.RedirectIncidentID, 10)})
	}
	if dv := d.Derived; dv != nil {
		factors := make([]string, len(dv.PriorityFactors))
		for i, f := range dv.PriorityFactors {
			factors[i] = fmt.Sprintf("%s +%d", f.Name, f.Points)
		}
		kv = append(kv, [2]string{"priority", fmt.Sprintf("%d (%s)", dv.PriorityScore, strings.Join(factors, ", "))},
			[2]string{"tactics", strings.Join(dv.Categories, ", ")}, [2]string{"sources", strings.Join(dv.ServiceSources, ", ")},
			[2]string{"devices", assetList(dv.ImpactedAssets.Devices, dv.ImpactedAssets.DeviceCount)},
			[2]string{"users", assetList(dv.ImpactedAssets.Users, dv.ImpactedAssets.UserCount)},
			[2]string{"mailboxes", assetList(dv.ImpactedAssets.Mailboxes, dv.ImpactedAssets.MailboxCount)},
			[2]string{"system tags", strings.Join(dv.SystemTags, ", ")})
	}
	for _, p := range kv {
		if p[1] != "" && p[1] != " / " {
			fmt.Fprintf(tw, "  %s:\t%s\n", p[0], p[1])
		}
	}
	tw.Flush()
	fmt.Fprintf(w, "\nAlerts (%d)\n", len(d.Alerts))
	for _, a := range d.Alerts {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", a.ID, a.Severity, a.Status, a.Category, oneLine(a.Title, 70))
	}
	tw.Flush()
	fmt.Fprintf(w, "\nActions (%d)\n", len(d.Actions))
	for _, a := range d.Actions {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", a.ID, a.Type, a.TargetName, a.Status, orDash(a.DecidedBy))
	}
	tw.Flush()
	if len(d.Comments) > 0 {
		fmt.Fprintf(w, "\nComments (%d)\n", len(d.Comments))
		for _, c := range d.Comments {
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", fmtTime(&c.CreatedDateTime), c.CreatedByDisplayName, oneLine(c.Comment, 100))
		}
		tw.Flush()
	}
	fmt.Fprintf(w, "\nActivity (%d)\n", len(d.Activity))
	for _, e := range d.Activity {
		change := e.After
		if e.Before != "" {
			change = e.Before + " → " + e.After
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", fmtTime(&e.At), e.Actor, e.Verb, oneLine(change, 100))
	}
	return tw.Flush()
}

func assetList(names []string, n int) string {
	if n == 0 {
		return ""
	}
	s := strings.Join(names, ", ")
	if n > len(names) {
		s += fmt.Sprintf(" (+%d more)", n-len(names))
	}
	return s
}

func fmtTime(t *time.Time) string {
	if t == nil || t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.DateTime)
}

func incidentID(s string) (int64, error) {
	id, err := strconv.ParseInt(strings.TrimPrefix(s, "#"), 10, 64)
	if err != nil || id <= 0 {
		return 0, usageError{fmt.Sprintf("%q is no incident id (want a positive integer)", s)}
	}
	return id, nil
}

// incidentsManage runs the changing subcommands: one id through PATCH (or
// the comments endpoint), several through one bulk change.
func incidentsManage(ctx context.Context, env Env, verb string, args []string) error {
	fs := newFlags(env, "incidents "+verb)
	var ch records.IncidentChange
	var to, add, remove, msg, class, determ, name *string
	switch verb {
	case "assign":
		to = fs.String("to", "", `the assignee ("" unassigns)`)
	case "tag":
		add = fs.String("add", "", "tags to add, comma-separated")
		remove = fs.String("remove", "", "tags to remove, comma-separated")
	case "comment", "resolve":
		doc := "the comment"
		if verb == "resolve" {
			doc = "the resolving comment"
		}
		msg = fs.String("m", "", doc)
		fs.StringVar(msg, "comment", "", "same as -m")
	case "rename":
		name = fs.String("name", "", "the new name")
	}
	if verb == "classify" || verb == "resolve" {
		class = fs.String("classification", "", "truePositive, informationalExpectedActivity, falsePositive or unknown")
		determ = fs.String("determination", "", "a determination that fits the classification (starter incidents help)")
	}
	out := outputFlag(fs, "table", "table|json")
	pos, err := parseSome(fs, args, out, "table|json", "at least one incident id")
	if err != nil {
		return err
	}
	ids := make([]int64, len(pos))
	for i, p := range pos {
		if ids[i], err = incidentID(p); err != nil {
			return err
		}
	}
	switch verb {
	case "assign":
		if !flagSet(fs, "to") {
			return usageError{`incidents assign: say --to USER (--to "" unassigns)`}
		}
		ch.AssignedTo = to
	case "tag":
		ch.AddTags, ch.RemoveTags = splitFlag(*add), splitFlag(*remove)
		if len(ch.AddTags)+len(ch.RemoveTags) == 0 {
			return usageError{"incidents tag: say --add or --remove"}
		}
	case "comment":
		if strings.TrimSpace(*msg) == "" {
			return usageError{"incidents comment: say -m TEXT"}
		}
		ch.Comment = *msg
	case "classify":
		if *class == "" && *determ == "" {
			return usageError{"incidents classify: say --classification (and --determination)"}
		}
	case "resolve":
		st := domain.IncidentResolved
		ch.Status, ch.ResolvingComment = &st, *msg
	case "reopen":
		st := domain.IncidentActive
		ch.Status = &st
	case "rename":
		if strings.TrimSpace(*name) == "" || len(ids) != 1 {
			return usageError{"incidents rename: name one incident and say --name NAME"}
		}
		ch.DisplayName = name
	}
	if class != nil && *class != "" {
		ch.Classification = class
	}
	if determ != nil && *determ != "" {
		ch.Determination = determ
	}

	if len(ids) == 1 {
		if verb == "comment" {
			body, _ := json.Marshal(api.CommentBody{Comment: ch.Comment})
			var c domain.Comment
			if _, err := call(ctx, env, http.MethodPost, fmt.Sprintf("/api/v1/incidents/%d/comments", ids[0]), body, &c); err != nil {
				return err
			}
			if *out == "json" {
				printJSON(env.Stdout, c)
			} else {
				fmt.Fprintf(env.Stdout, "incident %d: comment added by %s\n", ids[0], c.CreatedByDisplayName)
			}
			return nil
		}
		body, _ := json.Marshal(ch)
		var inc domain.Incident
		if _, err := call(ctx, env, http.MethodPatch, fmt.Sprintf("/api/v1/incidents/%d", ids[0]), body, &inc); err != nil {
			return err
		}
		if *out == "json" {
			printJSON(env.Stdout, inc)
		} else {
			fmt.Fprintln(env.Stdout, incidentLine(&inc))
		}
		return nil
	}
	body, _ := json.Marshal(api.BulkIncidentBody{IDs: ids, Change: ch})
	var resp api.BulkIncidentResponse
	if _, err := call(ctx, env, http.MethodPost, "/api/v1/incidents/bulk", body, &resp); err != nil {
		return err
	}
	if *out == "json" {
		printJSON(env.Stdout, resp)
	} else {
		for _, r := range resp.Results {
			if r.OK {
				fmt.Fprintln(env.Stdout, incidentLine(r.Incident))
			} else {
				fmt.Fprintf(env.Stdout, "incident %d: not changed: %s (%s)\n", r.ID, r.Error.Message, r.Error.Kind)
			}
		}
	}
	if resp.Failed > 0 {
		return fmt.Errorf("%d of %d incidents were not changed", resp.Failed, len(resp.Results))
	}
	return nil
}

func incidentLine(inc *domain.Incident) string {
	return fmt.Sprintf("incident %d: %s, %s, assigned to %s, %s/%s, tags [%s]: %s", inc.ID, inc.Status, inc.Severity,
		orDash(inc.AssignedTo), inc.Classification, inc.Determination, strings.Join(inc.CustomTags, ","), inc.DisplayName)
}

func splitFlag(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// incidentsStop is `starter incidents stop ID -m REASON`: the API's
// POST /api/v1/incidents/{id}/stop, as the pages' stop form.
func incidentsStop(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "incidents stop")
	reason := fs.String("m", "", "why the investigation stops (required)")
	fs.StringVar(reason, "reason", "", "same as -m")
	out := outputFlag(fs, "table", "table|json")
	pos, err := parsePositional(fs, args, out, "table|json", "one incident id", func(n int) bool { return n == 1 })
	if err != nil {
		return err
	}
	id, err := incidentID(pos[0])
	if err != nil {
		return err
	}
	if strings.TrimSpace(*reason) == "" {
		return usageError{"incidents stop: say why with -m REASON"}
	}
	body, _ := json.Marshal(api.StopBody{Reason: *reason})
	var st struct {
		Investigation domain.InvestigationState `json:"investigationState"`
		StoppedBy     string                    `json:"stoppedBy"`
	}
	var raw json.RawMessage
	if _, err := call(ctx, env, http.MethodPost, fmt.Sprintf("/api/v1/incidents/%d/stop", id), body, &raw); err != nil {
		return err
	}
	if *out == "json" {
		printJSON(env.Stdout, raw)
		return nil
	}
	_ = json.Unmarshal(raw, &st)
	fmt.Fprintf(env.Stdout, "incident %d: investigation stopped by %s (%s)\n", id, st.StoppedBy, st.Investigation)
	return nil
}
