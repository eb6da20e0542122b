package storebench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestIngestPathsAndExport: the batch and HTTP paths replay a small file
// into fresh SQLite stores, count what they ingested and made, and the
// batch path's kept store exports one assignment per alert.
func TestIngestPathsAndExport(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	var lines []string
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	for i := range 6 {
		host := fmt.Sprintf("ws-%d", i%2)
		ts := at.Add(time.Duration(i) * time.Minute).Format(time.RFC3339)
		lines = append(lines, fmt.Sprintf(`{"@odata.type":"#microsoft.graph.security.alert","id":"s-%d","title":"Beacon","severity":"medium","category":"CommandAndControl","createdDateTime":%q,"lastUpdateDateTime":%q,"evidence":[{"@odata.type":"#microsoft.graph.security.deviceEvidence","mdeDeviceId":%q,"deviceDnsName":%q}]}`,
			i, ts, ts, host, host+".corp.example"))
	}
	file := filepath.Join(dir, "alerts.ndjson")
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	kept := filepath.Join(dir, "kept.db")
	csvFile := filepath.Join(dir, "assign.csv")
	b, err := Ingest{File: file, Path: "batch", Store: "sqlite", BatchSize: 4, Repeat: 1, Keep: kept, Export: csvFile}.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if b.Path != "batch" || b.Store != "sqlite" || b.Alerts != 6 || b.Incidents != 2 || b.Notifications < 2 {
		t.Errorf("batch path: %+v", b)
	}
	h, err := Ingest{File: file, Path: "http", Store: "sqlite", Workers: 2}.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if h.Path != "http" || h.Alerts != 6 || h.Incidents != 2 {
		t.Errorf("http path: %+v", h)
	}
	written, err := os.ReadFile(csvFile)
	if err != nil {
		t.Fatal(err)
	}
	var fromKept bytes.Buffer
	if err := ExportAssignments(ctx, kept, &fromKept); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(fromKept.String(), "\n"); got != 7 || fromKept.String() != string(written) {
		t.Errorf("export of the kept store (%d lines):\n%s\nwant what the batch path wrote:\n%s", got, fromKept.String(), written)
	}
}

// TestQueueMeasuresEveryQuery: a queue bench on a few seeded incidents
// answers every measured query.
func TestQueueMeasuresEveryQuery(t *testing.T) {
	var log bytes.Buffer
	res, err := Queue{Store: "sqlite", Incidents: 50, Runs: 1, Log: &log}.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != len(queueQueries) || !strings.Contains(log.String(), "seeded 50 incidents") {
		t.Fatalf("%d results for %d queries; log %q", len(res), len(queueQueries), log.String())
	}
	for _, r := range res {
		if r.Incidents != 50 || r.Runs != 1 {
			t.Errorf("%+v", r)
		}
	}
}
