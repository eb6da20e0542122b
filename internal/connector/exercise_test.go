package connector_test

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"

	"github.com/airsoc/air/activities"
	"github.com/airsoc/air/internal/connector"
	"github.com/airsoc/air/internal/correlate"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/remediation"
)

// TestExerciseRemediationGoesToTheLab routes device.* to Defender for
// Endpoint (a fake that counts isolations) and isolates one device from a
// real incident and, twice with one idempotency key (a retried attempt),
// from an exercise's incident, through the real ExecuteAction activity:
// Defender gets the real one only; the exercise's goes to the lab tenant,
// once.
func TestExerciseRemediationGoesToTheLab(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := &defender{posts: map[string]int{}, hooks: map[string]int{}}
	srv := httptest.NewServer(d)
	t.Cleanup(srv.Close)
	st := openStore(t)
	r, err := connector.NewRouter(ctx, connector.Config{
		Routes: map[string]string{"device.*": "mde", "*": "lab"},
		MDE: &connector.MDESettings{Credentials: connector.Credentials{TenantID: "contoso", ClientID: "mde-app",
			ClientSecretEnv: "AIR_MDE", Authority: srv.URL}, BaseURL: srv.URL, PollInterval: time.Millisecond, Timeout: time.Second},
	}, connector.Deps{Store: st, Env: env(map[string]string{"AIR_MDE": mdeSecret})})
	if err != nil {
		t.Fatal(err)
	}
	ex, err := st.CreateExercise(ctx, "drill", "", 60, "admin")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	alert := func(id string, exercise int64) *domain.Alert {
		return &domain.Alert{ID: id, Title: id, Status: domain.AlertNew, Severity: domain.SeverityHigh,
			CreatedDateTime: at, LastUpdateDateTime: at, Exercise: exercise,
			Evidence: []domain.Evidence{{Type: "deviceEvidence", Verdict: domain.VerdictMalicious, Entity: &domain.Entity{
				Key: "device:" + known, Kind: domain.KindDevice, Name: "ws-1", Verdict: domain.VerdictMalicious}}}}
	}
	res, err := st.IngestAlerts(ctx, []*domain.Alert{alert("real", 0), alert("x1-drill", ex.ID)}, correlate.Rules{})
	if err != nil {
		t.Fatal(err)
	}
	realInc, exInc := res[0].IncidentID, res[1].IncidentID
	if realInc == exInc {
		t.Fatalf("the exercise alert joined the real incident %d", realInc)
	}

	var s testsuite.WorkflowTestSuite
	s.SetLogger(tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	log := logrus.New()
	log.SetOutput(io.Discard)
	a := &activities.Activities{Executor: r, Store: st, Log: log}
	isolate := func(incident int64, key string) remediation.Result {
		t.Helper()
		env := s.NewTestActivityEnvironment()
		env.RegisterActivity(a)
		val, err := env.ExecuteActivity(a.ExecuteAction, remediation.Request{ActionID: key, IncidentID: incident,
			Type: "device.isolate", Target: "device:" + known, Params: []byte(`{"isolationType":"Full"}`), IdempotencyKey: key})
		if err != nil {
			t.Fatalf("isolate for incident %d: %v", incident, err)
		}
		var out remediation.Result
		if err := val.Get(&out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	if got := isolate(exInc, "ex-key"); got.Connector != "lab" || !got.Changed {
		t.Errorf("exercise isolation: %+v, want the lab's, changed", got)
	}
	if got := isolate(exInc, "ex-key"); got.Connector != "lab" {
		t.Errorf("exercise isolation retried: %+v, want the lab's", got)
	}
	d.mu.Lock()
	posts := d.posts[known]
	d.mu.Unlock()
	if posts != 0 {
		t.Fatalf("Defender got %d isolations from an exercise, want none", posts)
	}
	dev, err := st.LabDeviceByID(ctx, known)
	if err != nil || !dev.Isolated {
		t.Fatalf("lab device after the exercise's isolation: %+v, %v", dev, err)
	}
	if got := isolate(realInc, "real-key"); got.Connector != "mde" {
		t.Errorf("real isolation: %+v, want Defender's", got)
	}
	d.mu.Lock()
	posts = d.posts[known]
	d.mu.Unlock()
	if posts != 1 {
		t.Errorf("Defender got %d isolations, want the real incident's one", posts)
	}
}
