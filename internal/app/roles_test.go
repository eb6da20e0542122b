package app

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/airsoc/air/internal/api"
	"github.com/airsoc/air/internal/devserver"
	"github.com/airsoc/air/internal/domain"
)

// TestSeparateRoles runs AIR as two processes' worth of services on one
// Temporal server and one database: an API process (no worker) and a
// worker process (no API). An alert sent to the API is investigated by the
// worker; the approval sent to the API is carried out by the worker; the
// worker's HTTP port answers only the probes.
func TestSeparateRoles(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, err := devserver.Start(ctx, devserver.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	dir := t.TempDir()
	key := filepath.Join(dir, "message-key")
	if err := os.WriteFile(key, []byte(strings.Repeat("cd", 32)), 0o600); err != nil {
		t.Fatal(err)
	}
	start := func(role Role) (string, chan error) {
		log := logrus.New()
		log.SetOutput(io.Discard)
		urls := make(chan string, 1)
		done := make(chan error, 1)
		cfg := Config{Role: role, TemporalAddress: srv.HostPort(), DatabaseURL: filepath.Join(dir, "air.db"),
			HTTPAddr: "127.0.0.1:0", PlaybookDir: "../../playbooks", MessageKeyFile: key, ConnectorsChosen: true,
			AdminTokenFile: filepath.Join(dir, "admin-token"), Log: log, Out: io.Discard, Listening: func(u string) { urls <- u }}
		go func() { done <- Run(ctx, cfg) }()
		select {
		case u := <-urls:
			return u, done
		case err := <-done:
			t.Fatalf("%s: %v", role, err)
		case <-time.After(time.Minute):
			t.Fatalf("%s did not start", role)
		}
		return "", nil
	}
	apiURL, apiDone := start(RoleAPI)
	workerURL, workerDone := start(RoleWorker)
	defer func() {
		cancel()
		<-apiDone
		<-workerDone
	}()
	c := apiClient{base: apiURL, token: adminToken(t, dir)}
	w := apiClient{base: workerURL, token: c.token}

	if code := w.do(t, "GET", "/api/v1/me", nil, nil); code != http.StatusNotFound {
		t.Errorf("worker role serves the API: GET /api/v1/me answered %d", code)
	}
	if code := w.do(t, "GET", "/healthz", nil, nil); code != http.StatusOK {
		t.Errorf("worker role's /healthz: %d", code)
	}
	sample, err := os.ReadFile("../graph/testdata/sample-alert.json")
	if err != nil {
		t.Fatal(err)
	}
	var ing api.IngestResponse
	if code := c.do(t, "POST", "/api/v1/alerts", sample, &ing); code != http.StatusOK {
		t.Fatalf("ingest: %d", code)
	}
	pending := waitFor(t, "the worker's proposal", func() (*domain.Action, bool) {
		var page struct{ Value []domain.Action }
		c.do(t, "GET", "/api/v1/actions?status=pending", nil, &page)
		if len(page.Value) > 0 {
			return &page.Value[0], true
		}
		return nil, false
	})
	if code := c.do(t, "POST", "/api/v1/actions/"+pending.ID+"/approve", []byte(`{"comment":"go"}`), nil); code != http.StatusOK {
		t.Fatalf("approve: %d", code)
	}
	waitFor(t, "the worker to carry the approval out", func() (struct{}, bool) {
		var a domain.Action
		c.do(t, "GET", "/api/v1/actions/"+pending.ID, nil, &a)
		return struct{}{}, a.Status == domain.ActionSucceeded
	})
}
