package playbook

import (
	"slices"
	"testing"

	"github.com/airsoc/air/internal/domain"
)

// TestVendorView: vendor facts reach item.vendor; several vendors give the
// highest number and risk, an error fact names the vendor in failed, and
// rules read them.
func TestVendorView(t *testing.T) {
	t.Parallel()
	ents := []domain.Entity{
		{Key: "user:ana@corp.example", Kind: domain.KindUser, Name: "ana@corp.example", Verdict: domain.VerdictSuspicious},
		{Key: "user:bob@corp.example", Kind: domain.KindUser, Name: "bob@corp.example", Verdict: domain.VerdictSuspicious},
		{Key: "device:dev1", Kind: domain.KindDevice, Name: "ws1"},
		{Key: "file:aa", Kind: domain.KindFile, Name: "evil.exe"},
	}
	env := NewEnv(domain.Incident{ID: 1}, nil, ents)
	fact := func(key domain.EntityKey, kind, source, value string) domain.Fact {
		return domain.Fact{Entity: key, Kind: kind, Source: source, Value: domain.RawJSON(value)}
	}
	AddFacts(env, []domain.Fact{
		fact("user:ana@corp.example", domain.FactVendorRiskyUser, "lab", `{"riskLevel":"medium","riskState":"atRisk","listed":true}`),
		fact("user:ana@corp.example", domain.FactVendorRiskyUser, "graph", `{"riskLevel":"high","riskState":"atRisk","riskDetail":"none","listed":true}`),
		fact("user:ana@corp.example", domain.FactVendorSignIns, "graph", `{"signIns":[{"id":"1"},{"id":"2"}],"failed":1,"risky":1,"countries":["US","NG"]}`),
		fact("user:bob@corp.example", domain.FactVendorError, "graph", `{"vendor":"graph","failures":[{"kind":"vendor.risky_user","error":"HTTP 403"}]}`),
		fact("device:dev1", domain.FactVendorLoggedOnUsers, "mde", `{"machine":"m","users":[{"account":"corp\\ana","domainAdmin":false},{"account":"corp\\da","domainAdmin":true}]}`),
		fact("device:dev1", domain.FactVendorRelatedAlerts, "mde", `{"machine":"m","alerts":[{"id":"a"},{"id":"b"}],"active":1,"highSeverity":1}`),
		fact("file:aa", domain.FactVendorFileStats, "mde", `{"orgPrevalence":2,"globalPrevalence":3}`),
		fact("file:aa", domain.FactVendorFileStats, "lab", `{"orgPrevalence":1,"globalPrevalence":90000}`),
		fact("file:aa", domain.FactVendorFileStats, "mde2", `not json`), // unreadable: adds nothing
		fact("file:aa", domain.FactIntelMatch, "intel:x", `{"feed":"x","matches":[{"score":5}]}`),
	})
	ana, bob, dev, file := env.Users[0].Vendor, env.Users[1].Vendor, env.Devices[0].Vendor, env.Files[0].Vendor
	if ana.RiskLevel != "high" || ana.RiskState != "atRisk" || ana.SignIns != 2 || ana.FailedSignIns != 1 || ana.RiskySignIns != 1 ||
		!slices.Equal(ana.Countries, []string{"US", "NG"}) || !slices.Equal(ana.Sources, []string{"lab", "graph"}) || len(ana.Failed) != 0 {
		t.Errorf("ana %+v", ana)
	}
	if bob.RiskLevel != "" || !slices.Equal(bob.Failed, []string{"graph"}) || len(bob.Sources) != 0 {
		t.Errorf("bob %+v", bob)
	}
	if !dev.DomainAdminLogon || !slices.Equal(dev.LoggedOnUsers, []string{`corp\ana`, `corp\da`}) || dev.RelatedAlerts != 2 || dev.ActiveAlerts != 1 || dev.HighSeverityAlerts != 1 {
		t.Errorf("device %+v", dev)
	}
	if file.OrgPrevalence != 2 || file.GlobalPrevalence != 90000 || !slices.Equal(file.Sources, []string{"mde", "lab"}) || !env.Files[0].Intel.Matched {
		t.Errorf("file %+v", file)
	}

	pb, err := Parse("t.yaml", []byte(`name: t
version: 1
match: "true"
stages:
  containment:
    - id: risky
      for_each: filter(users, {.vendor.riskLevel == "high" and "graph" in .vendor.sources})
      action: user.set_verdict
      with: {verdict: malicious, reason: "risk {{ item.vendor.riskLevel }}"}
    - id: unanswered
      for_each: filter(users, {len(.vendor.failed) > 0})
      action: incident.tag
      with: {tags: [enrichment-incomplete]}
`))
	if err != nil {
		t.Fatal(err)
	}
	invs, err := pb.Step("risky").Expand(env)
	if err != nil || len(invs) != 1 || invs[0].Target != "user:ana@corp.example" || invs[0].Args["reason"] != "risk high" {
		t.Errorf("risky: %+v, %v", invs, err)
	}
	invs, err = pb.Step("unanswered").Expand(env)
	if err != nil || len(invs) != 1 {
		t.Errorf("unanswered: %+v, %v", invs, err)
	}
}
