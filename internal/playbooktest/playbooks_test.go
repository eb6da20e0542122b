package playbooktest

import (
	"context"
	"strings"
	"testing"
)

// TestShippedPlaybooks runs every playbook test file in playbooks/.
func TestShippedPlaybooks(t *testing.T) {
	results, err := RunDir(context.Background(), "../../playbooks")
	if err != nil {
		t.Fatal(err)
	}
	if len(results) == 0 {
		t.Fatal("no playbook test cases found")
	}
	for _, r := range results {
		t.Run(r.Playbook+"/"+r.Case, func(t *testing.T) {
			if !r.Passed() {
				t.Errorf("%s:%d: %s", r.File, r.Line, strings.Join(r.Problems, "\n\t"))
			}
		})
	}
}
