package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/airsoc/air/internal/api"
	"github.com/airsoc/air/internal/devserver"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/nativestack"
	"github.com/airsoc/air/internal/store"
	"github.com/airsoc/air/internal/store/storetest"
)

// TestFaultMatrix takes PostgreSQL and Temporal away from a production-mode
// AIR (role all, a real Temporal server, a real PostgreSQL) at each moment
// an operator fears — at start, during ingest, during a decision — by
// cutting the network between them (a TCP proxy that drops every
// connection and refuses new ones, as a crashed server or a pulled cable
// does). Each case checks what the client is told (a 503 that says what
// to resend, /readyz naming the missing dependency) and that, once the
// dependency is back and the client resends, nothing was lost and no
// remediation ran twice.
func TestFaultMatrix(t *testing.T) {
	dsn := storetest.PostgresURL(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, err := devserver.Start(ctx, devserver.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()

	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	pg := newCutProxy(t, u.Host)
	u.Host = pg.addr
	tmp := newCutProxy(t, srv.HostPort())

	dir := t.TempDir()
	key := filepath.Join(dir, "message-key")
	if err := os.WriteFile(key, []byte(strings.Repeat("ef", 32)), 0o600); err != nil {
		t.Fatal(err)
	}
	log := logrus.New()
	log.SetOutput(io.Discard)
	cfg := Config{TemporalAddress: tmp.addr, DatabaseURL: u.String(), HTTPAddr: "127.0.0.1:0",
		PlaybookDir: "../../playbooks", MessageKeyFile: key, ConnectorsChosen: true,
		AdminTokenFile: filepath.Join(dir, "admin-token"), StartTimeout: 2 * time.Minute,
		TemporalTimeout: 2 * time.Second, Log: log, Out: io.Discard}

	// At start: both down. AIR waits for the database, then for Temporal,
	// and serves once both answer.
	pg.cut()
	tmp.cut()
	urls := make(chan string, 1)
	done := make(chan error, 1)
	cfg.Listening = func(u string) { urls <- u }
	go func() { done <- Run(ctx, cfg) }()
	notYet := func(what string) {
		t.Helper()
		select {
		case u := <-urls:
			t.Fatalf("serving at %s %s", u, what)
		case err := <-done:
			t.Fatalf("gave up %s: %v", what, err)
		case <-time.After(1500 * time.Millisecond):
		}
	}
	notYet("with the database and Temporal down")
	pg.restore(t)
	notYet("with Temporal down")
	tmp.restore(t)
	var base string
	select {
	case base = <-urls:
	case err := <-done:
		t.Fatalf("start once both are back: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("not serving a minute after the database and Temporal came back")
	}
	defer func() {
		cancel()
		<-done
	}()
	c := apiClient{base: base, token: adminToken(t, dir)}
	direct, err := store.Open(ctx, dsn) // the test's own look at the database, past the proxy
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()

	sample, err := os.ReadFile("../graph/testdata/sample-alert.json")
	if err != nil {
		t.Fatal(err)
	}
	first, second := sample, unrelatedAlert(sample)

	// During ingest, database down: 503 naming the database and telling the
	// client to resend; the resent alert opens its incident.
	pg.cut()
	expectReady(t, c, "database unavailable")
	var fail struct{ Error api.ErrorDetail }
	r := c.send(t, "POST", "/api/v1/alerts", first, &fail)
	if r.StatusCode != http.StatusServiceUnavailable || fail.Error.Kind != "unavailable" ||
		!strings.Contains(fail.Error.Message, "database") || !strings.Contains(fail.Error.Message, "send the request again") ||
		r.Header.Get("Retry-After") == "" {
		t.Errorf("ingest with the database down: %d %+v Retry-After %q", r.StatusCode, fail.Error, r.Header.Get("Retry-After"))
	}
	pg.restore(t)
	firstInc := resendUntilAccepted(t, c, first)

	// During ingest, Temporal down: the alert is kept (its incident is in
	// the answer) but the investigation could not be told: 503 saying to
	// send it again; the resent alert starts the investigation.
	tmp.cut()
	expectReady(t, c, "temporal unavailable")
	var partial api.IngestResponse
	r = c.send(t, "POST", "/api/v1/alerts", second, &partial)
	if r.StatusCode != http.StatusServiceUnavailable || partial.Accepted != 1 || len(partial.Results) != 1 ||
		!strings.Contains(partial.Warning, "send them again") {
		t.Fatalf("ingest with Temporal down: %d %+v", r.StatusCode, partial)
	}
	secondInc := partial.Results[0].IncidentID
	if secondInc == firstInc {
		t.Fatalf("the unrelated alert joined incident %d", firstInc)
	}
	tmp.restore(t)
	if got := resendUntilAccepted(t, c, second); got != secondInc {
		t.Errorf("the resent alert went to incident %d, not %d where it was kept", got, secondInc)
	}

	firstAction := pendingAction(t, c, firstInc)
	secondAction := pendingAction(t, c, secondInc)

	// During a decision, Temporal down: 503; the approval sent again once
	// Temporal is back is carried out.
	tmp.cut()
	r = c.send(t, "POST", "/api/v1/actions/"+firstAction+"/approve", []byte(`{"comment":"go"}`), &fail)
	if r.StatusCode != http.StatusServiceUnavailable || fail.Error.Kind != "unavailable" {
		t.Errorf("approve with Temporal down: %d %+v", r.StatusCode, fail.Error)
	}
	tmp.restore(t)
	decideUntilTaken(t, c, firstAction)
	if code := c.do(t, "POST", "/api/v1/actions/"+firstAction+"/approve", []byte(`{"comment":"again"}`), nil); code != http.StatusConflict {
		t.Errorf("another approval of %s once taken: %d, want 409 (decided once)", firstAction, code)
	}

	// During a decision, database down: 503; sent again, carried out.
	pg.cut()
	r = c.send(t, "POST", "/api/v1/actions/"+secondAction+"/approve", []byte(`{"comment":"go"}`), &fail)
	if r.StatusCode != http.StatusServiceUnavailable || fail.Error.Kind != "unavailable" {
		t.Errorf("approve with the database down: %d %+v", r.StatusCode, fail.Error)
	}
	pg.restore(t)
	decideUntilTaken(t, c, secondAction)

	// Nothing lost, nothing doubled: each alert once, each approved
	// isolation carried out once in the lab tenant.
	for _, id := range []string{firstAction, secondAction} {
		waitFor(t, "action "+id+" to succeed", func() (struct{}, bool) {
			var a domain.Action
			c.do(t, "GET", "/api/v1/actions/"+id, nil, &a)
			return struct{}{}, a.Status == domain.ActionSucceeded
		})
	}
	done2, noop, err := nativestack.LabIsolations(ctx, direct)
	if err != nil {
		t.Fatal(err)
	}
	if len(done2) != 2 || len(noop) != 0 {
		t.Errorf("lab isolations per device %v, of which changed nothing %v: want two devices once each", done2, noop)
	}
	for dev, n := range done2 {
		if n != 1 {
			t.Errorf("%s isolated %d times", dev, n)
		}
	}
	var csv bytes.Buffer
	if err := direct.ExportAssignments(ctx, &csv); err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("%d\n", firstInc); !strings.Contains(csv.String(), want) || strings.Count(csv.String(), "\n") != 3 {
		t.Errorf("alerts stored (alert,incident):\n%s want the two alerts once each, in incidents %d and %d", csv.String(), firstInc, secondInc)
	}
}

// unrelatedAlert is the sample alert about another device, user, file and
// address, so that it opens an incident of its own.
func unrelatedAlert(sample []byte) []byte {
	return []byte(strings.NewReplacer(
		"da638412345678901234_1873210987", "da638412345678901234_1873219999",
		"2f48b784b5c4d3c0e1a9b8f7c6d5e4f3a2b1c0d9", "9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b",
		"ws-042", "ws-077", "WS-042", "WS-077",
		"alice", "bob", "Alice Martin", "Bob Meyer",
		"-1107", "-1208", "7d3e9b52-1a4c-4f8e-b6d0-3c2a5e9f8b17", "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
		"0b3e5d7f9a1c2e4f6a8b0c1d3e5f7a9b1c2d3e4f", "1c4f6e8a0b2d3f5a7b9c1d2e4f6a8b0c2d3e4f5a",
		"4c1a7e9f2b3d5c6e8f0a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5a6", "5d2b8f0a3c4e6d7f9a1b2c3d4e5f6a708192a3b4c5d6e7f8a9b0c1d2e3f4a5b6",
		"203.0.113.77", "203.0.113.78",
		"3b1f0e62-9c4d-4b8a-a1f3-6d2e8c7b5a90", "6c2e1f73-0d5e-4c9b-b2a4-7e3f9d8c6b01",
		"2024-03-14", "2024-03-19", // days later: no time-based rule joins the two
	).Replace(string(sample)))
}

// expectReady checks /readyz answers 503 naming the missing dependency.
func expectReady(t *testing.T, c apiClient, status string) {
	t.Helper()
	var body struct{ Status string }
	if code := c.do(t, "GET", "/readyz", nil, &body); code != http.StatusServiceUnavailable || body.Status != status {
		t.Errorf("/readyz: %d %q, want 503 %q", code, body.Status, status)
	}
}

// resendUntilAccepted sends an alert until it is answered 200, as a client
// told to resend does (a first request after an outage may meet a pooled
// connection that died with it), and returns its incident.
func resendUntilAccepted(t *testing.T, c apiClient, alert []byte) int64 {
	t.Helper()
	return waitFor(t, "the resent alert to be accepted", func() (int64, bool) {
		var res api.IngestResponse
		r := c.send(t, "POST", "/api/v1/alerts", alert, &res)
		if r.StatusCode != http.StatusOK || len(res.Results) != 1 {
			time.Sleep(500 * time.Millisecond)
			return 0, false
		}
		return res.Results[0].IncidentID, true
	})
}

// pendingAction waits for the incident's investigation to propose an action
// and returns its id.
func pendingAction(t *testing.T, c apiClient, incident int64) string {
	t.Helper()
	return waitFor(t, fmt.Sprintf("incident %d's proposal", incident), func() (string, bool) {
		var page struct{ Value []domain.Action }
		c.do(t, "GET", fmt.Sprintf("/api/v1/actions?status=pending&incidentId=%d", incident), nil, &page)
		for _, a := range page.Value {
			if a.IncidentID == incident {
				return a.ID, true
			}
		}
		return "", false
	})
}

// decideUntilTaken does what a 503 to a decision tells the analyst: reload
// the action and, while it is still pending, approve it again. A decision
// Temporal took just as the answer was lost is not made twice.
func decideUntilTaken(t *testing.T, c apiClient, action string) {
	t.Helper()
	waitFor(t, "the approval of "+action+" to be taken", func() (struct{}, bool) {
		var a domain.Action
		if code := c.do(t, "GET", "/api/v1/actions/"+action, nil, &a); code == http.StatusOK && a.Status != domain.ActionPending {
			return struct{}{}, true
		}
		if code := c.do(t, "POST", "/api/v1/actions/"+action+"/approve", []byte(`{"comment":"go"}`), nil); code == http.StatusOK {
			return struct{}{}, true
		}
		time.Sleep(500 * time.Millisecond)
		return struct{}{}, false
	})
}

// cutProxy forwards TCP connections to target until cut: cut closes the
// listener and every open connection, as a crashed server does; restore
// listens on the same address again.
type cutProxy struct {
	target, addr string
	mu           sync.Mutex
	ln           net.Listener
	conns        map[net.Conn]bool
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{target: target, addr: ln.Addr().String(), ln: ln, conns: map[net.Conn]bool{}}
	go p.serve(ln)
	t.Cleanup(p.cut)
	return p
}

func (p *cutProxy) serve(ln net.Listener) {
	for {
		in, err := ln.Accept()
		if err != nil {
			return
		}
		go p.pipe(in)
	}
}

func (p *cutProxy) pipe(in net.Conn) {
	out, err := net.Dial("tcp", p.target)
	if err != nil {
		in.Close()
		return
	}
	p.mu.Lock()
	if p.ln == nil { // cut while dialling
		p.mu.Unlock()
		in.Close()
		out.Close()
		return
	}
	p.conns[in], p.conns[out] = true, true
	p.mu.Unlock()
	go func() { io.Copy(out, in); out.Close(); in.Close() }()
	io.Copy(in, out)
	in.Close()
	out.Close()
}

func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

func (p *cutProxy) restore(t *testing.T) {
	t.Helper()
	var ln net.Listener
	var err error
	for range 50 { // the port may linger a moment after the close
		if ln, err = net.Listen("tcp", p.addr); err == nil || !errors.Is(err, syscall.EADDRINUSE) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("restore %s: %v", p.addr, err)
	}
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go p.serve(ln)
}
