package web

import (
	"encoding/csv"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/airsoc/air/internal/api"
	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/records"
)

// queueView is what the incident queue shows.
type queueView struct {
	Form    queueForm
	Rows    []records.IncidentRow
	Page    pager
	Columns []column
	// Export is the CSV link: the same filters, every row.
	Export string
	// Back is this page with its filters, where a bulk change returns.
	Back string
	// MoreOpen opens the panel of further filters when one of them is set.
	MoreOpen bool
	// SortText says in words what comes first, as the rows are sorted.
	SortText string
	// Hidden says what the severity filter leaves out that the other
	// filters would show (most IDS alerts are informational or unknown),
	// nil when nothing is.
	Hidden *hiddenNote

	Statuses            []domain.IncidentStatus
	Severities          []domain.Severity
	Ranges              []option
	Classifications     []string
	Determinations      []choiceGroup
	InvestigationStates []domain.InvestigationState
	ServiceSources      []string
	Categories          []string
	ManageStatuses      []domain.IncidentStatus
}

// hiddenNote is the queue's "not shown" line: how many incidents, of
// which severities, and the same filters with every severity.
type hiddenNote struct{ Text, Link string }

// queueForm holds the queue form's values as the page shows them: the
// filters in effect, defaults included.
type queueForm struct {
	Status, Severity                                      []string
	Classification, Determination, InvestigationState     []string
	ServiceSource, Category                               []string
	AssignedTo, Tag, DetectionSource, DeviceGroup, Entity string
	Multiple, Range, Since, Until, Search, Sort           string
}

// Has reports whether a list holds v (for checked boxes and selected options).
func (queueForm) Has(list []string, v any) bool { return slices.Contains(list, fmt.Sprint(v)) }

// column is one header of the queue: a link that sorts by it, the other
// way round when it already does.
type column struct {
	Label, Key, Link, Dir, Class string
}

// Queue options: the time ranges of SPEC §3, and lists that help fill the
// form (the filters accept any value the alerts carry).
var (
	queueRanges = []option{{"1d", "last day"}, {"3d", "last 3 days"}, {"1w", "last week"}, {"30d", "last 30 days"},
		{"6m", "last 6 months"}, {"all", "any time"}, {"custom", "custom…"}}
	// serviceSources are the Graph serviceSource values.
	serviceSources = []string{"microsoftDefenderForEndpoint", "microsoftDefenderForIdentity",
		"microsoftDefenderForOffice365", "microsoftDefenderForCloudApps", "microsoftDefenderForCloud",
		"microsoft365Defender", "azureAdIdentityProtection", "microsoftAppGovernance", "dataLossPrevention",
		"microsoftSentinel", "microsoftInsiderRiskManagement"}
	// tactics are the MITRE ATT&CK tactics as Graph alert categories name them.
	tactics = []string{"InitialAccess", "Execution", "Persistence", "PrivilegeEscalation", "DefenseEvasion",
		"CredentialAccess", "Discovery", "LateralMovement", "Collection", "CommandAndControl", "Exfiltration",
		"Impact", "Reconnaissance", "ResourceDevelopment", "SuspiciousActivity", "Malware", "Ransomware",
		"UnwantedSoftware"}
	queueColumns = []column{{Label: "Priority", Key: "priorityScore"}, {Label: "Incident", Key: "displayName"},
		{Label: "Severity", Key: "severity"}, {Label: "Status", Key: "status"},
		{Label: "Alerts", Key: "alertCount", Class: "num"}, {Label: "Impacted assets", Class: "assets"},
		{Label: "Categories"}, {Label: "Investigation", Key: "investigationState"},
		{Label: "Assigned to", Key: "assignedTo"}, {Label: "Classification", Key: "classification"},
		{Label: "Last update", Key: "lastUpdateDateTime"}}
)

// defaultSort is the queue's order until a header is clicked: last update
// first (the store's default too).
const defaultSort = "-lastUpdateDateTime"

// queueValues picks the queue's filters out of a request's query, drops
// empty values (an empty assignedTo would mean "unassigned"), and keeps
// since and until only with a custom range. It returns the values for the
// API's parser and those for links (the form as typed).
func queueValues(in url.Values) (forAPI, forLinks url.Values) {
	forLinks = url.Values{}
	for _, k := range api.IncidentFilters() {
		if k == "limit" {
			continue
		}
		for _, v := range in[k] {
			if v = strings.TrimSpace(v); v != "" {
				forLinks.Add(k, v)
			}
		}
	}
	switch rng := forLinks.Get("range"); {
	case rng == "" && (forLinks.Has("since") || forLinks.Has("until")):
		forLinks.Set("range", "custom")
	case rng != "custom":
		forLinks.Del("since")
		forLinks.Del("until")
	}
	forAPI = url.Values{}
	for k, vs := range forLinks {
		forAPI[k] = slices.Clone(vs)
	}
	// "until 2026-11-27" in a date box means up to the end of that day.
	if u := forAPI.Get("until"); len(u) == len(time.DateOnly) {
		if d, err := time.Parse(time.DateOnly, u); err == nil {
			forAPI.Set("until", d.AddDate(0, 0, 1).Format(time.DateOnly))
		}
	}
	return forAPI, forLinks
}

func (p *pages) queue(w http.ResponseWriter, r *http.Request) error {
	pr := auth.FromContext(r.Context())
	vals, links := queueValues(r.URL.Query())
	vals.Set("limit", strconv.Itoa(pageSize))
	q, err := api.ParseIncidentQuery(vals, p.now())
	if err != nil {
		return err
	}
	page, err := p.Incidents.Incidents(r.Context(), pr, q)
	if err != nil {
		return err
	}
	qv := &queueView{Rows: page.Value, Statuses: domain.IncidentStatuses, Ranges: queueRanges,
		Severities:      []domain.Severity{domain.SeverityHigh, domain.SeverityMedium, domain.SeverityLow, domain.SeverityInformational, domain.SeverityUnknown},
		Classifications: domain.Classifications, Determinations: determinationOptions(),
		InvestigationStates: domain.InvestigationStates, ServiceSources: serviceSources, Categories: tactics,
		ManageStatuses: []domain.IncidentStatus{domain.IncidentActive, domain.IncidentInProgress, domain.IncidentResolved}}
	f := &qv.Form
	// "all" shows as every box checked, which means the same when sent.
	f.Status, f.Severity = stringsOf(q.Statuses), stringsOf(q.Severities)
	if len(f.Status) == 0 {
		f.Status = stringsOf(qv.Statuses)
	}
	if len(f.Severity) == 0 {
		f.Severity = stringsOf(qv.Severities)
	}
	f.Classification, f.Determination = q.Classifications, q.Determinations
	f.InvestigationState = stringsOf(q.InvestigationStates)
	f.ServiceSource, f.Category = q.ServiceSources, q.Categories
	f.AssignedTo = strings.Join(links["assignedTo"], ", ")
	f.Tag = strings.Join(links["tag"], ", ")
	f.DetectionSource = strings.Join(links["detectionSource"], ", ")
	f.DeviceGroup = strings.Join(links["deviceGroup"], ", ")
	f.Entity, f.Multiple, f.Search = links.Get("entity"), links.Get("multipleServiceSources"), links.Get("search")
	f.Range, f.Since, f.Until = links.Get("range"), links.Get("since"), links.Get("until")
	if f.Range == "" {
		f.Range = api.DefaultIncidentRange
	}
	f.Sort = links.Get("sort")
	if f.Sort == "" {
		f.Sort = defaultSort
	}
	qv.ServiceSources = withExtra(qv.ServiceSources, f.ServiceSource)
	qv.Categories = withExtra(qv.Categories, f.Category)
	for _, k := range []string{"classification", "determination", "investigationState", "serviceSource",
		"detectionSource", "category", "tag", "deviceGroup", "entity", "multipleServiceSources", "assignedTo"} {
		if links.Has(k) {
			qv.MoreOpen = true
		}
	}

	withSort := func(sort string) string {
		l := cloneValues(links)
		l.Del("offset")
		l.Set("sort", sort)
		return "/incidents?" + l.Encode()
	}
	for _, c := range queueColumns {
		if c.Key != "" {
			switch f.Sort {
			case c.Key:
				c.Dir, c.Link = "asc", withSort("-"+c.Key)
			case "-" + c.Key:
				c.Dir, c.Link = "desc", withSort(c.Key)
			default:
				// Scores, counts and times read best highest first.
				first := c.Key
				if c.Key == "priorityScore" || c.Key == "severity" || c.Key == "alertCount" || strings.HasSuffix(c.Key, "DateTime") {
					first = "-" + c.Key
				}
				c.Link = withSort(first)
			}
		}
		qv.Columns = append(qv.Columns, c)
	}
	qv.SortText = sortText(f.Sort)
	if qv.Hidden, err = p.hiddenBySeverity(r, q, links); err != nil {
		return err
	}
	qv.Back = "/incidents?" + links.Encode()
	exp := cloneValues(links)
	exp.Del("offset")
	qv.Export = "/incidents/export?" + exp.Encode()
	qv.Page = pager{Total: page.Total, From: page.Offset + 1, To: page.Offset + len(page.Value)}
	link := func(offset int) string {
		l := cloneValues(links)
		l.Set("offset", strconv.Itoa(offset))
		return "/incidents?" + l.Encode()
	}
	if page.Offset > 0 {
		qv.Page.Prev = link(max(0, page.Offset-pageSize))
	}
	if page.Offset+len(page.Value) < page.Total {
		qv.Page.Next = link(page.Offset + pageSize)
	}
	p.render(w, r, http.StatusOK, "queue", &view{Title: "Incidents", Nav: "incidents", Live: "incidents", Principal: pr,
		CSRF: auth.CSRFToken(secretOf(r)), CanManage: pr.Role.AtLeast(auth.Analyst), Queue: qv})
	return nil
}

// sortText puts the queue's order in words: "most recently updated
// first" for the default.
func sortText(sort string) string {
	key, desc := strings.TrimPrefix(sort, "-"), strings.HasPrefix(sort, "-")
	switch {
	case key == "lastUpdateDateTime" && desc:
		return "most recently updated first"
	case key == "priorityScore" && desc:
		return "highest priority first"
	case key == "severity" && desc:
		return "most severe first"
	case key == "alertCount" && desc:
		return "most alerts first"
	}
	name := key
	for _, c := range queueColumns {
		if c.Key == key {
			name = c.Label
		}
	}
	order := "lowest first"
	switch {
	case key == "displayName" || key == "assignedTo" || key == "classification" || key == "status" || key == "investigationState":
		order = map[bool]string{false: "A to Z", true: "Z to A"}[desc]
	case desc:
		order = "highest first"
	}
	if strings.HasSuffix(key, "DateTime") {
		order = map[bool]string{false: "oldest first", true: "newest first"}[desc]
	}
	return fmt.Sprintf("sorted by %s, %s", strings.ToLower(name), order)
}

// hiddenBySeverity counts the incidents the other filters select but the
// severity filter leaves out, so that the queue says what it hides (the
// default, high to low, leaves out informational and unknown ones, which
// the dashboard counts).
func (p *pages) hiddenBySeverity(r *http.Request, q records.IncidentQuery, links url.Values) (*hiddenNote, error) {
	if len(q.Severities) == 0 {
		return nil, nil
	}
	var out []domain.Severity
	for _, s := range domain.Severities {
		if !slices.Contains(q.Severities, s) {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	q.Severities, q.Offset, q.Limit = out, 0, 1
	page, err := p.Incidents.Incidents(r.Context(), auth.FromContext(r.Context()), q)
	if err != nil || page.Total == 0 {
		return nil, err
	}
	var names []string // most severe first, as the form lists them
	for _, s := range slices.Backward(out) {
		names = append(names, label(s))
	}
	l := cloneValues(links)
	l.Del("offset")
	l.Set("severity", "all")
	text := fmt.Sprintf("%d incident of %s severity matches", page.Total, orList(names))
	if page.Total != 1 {
		text = fmt.Sprintf("%d incidents of %s severity match", page.Total, orList(names))
	}
	return &hiddenNote{Text: text, Link: "/incidents?" + l.Encode()}, nil
}

// orList joins words with commas and a final "or".
func orList(w []string) string {
	if len(w) < 2 {
		return strings.Join(w, "")
	}
	return strings.Join(w[:len(w)-1], ", ") + " or " + w[len(w)-1]
}

// exportQueue sends the queue's incidents, as filtered, as CSV: the API's
// export, reached with the page session instead of a bearer token.
func (p *pages) exportQueue(w http.ResponseWriter, r *http.Request) error {
	vals, _ := queueValues(r.URL.Query())
	vals.Del("offset")
	q, err := api.ParseIncidentQuery(vals, p.now())
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="incidents.csv"`)
	// Once rows are out, an error can only cut the file short.
	if err := p.Incidents.ExportIncidents(r.Context(), auth.FromContext(r.Context()), q, csv.NewWriter(api.StreamWriter(w))); err != nil {
		p.Log.WithError(err).Warn("incident export from the pages cut short")
		api.AbortStream()
	}
	return nil
}

// manageMany applies the queue's bulk form to the checked incidents:
// assign, add tags, status, classification with determination, comment.
// Empty fields change nothing.
func (p *pages) manageMany(w http.ResponseWriter, r *http.Request) error {
	pr := auth.FromContext(r.Context())
	back := backToQueue(r)
	if err := pr.Require(auth.Analyst); err != nil {
		return err
	}
	var ids []int64
	for _, s := range r.PostForm["id"] {
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil || id <= 0 {
			return domain.Invalid("id", "want a positive incident id, got %q", s)
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		p.setFlash(w, r, "error", "Select one or more incidents first.")
		http.Redirect(w, r, back, http.StatusSeeOther)
		return nil
	}
	var ch records.IncidentChange
	form := func(k string) string { return strings.TrimSpace(r.PostFormValue(k)) }
	if v := form("assignedTo"); v != "" {
		if v == "unassigned" {
			v = ""
		}
		ch.AssignedTo = &v
	}
	ch.AddTags = splitTags(form("addTags"))
	if v := form("status"); v != "" {
		s := domain.IncidentStatus(v)
		ch.Status = &s
	}
	if c, d := form("classification"), form("determination"); c != "" || d != "" {
		if c != "" {
			ch.Classification = &c
		}
		if d != "" {
			ch.Determination = &d
		}
	}
	ch.Comment = form("comment")
	if ch.Empty() {
		p.setFlash(w, r, "error", "Nothing to change: fill in at least one field of the bulk form.")
		http.Redirect(w, r, back, http.StatusSeeOther)
		return nil
	}
	results, err := p.Incidents.ManageIncidents(r.Context(), pr, ids, ch)
	if err != nil {
		if k := domain.KindOf(err); k == domain.KindForbidden {
			return err
		}
		p.setFlash(w, r, "error", "Nothing changed: "+p.message(err))
		http.Redirect(w, r, back, http.StatusSeeOther)
		return nil
	}
	var failed []string
	for _, res := range results {
		if !res.OK {
			failed = append(failed, fmt.Sprintf("#%d: %s", res.ID, res.Error.Message))
		}
	}
	if len(failed) == 0 {
		p.setFlash(w, r, "ok", fmt.Sprintf("Updated %d %s.", len(results), plural(len(results), "incident", "incidents")))
	} else {
		p.setFlash(w, r, "error", fmt.Sprintf("Updated %d of %d incidents; not changed: %s", len(results)-len(failed),
			len(results), strings.Join(failed, "; ")))
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
	return nil
}

// backToQueue returns the queue page a form came from, only ever a path
// of the queue (never another site).
func backToQueue(r *http.Request) string {
	b := r.PostFormValue("back")
	if strings.HasPrefix(b, "/incidents?") && !strings.ContainsAny(b, "\\\r\n") {
		return b
	}
	return "/incidents"
}

func splitTags(s string) []string {
	var out []string
	for _, t := range strings.Split(s, ",") {
		if t = strings.TrimSpace(t); t != "" && !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

// choiceGroup is an optgroup of a select.
type choiceGroup struct {
	Label   string
	Options []string
}

// determinationOptions lists the determinations by the classification
// they fit, for a select grouped by classification.
func determinationOptions() []choiceGroup {
	var out []choiceGroup
	for _, c := range domain.Classifications {
		out = append(out, choiceGroup{Label: c, Options: domain.DeterminationsOf[c]})
	}
	return out
}

func stringsOf[T ~string](l []T) []string {
	out := make([]string, len(l))
	for i, v := range l {
		out[i] = string(v)
	}
	return out
}

// withExtra appends to a list of choices the chosen values it lacks.
func withExtra(list, chosen []string) []string {
	out := slices.Clone(list)
	for _, c := range chosen {
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
