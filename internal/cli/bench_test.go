package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/airsoc/air/internal/devserver"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/storebench"
)

// TestBenchIngestTemporalPath: the temporal path sends each incident's
// notification to a real Temporal server (the embedded dev server) as
// SignalWithStart on the bench's task queue, and reports the signals it
// sent; the investigations exist there, started and never run.
func TestBenchIngestTemporalPath(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := devserver.Start(ctx, devserver.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	// Three hosts, four alerts each: three incidents.
	var lines []string
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	for i := range 12 {
		host := fmt.Sprintf("ws-%d", i%3)
		ts := at.Add(time.Duration(i) * time.Minute).Format(time.RFC3339)
		lines = append(lines, fmt.Sprintf(`{"@odata.type":"#microsoft.graph.security.alert","id":"b-%d","title":"Beacon","severity":"medium","category":"CommandAndControl","createdDateTime":%q,"lastUpdateDateTime":%q,"evidence":[{"@odata.type":"#microsoft.graph.security.deviceEvidence","mdeDeviceId":%q,"deviceDnsName":%q}]}`,
			i, ts, ts, host, host+".corp.example"))
	}
	file := filepath.Join(t.TempDir(), "alerts.ndjson")
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	env := Env{Stdout: &out, Stderr: &errb}
	if code := Run(ctx, env, []string{"bench", "ingest", "--path", "temporal", "--batch", "4", "--json",
		"--temporal", srv.HostPort(), "--task-queue", "bench-test", file}); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var r storebench.IngestResult
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	if r.Path != "temporal" || r.Alerts != 12 || r.Incidents != 3 || r.Notifications < 3 || !strings.Contains(r.Included, "sent to Temporal") {
		t.Errorf("result %+v", r)
	}
	tc, err := client.Dial(client.Options{HostPort: srv.HostPort()})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	for id := int64(1); id <= 3; id++ {
		d, err := tc.DescribeWorkflowExecution(ctx, domain.WorkflowID(id), "")
		if err != nil {
			t.Fatalf("incident %d's investigation was not started: %v", id, err)
		}
		if q := d.GetExecutionConfig().GetTaskQueue().GetName(); q != "bench-test" {
			t.Errorf("incident %d on task queue %q, want bench-test", id, q)
		}
	}
	// Without a frontend the path is refused with the flag to give.
	if code := Run(ctx, env, []string{"bench", "ingest", "--path", "temporal", file}); code == 0 || !strings.Contains(errb.String(), "--temporal HOST:PORT") {
		t.Errorf("no --temporal: exit %d, %s", code, errb.String())
	}
}
