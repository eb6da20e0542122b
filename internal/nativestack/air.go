package nativestack

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// AIR is one deployment of AIR on the stack: a database of its own, a
// Temporal namespace of its own, a shared message key and admin token.
// Its processes run the worker binary in production mode, configured by
// flags as an operator would.
type AIR struct {
	stack *Stack
	// DB is the store's database URL.
	DB        string
	Namespace string
	keyFile   string
	tokenFile string
	// Flags are added to every process's (e.g. -automation full).
	Flags []string
}

// NewAIR makes a fresh database and a message key for a deployment in
// namespace ns (registered by its first process, -create-namespace).
func (s *Stack) NewAIR(t testing.TB, ns string, flags ...string) *AIR {
	t.Helper()
	dir := t.TempDir()
	a := &AIR{stack: s, Namespace: ns, DB: s.PG.CreateDatabase(t, s.PG.Prefix+"_"+ns),
		keyFile: filepath.Join(dir, "message-key"), tokenFile: filepath.Join(dir, "admin-token"), Flags: flags}
	if err := os.WriteFile(a.keyFile, []byte(strings.Repeat("5e", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return a
}

// Node is one AIR process.
type Node struct {
	*Proc
	// URL is its HTTP base (the API for roles all and api, the probes
	// only for role worker).
	URL string
}

// Start starts a process in role (all, api or worker) and waits for its
// /healthz. The first process of a deployment registers the namespace and
// makes the admin token.
func (a *AIR) Start(t testing.TB, name, role string) *Node {
	t.Helper()
	port := FreePort(t)
	args := append([]string{"-role", role, "-temporal", a.stack.Temporal.Address, "-namespace", a.Namespace,
		"-create-namespace", "-db", a.DB, "-connectors", "lab", "-message-key-file", a.keyFile,
		"-admin-token-file", a.tokenFile, "-http", fmt.Sprintf("127.0.0.1:%d", port), "-log-level", "warn"}, a.Flags...)
	n := &Node{Proc: StartProc(t, name, a.stack.Bins.Worker, args, []string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir()}),
		URL: fmt.Sprintf("http://127.0.0.1:%d", port)}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, err := http.Get(n.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return n
			}
		}
		if n.Exited() || time.Now().After(deadline) {
			t.Fatalf("%s (role %s) did not answer /healthz: %v\n%s", name, role, err, n.Tail())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Token is the deployment's admin token, made by its first process.
func (a *AIR) Token(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(a.tokenFile)
	if err != nil {
		t.Fatalf("admin token: %v", err)
	}
	return strings.TrimSpace(string(b))
}

// Client calls AIR's HTTP API as an analyst's tool would.
type Client struct {
	Base, Token string
}

// Do sends a request (body JSON or nil) and decodes a JSON answer into out
// (when not nil); it returns the status, or an error when no answer came.
func (c Client) Do(method, path string, body []byte, out any) (int, error) {
	req, err := http.NewRequest(method, c.Base+path, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: %w: %.200s", method, path, err, b)
		}
	}
	return resp.StatusCode, nil
}

var httpClient = &http.Client{Timeout: 30 * time.Second}

// WaitFor polls cond until it holds or the deadline passes, then fails
// the test naming what it waited for.
func WaitFor(t testing.TB, what string, within time.Duration, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(within)
	var err error
	for {
		var ok bool
		if ok, err = cond(); ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s (last error: %v)", within, what, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
