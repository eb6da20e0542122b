package workflows

import (
	"path/filepath"
	"testing"

	"github.com/sirupsen/logrus"
	"go.temporal.io/sdk/worker"

	"github.com/airsoc/air/internal/logging"
)

// TestReplayRecordedHistories replays every history recorded from real runs
// (see internal/app/history_test.go; re-record with
// AIR_RECORD_HISTORIES=1 go test ./internal/app/). A change to the workflow
// that is not guarded with workflow.GetVersion makes this fail with a
// non-determinism error.
func TestReplayRecordedHistories(t *testing.T) {
	files, err := filepath.Glob("testdata/*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no recorded histories in testdata/")
	}
	log := logrus.New()
	log.SetLevel(logrus.WarnLevel)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			r.RegisterWorkflow(IncidentWorkflow)
			if err := r.ReplayWorkflowHistoryFromJSONFile(logging.NewTemporal(log), f); err != nil {
				t.Errorf("replay %s: %v", f, err)
			}
		})
	}
}

// TestReplayRecordedReportHistories replays the scheduled report runs
// recorded from the end-to-end test (testdata/report/).
func TestReplayRecordedReportHistories(t *testing.T) {
	files, err := filepath.Glob("testdata/report/*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no recorded report histories in testdata/report/")
	}
	log := logrus.New()
	log.SetLevel(logrus.WarnLevel)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			r.RegisterWorkflow(ReportWorkflow)
			if err := r.ReplayWorkflowHistoryFromJSONFile(logging.NewTemporal(log), f); err != nil {
				t.Errorf("replay %s: %v", f, err)
			}
		})
	}
}
