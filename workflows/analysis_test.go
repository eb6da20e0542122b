package workflows

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/airsoc/air/activities"
	"github.com/airsoc/air/internal/connector/mde"
	"github.com/airsoc/air/internal/connector/msgraph"
	"github.com/airsoc/air/internal/connector/rest"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/enrich"
	"github.com/airsoc/air/internal/intel"
	"github.com/airsoc/air/internal/records"
)

// TestAnalysisRecordsFacts runs a playbook whose analysis steps look the
// incident's file, IP and URL up in the store's intel and prevalence, and
// checks the facts recorded and the step result a later step reads.
func TestAnalysisRecordsFacts(t *testing.T) {
	sha256 := strings.Repeat("ab", 32)
	md5 := strings.Repeat("cd", 16)
	f := newFixtureWith(t, deviceEvidence(domain.VerdictSuspicious),
		domain.Evidence{Type: "fileEvidence", Entity: &domain.Entity{Key: domain.EntityKey("file:" + sha256), Kind: domain.KindFile,
			Name: "evil.exe", Attrs: map[string]string{"sha256": sha256, "md5": md5}}},
		domain.Evidence{Type: "ipEvidence", Entity: &domain.Entity{Key: "ip:8.8.8.8", Kind: domain.KindIP, Name: "8.8.8.8"}},
		domain.Evidence{Type: "urlEvidence", Entity: &domain.Entity{Key: "url:http://c2.evil.example/gate", Kind: domain.KindURL, Name: "http://c2.evil.example/gate"}})
	ctx := context.Background()
	feed := func(name string, benign bool, ins ...intel.Indicator) {
		im, err := f.store.BeginIntelImport(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range ins {
			im.Add(ctx, in)
		}
		if _, err := im.Commit(ctx, records.IntelFeed{Format: intel.FormatList, Benign: benign, ImportedBy: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	feed("malware", false, intel.Indicator{Kind: intel.KindFile, Value: md5, Score: 80, Family: "emotet"},
		intel.Indicator{Kind: intel.KindDomain, Value: "evil.example", Subdomains: true})
	feed("public-dns", true, intel.Indicator{Kind: intel.KindIP, Value: "8.8.8.8"})

	f.withPlaybooks("testdata/analysis")
	st := f.run()
	if st.Error != "" {
		t.Fatalf("investigation failed: %s", st.Error)
	}

	facts, err := f.store.Facts(ctx, f.incident)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, fc := range facts {
		got = append(got, string(fc.Entity)+" "+fc.Kind+" "+fc.Source)
		if fc.ObservedAt.IsZero() || len(fc.Value) == 0 {
			t.Errorf("fact without time or value: %+v", fc)
		}
	}
	want := []string{
		"file:" + sha256 + " intel.match intel:malware",
		"file:" + sha256 + " prevalence.org store",
		"ip:8.8.8.8 intel.benign intel:public-dns",
		"ip:8.8.8.8 prevalence.org store",
		"url:http://c2.evil.example/gate intel.match intel:malware",
		"url:http://c2.evil.example/gate prevalence.org store",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("facts:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var match activities.IntelMatchFact
	if err := json.Unmarshal(facts[0].Value, &match); err != nil || len(match.Matches) != 1 || match.Matches[0].Family != "emotet" || match.Matches[0].Value != md5 {
		t.Errorf("file match fact = %s", facts[0].Value)
	}
	var prev records.Prevalence
	if err := json.Unmarshal(facts[1].Value, &prev); err != nil || prev.Devices != 1 || prev.Incidents != 1 {
		t.Errorf("file prevalence fact = %s", facts[1].Value)
	}
	comments, err := f.store.IncidentComments(ctx, f.incident)
	if err != nil {
		t.Fatal(err)
	}
	if len(comments) != 1 || comments[0].Comment != "evil.exe: named by malware, seen on 1 devices in 1 incidents" {
		t.Errorf("comments = %+v", comments)
	}
	// The containment rules read the facts analysis recorded in the same
	// pass (item.intel): the URL the malware feed names is blocked, the IP
	// only a known-benign list names is not.
	var blocked []string
	for _, a := range st.Actions {
		blocked = append(blocked, a.Type+" "+string(a.TargetKey))
	}
	if want := []string{"url.block url:http://c2.evil.example/gate"}; !slices.Equal(blocked, want) {
		t.Errorf("actions %q, want %q", blocked, want)
	}
	// The rules' verdicts are AIR's, with the playbook and step as their
	// source, beside the provider's.
	ents, err := f.store.IncidentEntities(ctx, f.incident)
	if err != nil {
		t.Fatal(err)
	}
	verdicts := map[domain.EntityKey]string{}
	for _, e := range ents {
		if e.Decision != nil {
			verdicts[e.Key] = fmt.Sprintf("%s by %s %s: %s", e.Verdict, e.Decision.Source, e.Decision.By, e.Decision.Reason)
		}
	}
	wantVerdicts := map[domain.EntityKey]string{
		"url:http://c2.evil.example/gate": "malicious by rule analyze-evidence/judge_urls: named by threat intelligence (score 0)",
		"ip:8.8.8.8":                      "noThreatsFound by rule analyze-evidence/judge_ips: listed as known-benign only",
	}
	if !maps.Equal(verdicts, wantVerdicts) {
		t.Errorf("verdicts %v, want %v", verdicts, wantVerdicts)
	}
}

// vendorsByKind gives the enrichers of each entity kind.
type vendorsByKind map[domain.EntityKind][]enrich.Enricher

func (v vendorsByKind) Enrichers(k domain.EntityKind) []enrich.Enricher { return v[k] }

// TestFailingEnrichmentDoesNotStopTheInvestigation runs analysis steps
// against Defender for Endpoint and Graph fakes that answer some calls and
// fail others (403, no answer in time, 503 every time): the answers become
// vendor facts that rules read, the failures vendor.error facts, and the
// investigation goes on to its later stages.
func TestFailingEnrichmentDoesNotStopTheInvestigation(t *testing.T) {
	sha1 := strings.Repeat("0a", 20)
	machine := strings.Repeat("1e", 20)
	userID := "c2b6c2b9-dddc-acd0-2b39-d519d803dbc3"
	f := newFixtureWith(t,
		domain.Evidence{Type: "deviceEvidence", Verdict: domain.VerdictSuspicious, Entity: &domain.Entity{Key: domain.EntityKey("device:" + machine),
			Kind: domain.KindDevice, Name: "ws-042.corp.example", Attrs: map[string]string{"mdeDeviceId": machine}}},
		domain.Evidence{Type: "fileEvidence", Entity: &domain.Entity{Key: domain.EntityKey("file:" + sha1), Kind: domain.KindFile,
			Name: "evil.exe", Attrs: map[string]string{"sha1": sha1}}},
		domain.Evidence{Type: "userEvidence", Entity: &domain.Entity{Key: "user:ana@contoso.example", Kind: domain.KindUser,
			Name: "ana@contoso.example", Attrs: map[string]string{"upn": "ana@contoso.example", "azureAdUserId": userID}}})

	msError := func(w http.ResponseWriter, status int, code, msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"error":{"code":%q,"message":%q}}`, code, msg)
	}
	release := make(chan struct{})
	defer close(release)
	mdeSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/files/" + sha1 + "/stats":
			fmt.Fprintf(w, `{"sha1":%q,"organizationPrevalence":2,"orgFirstSeen":"2026-04-30T08:00:00Z","orgLastSeen":"2026-05-01T08:00:00Z","globallyPrevalence":3,"topFileNames":["evil.exe"]}`, sha1)
		case "/api/machines/" + machine + "/logonusers":
			msError(w, http.StatusForbidden, "Forbidden", "The application does not have any of the required application permissions (User.Read.All)")
		case "/api/machines/" + machine + "/alerts":
			select { // no answer within the budget
			case <-release:
			case <-r.Context().Done():
			}
		default:
			msError(w, http.StatusNotFound, "ResourceNotFound", "not found")
		}
	}))
	defer mdeSrv.Close()
	graphSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1.0/identityProtection/riskyUsers/" + userID:
			fmt.Fprintf(w, `{"id":%q,"riskLevel":"high","riskState":"atRisk","riskDetail":"none","riskLastUpdatedDateTime":"2026-05-01T08:30:00Z"}`, userID)
		case "/v1.0/auditLogs/signIns":
			msError(w, http.StatusServiceUnavailable, "ServiceUnavailable", "Service is temporarily unavailable")
		default:
			msError(w, http.StatusNotFound, "Request_ResourceNotFound", "not found")
		}
	}))
	defer graphSrv.Close()
	token := &rest.StaticToken{Value: rest.NewSecret("t")}
	md := &mde.Client{API: &rest.Client{Vendor: "mde", BaseURL: mdeSrv.URL, Token: token}}
	gr := &msgraph.Client{API: &rest.Client{Vendor: "graph", BaseURL: graphSrv.URL, Token: token}}
	f.vendors = vendorsByKind{domain.KindFile: {md}, domain.KindDevice: {md}, domain.KindUser: {gr}}
	f.enrichOpts = enrich.Options{Budget: time.Second, Backoff: 10 * time.Millisecond}

	f.withPlaybooks("testdata/enrichment")
	st := f.run()
	if st.Error != "" {
		t.Fatalf("investigation failed: %s", st.Error)
	}
	ctx := context.Background()
	facts, err := f.store.Facts(ctx, f.incident)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]domain.Fact{}
	var names []string
	for _, fc := range facts {
		if strings.HasPrefix(fc.Kind, "vendor.") {
			k := string(fc.Entity) + " " + fc.Kind + " " + fc.Source
			got[k] = fc
			names = append(names, k)
		}
	}
	want := []string{
		"device:" + machine + " vendor.error mde",
		"file:" + sha1 + " vendor.file_stats mde",
		"user:ana@contoso.example vendor.error graph",
		"user:ana@contoso.example vendor.risky_user graph",
	}
	if strings.Join(names, "\n") != strings.Join(want, "\n") {
		t.Fatalf("vendor facts:\n%s\nwant:\n%s", strings.Join(names, "\n"), strings.Join(want, "\n"))
	}
	var devErr enrich.ErrorFact
	if err := json.Unmarshal(got[want[0]].Value, &devErr); err != nil || len(devErr.Failures) != 2 {
		t.Fatalf("device error fact %s (%v)", got[want[0]].Value, err)
	}
	if f0 := devErr.Failures[0]; f0.Kind != domain.FactVendorLoggedOnUsers || f0.ErrorKind != domain.KindForbidden || !strings.Contains(f0.Error, "User.Read.All") {
		t.Errorf("logged-on users failure %+v", f0)
	}
	if f1 := devErr.Failures[1]; f1.Kind != domain.FactVendorRelatedAlerts || !f1.TimedOut {
		t.Errorf("related alerts failure %+v", f1)
	}
	var userErr enrich.ErrorFact
	if err := json.Unmarshal(got[want[2]].Value, &userErr); err != nil || len(userErr.Failures) != 1 ||
		userErr.Failures[0].Attempts != enrich.DefaultAttempts || !strings.Contains(userErr.Failures[0].Error, "HTTP 503") {
		t.Errorf("user error fact %s (%v)", got[want[2]].Value, err)
	}

	// The investigation went on: the review's comment says what the
	// device step learned, the rules read the vendor facts.
	comments, err := f.store.IncidentComments(ctx, f.incident)
	if err != nil {
		t.Fatal(err)
	}
	if len(comments) != 1 || !strings.HasPrefix(comments[0].Comment, "ws-042.corp.example: mde could not tell ") ||
		!strings.Contains(comments[0].Comment, "HTTP 403") {
		t.Errorf("comments %+v", comments)
	}
	ents, err := f.store.IncidentEntities(ctx, f.incident)
	if err != nil {
		t.Fatal(err)
	}
	verdicts := map[domain.EntityKey]string{}
	for _, e := range ents {
		if e.Decision != nil {
			verdicts[e.Key] = fmt.Sprintf("%s: %s", e.Verdict, e.Decision.Reason)
		}
	}
	wantVerdicts := map[domain.EntityKey]string{
		"user:ana@contoso.example":       "suspicious: identity protection rates the user's risk high (atRisk)",
		domain.EntityKey("file:" + sha1): "suspicious: seen on 3 devices worldwide",
	}
	if !maps.Equal(verdicts, wantVerdicts) {
		t.Errorf("verdicts %v, want %v", verdicts, wantVerdicts)
	}
	inc, err := f.store.GetIncident(ctx, f.incident)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(inc.CustomTags, "enrichment-incomplete") {
		t.Errorf("tags %v: the rule over vendor.failed did not run", inc.CustomTags)
	}

	// The analysis again (a retried activity, a later pass), the vendors
	// answering in full now: each fact is still recorded once, and the
	// vendor.error facts that no longer hold are gone.
	mdeOK := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"value":[]}`)
	}))
	defer mdeOK.Close()
	acts := &activities.Activities{Store: f.store, Vendors: vendorsByKind{domain.KindDevice: {&mde.Client{API: &rest.Client{Vendor: "mde", BaseURL: mdeOK.URL}}}},
		EnrichOptions: f.enrichOpts}
	req := activities.AnalyzeRequest{IncidentID: f.incident, Keys: []domain.EntityKey{domain.EntityKey("device:" + machine)}, At: time.Now().UTC()}
	for range 2 {
		if _, err := acts.AnalyzeEntities(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	facts, err = f.store.Facts(ctx, f.incident)
	if err != nil {
		t.Fatal(err)
	}
	var dev []string
	for _, fc := range facts {
		if fc.Entity == domain.EntityKey("device:"+machine) {
			dev = append(dev, fc.Kind+" "+fc.Source)
		}
	}
	if want := []string{"vendor.logged_on_users mde", "vendor.related_alerts mde"}; !slices.Equal(dev, want) {
		t.Errorf("device facts after a full answer: %q, want %q", dev, want)
	}
}
