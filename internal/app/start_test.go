package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"go.temporal.io/sdk/client"

	"github.com/airsoc/air/internal/devserver"
)

func quietConfig() Config {
	log := logrus.New()
	log.SetOutput(io.Discard)
	return Config{Log: log, StartTimeout: 20 * time.Second}
}

// TestRetryStart: a dependency that refuses connections at first is
// waited for; one that refuses what AIR asks is not; one that never comes
// up fails once the start timeout passes, saying what it waited for.
func TestRetryStart(t *testing.T) {
	ctx := context.Background()
	calls := 0
	v, err := retryStart(ctx, quietConfig(), "the database", func() (int, error) {
		if calls++; calls < 3 {
			return 0, fmt.Errorf("dial: %w", syscall.ECONNREFUSED)
		}
		return 42, nil
	})
	if err != nil || v != 42 || calls != 3 {
		t.Errorf("flaky start: %d, %v after %d calls, want 42 after 3", v, err, calls)
	}

	calls = 0
	_, err = retryStart(ctx, quietConfig(), "the database", func() (int, error) {
		calls++
		return 0, errors.New(`pq: password authentication failed for user "air"`)
	})
	if err == nil || calls != 1 {
		t.Errorf("refusal: %v after %d calls, want the error at once", err, calls)
	}

	cfg := quietConfig()
	cfg.StartTimeout = time.Second
	_, err = retryStart(ctx, cfg, "Temporal at 10.0.0.1:7233", func() (int, error) {
		return 0, fmt.Errorf("failed reaching server: %w", syscall.ECONNREFUSED)
	})
	if err == nil || !errors.Is(err, syscall.ECONNREFUSED) || !strings.Contains(err.Error(), "did not answer within 1s") {
		t.Errorf("never up: %v", err)
	}
}

// TestEnsureNamespace: -create-namespace registers a missing namespace
// and leaves an existing one alone.
func TestEnsureNamespace(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := devserver.Start(ctx, devserver.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	cfg := quietConfig()
	cfg.TemporalAddress, cfg.Namespace = srv.HostPort(), "air-prod"
	opts := client.Options{HostPort: srv.HostPort(), Logger: quietSDKLogger{}}
	for range 2 {
		if err := ensureNamespace(ctx, cfg, opts); err != nil {
			t.Fatal(err)
		}
	}
	nc, err := client.NewNamespaceClient(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ns, err := nc.Describe(ctx, "air-prod")
	if err != nil {
		t.Fatalf("namespace not registered: %v", err)
	}
	if got := ns.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration(); got != 30*24*time.Hour {
		t.Errorf("retention %s, want 720h", got)
	}
}
