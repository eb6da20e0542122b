// Package webhook carries out any remediation by POSTing it, signed, to the
// SOC's own automation (a SOAR, a script behind a reverse proxy, a ticket
// system). It is the connector for everything AIR has no vendor API for.
//
// A delivery is a JSON document (Payload) with these headers:
//
//	Content-Type:     application/json
//	Idempotency-Key:  the action's idempotency key — the same on every retry
//	X-AIR-Timestamp:  Unix seconds when this attempt was signed
//	X-AIR-Signature:  v1=<hex HMAC-SHA256(secret, timestamp + "." + body)>
//	X-AIR-Action:     the action type, e.g. user.disable
//
// Receivers verify with Verify: recompute the HMAC over the raw body,
// compare in constant time, and refuse a timestamp outside the replay
// window (DefaultWindow, five minutes). Then they deduplicate on
// Idempotency-Key: AIR may deliver the same action more than once (a
// timeout after the receiver acted looks like a failure from here), and
// the key is how a receiver makes that harmless.
//
// Answers: 2xx is success, with an optional JSON body {"summary": "…",
// "changed": false} (changed defaults to true). 429 and 503 with
// Retry-After are throttling; 408 and other 5xx are retried here with
// exponential backoff, then by the activity; 400, 401, 403, 404, 409, 410,
// 422 are permanent.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/airsoc/air/internal/connector/rest"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/remediation"
)

// Header names.
const (
	HeaderSignature      = "X-AIR-Signature"
	HeaderTimestamp      = "X-AIR-Timestamp"
	HeaderIdempotencyKey = "Idempotency-Key"
	HeaderAction         = "X-AIR-Action"
)

// DefaultWindow is the replay window receivers should allow.
const DefaultWindow = 5 * time.Minute

// Defaults for Client's zero-valued fields.
const (
	DefaultAttempts   = 3
	DefaultBackoff    = time.Second
	DefaultMaxBackoff = 30 * time.Second
)

// Payload is the body of a delivery.
type Payload struct {
	ActionID       string         `json:"actionId"`
	IncidentID     int64          `json:"incidentId"`
	Type           string         `json:"type"`
	Target         Target         `json:"target"`
	Params         map[string]any `json:"params"`
	IdempotencyKey string         `json:"idempotencyKey"`
}

// Target is the entity the action acts on.
type Target struct {
	Key  string `json:"key"`  // e.g. device:9f2c…
	Kind string `json:"kind"` // device
	ID   string `json:"id"`   // 9f2c…
	Name string `json:"name"` // ws-042.corp.example
}

// Answer is what a receiver may return with a 2xx.
type Answer struct {
	Summary string `json:"summary"`
	Changed *bool  `json:"changed"`
}

// Client delivers actions to one webhook.
type Client struct {
	// Name names the webhook in results, errors and logs.
	Name string
	URL  string
	// Secret signs every delivery.
	Secret rest.Secret
	// HTTP sends the requests; nil means a client with rest.DefaultTimeout.
	HTTP *http.Client
	// Attempts is how many times one Execute tries a retryable failure.
	Attempts int
	// Backoff is the first wait between attempts; it doubles up to MaxBackoff.
	Backoff, MaxBackoff time.Duration
	Log                 logrus.FieldLogger
	// Now and Sleep are the clock; nil means the real one.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
}

var _ remediation.Executor = (*Client)(nil)

// Execute delivers one action, retrying retryable failures in process
// before giving the last one back to the activity.
func (c *Client) Execute(ctx context.Context, req remediation.Request) (remediation.Result, error) {
	params, err := remediation.DecodeParams(req.Params)
	if err != nil {
		return remediation.Result{}, domain.Invalid("params", "%v", err)
	}
	kind, id, _ := strings.Cut(string(req.Target), ":")
	body, err := json.Marshal(Payload{ActionID: req.ActionID, IncidentID: req.IncidentID, Type: req.Type,
		Target: Target{Key: string(req.Target), Kind: kind, ID: id, Name: req.TargetName},
		Params: params, IdempotencyKey: req.IdempotencyKey})
	if err != nil {
		return remediation.Result{}, fmt.Errorf("webhook %s: encode: %w", c.Name, err)
	}
	attempts := c.Attempts
	if attempts <= 0 {
		attempts = DefaultAttempts
	}
	wait, maxWait := c.Backoff, c.MaxBackoff
	if wait <= 0 {
		wait = DefaultBackoff
	}
	if maxWait <= 0 {
		maxWait = DefaultMaxBackoff
	}
	for i := 1; ; i++ {
		res, err := c.deliver(ctx, req, body)
		if err == nil {
			return res, nil
		}
		if domain.KindOf(err) != "" || i >= attempts || ctx.Err() != nil {
			return remediation.Result{}, err
		}
		d := wait
		var se *rest.StatusError
		if errors.As(err, &se) && se.RetryAfter > 0 {
			if se.RetryAfter > maxWait {
				return remediation.Result{}, err // too long to wait here: the activity waits for it
			}
			d = se.RetryAfter
		}
		c.log().WithFields(logrus.Fields{"attempt": i, "wait": d, "error": err}).Info("webhook delivery failed; retrying")
		if err := c.sleep(ctx, d); err != nil {
			return remediation.Result{}, err
		}
		wait = min(2*wait, maxWait)
	}
}

func (c *Client) deliver(ctx context.Context, req remediation.Request, body []byte) (remediation.Result, error) {
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, bytes.NewReader(body))
	if err != nil {
		return remediation.Result{}, domain.Errorf(domain.KindInvalid, "webhook %s: %v", c.Name, err)
	}
	ts := strconv.FormatInt(c.now().Unix(), 10)
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("User-Agent", "AIR-webhook/1")
	hr.Header.Set(HeaderIdempotencyKey, req.IdempotencyKey)
	hr.Header.Set(HeaderAction, req.Type)
	hr.Header.Set(HeaderTimestamp, ts)
	hr.Header.Set(HeaderSignature, Sign([]byte(c.Secret.Reveal()), ts, body))
	client := c.HTTP
	if client == nil {
		client = &http.Client{Timeout: rest.DefaultTimeout}
	}
	start := time.Now()
	resp, err := client.Do(hr)
	if err != nil {
		c.log().WithField("error", err).Debug("webhook call failed")
		return remediation.Result{}, fmt.Errorf("webhook %s: %w", c.Name, transportError(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	c.log().WithFields(logrus.Fields{"status": resp.StatusCode, "ms": time.Since(start).Milliseconds()}).Debug("webhook call")
	if err != nil {
		return remediation.Result{}, fmt.Errorf("webhook %s: read answer: %w", c.Name, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		return remediation.Result{}, rest.ErrorFromResponse("webhook "+c.Name, http.MethodPost, "", resp, data, c.now())
	}
	var a Answer
	if len(bytes.TrimSpace(data)) > 0 && json.Unmarshal(data, &a) != nil {
		a = Answer{}
	}
	res := remediation.Result{Summary: a.Summary, Changed: a.Changed == nil || *a.Changed}
	if res.Summary == "" {
		res.Summary = fmt.Sprintf("delivered to webhook %s (HTTP %d)", c.Name, resp.StatusCode)
	}
	return res, nil
}

func transportError(err error) error {
	var t interface{ Timeout() bool }
	if errors.As(err, &t) && t.Timeout() {
		return fmt.Errorf("timed out: %w", err)
	}
	return err
}

func (c *Client) log() logrus.FieldLogger {
	if c.Log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		return l
	}
	return c.Log.WithField("webhook", c.Name)
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Client) sleep(ctx context.Context, d time.Duration) error {
	if c.Sleep != nil {
		return c.Sleep(ctx, d)
	}
	return rest.SleepContext(ctx, d)
}

// Sign returns the X-AIR-Signature value for a body signed at timestamp ts
// (Unix seconds, as sent in X-AIR-Timestamp).
func Sign(secret []byte, ts string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return "v1=" + hex.EncodeToString(m.Sum(nil))
}

// Verify checks a delivery as a receiver should: the signature over the raw
// body and timestamp, with any of secrets (the current one and, while
// rotating, the previous), and a timestamp no further than window from now.
func Verify(h http.Header, body []byte, now time.Time, window time.Duration, secrets ...[]byte) error {
	ts := h.Get(HeaderTimestamp)
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%s: want Unix seconds, got %q", HeaderTimestamp, ts)
	}
	if window <= 0 {
		window = DefaultWindow
	}
	if d := now.Sub(time.Unix(sec, 0)); d > window || d < -window {
		return fmt.Errorf("%s: %s is outside the %s replay window", HeaderTimestamp, ts, window)
	}
	got := h.Get(HeaderSignature)
	if !strings.HasPrefix(got, "v1=") {
		return fmt.Errorf("%s: want v1=<hex>, got %q", HeaderSignature, got)
	}
	for _, s := range secrets {
		if hmac.Equal([]byte(got), []byte(Sign(s, ts, body))) {
			return nil
		}
	}
	return fmt.Errorf("%s: signature does not match", HeaderSignature)
}
