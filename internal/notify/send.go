package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Outgoing is what a channel sends: a subject line and plain text, with
// the key that names it (mail gets a Message-ID from it).
type Outgoing struct {
	Key     string
	Subject string
	Text    string
	// Attachments go with the message where the channel carries files
	// (mail); chat channels send the text alone.
	Attachments []Attachment
}

// Attachment is a file sent with a message.
type Attachment struct {
	Name        string // file name, e.g. "daily-2026-12-04.pdf"
	ContentType string // e.g. "application/pdf"
	Data        []byte
}

// Sender sends messages to one channel. Send returns nil once the channel
// accepted the message; otherwise an error, which is a *SendError when the
// channel said whether trying again can help.
type Sender interface {
	Send(ctx context.Context, m Outgoing) error
}

// FileSender is a Sender that carries Outgoing.Attachments (mail); the
// others are sent the text alone.
type FileSender interface {
	Sender
	CarriesFiles()
}

// SendError is a failed send that the channel classified.
type SendError struct {
	// Permanent: the same message will never be accepted (a bad payload,
	// a webhook that no longer exists, a mailbox that does not): the
	// dispatcher gives up at once.
	Permanent bool
	// RetryAfter is how long the channel asked to be left alone (HTTP 429
	// Retry-After); the next attempt waits at least that long, and the
	// attempt does not count against the channel's attempts.
	RetryAfter time.Duration
	Throttled  bool
	Err        error
}

func (e *SendError) Error() string { return e.Err.Error() }
func (e *SendError) Unwrap() error { return e.Err }

func permanent(format string, args ...any) error {
	return &SendError{Permanent: true, Err: fmt.Errorf(format, args...)}
}

// classify reads how a send failed: permanent, throttled (and for how
// long), or worth another try.
func classify(err error) (perm, throttled bool, wait time.Duration) {
	var se *SendError
	if errors.As(err, &se) {
		return se.Permanent, se.Throttled, se.RetryAfter
	}
	return false, false, 0
}

// maxRetryAfter caps how long a channel may ask to be left alone: a
// misbehaving endpoint must not park messages for days.
const maxRetryAfter = time.Hour

// retryAfter reads a Retry-After header: seconds, or an HTTP date.
func retryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil && secs >= 0 {
		return min(time.Duration(secs)*time.Second, maxRetryAfter)
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return min(t.Sub(now), maxRetryAfter)
	}
	return 0
}

// webhookClient posts JSON to chat webhooks. It follows no redirects: a
// webhook URL that redirects is misconfigured, and a redirect must not
// carry the payload somewhere else.
var webhookClient = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// post sends body to a webhook URL and returns the status and (the start
// of) the answer. The URL is a secret: errors never show it.
func post(ctx context.Context, rawURL string, body []byte) (int, http.Header, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, bytes.NewReader(body))
	if err != nil {
		return 0, nil, "", permanent("build request: the webhook URL is not valid")
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := webhookClient.Do(req)
	if err != nil {
		// *url.Error names the URL; say what happened without it.
		var ue interface{ Unwrap() error }
		if errors.As(err, &ue) && ue.Unwrap() != nil {
			err = ue.Unwrap()
		}
		return 0, nil, "", fmt.Errorf("post to webhook: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, resp.Header, strings.TrimSpace(string(b)), nil
}

// httpOutcome classifies a webhook's answer other than success: 429 is
// throttling (with Retry-After), 408, 425 and 5xx are worth another try,
// any other status means the request itself is refused.
func httpOutcome(service string, status int, h http.Header, body string, now time.Time) error {
	msg := fmt.Sprintf("%s answered HTTP %d", service, status)
	if body != "" {
		msg += ": " + truncate(body, 300)
	}
	switch {
	case status == http.StatusTooManyRequests:
		return &SendError{Throttled: true, RetryAfter: retryAfter(h, now), Err: errors.New(msg)}
	case status == http.StatusRequestTimeout, status == http.StatusTooEarly, status >= 500:
		return &SendError{RetryAfter: retryAfter(h, now), Err: errors.New(msg)}
	case status >= 300 && status < 400:
		return permanent("%s (a redirect: check the webhook URL)", msg)
	}
	return permanent("%s", msg)
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
