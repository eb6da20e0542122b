package rest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// TokenSource hands out bearer tokens.
type TokenSource interface {
	// Token returns a valid token, acquiring one when needed.
	Token(ctx context.Context) (string, error)
	// Invalidate drops the cached token (the API answered 401).
	Invalidate()
}

// MicrosoftTokenURL is the Microsoft identity platform's v2.0 token
// endpoint of a tenant.
func MicrosoftTokenURL(authority, tenantID string) string {
	if authority == "" {
		authority = "https://login.microsoftonline.com"
	}
	return strings.TrimRight(authority, "/") + "/" + url.PathEscape(tenantID) + "/oauth2/v2.0/token"
}

// ClientCredentials acquires tokens with the OAuth2 client-credentials
// grant (RFC 6749 §4.4, as the Microsoft identity platform implements it)
// and caches each until shortly before it expires. Concurrent callers share
// one acquisition.
type ClientCredentials struct {
	TokenURL string
	ClientID string
	Secret   Secret
	Scope    string // e.g. https://graph.microsoft.com/.default; empty sends none
	// Assertion, when set, authenticates the client with a signed JWT
	// (RFC 7523 private_key_jwt: client_assertion) instead of Secret. It
	// is called for each token request with the token URL as audience.
	Assertion func(audience string) (string, error)
	// Extra are further form fields some vendors take (CrowdStrike's
	// member_cid for a child tenant).
	Extra url.Values
	HTTP  *http.Client
	Log   logrus.FieldLogger
	Now   func() time.Time

	once   sync.Once
	sem    chan struct{} // one acquisition at a time; holding it guards the cache
	token  string
	expiry time.Time
}

// Token returns the cached token or acquires a new one.
func (c *ClientCredentials) Token(ctx context.Context) (string, error) {
	select {
	case c.lock() <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	defer func() { <-c.sem }()
	now := c.now()
	if c.token != "" && now.Before(c.expiry) {
		return c.token, nil
	}
	tok, life, err := c.acquire(ctx)
	if err != nil {
		return "", err
	}
	// Renew early: a tenth of the lifetime, at most five minutes, so that a
	// token never expires in flight.
	skew := min(life/10, 5*time.Minute)
	c.token, c.expiry = tok, now.Add(life-skew)
	c.log().WithField("expiresIn", life.Round(time.Second)).Debug("acquired access token")
	return tok, nil
}

// Invalidate drops the cached token.
func (c *ClientCredentials) Invalidate() {
	c.lock() <- struct{}{}
	c.token = ""
	<-c.sem
}

func (c *ClientCredentials) lock() chan struct{} {
	c.once.Do(func() { c.sem = make(chan struct{}, 1) })
	return c.sem
}

// acquire asks the token endpoint for a token with
// golang.org/x/oauth2/clientcredentials (the form, the JSON answer, a
// string or numeric expires_in), authenticating with the secret or a
// fresh client assertion, and maps a refusal to a *StatusError as every
// other vendor answer is.
func (c *ClientCredentials) acquire(ctx context.Context) (string, time.Duration, error) {
	params := url.Values{}
	for k, vs := range c.Extra {
		params[k] = vs
	}
	cfg := clientcredentials.Config{ClientID: c.ClientID, TokenURL: c.TokenURL, EndpointParams: params,
		AuthStyle: oauth2.AuthStyleInParams}
	if c.Scope != "" {
		cfg.Scopes = []string{c.Scope}
	}
	if c.Assertion != nil {
		jwt, err := c.Assertion(c.TokenURL)
		if err != nil {
			return "", 0, fmt.Errorf("token request for client %s: sign the client assertion: %w", c.ClientID, err)
		}
		params.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
		params.Set("client_assertion", jwt)
	} else {
		cfg.ClientSecret = c.Secret.Reveal()
	}
	tok, err := cfg.Token(context.WithValue(ctx, oauth2.HTTPClient, httpClient(c.HTTP)))
	if re, ok := errors.AsType[*oauth2.RetrieveError](err); ok && re.Response != nil {
		se := ErrorFromResponse("oauth", http.MethodPost, "token endpoint (client "+c.ClientID+")", re.Response, re.Body, c.now())
		if se.Status == http.StatusBadRequest && (se.Code == "invalid_client" || se.Code == "unauthorized_client") {
			se.Status = http.StatusUnauthorized // bad credentials: forbidden, not a malformed request
		}
		return "", 0, se
	}
	if err != nil {
		if strings.Contains(err.Error(), "missing access_token") {
			return "", 0, fmt.Errorf("token request for client %s: answer has no access_token", c.ClientID)
		}
		return "", 0, fmt.Errorf("token request for client %s: %w", c.ClientID, stripURL(err))
	}
	if tok.TokenType != "" && !strings.EqualFold(tok.TokenType, "bearer") {
		return "", 0, fmt.Errorf("token request for client %s: token type %q, want Bearer", c.ClientID, tok.TokenType)
	}
	life := time.Hour // an answer without expires_in
	if tok.ExpiresIn > 0 {
		life = time.Duration(tok.ExpiresIn) * time.Second
	}
	return tok.AccessToken, life, nil
}

// StaticToken is a long-lived API token sent with its own scheme (Okta's
// "SSWS <token>"). A 401 is not retried: there is no fresh one to get.
type StaticToken struct {
	Scheme string // e.g. SSWS; empty means Bearer
	Value  Secret
}

// Token returns the token.
func (s *StaticToken) Token(context.Context) (string, error) {
	if s.Value.IsZero() {
		return "", fmt.Errorf("no API token")
	}
	return s.Value.Reveal(), nil
}

// Invalidate does nothing: a static token cannot be renewed.
func (s *StaticToken) Invalidate() {}

func scheme(ts TokenSource) string {
	if s, ok := ts.(*StaticToken); ok && s.Scheme != "" {
		return s.Scheme
	}
	return "Bearer"
}

func renewable(ts TokenSource) bool {
	_, static := ts.(*StaticToken)
	return !static
}

func (c *ClientCredentials) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *ClientCredentials) log() logrus.FieldLogger {
	if c.Log == nil {
		return discard
	}
	return c.Log.WithField("client", c.ClientID)
}
