package notify

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// fakeWebhook answers each POST with the next of its answers (the last
// one again when they run out) and keeps the bodies.
type fakeWebhook struct {
	answers []answer
	bodies  chan map[string]any
}

type answer struct {
	status     int
	body       string
	retryAfter string
}

func newFakeWebhook(t *testing.T, answers ...answer) (*fakeWebhook, *httptest.Server) {
	t.Helper()
	f := &fakeWebhook{answers: answers, bodies: make(chan map[string]any, 100)}
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "invalid_payload", http.StatusBadRequest)
			return
		}
		b, _ := io.ReadAll(r.Body)
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			http.Error(w, "invalid_payload", http.StatusBadRequest)
			return
		}
		f.bodies <- m
		a := f.answers[min(n, len(f.answers)-1)]
		n++
		if a.retryAfter != "" {
			w.Header().Set("Retry-After", a.retryAfter)
		}
		w.WriteHeader(a.status)
		io.WriteString(w, a.body)
	}))
	t.Cleanup(srv.Close)
	return f, srv
}

// TestSlackFollowsItsContract: 200 "ok" is delivered; 429 is throttling
// with its Retry-After; the documented 4xx errors are permanent; 5xx
// (rollup_error) is worth another try. The payload has the fallback text
// and a mrkdwn section with Slack's control characters escaped.
func TestSlackFollowsItsContract(t *testing.T) {
	t.Parallel()
	msg := Outgoing{Key: "k", Subject: "New <!channel> incident & co", Text: "Severity: high"}
	for _, tt := range []struct {
		name             string
		answer           answer
		ok, perm, thrott bool
		wait             time.Duration
	}{
		{"ok", answer{status: 200, body: "ok"}, true, false, false, 0},
		{"throttled", answer{status: 429, body: "rate_limited", retryAfter: "7"}, false, false, true, 7 * time.Second},
		{"invalid_payload", answer{status: 400, body: "invalid_payload"}, false, true, false, 0},
		{"no_text", answer{status: 400, body: "no_text"}, false, true, false, 0},
		{"action_prohibited", answer{status: 403, body: "action_prohibited"}, false, true, false, 0},
		{"channel_not_found", answer{status: 404, body: "channel_not_found"}, false, true, false, 0},
		{"channel_is_archived", answer{status: 410, body: "channel_is_archived"}, false, true, false, 0},
		{"rollup_error", answer{status: 500, body: "rollup_error"}, false, false, false, 0},
		{"bad gateway", answer{status: 502}, false, false, false, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, srv := newFakeWebhook(t, tt.answer)
			err := (&Slack{URL: srv.URL + "/services/T0/B0/x"}).Send(context.Background(), msg)
			if (err == nil) != tt.ok {
				t.Fatalf("send: %v, want ok=%v", err, tt.ok)
			}
			perm, thrott, wait := classify(err)
			if perm != tt.perm || thrott != tt.thrott || wait != tt.wait {
				t.Errorf("classified permanent=%v throttled=%v wait=%s, want %v %v %s (%v)", perm, thrott, wait, tt.perm, tt.thrott, tt.wait, err)
			}
			if err != nil && strings.Contains(err.Error(), srv.URL) {
				t.Errorf("the error shows the webhook URL, a secret: %v", err)
			}
			body := <-f.bodies
			if body["text"] != msg.Subject {
				t.Errorf("text: %v", body["text"])
			}
			blocks, _ := body["blocks"].([]any)
			if len(blocks) != 1 {
				t.Fatalf("blocks: %v", body["blocks"])
			}
			text := blocks[0].(map[string]any)["text"].(map[string]any)
			if text["type"] != "mrkdwn" || text["text"] != "*New &lt;!channel&gt; incident &amp; co*\nSeverity: high" {
				t.Errorf("section: %v", text)
			}
		})
	}
}

// TestTeamsFollowsItsContract: a Workflows webhook's 202 and an incoming
// webhook's 200 "1" are delivered; an incoming webhook's 200 that reports
// a throttled delivery, and a 429, are throttling; 413 and 400 are
// permanent. Adaptive Cards by default, the legacy MessageCard on request.
func TestTeamsFollowsItsContract(t *testing.T) {
	t.Parallel()
	msg := Outgoing{Key: "k", Subject: "Incident 7 escalated", Text: "Severity: high (was low)"}
	f, srv := newFakeWebhook(t, answer{status: 202})
	if err := (&Teams{URL: srv.URL, Format: FormatAdaptive}).Send(context.Background(), msg); err != nil {
		t.Fatalf("workflows webhook: %v", err)
	}
	body := <-f.bodies
	att := body["attachments"].([]any)[0].(map[string]any)
	card := att["content"].(map[string]any)
	if body["type"] != "message" || att["contentType"] != "application/vnd.microsoft.card.adaptive" || card["type"] != "AdaptiveCard" {
		t.Errorf("adaptive envelope: %v", body)
	}
	blocks := card["body"].([]any)
	if len(blocks) != 2 || blocks[0].(map[string]any)["text"] != msg.Subject || blocks[1].(map[string]any)["text"] != msg.Text {
		t.Errorf("card body: %v", blocks)
	}

	f, srv = newFakeWebhook(t, answer{status: 200, body: "1"})
	if err := (&Teams{URL: srv.URL, Format: FormatMessageCard}).Send(context.Background(), msg); err != nil {
		t.Fatalf("incoming webhook: %v", err)
	}
	if body := <-f.bodies; body["@type"] != "MessageCard" || body["title"] != msg.Subject || body["text"] != msg.Text {
		t.Errorf("message card: %v", body)
	}

	for _, tt := range []struct {
		answer       answer
		perm, thrott bool
		wait         time.Duration
	}{
		{answer{status: 429, retryAfter: "3"}, false, true, 3 * time.Second},
		{answer{status: 200, body: "Microsoft Teams endpoint returned HTTP error 429 with ContextId tcid=0"}, false, true, 0},
		{answer{status: 413, body: "payload too large"}, true, false, 0},
		{answer{status: 400, body: "Bad payload"}, true, false, 0},
		{answer{status: 503, retryAfter: "2"}, false, false, 2 * time.Second},
	} {
		_, srv := newFakeWebhook(t, tt.answer)
		err := (&Teams{URL: srv.URL}).Send(context.Background(), msg)
		if perm, thrott, wait := classify(err); err == nil || perm != tt.perm || thrott != tt.thrott || wait != tt.wait {
			t.Errorf("HTTP %d %q: %v (permanent=%v throttled=%v wait=%s), want %v %v %s", tt.answer.status, tt.answer.body, err,
				perm, thrott, wait, tt.perm, tt.thrott, tt.wait)
		}
	}
}

func TestRetryAfterReadsSecondsAndDates(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		v    string
		want time.Duration
	}{
		{"", 0}, {"12", 12 * time.Second}, {"-3", 0}, {"junk", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{"999999", maxRetryAfter},
	} {
		h := http.Header{}
		if tt.v != "" {
			h.Set("Retry-After", tt.v)
		}
		if got := retryAfter(h, now); got != tt.want {
			t.Errorf("Retry-After %q: %s, want %s", tt.v, got, tt.want)
		}
	}
}
