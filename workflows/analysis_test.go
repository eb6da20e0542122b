package workflows

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/airsoc/air/activities"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/intel"
	"github.com/airsoc/air/internal/store"
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
		if _, err := im.Commit(ctx, store.IntelFeed{Format: intel.FormatList, Benign: benign, ImportedBy: "test"}); err != nil {
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
	var prev store.Prevalence
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
