package sources

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"golang.org/x/time/rate"
)

// vendor is an HTTP API of one source: its root, an authenticated client
// (OAuth2 client credentials with a cached, refreshed token, or a static
// header) and the calls-per-minute it allows.
type vendor struct {
	base    *url.URL
	client  *http.Client
	header  http.Header // static auth headers (Okta's SSWS token)
	limiter *rate.Limiter
	now     func() time.Time
}

// maxBody bounds what AIR reads of one vendor answer.
const maxBody = 64 << 20

func newVendor(base string, client *http.Client, perMinute int) (*vendor, error) {
	u, err := url.Parse(strings.TrimRight(base, "/"))
	if err != nil {
		return nil, fmt.Errorf("base URL %q: %w", base, err)
	}
	if client == nil {
		client = &http.Client{Timeout: 60 * time.Second}
	}
	if perMinute <= 0 {
		perMinute = 60
	}
	return &vendor{base: u, client: client, header: http.Header{},
		limiter: rate.NewLimiter(rate.Limit(float64(perMinute)/60), max(1, perMinute/10)), now: time.Now}, nil
}

// oauthClient is an HTTP client that fetches and refreshes a client
// credentials token; inner carries the requests (tests give httptest's).
func oauthClient(ctx context.Context, inner *http.Client, tokenURL, clientID, secret string, scopes []string, inParams bool) *http.Client {
	cc := clientcredentials.Config{ClientID: clientID, ClientSecret: secret, TokenURL: tokenURL, Scopes: scopes}
	if inParams {
		cc.AuthStyle = oauth2.AuthStyleInParams
	}
	if inner == nil {
		inner = &http.Client{Timeout: 60 * time.Second}
	}
	// The token source lives as long as the poller: the context here only
	// carries the HTTP client used to fetch tokens.
	c := cc.Client(context.WithValue(context.WithoutCancel(ctx), oauth2.HTTPClient, inner))
	c.Timeout = inner.Timeout
	return c
}

// sameOrigin reports whether a vendor-given link stays on the API's own
// scheme and host: a next-page link elsewhere is refused, so a tampered
// answer cannot send AIR's token to another server.
func (v *vendor) sameOrigin(link string) (*url.URL, error) {
	u, err := url.Parse(link)
	if err != nil {
		return nil, fmt.Errorf("next-page link %q: %w", link, err)
	}
	if !u.IsAbs() {
		u = v.base.ResolveReference(u)
	}
	if u.Scheme != v.base.Scheme || u.Host != v.base.Host {
		return nil, fmt.Errorf("next-page link %q leaves %s://%s: refused", link, v.base.Scheme, v.base.Host)
	}
	return u, nil
}

// url joins path (and query) to the API root.
func (v *vendor) url(path string, q url.Values) *url.URL {
	u := *v.base
	u.Path = strings.TrimRight(u.Path, "/") + path
	if q != nil {
		u.RawQuery = q.Encode()
	}
	return &u
}

// do sends a request within the rate limit and returns the body of a 2xx
// answer; 429 and 503 become *RetryAfterError, other 4xx *PermanentError,
// 5xx and transport failures plain (retryable) errors.
func (v *vendor) do(ctx context.Context, method string, u *url.URL, body io.Reader, contentType string) ([]byte, http.Header, error) {
	h := http.Header{}
	if contentType != "" {
		h.Set("Content-Type", contentType)
	}
	return v.request(ctx, method, u, body, h)
}

// doWith is do with a JSON body and extra request headers (If-Match).
func (v *vendor) doWith(ctx context.Context, method string, u *url.URL, body []byte, h http.Header) ([]byte, http.Header, error) {
	h = h.Clone()
	if h == nil {
		h = http.Header{}
	}
	h.Set("Content-Type", "application/json")
	return v.request(ctx, method, u, bytes.NewReader(body), h)
}

func (v *vendor) request(ctx context.Context, method string, u *url.URL, body io.Reader, h http.Header) ([]byte, http.Header, error) {
	if err := v.limiter.Wait(ctx); err != nil {
		return nil, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, nil, err
	}
	for k, vs := range v.header {
		req.Header[k] = vs
	}
	for k, vs := range h {
		req.Header[k] = vs
	}
	req.Header.Set("Accept", "application/json")
	resp, err := v.client.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w", method, redactURL(u), err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: read answer: %w", method, redactURL(u), err)
	}
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return b, resp.Header, nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable:
		return nil, resp.Header, &RetryAfterError{Status: resp.StatusCode, Delay: retryDelay(resp.Header, v.now()), Body: string(b)}
	case resp.StatusCode == http.StatusPreconditionFailed:
		// The object changed between AIR's read and its write (an ETag
		// that no longer matches): a retry reads it again.
		return nil, resp.Header, fmt.Errorf("%s %s: HTTP 412, changed since read%s", method, redactURL(u), bodyNote(string(b)))
	case resp.StatusCode >= 400 && resp.StatusCode < 500:
		return nil, resp.Header, &PermanentError{Status: resp.StatusCode, Body: string(b)}
	}
	return nil, resp.Header, fmt.Errorf("%s %s: HTTP %d%s", method, redactURL(u), resp.StatusCode, bodyNote(string(b)))
}

// retryDelay reads Retry-After (seconds or an HTTP date), else the
// vendors' own reset headers (X-RateLimit-Reset as epoch seconds, as Okta
// and CrowdStrike send), else one minute.
func retryDelay(h http.Header, now time.Time) time.Duration {
	if ra := h.Get("Retry-After"); ra != "" {
		if s, err := strconv.Atoi(strings.TrimSpace(ra)); err == nil && s >= 0 {
			return time.Duration(s) * time.Second
		}
		if t, err := http.ParseTime(ra); err == nil {
			return max(t.Sub(now), 0)
		}
	}
	for _, k := range []string{"X-Rate-Limit-Reset", "X-RateLimit-RetryAfter", "X-RateLimit-Reset"} {
		if s, err := strconv.ParseInt(strings.TrimSpace(h.Get(k)), 10, 64); err == nil && s > 0 {
			if s > 1e9 { // epoch seconds
				return max(time.Unix(s, 0).Sub(now), time.Second)
			}
			return time.Duration(s) * time.Second
		}
	}
	return time.Minute
}

// redactURL drops the query (it may carry a $skiptoken), for messages.
func redactURL(u *url.URL) string {
	c := *u
	c.RawQuery = ""
	return c.String()
}
