package connector_test

import (
	"context"
	"strings"
	"testing"

	"github.com/airsoc/air/internal/connector"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/labtenant"
)

// TestEnrichersByKind: each entity kind is enriched by the configured
// vendor connectors that can; the lab tenant stands in only when no vendor
// connector is configured, or for the kinds none enriches when told to.
func TestEnrichersByKind(t *testing.T) {
	t.Parallel()
	kinds := []domain.EntityKind{domain.KindFile, domain.KindIP, domain.KindDevice, domain.KindUser, domain.KindURL}
	vendors := func(r *connector.Router) string {
		var out []string
		for _, k := range kinds {
			var names []string
			for _, e := range r.Enrichers(k) {
				names = append(names, e.Vendor())
			}
			out = append(out, string(k)+"="+strings.Join(names, "+"))
		}
		return strings.Join(out, " ")
	}
	secrets := env(map[string]string{"AIR_SECRET": "s", "AIR_GRAPH_SECRET": "s"})
	graph := &connector.GraphSettings{Credentials: connector.Credentials{TenantID: "contoso", ClientID: "app", ClientSecretEnv: "AIR_GRAPH_SECRET"}}
	tests := []struct {
		name string
		cfg  connector.Config
		want string
	}{
		{"lab only (worker -dev)", connector.Config{}, "file=lab ip=lab device=lab user=lab url="},
		{"defender only", connector.Config{MDE: &connector.MDESettings{Credentials: creds}}, "file=mde ip=mde device=mde user= url="},
		{"defender, the lab for the rest", connector.Config{MDE: &connector.MDESettings{Credentials: creds}, Lab: connector.LabSettings{Enrich: true}},
			"file=mde ip=mde device=mde user=lab url="},
		{"defender and graph", connector.Config{MDE: &connector.MDESettings{Credentials: creds}, Graph: graph, Lab: connector.LabSettings{Enrich: true}},
			"file=mde ip=mde device=mde user=graph url="},
	}
	for _, tc := range tests {
		r, err := connector.NewRouter(context.Background(), tc.cfg, connector.Deps{Env: secrets})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := vendors(r); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}

// Lab faults for enrichment are named enrich.*; a typo is refused.
func TestEnrichFaultConfig(t *testing.T) {
	t.Parallel()
	ok := connector.Config{Lab: connector.LabSettings{Faults: []labtenant.Fault{{Type: "enrich.user", Answer: labtenant.Unavailable}, {Type: "enrich.*", Answer: labtenant.Throttled}}}}
	if err := ok.Validate(env(nil)); err != nil {
		t.Errorf("enrich faults refused: %v", err)
	}
	bad := connector.Config{Lab: connector.LabSettings{Faults: []labtenant.Fault{{Type: "enrich.mailbox", Answer: labtenant.Unavailable}}}}
	if err := bad.Validate(env(nil)); err == nil || !strings.Contains(err.Error(), "lab.faults[0].type") {
		t.Errorf("enrich.mailbox: %v", err)
	}
}
