package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/correlate"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/intel"
	"github.com/airsoc/air/internal/records"
)

// alert ingests an alert on a device of its own (so that it opens an
// incident of its own) and returns the incident's id.
func (s *site) alert(t *testing.T, id, title string, sev domain.Severity, device string) int64 {
	t.Helper()
	now := time.Now()
	r, err := s.st.IngestAlert(context.Background(), &domain.Alert{ID: id, Title: title, Status: domain.AlertNew,
		Severity: sev, Category: "Execution", ServiceSource: "microsoftDefenderForEndpoint", CreatedDateTime: now,
		LastUpdateDateTime: now, Evidence: []domain.Evidence{{Type: "deviceEvidence", Verdict: domain.VerdictSuspicious,
			Entity: &domain.Entity{Key: domain.EntityKey("device:" + device), Kind: domain.KindDevice, Name: device,
				Verdict: domain.VerdictSuspicious, Attrs: map[string]string{"deviceGroup": "Workstations"}}}}}, correlate.Rules{})
	if err != nil {
		t.Fatal(err)
	}
	return r.IncidentID
}

func (s *site) change(t *testing.T, id int64, ch records.IncidentChange) {
	t.Helper()
	if _, _, err := s.st.ManageIncident(context.Background(), id, ch, "rita"); err != nil {
		t.Fatal(err)
	}
}

func (s *site) incident(t *testing.T, id int64) *domain.Incident {
	t.Helper()
	inc, err := s.st.GetIncident(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return inc
}

// fresh returns the site with a client of its own (another browser).
func (s *site) fresh() *site {
	c := *s
	jar, _ := cookiejar.New(nil)
	c.client = &http.Client{Jar: jar}
	return &c
}

func row(id int64) string { return fmt.Sprintf(`id="inc-%d"`, id) }

var (
	styleAttr = regexp.MustCompile(`<[^>]+\sstyle=`)
	flashText = regexp.MustCompile(`<p class="flash (ok|error)" role="status">([^<]*)</p>`)
)

// checkPage fails on what no page may carry: raw markup from the data, an
// inline style (the CSP would block it), a form without its token.
func checkPage(t *testing.T, what, page string) {
	t.Helper()
	if strings.Contains(page, "<script>alert") || strings.Contains(page, "<img src=x") {
		t.Errorf("%s carries raw markup from the data", what)
	}
	if styleAttr.MatchString(page) {
		t.Errorf("%s has a style attribute, which the Content-Security-Policy blocks", what)
	}
	if n, m := strings.Count(page, `method="post"`), strings.Count(page, `name="csrf"`); n > m {
		t.Errorf("%s: %d forms post but only %d carry the anti-forgery token", what, n, m)
	}
}

func flashOf(page string) (kind, msg string) {
	m := flashText.FindStringSubmatch(page)
	if m == nil {
		return "", ""
	}
	return m[1], m[2]
}

func TestQueueFiltersSortAndPaging(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	low := s.alert(t, "q-low", "Low thing", domain.SeverityLow, "ws-low")
	info := s.alert(t, "q-info", "Informational thing", domain.SeverityInformational, "ws-info")
	med := s.alert(t, "q-med", "Medium thing", domain.SeverityMedium, "ws-med")
	resolved, name := domain.IncidentResolved, "Low thing"
	s.change(t, med, records.IncidentChange{Status: &resolved})
	s.change(t, low, records.IncidentChange{DisplayName: &name})

	page := s.signIn(t, auth.Viewer)
	checkPage(t, "the queue", page)
	// The default filter: open, high to low, last week.
	for id, want := range map[int64]bool{s.inc: true, low: true, info: false, med: false} {
		if got := strings.Contains(page, row(id)); got != want {
			t.Errorf("default queue lists incident %d: %v, want %v", id, got, want)
		}
	}
	for _, box := range []string{`name="status" value="active" checked`, `name="status" value="inProgress" checked`,
		`name="severity" value="high" checked`, `name="severity" value="low" checked`, `<option value="1w" selected>`} {
		if !strings.Contains(page, box) {
			t.Errorf("default queue: the form does not show %s", box)
		}
	}
	if strings.Contains(page, `name="status" value="resolved" checked`) || strings.Contains(page, `value="informational" checked`) {
		t.Errorf("default queue: the form checks a status or severity outside the default")
	}
	if strings.Contains(page, `name="id"`) || strings.Contains(page, `action="/incidents/manage"`+"\n") && strings.Contains(page, "Apply to selected") {
		t.Errorf("a viewer is offered bulk management")
	}
	// The default order is last update first, shown on its header.
	if !strings.Contains(page, `class="sort desc" href="/incidents?sort=lastUpdateDateTime"`) {
		t.Errorf("the Last update header does not show the default descending sort")
	}

	for _, tt := range []struct {
		query     string
		want, not []int64
	}{
		{"severity=informational", []int64{info}, []int64{s.inc, low, med}},
		{"status=resolved&severity=all", []int64{med}, []int64{s.inc, low, info}},
		{"status=all&severity=all&range=all", []int64{s.inc, low, info, med}, nil},
		{"search=ws-low", []int64{low}, []int64{s.inc, info}},
		{"search=" + strconv.FormatInt(s.inc, 10), []int64{s.inc}, []int64{low}},
		{"search=Low+thing", []int64{low}, []int64{s.inc}},
		{"severity=all&entity=device:ws-info", []int64{info}, []int64{low}},
		{"category=CredentialAccess", []int64{s.inc}, []int64{low}},
		{"range=custom&since=" + time.Now().AddDate(0, 0, -1).Format(time.DateOnly) + "&until=" + time.Now().Format(time.DateOnly), []int64{s.inc, low}, nil},
		{"range=custom&until=2020-01-01", nil, []int64{s.inc, low}},
		{"assignedTo=unassigned", []int64{s.inc, low}, nil},
		{"assignedTo=nobody-here", nil, []int64{s.inc, low}},
		// Empty fields, as a submitted form sends them, filter nothing.
		{"assignedTo=&tag=&entity=&since=&until=", []int64{s.inc, low}, nil},
	} {
		resp, page := s.get(t, "/incidents?"+tt.query)
		if resp.StatusCode != 200 {
			t.Errorf("%s: HTTP %d", tt.query, resp.StatusCode)
			continue
		}
		for _, id := range tt.want {
			if !strings.Contains(page, row(id)) {
				t.Errorf("%s: incident %d missing", tt.query, id)
			}
		}
		for _, id := range tt.not {
			if strings.Contains(page, row(id)) {
				t.Errorf("%s: incident %d listed", tt.query, id)
			}
		}
	}
	if resp, page := s.get(t, "/incidents?severity=bogus"); resp.StatusCode != 400 || !strings.Contains(page, "severity") {
		t.Errorf("a bad filter: HTTP %d, want 400 naming the filter", resp.StatusCode)
	}

	// Sorting by a header: ascending, then the header links to descending.
	_, page = s.get(t, "/incidents?severity=all&sort=severity")
	if i, j := strings.Index(page, row(info)), strings.Index(page, row(s.inc)); i < 0 || j < 0 || i > j {
		t.Errorf("sort=severity: the informational incident %d not before the high one %d", info, s.inc)
	}
	if !strings.Contains(page, `class="sort asc" href="/incidents?severity=all&amp;sort=-severity"`) {
		t.Errorf("sort=severity: the header does not offer the descending order with the filters kept")
	}
	_, page = s.get(t, "/incidents?severity=all&sort=-severity")
	if i, j := strings.Index(page, row(info)), strings.Index(page, row(s.inc)); i < j {
		t.Errorf("sort=-severity: the informational incident %d before the high one %d", info, s.inc)
	}
	if !strings.Contains(page, `class="sort desc" href="/incidents?severity=all&amp;sort=severity"`) {
		t.Errorf("sort=-severity: the header does not offer the ascending order")
	}

	// Paging keeps the filters.
	var batch []*domain.Alert
	now := time.Now()
	for i := range 55 {
		d := fmt.Sprintf("pc-%02d", i)
		batch = append(batch, &domain.Alert{ID: "page-" + d, Title: "Paged " + d, Status: domain.AlertNew, Severity: domain.SeverityLow,
			CreatedDateTime: now, LastUpdateDateTime: now, Evidence: []domain.Evidence{{Type: "deviceEvidence",
				Entity: &domain.Entity{Key: domain.EntityKey("device:" + d), Kind: domain.KindDevice, Name: d}}}})
	}
	if _, err := s.st.IngestAlerts(context.Background(), batch, correlate.Rules{}); err != nil {
		t.Fatal(err)
	}
	_, page = s.get(t, "/incidents?severity=low")
	if !strings.Contains(page, "1–50 of 56") || !strings.Contains(page, `href="/incidents?offset=50&amp;severity=low"`) {
		t.Errorf("page 1 of the low incidents: no pager with the filter kept")
	}
	_, page = s.get(t, "/incidents?offset=50&severity=low")
	if !strings.Contains(page, "51–56 of 56") || !strings.Contains(page, `href="/incidents?offset=0&amp;severity=low"`) {
		t.Errorf("page 2: no pager back")
	}

	// CSV export with the same filters, through the page session.
	resp, body := s.get(t, "/incidents/export?severity=low&offset=50&sort=id")
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
		t.Fatalf("export: Content-Type %q", ct)
	}
	lines := strings.Split(strings.TrimSpace(body), "\n")
	if !strings.HasPrefix(lines[0], "id,displayName,") || len(lines) != 57 || !strings.Contains(body, "Low thing") || strings.Contains(body, "Informational") {
		t.Errorf("export: %d lines, want the header and every low incident (56), whatever the page:\n%.500s", len(lines), body)
	}
}

func TestManageIncidents(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	a := s.alert(t, "m-a", "First", domain.SeverityMedium, "ws-a")
	b := s.alert(t, "m-b", "Second", domain.SeverityLow, "ws-b")
	page := s.signIn(t, auth.Analyst)
	checkPage(t, "the analyst's queue", page)
	if !strings.Contains(page, `name="id" value="`+strconv.FormatInt(a, 10)+`"`) || !strings.Contains(page, "Apply to selected") {
		t.Fatalf("an analyst gets no bulk form")
	}
	csrf := csrfField.FindStringSubmatch(page)[1]
	ids := []string{strconv.FormatInt(a, 10), strconv.FormatInt(b, 10)}

	// Bulk: assign and tag two incidents; back to the queue as filtered.
	resp, page := s.post(t, "/incidents/manage", url.Values{"csrf": {csrf}, "id": ids, "assignedTo": {"rita"},
		"addTags": {"phish, vip"}, "back": {"/incidents?severity=all"}})
	if k, m := flashOf(page); resp.Request.URL.RawQuery != "severity=all" || k != "ok" || m != "Updated 2 incidents." {
		t.Errorf("bulk assign: at %s, flash %s %q", resp.Request.URL, k, m)
	}
	for _, id := range []int64{a, b} {
		if inc := s.incident(t, id); inc.AssignedTo != "rita" || strings.Join(inc.CustomTags, ",") != "phish,vip" {
			t.Errorf("incident %d after the bulk change: assigned %q, tags %v", id, inc.AssignedTo, inc.CustomTags)
		}
	}
	for _, tt := range []struct {
		name string
		form url.Values
		want string
	}{
		{"nothing selected", url.Values{"assignedTo": {"rita"}}, "Select one or more incidents first."},
		{"nothing to change", url.Values{"id": ids}, "Nothing to change"},
		{"a pair that does not fit", url.Values{"id": ids, "classification": {"falsePositive"}, "determination": {"malware"}},
			"malware does not fit classification falsePositive"},
		{"redirect to another site", url.Values{"id": ids, "comment": {"x"}, "back": {"//evil.example/"}}, "Updated 2 incidents."},
	} {
		tt.form.Set("csrf", csrf)
		resp, page := s.post(t, "/incidents/manage", tt.form)
		if k, m := flashOf(page); resp.StatusCode != 200 || !strings.Contains(m, tt.want) || resp.Request.URL.Host != strings.TrimPrefix(s.url, "http://") {
			t.Errorf("bulk, %s: HTTP %d at %s, flash %s %q; want %q", tt.name, resp.StatusCode, resp.Request.URL, k, m, tt.want)
		}
	}

	// The incident page's manage form sends only what changed.
	path := fmt.Sprintf("/incidents/%d/manage", a)
	form := func(kv ...string) url.Values {
		v := url.Values{"csrf": {csrf}, "tab": {"summary"}}
		for i := 0; i < len(kv); i += 2 {
			v.Add(kv[i], kv[i+1])
		}
		return v
	}
	resp, page = s.post(t, path, form("displayName", evil, "was-displayName", "First", "assignedTo", "rita", "was-assignedTo", "rita",
		"comment", evil, "hadTag", "phish", "hadTag", "vip", "keepTag", "vip"))
	checkPage(t, "the renamed incident", page)
	if k, m := flashOf(page); resp.Request.URL.Path != fmt.Sprintf("/incidents/%d", a) || k != "ok" {
		t.Errorf("rename: at %s, flash %s %q", resp.Request.URL, k, m)
	}
	if !strings.Contains(page, "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;") {
		t.Errorf("the incident's script-bearing name or comment is not shown escaped")
	}
	if inc := s.incident(t, a); inc.DisplayName != evil || strings.Join(inc.CustomTags, ",") != "vip" || inc.AssignedTo != "rita" {
		t.Errorf("after the form: name %q, tags %v, assigned %q", inc.DisplayName, inc.CustomTags, inc.AssignedTo)
	}
	_, queue := s.get(t, "/incidents?search=pwned")
	checkPage(t, "the queue with a script-bearing name", queue)
	if !strings.Contains(queue, row(a)) {
		t.Errorf("search by the new name does not find the incident")
	}

	// An invalid pair gets the server's message as a flash.
	resp, page = s.post(t, path, form("classification", "truePositive", "was-classification", "unknown",
		"determination", "notMalicious", "was-determination", "unknown"))
	if k, m := flashOf(page); resp.StatusCode != 200 || k != "error" || !strings.Contains(m, "notMalicious does not fit classification truePositive") {
		t.Errorf("invalid pair: HTTP %d, flash %s %q", resp.StatusCode, k, m)
	}
	// A resolving comment without status resolved is refused with the reason.
	_, page = s.post(t, path, form("status", "active", "was-status", "active", "resolvingComment", "done", "was-resolvingComment", ""))
	if k, m := flashOf(page); k != "error" || !strings.Contains(m, "goes with status resolved") {
		t.Errorf("resolving comment without resolving: flash %s %q", k, m)
	}
	// Resolve with a classification and a resolving comment.
	resp, page = s.post(t, path+"?ignored=1", form("tab", "alerts", "status", "resolved", "was-status", "active",
		"classification", "truePositive", "was-classification", "unknown", "determination", "malware", "was-determination", "unknown",
		"resolvingComment", "Macro dropper; device cleaned", "was-resolvingComment", ""))
	if k, m := flashOf(page); k != "ok" || !strings.Contains(m, "status resolved") || resp.Request.URL.Query().Get("tab") != "summary" {
		t.Errorf("resolve: flash %s %q at %s", k, m, resp.Request.URL)
	}
	if inc := s.incident(t, a); inc.Status != domain.IncidentResolved || inc.Classification != "truePositive" ||
		inc.Determination != "malware" || inc.ResolvingComment != "Macro dropper; device cleaned" {
		t.Errorf("after resolving: %s %s/%s %q", inc.Status, inc.Classification, inc.Determination, inc.ResolvingComment)
	}
	if !strings.Contains(page, fmt.Sprintf(`href="/incidents/%d/review"`, a)) {
		t.Errorf("a resolved incident's page does not link its review")
	}
	// The comment form alone.
	_, page = s.post(t, fmt.Sprintf("/incidents/%d/manage", b), url.Values{"csrf": {csrf}, "tab": {"users"}, "comment": {"looked at it"}})
	if k, m := flashOf(page); k != "ok" || m != fmt.Sprintf("Incident %d: comment added.", b) {
		t.Errorf("comment: flash %s %q", k, m)
	}

	// A viewer sees no manage controls and is refused by the server anyway.
	v := s.fresh()
	vpage := v.signIn(t, auth.Viewer)
	vcsrf := csrfField.FindStringSubmatch(vpage)[1]
	_, ipage := v.get(t, fmt.Sprintf("/incidents/%d", b))
	if strings.Contains(ipage, `id="manage"`) || strings.Contains(ipage, "/manage\"") || !strings.Contains(ipage, "can look but not manage") {
		t.Errorf("a viewer is offered the manage panel")
	}
	if resp, _ := v.post(t, fmt.Sprintf("/incidents/%d/manage", b), url.Values{"csrf": {vcsrf}, "comment": {"x"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("viewer manage: HTTP %d, want 403", resp.StatusCode)
	}
	if resp, _ := v.post(t, "/incidents/manage", url.Values{"csrf": {vcsrf}, "id": ids, "assignedTo": {"x"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("viewer bulk: HTTP %d, want 403", resp.StatusCode)
	}
	if resp, _ := s.post(t, path, url.Values{"comment": {"no token"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("manage without the anti-forgery token: HTTP %d, want 403", resp.StatusCode)
	}
}

func TestIncidentTabs(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	s.change(t, s.inc, records.IncidentChange{Comment: evil})
	s.signIn(t, auth.Responder)
	base := fmt.Sprintf("/incidents/%d", s.inc)
	for _, tt := range []struct{ tab, want string }{
		{"", "Timeline"},
		{"summary", "Severity and priority"},
		{"alerts", "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;"},
		{"devices", "<code>device:ws1</code>"},
		{"users", "No users in this incident."},
		{"mailboxes", "No mailboxes in this incident."},
		{"investigations", "Automated investigation"},
		{"response", `value="approve:act1"`},
	} {
		resp, page := s.get(t, base+"?tab="+tt.tab)
		if resp.StatusCode != 200 || !strings.Contains(page, tt.want) {
			t.Errorf("tab %q: HTTP %d, want %q on the page", tt.tab, resp.StatusCode, tt.want)
		}
		checkPage(t, "tab "+tt.tab, page)
		cur := tt.tab
		if cur == "" {
			cur = "summary"
		}
		if !strings.Contains(page, fmt.Sprintf(`href="%s?tab=%s" class="current"`, base, cur)) {
			t.Errorf("tab %q is not marked current", tt.tab)
		}
		if !strings.Contains(page, "&lt;img src=x onerror=alert(1)&gt;") {
			t.Errorf("tab %q: the script-bearing comment is not shown escaped", tt.tab)
		}
	}
	_, page := s.get(t, base+"?tab=response")
	for _, want := range []string{`<span class="rem pendingApproval">pending approval</span>`, `<span class="verdict malicious">malicious</span>`,
		`name="back" value="` + base + `?tab=response"`} {
		if !strings.Contains(page, want) {
			t.Errorf("response tab: %s missing", want)
		}
	}
	for path, want := range map[string]int{base + "?tab=nope": 400, "/incidents/999999": 404, "/incidents/abc": 404} {
		if resp, _ := s.get(t, path); resp.StatusCode != want {
			t.Errorf("%s: HTTP %d, want %d", path, resp.StatusCode, want)
		}
	}
	// A token scoped to other device groups does not see it at all.
	v := s.fresh()
	v.tokens = map[auth.Role]string{auth.Viewer: s.scoped}
	v.signIn(t, auth.Viewer)
	if resp, _ := v.get(t, base); resp.StatusCode != 404 {
		t.Errorf("scoped viewer: HTTP %d, want 404", resp.StatusCode)
	}
}

func TestReviewAndDashboard(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	s.signIn(t, auth.Viewer)
	path := fmt.Sprintf("/incidents/%d/review", s.inc)
	if resp, page := s.get(t, path); resp.StatusCode != http.StatusConflict || !strings.Contains(page, "resolve it first") {
		t.Errorf("review of an open incident: HTTP %d, want 409 saying why", resp.StatusCode)
	}
	resolved, c, d := domain.IncidentResolved, "truePositive", "compromisedAccount"
	s.change(t, s.inc, records.IncidentChange{Status: &resolved, Classification: &c, Determination: &d, ResolvingComment: evil})
	resp, page := s.get(t, path)
	if !strings.Contains(page, "starter intel import enterprise-attack.json") {
		t.Error("review without ATT&CK: it does not say how to import it")
	}
	// With MITRE ATT&CK imported, the review gives each technique's
	// threat context; ATT&CK's text is escaped like any other.
	ctx := context.Background()
	im, err := s.st.BeginIntelImport(ctx, "attack")
	if err != nil {
		t.Fatal(err)
	}
	if err := im.AddKnowledge(ctx, &intel.Knowledge{Techniques: []intel.Technique{{ID: "T1003", Name: "OS Credential Dumping",
		Description: "Dump " + evil, Mitigations: []intel.Mitigation{{ID: "M1043", Name: "Credential Access Protection"}}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := im.Commit(ctx, records.IntelFeed{Format: intel.FormatSTIX, ImportedBy: "adam"}); err != nil {
		t.Fatal(err)
	}
	resp, page = s.get(t, path)
	for _, want := range []string{"Threat context", "OS Credential Dumping", "described by its parent T1003", "M1043</code> Credential Access Protection"} {
		if !strings.Contains(page, want) {
			t.Errorf("review with ATT&CK: %q missing", want)
		}
	}
	checkPage(t, "the review", page)
	for _, want := range []string{"Time to acknowledge", "Time to resolve", "CredentialAccess <code>TA0006</code>",
		"<code>T1003.001</code>", "rita", "status active → resolved", "device.isolate", "source: <b>"} {
		if !strings.Contains(page, want) {
			t.Errorf("review: %q missing", want)
		}
	}
	if resp.StatusCode != 200 {
		t.Errorf("review: HTTP %d", resp.StatusCode)
	}

	resp, page = s.get(t, "/dashboard")
	checkPage(t, "the dashboard", page)
	for _, want := range []string{"Mean time to resolve (MTTR)", "Automation rate", `href="/dashboard?range=30d" class="current"`,
		`<rect class="fill`, "over 1 incident resolved"} {
		if !strings.Contains(page, want) {
			t.Errorf("dashboard: %q missing", want)
		}
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Security-Policy") == "" {
		t.Errorf("dashboard: HTTP %d, CSP %q", resp.StatusCode, resp.Header.Get("Content-Security-Policy"))
	}
	if _, page := s.get(t, "/dashboard?range=7d"); !strings.Contains(page, `href="/dashboard?range=7d" class="current"`) {
		t.Errorf("dashboard: the 7d range is not marked current")
	}
	if resp, _ := s.get(t, "/dashboard?range=5y"); resp.StatusCode != 400 {
		t.Errorf("dashboard, unknown range: HTTP %d, want 400", resp.StatusCode)
	}
	v := s.fresh()
	v.tokens = map[auth.Role]string{auth.Viewer: s.scoped}
	v.signIn(t, auth.Viewer)
	if resp, _ := v.get(t, "/dashboard"); resp.StatusCode != 403 {
		t.Errorf("dashboard for a scoped token: HTTP %d, want 403", resp.StatusCode)
	}
	if _, page := v.get(t, "/incidents"); strings.Contains(page, `href="/dashboard"`) {
		t.Errorf("the queue links the dashboard for a scoped token, which may not see it")
	}
	if _, page := s.get(t, "/incidents"); !strings.Contains(page, `href="/dashboard"`) {
		t.Errorf("the queue does not link the dashboard for an unscoped token")
	}

	// The sources page: every source's health, for unscoped tokens only.
	resp, page = s.get(t, "/sources")
	checkPage(t, "the sources page", page)
	if resp.StatusCode != 200 || !strings.Contains(page, "Alert sources") || !strings.Contains(page, "No source is configured") {
		t.Errorf("sources: HTTP %d: %.300s", resp.StatusCode, page)
	}
	if resp, _ := v.get(t, "/sources"); resp.StatusCode != 403 {
		t.Errorf("sources for a scoped token: HTTP %d, want 403", resp.StatusCode)
	}
}

func TestSignInReturnsToThePageAsked(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	resp, page := s.get(t, "/incidents?severity=high")
	if resp.Request.URL.Path != "/signin" || !strings.Contains(page, `name="next" value="/incidents?severity=high"`) {
		t.Fatalf("signed out: at %s, the form does not carry where to return", resp.Request.URL)
	}
	m := csrfField.FindStringSubmatch(page)
	resp, _ = s.post(t, "/signin", url.Values{"csrf": {m[1]}, "token": {s.tokens[auth.Viewer]}, "next": {"/incidents?severity=high"}})
	if resp.Request.URL.String() != s.url+"/incidents?severity=high" {
		t.Errorf("after sign-in: at %s", resp.Request.URL)
	}
	o := s.fresh()
	_, page = o.get(t, "/signin")
	m = csrfField.FindStringSubmatch(page)
	resp, _ = o.post(t, "/signin", url.Values{"csrf": {m[1]}, "token": {s.tokens[auth.Viewer]}, "next": {"//evil.example/x"}})
	if resp.Request.URL.Host != strings.TrimPrefix(s.url, "http://") || resp.Request.URL.Path != "/incidents" {
		t.Errorf("sign-in with next naming another site: at %s", resp.Request.URL)
	}
}
