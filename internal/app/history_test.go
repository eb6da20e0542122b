package app

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/airsoc/air/internal/domain"
)

// recordHistory writes an incident's workflow history to
// workflows/testdata/NAME.json when AIR_RECORD_HISTORIES is set. The
// workflows package replays every file there on each test run, so a change
// to workflow code that would break a running investigation fails CI.
func recordHistory(t *testing.T, hostPort string, incident int64, name string) {
	t.Helper()
	recordWorkflowHistory(t, hostPort, domain.WorkflowID(incident), name)
}

// recordWorkflowHistory writes a workflow's history to
// workflows/testdata/NAME.json (NAME may name a subdirectory) when
// AIR_RECORD_HISTORIES is set.
func recordWorkflowHistory(t *testing.T, hostPort, workflowID, name string) {
	t.Helper()
	if os.Getenv("AIR_RECORD_HISTORIES") == "" {
		return
	}
	c, err := client.Dial(client.Options{HostPort: hostPort})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	it := c.GetWorkflowHistory(context.Background(), workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var h historypb.History
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		h.Events = append(h.Events, ev)
	}
	b, err := protojson.MarshalOptions{Indent: "  "}.Marshal(&h)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("..", "..", "workflows", "testdata", name+".json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("recorded %d events to %s", len(h.Events), path)
}
