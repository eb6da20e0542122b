package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/records"
	"github.com/airsoc/air/internal/store"
)

// SecretPrefix starts every token secret, so that secret scanners and
// people recognise one.
const SecretPrefix = "air_"

// DefaultSessionLifetime is how long a page session lasts.
const DefaultSessionLifetime = 12 * time.Hour

// Service creates tokens and sessions and finds the principal behind them.
type Service struct {
	Store *store.Store
	// SessionLifetime is how long a page session lasts; 0 means 12 hours.
	SessionLifetime time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// NewSecret returns a fresh random secret: the prefix and 32 random bytes,
// base64url-encoded.
func NewSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("read random bytes: %w", err)
	}
	return SecretPrefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// Hash is what the store keeps of a secret: hex SHA-256. A secret of 32
// random bytes needs no salt or slow hash to resist guessing.
func Hash(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// CSRFToken derives the anti-forgery token of a page session from the
// session's secret: pages embed it in forms, and a forged cross-site form
// cannot know it.
func CSRFToken(sessionSecret string) string {
	m := hmac.New(sha256.New, []byte(sessionSecret))
	m.Write([]byte("air csrf v1"))
	return hex.EncodeToString(m.Sum(nil))
}

// CheckCSRF compares a submitted anti-forgery token in constant time.
func CheckCSRF(sessionSecret, got string) bool {
	return hmac.Equal([]byte(CSRFToken(sessionSecret)), []byte(got))
}

// NewToken describes a token to create.
type NewToken struct {
	Name   string   // shown in decisions and the audit log; "" means the token's id
	Role   Role     // required
	Groups []string // device groups; empty means every group
}

// Created is a new token and its secret, which is never shown again.
type Created struct {
	Token  *records.Token `json:"token"`
	Secret string         `json:"secret"`
}

// CreateToken makes a token, stores its hash and returns the secret once.
// An admin token cannot be scoped: administration is tenant-wide.
func (s *Service) CreateToken(ctx context.Context, by string, nt NewToken) (*Created, error) {
	role, err := ParseRole(string(nt.Role))
	if err != nil {
		return nil, err
	}
	groups := ParseGroups(nt.Groups)
	if role == Admin && len(groups) > 0 {
		return nil, domain.Invalid("groups", "an admin token cannot be scoped to device groups: administration is tenant-wide")
	}
	name := strings.TrimSpace(nt.Name)
	if err := checkTokenName(name); err != nil {
		return nil, err
	}
	secret, err := NewSecret()
	if err != nil {
		return nil, err
	}
	idb := make([]byte, 6)
	if _, err := rand.Read(idb); err != nil {
		return nil, fmt.Errorf("read random bytes: %w", err)
	}
	id := "tok_" + hex.EncodeToString(idb)
	if name == "" {
		name = id
	}
	t := &records.Token{ID: id, Name: name, Role: string(role), Groups: groups, Hash: Hash(secret),
		CreatedBy: by, CreatedAt: s.now().UTC()}
	if err := s.Store.CreateToken(ctx, t); err != nil {
		return nil, err
	}
	return &Created{Token: t, Secret: secret}, nil
}

// checkTokenName refuses a name that could pass for someone else in the
// audit log and the action center, where a token's name is the actor: one
// of AIR's own actor names (system, system:…), control or format
// characters (a newline forging a log line, a right-to-left override
// disguising a name), or more than 100 bytes. Uniqueness is the store's.
func checkTokenName(name string) error {
	if len(name) > 100 {
		return domain.Invalid("name", "want at most 100 characters, got %d", len(name))
	}
	if l := strings.ToLower(name); l == "system" || strings.HasPrefix(l, "system:") {
		return domain.Invalid("name", "%q is reserved: names starting with system: are AIR's own actors", name)
	}
	for i, r := range name {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == utf8.RuneError {
			return domain.Invalid("name", "contains a control or format character (%U) at byte %d", r, i)
		}
	}
	return nil
}

// errUnauthenticated is what every failed authentication says, whatever
// the reason, so that answers do not tell a guesser which tokens exist.
var errUnauthenticated = errors.New("missing, unknown or revoked token")

// ErrUnauthenticated reports a failed authentication.
func ErrUnauthenticated() error { return errUnauthenticated }

// IsUnauthenticated reports whether err is a failed authentication.
func IsUnauthenticated(err error) bool { return errors.Is(err, errUnauthenticated) }

// Authenticate returns the principal of an API token's secret.
func (s *Service) Authenticate(ctx context.Context, secret string) (*Principal, error) {
	if !strings.HasPrefix(secret, SecretPrefix) || len(secret) > 200 {
		return nil, errUnauthenticated
	}
	t, err := s.Store.TokenByHash(ctx, Hash(secret))
	if domain.KindOf(err) == domain.KindNotFound {
		return nil, errUnauthenticated
	}
	if err != nil {
		return nil, err
	}
	if !t.Active() {
		return nil, errUnauthenticated
	}
	if err := s.Store.TouchToken(ctx, t.ID, s.now()); err != nil {
		return nil, err
	}
	return principalOf(t), nil
}

func principalOf(t *records.Token) *Principal {
	return &Principal{Name: t.Name, Role: Role(t.Role), Groups: []string(t.Groups), TokenID: t.ID}
}

// SignIn checks an API token's secret and opens a page session for it,
// returning the session's secret (for the cookie) and the principal.
func (s *Service) SignIn(ctx context.Context, tokenSecret string) (string, *Principal, error) {
	p, err := s.Authenticate(ctx, strings.TrimSpace(tokenSecret))
	if err != nil {
		return "", nil, err
	}
	t, err := s.Store.GetToken(ctx, p.TokenID)
	if err != nil {
		return "", nil, err
	}
	sess, err := NewSecret()
	if err != nil {
		return "", nil, err
	}
	life := s.SessionLifetime
	if life <= 0 {
		life = DefaultSessionLifetime
	}
	now := s.now()
	if err := s.Store.CreateSession(ctx, Hash(sess), t, now, now.Add(life)); err != nil {
		return "", nil, err
	}
	return sess, p, nil
}

// Session returns the principal of a page session's secret.
func (s *Service) Session(ctx context.Context, sessionSecret string) (*Principal, error) {
	if !strings.HasPrefix(sessionSecret, SecretPrefix) || len(sessionSecret) > 200 {
		return nil, errUnauthenticated
	}
	t, err := s.Store.SessionToken(ctx, Hash(sessionSecret), s.now())
	if domain.KindOf(err) == domain.KindNotFound {
		return nil, errUnauthenticated
	}
	if err != nil {
		return nil, err
	}
	return principalOf(t), nil
}

// SignOut ends a page session.
func (s *Service) SignOut(ctx context.Context, sessionSecret string, p *Principal) error {
	return s.Store.DeleteSession(ctx, Hash(sessionSecret), p.Name, s.now())
}

// BootstrapAdmin keeps a working admin token in file (mode 0600) for a
// fresh installation: when the file holds the secret of an active admin
// token it is kept; otherwise a token named "admin" is created and written
// there. created reports whether it made one, so that the caller shows the
// secret once.
func (s *Service) BootstrapAdmin(ctx context.Context, file string) (secret string, created bool, err error) {
	data, err := os.ReadFile(file)
	switch {
	case err == nil:
		if p, err := s.Authenticate(ctx, strings.TrimSpace(string(data))); err == nil && p.Role == Admin {
			return strings.TrimSpace(string(data)), false, nil
		} else if err != nil && !IsUnauthenticated(err) {
			return "", false, err
		}
	case !errors.Is(err, fs.ErrNotExist):
		return "", false, fmt.Errorf("read admin token file: %w", err)
	}
	c, err := s.CreateToken(ctx, "system:bootstrap", NewToken{Name: "admin", Role: Admin})
	if domain.KindOf(err) == domain.KindConflict {
		// The file was lost or its token revoked: names are unique, so the
		// new admin token gets a dated one.
		c, err = s.CreateToken(ctx, "system:bootstrap", NewToken{Name: "admin-" + s.now().UTC().Format("20060102-150405"), Role: Admin})
	}
	if err != nil {
		return "", false, err
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return "", false, fmt.Errorf("create directory for the admin token: %w", err)
	}
	// Write to a temporary file and rename, so that a reader never sees a
	// half-written token and the mode is 0600 from the start.
	tmp := file + ".tmp"
	_ = os.Remove(tmp) // a leftover could carry looser permissions
	if err := os.WriteFile(tmp, []byte(c.Secret+"\n"), 0o600); err != nil {
		return "", false, fmt.Errorf("write admin token file: %w", err)
	}
	if err := os.Rename(tmp, file); err != nil {
		return "", false, fmt.Errorf("write admin token file: %w", err)
	}
	return c.Secret, true, nil
}
