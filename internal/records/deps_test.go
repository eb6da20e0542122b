package records_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const storePkg = "github.com/airsoc/air/internal/store"

// TestCommandsAndPagesDoNotImportTheStore holds ARCHITECTURE.md's rule
// (issue #15): internal/cli and internal/web speak records and domain
// types, never store types, so neither imports internal/store — their
// tests included, which reach a real store through storetest.
func TestCommandsAndPagesDoNotImportTheStore(t *testing.T) {
	t.Parallel()
	for _, pkg := range []string{"../cli", "../web"} {
		out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}\n{{range .Imports}}{{.}}\n{{end}}{{range .TestImports}}{{.}}\n{{end}}{{range .XTestImports}}{{.}}\n{{end}}", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", pkg, err, out)
		}
		lines := strings.Fields(string(out))
		if slices.Contains(lines[1:], storePkg) {
			t.Errorf("%s (or its tests) imports %s", lines[0], storePkg)
		}
	}
}

// TestRecordsIsALeaf: records is what the API, pages, CLI and store all
// import, so it must not depend on the store (nor on anything above it).
func TestRecordsIsALeaf(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	allowed := []string{"github.com/airsoc/air/internal/records", "github.com/airsoc/air/internal/domain",
		"github.com/airsoc/air/internal/correlate", "github.com/airsoc/air/internal/intel", "github.com/airsoc/air/internal/entity"}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "github.com/airsoc/air/") && !slices.Contains(allowed, pkg) {
			t.Errorf("internal/records depends on %s", pkg)
		}
	}
}
