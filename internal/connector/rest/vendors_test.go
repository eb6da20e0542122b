package rest_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/airsoc/air/internal/connector/rest"
	"github.com/airsoc/air/internal/domain"
)

// TestVendorErrorShapesAndResetHeaders reads CrowdStrike's and Okta's error
// bodies and their own rate-limit headers (epoch seconds, not Retry-After).
func TestVendorErrorShapesAndResetHeaders(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	epoch := func(d time.Duration) string { return strconv.FormatInt(now.Add(d).Unix(), 10) }
	tests := []struct {
		name      string
		status    int
		headers   map[string]string
		body      string
		wantKind  domain.ErrorKind
		wantDelay time.Duration
		wantText  string
	}{
		{"falcon 404", 404, nil, `{"meta":{"query_time":0.1,"trace_id":"x"},"errors":[{"code":404,"message":"Device not found."}],"resources":[]}`,
			domain.KindNotFound, 0, "HTTP 404: Device not found."},
		{"falcon 429", 429, map[string]string{"X-RateLimit-RetryAfter": epoch(20 * time.Second), "X-RateLimit-Remaining": "0"},
			`{"errors":[{"code":429,"message":"API rate limit exceeded."}]}`, "", 21 * time.Second, "API rate limit exceeded."},
		{"okta 404", 404, nil, `{"errorCode":"E0000007","errorSummary":"Not found: Resource not found: x (User)","errorLink":"E0000007","errorId":"oae1","errorCauses":[]}`,
			domain.KindNotFound, 0, "E0000007: Not found: Resource not found: x (User)"},
		{"okta 400 causes", 400, nil, `{"errorCode":"E0000001","errorSummary":"Api validation failed: login","errorCauses":[{"errorSummary":"login: An object with this field already exists"}]}`,
			domain.KindInvalid, 0, "Api validation failed: login; login: An object with this field already exists"},
		{"okta 429 by the vendor's clock", 429, map[string]string{"X-Rate-Limit-Reset": epoch(45 * time.Second),
			"Date": now.Add(15 * time.Second).Format(http.TimeFormat)},
			`{"errorCode":"E0000047","errorSummary":"API call exceeded rate limit due to too many requests."}`, "", 31 * time.Second, "E0000047"},
		{"a reset in the past", 429, map[string]string{"X-Rate-Limit-Reset": epoch(-5 * time.Second)}, ``, "", rest.DefaultRetryAfter, "HTTP 429"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp := &http.Response{StatusCode: tt.status, Header: http.Header{}}
			for k, v := range tt.headers {
				resp.Header.Set(k, v)
			}
			err := rest.ErrorFromResponse("v", "GET", "/p", resp, []byte(tt.body), now)
			if got := domain.KindOf(err); got != tt.wantKind {
				t.Errorf("kind: got %q, want %q", got, tt.wantKind)
			}
			if got := err.RetryDelay(); got != tt.wantDelay {
				t.Errorf("retry delay: got %s, want %s", got, tt.wantDelay)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("message: got %q, want it to contain %q", err, tt.wantText)
			}
		})
	}
}

// TestRemainingZeroPausesTheLimiter: an answer that says no call is left
// until the reset holds the next call back until then.
func TestRemainingZeroPausesTheLimiter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "SSWS tok" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Date", now.Format(http.TimeFormat))
		w.Header().Set("X-Rate-Limit-Limit", "600")
		w.Header().Set("X-Rate-Limit-Remaining", "0")
		w.Header().Set("X-Rate-Limit-Reset", strconv.FormatInt(now.Add(30*time.Second).Unix(), 10))
		fmt.Fprint(w, `{}`)
	}))
	defer srv.Close()
	var waited time.Duration
	l := rest.NewLimiter()
	l.Now = func() time.Time { return now }
	l.Sleep = func(_ context.Context, d time.Duration) error { waited += d; return nil }
	c := &rest.Client{Vendor: "okta", BaseURL: srv.URL, Limiter: l, Now: l.Now,
		Token: &rest.StaticToken{Scheme: "SSWS", Value: rest.NewSecret("tok")}}
	for range 2 {
		if err := c.Do(context.Background(), http.MethodGet, "/api/v1/users/me", nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	if waited != 31*time.Second {
		t.Errorf("the second call waited %s, want 31s (until the reset)", waited)
	}
	// A wrong static token is not retried: there is no fresh one.
	calls := 0
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"errorCode":"E0000011","errorSummary":"Invalid token provided"}`)
	}))
	defer bad.Close()
	c = &rest.Client{Vendor: "okta", BaseURL: bad.URL, Token: &rest.StaticToken{Scheme: "SSWS", Value: rest.NewSecret("x")}}
	err := c.Do(context.Background(), http.MethodGet, "/api/v1/users/me", nil, nil)
	if domain.KindOf(err) != domain.KindForbidden || calls != 1 || !strings.Contains(err.Error(), "Invalid token provided") {
		t.Errorf("bad token: %v after %d calls, want forbidden after 1", err, calls)
	}
}

func TestPrivateKeyJWTSignsVerifiableAssertions(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(ecKey)
	keys := map[string][]byte{
		"RS256": pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)}),
		"ES256": pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}),
	}
	for alg, p := range keys {
		sign, err := rest.PrivateKeyJWT("0oa-app", "kid-1", p, func() time.Time { return now })
		if err != nil {
			t.Fatal(err)
		}
		jwt, err := sign("https://contoso.okta.com/oauth2/v1/token")
		if err != nil {
			t.Fatal(err)
		}
		parts := strings.Split(jwt, ".")
		if len(parts) != 3 {
			t.Fatalf("%s: %q is not a JWS", alg, jwt)
		}
		var header, claims map[string]any
		h, _ := base64.RawURLEncoding.DecodeString(parts[0])
		c, _ := base64.RawURLEncoding.DecodeString(parts[1])
		json.Unmarshal(h, &header)
		json.Unmarshal(c, &claims)
		if header["alg"] != alg || header["kid"] != "kid-1" || claims["iss"] != "0oa-app" || claims["sub"] != "0oa-app" ||
			claims["aud"] != "https://contoso.okta.com/oauth2/v1/token" || claims["exp"].(float64)-claims["iat"].(float64) != 300 || claims["jti"] == "" {
			t.Errorf("%s: header %v claims %v", alg, header, claims)
		}
		sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
		digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
		var ok bool
		if alg == "RS256" {
			ok = rsa.VerifyPKCS1v15(&rsaKey.PublicKey, crypto.SHA256, digest[:], sig) == nil
		} else {
			ok = len(sig) == 64 && ecdsa.Verify(&ecKey.PublicKey, digest[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:]))
		}
		if !ok {
			t.Errorf("%s: the signature does not verify", alg)
		}
	}
	if _, err := rest.PrivateKeyJWT("a", "", []byte("not a key"), nil); err == nil {
		t.Error("a non-PEM key was accepted")
	}
}
