package app

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/connector/mde"
	"github.com/airsoc/air/internal/connector/mde/mdefake"
	"github.com/airsoc/air/internal/devserver"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/nativestack"
	"github.com/airsoc/air/internal/store"
)

var crashRuns = flag.Int("crash.runs", 2, "rounds of the worker crash test (docs/durability.md reports 20)")

// TestWorkerCrashes runs the worker as a separate process against a
// Temporal server in this process, and kills it with SIGKILL at random
// moments while alerts are ingested and devices isolated under full
// automation. After a last restart every investigation must finish, every
// malicious device must be isolated exactly once in the lab tenant, and no
// action may be lost or doubled.
func TestWorkerCrashes(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	bin := filepath.Join(t.TempDir(), "worker")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/airsoc/air/worker").CombinedOutput(); err != nil {
		t.Fatalf("build worker: %v\n%s", err, out)
	}
	for run := range *crashRuns {
		t.Run(fmt.Sprint("run-", run), func(t *testing.T) { crashRound(t, bin, rand.New(rand.NewPCG(uint64(run), 42)), labTarget{}) })
	}
	// Once more against Defender for Endpoint (its documented contract,
	// served by mdefake), which has no idempotency key: the connector's
	// marker look-up and heartbeat resume must keep it exactly once.
	t.Run("mde", func(t *testing.T) { crashRound(t, bin, rand.New(rand.NewPCG(7, 42)), newMDETarget(t)) })
}

// crashTarget is where the crash test's isolations go, and how it counts
// them there.
type crashTarget interface {
	// env is the worker's environment for it.
	env() []string
	// isolations counts, per device ("dev7"), the isolations carried out
	// and those that changed nothing (a second isolation of an isolated
	// device).
	isolations(ctx context.Context, st *store.Store) (done, noop map[string]int, err error)
}

// labTarget is the simulated lab tenant in AIR's own database.
type labTarget struct{}

func (labTarget) env() []string { return []string{"AIR_CONNECTORS=lab"} }

func (labTarget) isolations(ctx context.Context, st *store.Store) (done, noop map[string]int, err error) {
	return nativestack.LabIsolations(ctx, st)
}

// mdeTarget is a Defender for Endpoint tenant (mdefake) the worker reaches
// over HTTP with a connectors file.
type mdeTarget struct {
	fake *mdefake.Fake
	file string
}

func newMDETarget(t *testing.T) *mdeTarget {
	f := mdefake.New()
	f.AnyMachine, f.FinishAfter = true, 1
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	file := filepath.Join(t.TempDir(), "connectors.yaml")
	cfg := fmt.Sprintf("tenant: crash\nroutes:\n  device.*: mde\nmde:\n  tenantId: contoso\n  clientId: app-1\n"+
		"  clientSecretEnv: AIR_MDE_SECRET\n  baseURL: %s\n  authority: %s\n  pollInterval: 20ms\n  pollTimeout: 10s\n"+
		"  rateLimit: 100000\n  hourlyLimit: 1000000\n", srv.URL, srv.URL)
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return &mdeTarget{fake: f, file: file}
}

func (m *mdeTarget) env() []string {
	return []string{"AIR_CONNECTORS=" + m.file, "AIR_MDE_SECRET=s3cret"}
}

func (m *mdeTarget) isolations(context.Context, *store.Store) (done, noop map[string]int, err error) {
	m.fake.Mu.Lock()
	defer m.fake.Mu.Unlock()
	done, noop = map[string]int{}, map[string]int{}
	for _, a := range m.fake.Actions {
		if a.Type != "Isolate" {
			continue
		}
		// The device key is its mdeDeviceId, dev<n>, which is not a
		// Defender id: the connector looks the machine up by that name.
		dev := a.ComputerDNSName
		done[dev]++
		if a.Status != mde.Succeeded {
			noop[dev]++
		}
	}
	return done, noop, nil
}

func crashRound(t *testing.T, bin string, rng *rand.Rand, target crashTarget) {
	ctx := context.Background()
	srv, err := devserver.Start(ctx, devserver.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "air.db")
	httpPort := nativestack.FreePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	// The worker's API needs a token: mint one in its database first.
	st0, err := store.Open(ctx, dbPath)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := (&auth.Service{Store: st0}).CreateToken(ctx, "test", auth.NewToken{Name: "crash-test", Role: auth.Analyst})
	st0.Close()
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "message-key")
	if err := os.WriteFile(keyFile, []byte(strings.Repeat("ab", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	start := func() *exec.Cmd {
		cmd := exec.Command(bin)
		cmd.Env = append(os.Environ(),
			"AIR_TEMPORAL_ADDRESS="+srv.HostPort(), "AIR_DATABASE_URL="+dbPath,
			fmt.Sprintf("AIR_HTTP_ADDR=127.0.0.1:%d", httpPort), "AIR_AUTOMATION_LEVEL=full",
			"AIR_PLAYBOOKS=../../playbooks", "AIR_LOG_LEVEL=warn",
			"AIR_MESSAGE_KEY_FILE="+keyFile)
		cmd.Env = append(cmd.Env, target.env()...)
		cmd.Stdout, cmd.Stderr = &logs, &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}

	const incidents = 40
	sent := make([]bool, incidents)
	send := func() {
		for i := range incidents {
			if sent[i] {
				continue
			}
			// Days apart: each alert is an incident of its own.
			at := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC).Add(time.Duration(i) * 72 * time.Hour).Format(time.RFC3339)
			body := fmt.Sprintf(`{"id":"crash-%d","title":"Malware","severity":"high","category":"Execution",
				"createdDateTime":%q,"evidence":[{"@odata.type":"#microsoft.graph.security.deviceEvidence",
				"mdeDeviceId":"dev%d","deviceDnsName":"ws%d.corp.example","osPlatform":"Windows11","verdict":"malicious"}]}`, i, at, i, i)
			req, err := http.NewRequest(http.MethodPost, base+"/api/v1/alerts", bytes.NewBufferString(body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+tok.Secret)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return // the worker is down: send again after the restart
			}
			resp.Body.Close()
			sent[i] = resp.StatusCode == http.StatusOK
		}
	}

	kills := 3 + rng.IntN(3)
	for k := range kills {
		cmd := start()
		// The kill comes a random moment after the worker answers, so that
		// it falls while investigations and remediations are under way.
		for up := time.Now().Add(20 * time.Second); !answers(base) && time.Now().Before(up); {
			time.Sleep(20 * time.Millisecond)
		}
		deadline := time.Now().Add(time.Duration(150+rng.IntN(600)) * time.Millisecond)
		for time.Now().Before(deadline) {
			send()
			time.Sleep(20 * time.Millisecond)
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		t.Logf("kill %d/%d: %s", k+1, kills, progress(ctx, dbPath))
	}
	cmd := start()
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()

	st, err := store.Open(ctx, dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		send()
		incs, err := st.ListIncidents(ctx, store.IncidentFilter{Limit: 1000})
		finished := 0
		if err == nil {
			for _, inc := range incs {
				if inc.InvestigationState == domain.InvestigationSuccessfullyRemediated {
					finished++
				}
			}
		}
		if finished == incidents {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the last restart %d of %d investigations finished (%v)\nworker log:\n%s", finished, incidents, err, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}

	acts, err := st.ListActions(ctx, store.ActionFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	done, noop, err := target.isolations(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	// The same check as the scale-out test's on the native stack.
	nativestack.CheckOncePerDevice(t, acts, done, noop, incidents)
	total := 0
	for _, n := range done {
		total += n
	}
	t.Logf("%d kills; %d incidents, %d actions, %d isolations at the target", kills, incidents, len(acts), total)
}

// answers reports whether the worker's HTTP server is up.
func answers(base string) bool {
	resp, err := http.Get(base + "/healthz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return true
}

// progress says how far the remediation got when the worker was killed.
func progress(ctx context.Context, dbPath string) string {
	st, err := store.Open(ctx, dbPath)
	if err != nil {
		return err.Error()
	}
	defer st.Close()
	acts, _ := st.ListActions(ctx, store.ActionFilter{Limit: 1000})
	by := map[domain.ActionStatus]int{}
	for _, a := range acts {
		by[a.Status]++
	}
	ops, _ := st.LabOperations(ctx)
	return fmt.Sprintf("%d actions recorded %v, %d lab operations", len(acts), by, len(ops))
}
