// Package msgauth authenticates the messages AIR sends to its incident
// workflows: the decide, undo and request Updates and the incident-changed
// signal, each of which carries a person's act (who, with which role).
//
// Anyone who can reach Temporal's frontend can send an Update or a signal;
// the workflow must not take their word for who they are. AIR's processes
// (API, pages and worker) share a secret key that nothing else holds; the
// engine stamps every message with an HMAC-SHA256 over the message kind,
// the workflow id, the time and the message's JSON (actor and role
// included), and the workflow checks the stamp before it accepts the
// message. See docs/security.md.
//
// A Keyring signs with its first key and verifies with any of them, so a
// key can be rotated without refusing signals recorded under the previous
// one when a history replays.
package msgauth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Stamp is the authentication a message carries.
type Stamp struct {
	// At is when the message was signed; it is part of the MAC.
	At time.Time `json:"at"`
	// MAC is the hex HMAC-SHA256 of the message (see Keyring.Sign).
	MAC string `json:"mac"`
}

// MinKeyBytes is the shortest key accepted.
const MinKeyBytes = 32

// Keyring holds the shared keys: the first signs, all verify.
type Keyring struct {
	keys [][]byte
}

// New returns a keyring of the given keys, the first signing; each must
// have at least MinKeyBytes bytes.
func New(keys ...[]byte) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, errors.New("message key: none given")
	}
	k := &Keyring{}
	for i, key := range keys {
		if len(key) < MinKeyBytes {
			return nil, fmt.Errorf("message key %d: %d bytes, want at least %d", i+1, len(key), MinKeyBytes)
		}
		k.keys = append(k.keys, append([]byte(nil), key...))
	}
	return k, nil
}

// Parse reads keys from text: one key a line (blank lines and # comments
// skipped), each hex or base64 encoded or, failing both, taken as bytes.
func Parse(text string) (*Keyring, error) {
	var keys [][]byte
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		keys = append(keys, decodeKey(line))
	}
	return New(keys...)
}

func decodeKey(s string) []byte {
	if b, err := hex.DecodeString(s); err == nil {
		return b
	}
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return b
	}
	return []byte(s)
}

// Load reads a keyring from a file (see Parse). With create set, a missing
// file is made with a fresh random key, mode 0600.
func Load(path string, create bool) (*Keyring, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && create {
		key := make([]byte, MinKeyBytes)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("message key file %s: %w", path, err)
		}
		text := hex.EncodeToString(key) + "\n"
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			return nil, fmt.Errorf("message key file %s: %w", path, err)
		}
		return New(key)
	}
	if err != nil {
		return nil, fmt.Errorf("message key file %s: %w", path, err)
	}
	k, err := Parse(string(b))
	if err != nil {
		return nil, fmt.Errorf("message key file %s: %w", path, err)
	}
	return k, nil
}

// Sign stamps a message of the given kind (an Update or signal name) to
// the workflow: body is the message with its stamp field zero.
func (k *Keyring) Sign(kind, workflowID string, at time.Time, body any) (Stamp, error) {
	mac, err := k.mac(k.keys[0], kind, workflowID, at, body)
	if err != nil {
		return Stamp{}, err
	}
	return Stamp{At: at.UTC(), MAC: hex.EncodeToString(mac)}, nil
}

// ErrUnauthenticated is the error Verify wraps.
var ErrUnauthenticated = errors.New("unauthenticated message")

// Verify checks the stamp of a message of the given kind to the workflow
// (body with its stamp field zero). With maxAge positive, a stamp more than
// maxAge away from now is refused too (a message replayed later).
func (k *Keyring) Verify(kind, workflowID string, body any, st Stamp, now time.Time, maxAge time.Duration) error {
	if st.MAC == "" || st.At.IsZero() {
		return fmt.Errorf("%w: %s carries no authentication", ErrUnauthenticated, kind)
	}
	got, err := hex.DecodeString(st.MAC)
	if err != nil {
		return fmt.Errorf("%w: %s: malformed mac", ErrUnauthenticated, kind)
	}
	for _, key := range k.keys {
		want, err := k.mac(key, kind, workflowID, st.At, body)
		if err != nil {
			return err
		}
		if hmac.Equal(got, want) {
			if maxAge > 0 && (now.Sub(st.At) > maxAge || st.At.Sub(now) > maxAge) {
				return fmt.Errorf("%w: %s signed at %s, more than %s from now", ErrUnauthenticated, kind, st.At.Format(time.RFC3339), maxAge)
			}
			return nil
		}
	}
	return fmt.Errorf("%w: %s: the mac does not match (forged, altered, or another key)", ErrUnauthenticated, kind)
}

func (k *Keyring) mac(key []byte, kind, workflowID string, at time.Time, body any) ([]byte, error) {
	js, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("sign %s: %w", kind, err)
	}
	h := hmac.New(sha256.New, key)
	// Length-prefixed fields: no two messages share an encoding.
	for _, part := range [][]byte{[]byte("air-msg-v1"), []byte(kind), []byte(workflowID), []byte(at.UTC().Format(time.RFC3339Nano)), js} {
		fmt.Fprintf(h, "%d:", len(part))
		h.Write(part)
	}
	return h.Sum(nil), nil
}
