package auth_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/store"
)

func TestRequire(t *testing.T) {
	t.Parallel()
	roles := []auth.Role{auth.Viewer, auth.Analyst, auth.Responder, auth.Admin}
	for i, have := range roles {
		for j, need := range roles {
			p := &auth.Principal{Name: "p", Role: have}
			err := p.Require(need)
			if want := i >= j; (err == nil) != want {
				t.Errorf("%s requiring %s: got %v, want allowed=%v", have, need, err, want)
			}
			if err != nil && domain.KindOf(err) != domain.KindForbidden {
				t.Errorf("%s requiring %s: got kind %q, want forbidden", have, need, domain.KindOf(err))
			}
		}
	}
	if err := (&auth.Principal{Role: "root"}).Require(auth.Viewer); err == nil {
		t.Error("an unknown role was allowed to read")
	}
	var nobody *auth.Principal
	if err := nobody.Require(auth.Viewer); domain.KindOf(err) != domain.KindForbidden {
		t.Errorf("no principal: got %v, want forbidden", err)
	}
}

func TestParseRoleAndGroups(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   string
		want auth.Role
		ok   bool
	}{{"responder", auth.Responder, true}, {" Admin ", auth.Admin, true}, {"root", "", false}, {"", "", false}} {
		got, err := auth.ParseRole(tt.in)
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("ParseRole(%q) = %q, %v; want %q ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "role") {
			t.Errorf("ParseRole(%q): error %q does not name the field", tt.in, err)
		}
	}
	if got := auth.ParseGroups([]string{" Workstations, servers", "workstations", ","}); strings.Join(got, "|") != "Workstations|servers" {
		t.Errorf("ParseGroups: got %q", got)
	}
	p := &auth.Principal{Groups: []string{"Workstations"}}
	if !p.SeesGroup("workstations") || p.SeesGroup("Servers") || !(&auth.Principal{}).SeesGroup("any") {
		t.Error("SeesGroup: wrong scope")
	}
}

func TestLimiter(t *testing.T) {
	t.Parallel()
	now := time.Unix(0, 0)
	l := &auth.Limiter{Rate: auth.Rate{PerSecond: 2, Burst: 3}, Now: func() time.Time { return now }}
	for i := range 3 {
		if ok, _ := l.Allow("a"); !ok {
			t.Fatalf("request %d of the burst refused", i)
		}
	}
	ok, wait := l.Allow("a")
	if ok || wait != 500*time.Millisecond {
		t.Errorf("past the burst: got %v, wait %v; want refused, 500ms", ok, wait)
	}
	if ok, _ := l.Allow("b"); !ok {
		t.Error("another key shares the first one's bucket")
	}
	now = now.Add(500 * time.Millisecond)
	if ok, _ := l.Allow("a"); !ok {
		t.Error("refilled bucket still refuses")
	}
	off := &auth.Limiter{Rate: auth.Rate{PerSecond: -1}}
	for range 1000 {
		if ok, _ := off.Allow("x"); !ok {
			t.Fatal("a limiter turned off refused")
		}
	}
}

func newService(t *testing.T) *auth.Service {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "air.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &auth.Service{Store: st}
}

func TestTokensAreStoredHashedAndShownOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newService(t)
	c, err := s.CreateToken(ctx, "admin", auth.NewToken{Name: "ana", Role: auth.Responder, Groups: []string{"Workstations"}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(c.Secret, auth.SecretPrefix) || len(c.Secret) != len(auth.SecretPrefix)+43 {
		t.Errorf("secret %q: want the prefix and 32 random bytes in base64url", c.Secret)
	}
	toks, err := s.Store.ListTokens(ctx)
	if err != nil || len(toks) != 1 {
		t.Fatalf("list: %v, %v", toks, err)
	}
	if toks[0].Hash == c.Secret || toks[0].Hash != auth.Hash(c.Secret) || len(toks[0].Hash) != 64 {
		t.Errorf("stored %q: want the hex SHA-256 of the secret, never the secret", toks[0].Hash)
	}
	p, err := s.Authenticate(ctx, c.Secret)
	if err != nil || p.Name != "ana" || p.Role != auth.Responder || !p.Scoped() || p.TokenID != c.Token.ID {
		t.Fatalf("authenticate: %+v, %v", p, err)
	}
	for _, bad := range []string{"", "air_nope", c.Secret + "x", strings.TrimPrefix(c.Secret, "air_"), strings.Repeat("a", 10000)} {
		if _, err := s.Authenticate(ctx, bad); !auth.IsUnauthenticated(err) {
			t.Errorf("authenticate %.20q: got %v, want unauthenticated", bad, err)
		}
	}
	if _, err := s.Store.RevokeToken(ctx, c.Token.ID, "admin", time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, c.Secret); !auth.IsUnauthenticated(err) {
		t.Errorf("revoked token: got %v, want unauthenticated", err)
	}

	for _, tt := range []struct {
		nt    auth.NewToken
		field string
	}{
		{auth.NewToken{Role: "root"}, "role"},
		{auth.NewToken{Role: auth.Admin, Groups: []string{"Servers"}}, "groups"},
		{auth.NewToken{Role: auth.Viewer, Name: strings.Repeat("n", 101)}, "name"},
	} {
		_, err := s.CreateToken(ctx, "admin", tt.nt)
		var de *domain.Error
		if err == nil || !asDomain(err, &de) || de.Field != tt.field {
			t.Errorf("create %+v: got %v, want invalid %s", tt.nt, err, tt.field)
		}
	}
}

func asDomain(err error, de **domain.Error) bool {
	e, ok := err.(*domain.Error)
	*de = e
	return ok
}

func TestSessions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newService(t)
	now := time.Now()
	s.Now = func() time.Time { return now }
	s.SessionLifetime = time.Hour
	c, err := s.CreateToken(ctx, "admin", auth.NewToken{Name: "vic", Role: auth.Viewer})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.SignIn(ctx, "air_wrong"); !auth.IsUnauthenticated(err) {
		t.Errorf("sign in with a wrong token: got %v", err)
	}
	sess, p, err := s.SignIn(ctx, " "+c.Secret+"\n")
	if err != nil || p.Name != "vic" || sess == c.Secret {
		t.Fatalf("sign in: %q %+v %v", sess, p, err)
	}
	if got, err := s.Session(ctx, sess); err != nil || got.Name != "vic" {
		t.Errorf("session: %+v, %v", got, err)
	}
	if _, err := s.Session(ctx, c.Secret); !auth.IsUnauthenticated(err) {
		t.Errorf("a token is not a session: got %v", err)
	}
	if !auth.CheckCSRF(sess, auth.CSRFToken(sess)) || auth.CheckCSRF(sess, "") || auth.CheckCSRF(sess, auth.CSRFToken(c.Secret)) {
		t.Error("CSRF token does not bind to its session")
	}
	now = now.Add(2 * time.Hour)
	if _, err := s.Session(ctx, sess); !auth.IsUnauthenticated(err) {
		t.Errorf("expired session: got %v", err)
	}
	sess2, _, err := s.SignIn(ctx, c.Secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SignOut(ctx, sess2, p); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Session(ctx, sess2); !auth.IsUnauthenticated(err) {
		t.Errorf("signed-out session: got %v", err)
	}
}

func TestBootstrapAdmin(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newService(t)
	file := filepath.Join(t.TempDir(), "data", "admin-token")
	secret, created, err := s.BootstrapAdmin(ctx, file)
	if err != nil || !created {
		t.Fatalf("first start: created=%v, %v", created, err)
	}
	fi, err := os.Stat(file)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v, %v; want mode 0600", fi, err)
	}
	if p, err := s.Authenticate(ctx, secret); err != nil || p.Role != auth.Admin {
		t.Fatalf("bootstrapped token: %+v, %v", p, err)
	}
	again, created, err := s.BootstrapAdmin(ctx, file)
	if err != nil || created || again != secret {
		t.Errorf("second start: created=%v, same=%v, %v; want the kept token", created, again == secret, err)
	}
	// A file whose token no longer works (a new database) gets a new one.
	if err := os.WriteFile(file, []byte("air_stale\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fresh, created, err := s.BootstrapAdmin(ctx, file)
	if err != nil || !created || fresh == secret {
		t.Errorf("stale file: created=%v, %v; want a new token", created, err)
	}
}
