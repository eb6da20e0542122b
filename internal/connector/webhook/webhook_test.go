package webhook_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airsoc/air/activities/connectortest"
	"github.com/airsoc/air/internal/connector/rest"
	"github.com/airsoc/air/internal/connector/webhook"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/remediation"
)

var secret = []byte("whsec-test")

// receiver is a receiver written the way docs/connectors.md tells one to:
// verify the signature and the timestamp, deduplicate on Idempotency-Key,
// act once.
type receiver struct {
	mu       sync.Mutex
	seen     map[string]string // idempotency key → summary
	answers  []answer          // scripted answers before acting, consumed in order
	attempts int
	acted    int
	last     webhook.Payload
	now      time.Time
}

type answer struct {
	status     int
	retryAfter string
	body       string
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.attempts++
	if err := webhook.Verify(r.Header, body, rc.now, webhook.DefaultWindow, []byte("old-secret"), secret); err != nil {
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	if len(rc.answers) > 0 {
		a := rc.answers[0]
		rc.answers = rc.answers[1:]
		if a.retryAfter != "" {
			w.Header().Set("Retry-After", a.retryAfter)
		}
		w.WriteHeader(a.status)
		fmt.Fprint(w, a.body)
		return
	}
	key := r.Header.Get(webhook.HeaderIdempotencyKey)
	if s, ok := rc.seen[key]; ok {
		fmt.Fprintf(w, `{"summary":%q,"changed":false}`, s+" (duplicate delivery)")
		return
	}
	if err := json.Unmarshal(body, &rc.last); err != nil {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	rc.acted++
	rc.seen[key] = "ticket SOC-1 opened for " + rc.last.Target.Name
	fmt.Fprintf(w, `{"summary":%q}`, rc.seen[key])
}

func newClient(url string) (*webhook.Client, *[]time.Duration) {
	var waits []time.Duration
	now := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	return &webhook.Client{Name: "soar", URL: url, Secret: rest.NewSecret(string(secret)),
		HTTP: &http.Client{Timeout: 5 * time.Second}, Attempts: 3, Backoff: time.Second, MaxBackoff: 20 * time.Second,
		Now: func() time.Time { return now },
		Sleep: func(ctx context.Context, d time.Duration) error {
			waits = append(waits, d)
			return nil
		}}, &waits
}

func request() remediation.Request {
	return remediation.Request{ActionID: "a9", IncidentID: 3, Type: "process.kill",
		Target: domain.EntityKey("process:dev1:4242:2026-03-01T09:00:00Z"), TargetName: "evil.exe",
		Params: []byte(`{"comment":"kill it"}`), IdempotencyKey: "incident-3/p/kill/process:dev1:4242"}
}

func TestWebhookContract(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		answers   []answer
		secret    string
		skew      time.Duration // receiver clock minus sender clock
		want      string
		changed   bool
		text      string
		attempts  int
		waits     []time.Duration
		wantActed int
	}{
		{name: "delivered", want: "ok", changed: true, text: "ticket SOC-1 opened for evil.exe", attempts: 1, wantActed: 1},
		{name: "empty 202 is success", answers: []answer{{status: 202}}, want: "ok", changed: true,
			text: "delivered to webhook soar (HTTP 202)", attempts: 1},
		{name: "receiver says nothing changed", answers: []answer{{status: 200, body: `{"summary":"already killed","changed":false}`}},
			want: "ok", changed: false, text: "already killed", attempts: 1},
		{name: "5xx retried with backoff, then delivered",
			answers: []answer{{status: 502}, {status: 500, body: "boom"}}, want: "ok", changed: true, attempts: 3,
			waits: []time.Duration{time.Second, 2 * time.Second}, wantActed: 1},
		{name: "5xx every time goes back to the activity",
			answers: []answer{{status: 500}, {status: 500}, {status: 500}}, want: "retry", text: "HTTP 500", attempts: 3,
			waits: []time.Duration{time.Second, 2 * time.Second}},
		{name: "short retry-after waited here",
			answers: []answer{{status: 429, retryAfter: "5"}}, want: "ok", changed: true, attempts: 2,
			waits: []time.Duration{5 * time.Second}, wantActed: 1},
		{name: "long retry-after goes to the activity",
			answers: []answer{{status: 429, retryAfter: "120"}}, want: "retry after 2m0s", attempts: 1},
		{name: "503 retry-after", answers: []answer{{status: 503, retryAfter: "60"}}, want: "retry after 1m0s", attempts: 1},
		{name: "400", answers: []answer{{status: 400, body: `{"error":{"code":"BadTarget","message":"no such process"}}`}},
			want: "fail invalid", text: "no such process", attempts: 1},
		{name: "404", answers: []answer{{status: 404}}, want: "fail not_found", attempts: 1},
		{name: "409", answers: []answer{{status: 409, body: `{"message":"ticket is closed"}`}}, want: "fail conflict",
			text: "ticket is closed", attempts: 1},
		{name: "wrong secret is refused", secret: "nope", want: "fail forbidden", text: "signature does not match", attempts: 1},
		{name: "stale timestamp is refused", skew: 6 * time.Minute, want: "fail forbidden", text: "replay window", attempts: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, waits := newClient("")
			rc := &receiver{seen: map[string]string{}, answers: tt.answers, now: c.Now().Add(tt.skew)}
			srv := httptest.NewServer(rc)
			defer srv.Close()
			c.URL = srv.URL + "/hooks/air?team=soc"
			if tt.secret != "" {
				c.Secret = rest.NewSecret(tt.secret)
			}
			res, err := connectortest.Run(c, request(), "", nil)
			if got := connectortest.Outcome(err); got != tt.want {
				t.Fatalf("outcome: got %q (%v), want %q", got, err, tt.want)
			}
			text := res.Summary
			if err != nil {
				text = err.Error()
			} else if res.Changed != tt.changed {
				t.Errorf("changed: got %v, want %v", res.Changed, tt.changed)
			}
			if !strings.Contains(text, tt.text) {
				t.Errorf("result: got %q, want it to contain %q", text, tt.text)
			}
			if strings.Contains(text, "team=soc") {
				t.Errorf("the URL's query leaked into %q", text)
			}
			rc.mu.Lock()
			defer rc.mu.Unlock()
			if rc.attempts != tt.attempts || rc.acted != tt.wantActed && tt.wantActed != 0 {
				t.Errorf("attempts %d, acted %d; want %d and %d", rc.attempts, rc.acted, tt.attempts, tt.wantActed)
			}
			if fmt.Sprint(*waits) != fmt.Sprint(tt.waits) && !(len(*waits) == 0 && len(tt.waits) == 0) {
				t.Errorf("waits: got %v, want %v", *waits, tt.waits)
			}
		})
	}
}

func TestWebhookRetriesDeliverOnceToADedupingReceiver(t *testing.T) {
	t.Parallel()
	c, _ := newClient("")
	rc := &receiver{seen: map[string]string{}, now: c.Now()}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	c.URL = srv.URL
	ctx := context.Background()
	first, err := c.Execute(ctx, request())
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.Execute(ctx, request()) // a retried activity sends the same key
	if err != nil {
		t.Fatal(err)
	}
	if rc.acted != 1 || !first.Changed || again.Changed || !strings.Contains(again.Summary, "duplicate delivery") {
		t.Errorf("acted %d; first %+v; again %+v; want one effect and a no-op repeat", rc.acted, first, again)
	}
	want := webhook.Payload{ActionID: "a9", IncidentID: 3, Type: "process.kill",
		Target: webhook.Target{Key: "process:dev1:4242:2026-03-01T09:00:00Z", Kind: "process", ID: "dev1:4242:2026-03-01T09:00:00Z", Name: "evil.exe"},
		Params: map[string]any{"comment": "kill it"}, IdempotencyKey: "incident-3/p/kill/process:dev1:4242"}
	if fmt.Sprint(rc.last) != fmt.Sprint(want) {
		t.Errorf("payload:\n got %+v\nwant %+v", rc.last, want)
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	now := time.Unix(1767225600, 0)
	body := []byte(`{"actionId":"a1"}`)
	ts := fmt.Sprint(now.Unix())
	good := http.Header{}
	good.Set(webhook.HeaderTimestamp, ts)
	good.Set(webhook.HeaderSignature, webhook.Sign(secret, ts, body))
	tests := []struct {
		name    string
		h       func() http.Header
		body    []byte
		now     time.Time
		wantErr string
	}{
		{name: "good", h: good.Clone, body: body, now: now},
		{name: "at the window's edge", h: good.Clone, body: body, now: now.Add(webhook.DefaultWindow)},
		{name: "body changed", h: good.Clone, body: []byte(`{"actionId":"a2"}`), now: now, wantErr: "does not match"},
		{name: "replayed late", h: good.Clone, body: body, now: now.Add(webhook.DefaultWindow + time.Second), wantErr: "replay window"},
		{name: "from the future", h: good.Clone, body: body, now: now.Add(-webhook.DefaultWindow - time.Second), wantErr: "replay window"},
		{name: "timestamp swapped", body: body, now: now, wantErr: "does not match", h: func() http.Header {
			h := good.Clone()
			h.Set(webhook.HeaderTimestamp, fmt.Sprint(now.Unix()+1))
			return h
		}},
		{name: "no timestamp", body: body, now: now, wantErr: "want Unix seconds", h: func() http.Header {
			h := good.Clone()
			h.Del(webhook.HeaderTimestamp)
			return h
		}},
		{name: "bare hex", body: body, now: now, wantErr: "want v1=", h: func() http.Header {
			h := good.Clone()
			h.Set(webhook.HeaderSignature, strings.TrimPrefix(h.Get(webhook.HeaderSignature), "v1="))
			return h
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := webhook.Verify(tt.h(), tt.body, tt.now, 0, secret)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("got %v, want %q", err, tt.wantErr)
			}
		})
	}
	// The scheme is HMAC-SHA256 over "<timestamp>.<body>", hex, prefixed
	// v1=; the vector (computed independently, with Python's hmac) is the
	// one docs/connectors.md gives receivers in other languages.
	if got, want := webhook.Sign(secret, ts, body), "v1=dfd64496d954c8078c0cfb9312c34f5f27f5def2aa0f4c5094d39eb656f75e0d"; got != want {
		t.Errorf("signature: got %s, want %s", got, want)
	}
}
