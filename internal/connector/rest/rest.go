// Package rest is the HTTP plumbing AIR's vendor connectors share: a JSON
// client that waits on a client-side rate limiter, authenticates with an
// OAuth2 client-credentials token, and turns every non-2xx answer into a
// *StatusError that says, once, what the answer means for a retry.
//
// The meaning is carried by the error itself, so that the activity layer
// can decide retryable or not in one place (activities.classify) without
// knowing any vendor:
//
//   - 400, 422 and other 4xx: a *domain.Error of kind invalid (retrying the
//     same request cannot help);
//   - 401, 403: kind forbidden (after one retry with a fresh token for 401);
//   - 404, 410: kind not_found;
//   - 409: kind conflict;
//   - 408, 5xx, network errors, timeouts: no kind, so retryable;
//   - 429, and 503 with Retry-After: retryable, and RetryDelay() reports the
//     vendor's Retry-After, which the activity turns into the next retry's
//     delay. The limiter also holds every later call back until then.
//
// Nothing here logs a header or a body: tokens and secrets travel in them.
package rest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sirupsen/logrus"

	"github.com/airsoc/air/internal/domain"
)

// DefaultTimeout bounds one HTTP exchange when the caller gives no client.
const DefaultTimeout = 30 * time.Second

// DefaultRetryAfter is the delay assumed for a 429 without a Retry-After.
const DefaultRetryAfter = 10 * time.Second

// maxBody bounds how much of an answer is read.
const maxBody = 4 << 20

// Client calls one vendor's JSON API.
type Client struct {
	// Vendor names the API in errors and logs ("mde", "graph").
	Vendor string
	// BaseURL is prefixed to every path, e.g. https://api.security.microsoft.com.
	BaseURL string
	// HTTP sends the requests; nil means a client with DefaultTimeout.
	HTTP *http.Client
	// Token authenticates requests; nil sends none.
	Token TokenSource
	// Limiter is waited on before every request; nil means no limit.
	Limiter *Limiter
	// Log receives one debug line per call (method, path, status, duration).
	Log logrus.FieldLogger
	// Now is the clock used to read Retry-After dates; nil means time.Now.
	Now func() time.Time
}

// Do sends method path with body encoded as JSON (none when nil) and
// decodes a 2xx answer into out (ignored when nil or the answer is empty).
// A 401 is retried once with a fresh token.
func (c *Client) Do(ctx context.Context, method, path string, body, out any) error {
	return c.DoWith(ctx, method, path, nil, body, out)
}

// DoWith is Do with further request headers, for APIs that route or
// dispatch on them (Exchange Online's X-CmdletName and X-AnchorMailbox).
// They cannot replace Authorization, Accept or Content-Type, which the
// client owns.
func (c *Client) DoWith(ctx context.Context, method, path string, header http.Header, body, out any) error {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return fmt.Errorf("%s %s %s: encode request: %w", c.Vendor, method, path, err)
		}
	}
	for attempt := 0; ; attempt++ {
		data, se, err := c.send(ctx, method, path, header, payload)
		if err != nil {
			return err
		}
		if se != nil && se.Status == http.StatusUnauthorized && c.Token != nil && attempt == 0 && renewable(c.Token) {
			c.Token.Invalidate() // an expired or revoked token: get a new one, once
			continue
		}
		if se != nil {
			return se
		}
		if out == nil || len(bytes.TrimSpace(data)) == 0 {
			return nil
		}
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s %s: decode answer: %w", c.Vendor, method, path, err)
		}
		return nil
	}
}

// send makes one exchange: the answer's body, or the *StatusError it

// DeleteGone deletes what path names; a 404 counts as done: an earlier
// attempt of the same action, or someone else, removed it already.
func (c *Client) DeleteGone(ctx context.Context, path string) error {
	err := c.Do(ctx, http.MethodDelete, path, nil, nil)
	var se *StatusError
	if errors.As(err, &se) && se.Status == http.StatusNotFound {
		return nil
	}
	return err
}

// amounts to, or a transport error.
func (c *Client) send(ctx context.Context, method, path string, header http.Header, payload []byte) ([]byte, *StatusError, error) {
	if c.Limiter != nil {
		if err := c.Limiter.Wait(ctx); err != nil {
			return nil, nil, fmt.Errorf("%s %s %s: wait for the rate limiter: %w", c.Vendor, method, path, err)
		}
	}
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.BaseURL, "/")+path, rd)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s %s: %w", c.Vendor, method, path, err)
	}
	for k, vs := range header {
		req.Header[http.CanonicalHeaderKey(k)] = append([]string(nil), vs...)
	}
	req.Header.Set("Accept", "application/json")
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != nil {
		tok, err := c.Token.Token(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("%s %s %s: %w", c.Vendor, method, path, err)
		}
		req.Header.Set("Authorization", scheme(c.Token)+" "+tok)
	}
	start := time.Now()
	resp, err := httpClient(c.HTTP).Do(req)
	if err != nil {
		c.log().WithFields(logrus.Fields{"method": method, "path": path, "error": err}).Debug("vendor call failed")
		return nil, nil, fmt.Errorf("%s %s %s: %w", c.Vendor, method, path, stripURL(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	c.log().WithFields(logrus.Fields{"method": method, "path": path, "status": resp.StatusCode,
		"ms": time.Since(start).Milliseconds()}).Debug("vendor call")
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s %s: read answer: %w", c.Vendor, method, path, err)
	}
	if d := quotaExhausted(resp.Header, c.now()); d > 0 && c.Limiter != nil {
		c.Limiter.PauseFor(d) // the vendor said no call is left until its reset
	}
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		se := ErrorFromResponse(c.Vendor, method, path, resp, data, c.now())
		if se.RetryAfter > 0 && c.Limiter != nil {
			c.Limiter.PauseFor(se.RetryAfter)
		}
		return data, se, nil
	}
	return data, nil, nil
}

func (c *Client) log() logrus.FieldLogger {
	if c.Log == nil {
		return discard
	}
	return c.Log.WithField("vendor", c.Vendor)
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

var discard = func() logrus.FieldLogger {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return l
}()

func httpClient(c *http.Client) *http.Client {
	if c != nil {
		return c
	}
	return &http.Client{Timeout: DefaultTimeout}
}

// stripURL keeps a transport error's cause without repeating the URL, which
// the caller already names by method and path.
func stripURL(err error) error {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil && strings.Contains(err.Error(), "://") {
			if isTimeout(err) {
				return fmt.Errorf("timed out: %w", inner)
			}
			return inner
		}
	}
	return err
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// StatusError is a vendor's non-2xx answer.
type StatusError struct {
	Vendor, Method, Path string
	Status               int
	Code                 string // the vendor's error code (ResourceNotFound, invalid_client, …)
	Message              string
	// Details are the messages of a Microsoft error's details
	// ({"error": {"code", "message", "details": [{"code", "target",
	// "message"}]}}), where Exchange Online's admin API puts what the
	// cmdlet said while its message is only "Error executing cmdlet".
	Details []string
	// RetryAfter is the vendor's Retry-After (429, 503), or DefaultRetryAfter
	// for a 429 without one.
	RetryAfter time.Duration
}

func (e *StatusError) Error() string {
	var b strings.Builder
	b.WriteString(e.Vendor)
	for _, s := range []string{e.Method, e.Path} {
		if s != "" {
			b.WriteString(" " + s)
		}
	}
	fmt.Fprintf(&b, ": HTTP %d", e.Status)
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	for _, d := range e.Details {
		b.WriteString("; " + d)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	return b.String()
}

// Kind is the domain error kind of the answer, "" when retrying may help.
func (e *StatusError) Kind() domain.ErrorKind {
	switch s := e.Status; {
	case s == http.StatusRequestTimeout, s == http.StatusTooManyRequests, s >= 500:
		return ""
	case s == http.StatusUnauthorized, s == http.StatusForbidden:
		return domain.KindForbidden
	case s == http.StatusNotFound, s == http.StatusGone:
		return domain.KindNotFound
	case s == http.StatusConflict:
		return domain.KindConflict
	}
	return domain.KindInvalid
}

// Unwrap exposes the answer's domain kind to errors.As, so that a
// permanent answer is classified like any other domain error.
func (e *StatusError) Unwrap() error {
	if k := e.Kind(); k != "" {
		return domain.Errorf(k, "%s", e.Message)
	}
	return nil
}

// RetryDelay is how long the vendor asked to wait before the next attempt;
// 0 when it did not ask.
func (e *StatusError) RetryDelay() time.Duration { return e.RetryAfter }

// Throttled builds the error a throttled call returns; the lab tenant uses
// it to answer like a vendor does.
func Throttled(vendor, method, path string, after time.Duration) *StatusError {
	return &StatusError{Vendor: vendor, Method: method, Path: path, Status: http.StatusTooManyRequests,
		Code: "TooManyRequests", Message: "rate limit exceeded", RetryAfter: after}
}

// ErrorFromResponse reads a vendor's error answer: Microsoft's
// {"error": {"code", "message"}}, OAuth's {"error", "error_description"},
// or plain text; and its Retry-After.
func ErrorFromResponse(vendor, method, path string, resp *http.Response, body []byte, now time.Time) *StatusError {
	e := &StatusError{Vendor: vendor, Method: method, Path: path, Status: resp.StatusCode}
	var ms struct {
		Error json.RawMessage `json:"error"`
		Desc  string          `json:"error_description"`
		Msg   string          `json:"message"`
		// CrowdStrike Falcon: {"errors": [{"code": 404, "message": …}], "meta": …}
		Errors []struct {
			Code    json.RawMessage `json:"code"`
			Message string          `json:"message"`
		} `json:"errors"`
		// Okta: {"errorCode": "E0000007", "errorSummary": …, "errorCauses": [{"errorSummary": …}]}
		ErrorCode    string `json:"errorCode"`
		ErrorSummary string `json:"errorSummary"`
		ErrorCauses  []struct {
			ErrorSummary string `json:"errorSummary"`
		} `json:"errorCauses"`
	}
	if json.Unmarshal(body, &ms) == nil {
		var inner struct {
			Code, Message string
			Details       []struct{ Message string }
		}
		var code string
		switch {
		case json.Unmarshal(ms.Error, &inner) == nil && (inner.Code != "" || inner.Message != ""):
			e.Code, e.Message = inner.Code, inner.Message
			for _, d := range inner.Details {
				if m := strings.TrimSpace(d.Message); m != "" && m != inner.Message {
					e.Details = append(e.Details, clip(m))
				}
			}
		case json.Unmarshal(ms.Error, &code) == nil:
			e.Code, e.Message = code, firstLine(ms.Desc)
		case len(ms.Errors) > 0:
			var msgs []string
			for _, x := range ms.Errors {
				msgs = append(msgs, x.Message)
			}
			e.Message = strings.Join(msgs, "; ")
			if c := strings.Trim(string(ms.Errors[0].Code), `"`); c != strconv.Itoa(resp.StatusCode) && c != "null" {
				e.Code = c // a numeric code that repeats the status says nothing more
			}
		case ms.ErrorCode != "" || ms.ErrorSummary != "":
			e.Code, e.Message = ms.ErrorCode, ms.ErrorSummary
			for _, c := range ms.ErrorCauses {
				if c.ErrorSummary != "" && c.ErrorSummary != ms.ErrorSummary {
					e.Message += "; " + c.ErrorSummary
				}
			}
		default:
			e.Message = ms.Msg
		}
	} else if len(body) > 0 && !bytes.HasPrefix(bytes.TrimSpace(body), []byte("<")) {
		e.Message = firstLine(string(body))
	}
	if e.Message == "" && e.Code == "" {
		e.Message = strings.ToLower(http.StatusText(resp.StatusCode))
	}
	e.Message = clip(e.Message)
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		e.RetryAfter = ParseRetryAfter(resp.Header.Get("Retry-After"), now)
		if e.RetryAfter == 0 && resp.StatusCode == http.StatusTooManyRequests {
			e.RetryAfter = vendorReset(resp.Header, now)
		}
		if e.RetryAfter == 0 && resp.StatusCode == http.StatusTooManyRequests {
			e.RetryAfter = DefaultRetryAfter
		}
	}
	return e
}

// ParseRetryAfter reads a Retry-After header: delay seconds or an HTTP
// date. It returns 0 when the header is absent or unreadable.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 {
			return 0
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d.Round(time.Second)
		}
	}
	return 0
}

// Vendors' own rate-limit headers, read when an answer has no Retry-After.
// Both give an instant as Unix epoch seconds:
//   - CrowdStrike Falcon: X-RateLimit-RetryAfter on a 429, with
//     X-RateLimit-Limit and X-RateLimit-Remaining on every answer;
//   - Okta: X-Rate-Limit-Reset (when the window resets) with
//     X-Rate-Limit-Limit and X-Rate-Limit-Remaining on every answer.
var (
	resetHeaders     = []string{"X-RateLimit-RetryAfter", "X-Rate-Limit-Reset", "X-RateLimit-Reset"}
	remainingHeaders = []string{"X-Rate-Limit-Remaining", "X-RateLimit-Remaining"}
)

// vendorReset is how long until the instant a vendor's rate-limit header
// names. The vendor's clock is the answer's Date header when there is one,
// so that a skewed local clock neither hammers nor stalls; 0 when no header
// names an instant in the future.
func vendorReset(h http.Header, now time.Time) time.Duration {
	if d, err := http.ParseTime(h.Get("Date")); err == nil {
		now = d
	}
	for _, name := range resetHeaders {
		v := strings.TrimSpace(h.Get(name))
		if v == "" {
			continue
		}
		secs, err := strconv.ParseInt(v, 10, 64)
		if err != nil || secs <= 0 {
			continue
		}
		if d := time.Unix(secs, 0).Sub(now); d > 0 {
			return min(d.Round(time.Second)+time.Second, time.Hour) // the reset second itself may still be in the old window
		}
		return 0
	}
	return 0
}

// quotaExhausted reports how long to hold calls back when an answer says no
// call is left in the vendor's window (remaining 0) and when it resets.
func quotaExhausted(h http.Header, now time.Time) time.Duration {
	for _, name := range remainingHeaders {
		if v := strings.TrimSpace(h.Get(name)); v != "" {
			if v == "0" {
				return vendorReset(h, now)
			}
			return 0
		}
	}
	return 0
}

// clip bounds a vendor's message at 300 bytes, cut at a rune boundary.
func clip(s string) string {
	if len(s) <= 300 {
		return s
	}
	i := 300
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		return s[:i]
	}
	return s
}
