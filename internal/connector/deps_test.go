package connector_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestConnectorsDependOnTheContractOnly holds ARCHITECTURE.md's rule:
// connectors (this router, the vendor connectors, the lab tenant) depend on
// the remediation contract and domain, never on the store or activities.
func TestConnectorsDependOnTheContractOnly(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", "./...", "../labtenant").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if pkg == "github.com/airsoc/air/internal/store" || pkg == "github.com/airsoc/air/activities" {
			t.Errorf("a connector depends on %s", pkg)
		}
	}
}

// TestEnrichmentContractIsALeaf: internal/enrich, which connectors and the
// analysis activity share, depends on domain only among AIR's packages.
func TestEnrichmentContractIsALeaf(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", "../enrich").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "github.com/airsoc/air/") && pkg != "github.com/airsoc/air/internal/enrich" && pkg != "github.com/airsoc/air/internal/domain" {
			t.Errorf("internal/enrich depends on %s", pkg)
		}
	}
}
