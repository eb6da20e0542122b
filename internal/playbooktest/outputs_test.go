package playbooktest

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/airsoc/air/internal/decode"
	"github.com/airsoc/air/internal/plan"
	"github.com/airsoc/air/internal/plan/scratch"
	"github.com/airsoc/air/internal/playbook"
	"github.com/airsoc/air/internal/policy"
)

// outputsPlaybook reads the outputs of a bookkeeping step and of a
// remediation that policy leaves out (a device with no threats found).
const outputsPlaybook = `name: outputs
version: 1
order: 1
match: len(alerts) > 0
stages:
  triage:
    - id: tag
      action: incident.tag
      with:
        tags: [seen]
  containment:
    - id: scan
      for_each: devices
      action: device.run_av_scan
      with:
        scanType: Quick
  review:
    - id: note
      action: incident.comment
      with:
        text: "tag {{ steps.tag.status }} x{{ steps.tag.count }}, scan {{ steps.scan.status }} x{{ steps.scan.count }} skipped {{ steps.scan.skipped }}"
`

const outputsAlert = `{"id": "out-1", "title": "Benign test", "severity": "medium", "category": "Execution",
  "createdDateTime": "2026-01-01T10:00:00Z",
  "evidence": [{"@odata.type": "#microsoft.graph.security.deviceEvidence", "mdeDeviceId": "dev9",
    "deviceDnsName": "ws9.corp.example", "osPlatform": "Windows11", "verdict": "noThreatsFound"}]}`

// TestStepOutputsAgreeWithPlan: the workflow and plan mode summarise step
// outputs with one rule (playbook.Summarize), so a playbook reading a
// bookkeeping step or a policy-skipped remediation does what its plan said.
func TestStepOutputsAgreeWithPlan(t *testing.T) {
	const want = "tag succeeded x1, scan skipped x1 skipped 1"
	dir := t.TempDir()
	testFile := "playbook: outputs\ncases:\n  - name: outputs\n    alerts:\n      - " + strings.ReplaceAll(outputsAlert, "\n", " ") +
		"\n    expect:\n      comments: [\"" + want + "\"]\n"
	for name, src := range map[string]string{"outputs.yaml": outputsPlaybook, "outputs.test.yaml": testFile} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	results, err := RunDir(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 1 || !results[0].Passed() {
		t.Fatalf("the workflow: %+v", results)
	}

	books, err := playbook.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	alerts, _, err := decode.Decode(strings.NewReader(outputsAlert))
	if err != nil {
		t.Fatal(err)
	}
	incs, err := scratch.Incidents(context.Background(), alerts, policy.Settings{Default: policy.SemiAll})
	if err != nil || len(incs) != 1 {
		t.Fatalf("incidents: %d, %v", len(incs), err)
	}
	p, err := plan.Make(books, incs[0])
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(p.Steps, func(s plan.Step) bool { return s.Step == "note" })
	if i < 0 || p.Steps[i].Params["text"] != want {
		t.Errorf("plan mode's note: %+v; want the text %q", p.Steps, want)
	}
}
