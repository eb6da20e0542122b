package labtenant_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/enrich"
	"github.com/airsoc/air/internal/labtenant"
)

// TestLabEnrichment: the lab answers every kind it enriches in the shapes
// the vendors' facts have, the same way each time for the same entity.
func TestLabEnrichment(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	ents := []domain.Entity{
		{Key: domain.EntityKey("file:" + strings.Repeat("ab", 32)), Kind: domain.KindFile, Name: "evil.exe", Attrs: map[string]string{"fileName": "evil.exe"}},
		{Key: "ip:10.0.0.5", Kind: domain.KindIP},
		{Key: "ip:203.0.113.50", Kind: domain.KindIP},
		{Key: "device:ws-042.corp.example", Kind: domain.KindDevice, Name: "ws-042.corp.example"},
		{Key: "user:ana@contoso.example", Kind: domain.KindUser},
	}
	want := map[domain.EntityKind][]string{
		domain.KindFile:   {domain.FactVendorFileStats},
		domain.KindIP:     {domain.FactVendorIPStats},
		domain.KindDevice: {domain.FactVendorLoggedOnUsers, domain.FactVendorRelatedAlerts},
		domain.KindUser:   {domain.FactVendorRiskyUser, domain.FactVendorSignIns},
	}
	lab := &labtenant.Tenant{}
	for _, e := range ents {
		r1 := enrich.Run(context.Background(), lab, e, at, enrich.Options{})
		r2 := enrich.Run(context.Background(), lab, e, at, enrich.Options{})
		if len(r1.Failures) != 0 || strings.Join(r1.Kinds, ",") != strings.Join(want[e.Kind], ",") {
			t.Errorf("%s: kinds %v, failures %+v", e.Key, r1.Kinds, r1.Failures)
			continue
		}
		for i, f := range r1.Facts {
			if f.Source != "lab" || string(f.Value) != string(r2.Facts[i].Value) {
				t.Errorf("%s %s: source %s, value %s then %s", e.Key, f.Kind, f.Source, f.Value, r2.Facts[i].Value)
			}
		}
	}
	// A private address is common inside the organisation.
	r := enrich.Run(context.Background(), lab, ents[1], at, enrich.Options{})
	var s enrich.IPStats
	if json.Unmarshal(r.Facts[0].Value, &s); s.OrgPrevalence < 20 {
		t.Errorf("private ip stats %+v", s)
	}
	// A user's risk is one of Graph's levels, its state consistent with it.
	r = enrich.Run(context.Background(), lab, ents[4], at, enrich.Options{})
	var u enrich.RiskyUser
	json.Unmarshal(r.Facts[0].Value, &u)
	if (u.RiskLevel == "none") != (u.RiskState == "none") || (u.RiskLevel == "none") == u.Listed {
		t.Errorf("risky user %+v", u)
	}
	if l := lab.Lookups(domain.Entity{Key: "url:http://x.example/", Kind: domain.KindURL}); len(l) != 0 {
		t.Errorf("url lookups %+v", l)
	}
}

// TestLabEnrichmentFaults: an enrich fault makes the lab fail as a vendor
// does, as many times as told; action faults do not touch enrichment.
func TestLabEnrichmentFaults(t *testing.T) {
	t.Parallel()
	lab := &labtenant.Tenant{Faults: []labtenant.Fault{
		{Type: "*", Answer: labtenant.Unavailable},
		{Type: "enrich.user", Answer: labtenant.Unavailable, Times: 3},
	}}
	user := domain.Entity{Key: "user:ana@contoso.example", Kind: domain.KindUser}
	opts := enrich.Options{Budget: 2 * time.Second, Attempts: 2, Backoff: time.Millisecond}
	r := enrich.Run(context.Background(), lab, user, time.Now(), opts)
	// Risk: unavailable twice (both attempts); sign-ins: unavailable once, then answered.
	if len(r.Failures) != 1 || r.Failures[0].Kind != domain.FactVendorRiskyUser || r.Failures[0].Attempts != 2 ||
		!strings.Contains(r.Failures[0].Error, "HTTP 503") || strings.Join(r.Kinds, ",") != domain.FactVendorSignIns {
		t.Errorf("kinds %v, failures %+v", r.Kinds, r.Failures)
	}
	r = enrich.Run(context.Background(), lab, user, time.Now(), opts)
	if len(r.Failures) != 0 {
		t.Errorf("after the fault's count: failures %+v", r.Failures)
	}
	file := domain.Entity{Key: domain.EntityKey("file:" + strings.Repeat("ab", 20)), Kind: domain.KindFile}
	if r := enrich.Run(context.Background(), lab, file, time.Now(), opts); len(r.Failures) != 0 {
		t.Errorf("a * action fault failed enrichment: %+v", r.Failures)
	}
}
