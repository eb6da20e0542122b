package msgauth

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type msg struct {
	By   string `json:"by"`
	Role string `json:"role"`
}

// TestRotation: a ring signs with its first key and verifies with any, so
// a new key put first keeps old stamps valid until the old key is dropped.
func TestRotation(t *testing.T) {
	oldKey, newKey := strings.Repeat("a", 64), strings.Repeat("b", 64)
	before, err := Parse(oldKey)
	if err != nil {
		t.Fatal(err)
	}
	during, err := Parse("# rotated 2026-12\n" + newKey + "\n" + oldKey + "\n")
	if err != nil {
		t.Fatal(err)
	}
	after, err := Parse(newKey)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	m := msg{By: "ana", Role: "responder"}
	st, err := before.Sign("decide", "incident-1", at, m)
	if err != nil {
		t.Fatal(err)
	}
	if err := during.Verify("decide", "incident-1", m, st, at, time.Minute); err != nil {
		t.Errorf("old stamp during rotation: %v", err)
	}
	if err := after.Verify("decide", "incident-1", m, st, at, time.Minute); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("old stamp after rotation: %v, want refused", err)
	}
	st2, _ := during.Sign("decide", "incident-1", at, m)
	if err := after.Verify("decide", "incident-1", m, st2, at, time.Minute); err != nil {
		t.Errorf("new stamp after rotation: %v", err)
	}
	if err := during.Verify("decide", "incident-1", m, st2, at.Add(2*time.Minute), time.Minute); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("stale stamp: %v, want refused", err)
	}
}

// TestLoad: -dev makes a key file on first start (0600) and reads the same
// key back; production reads only; short keys are refused.
func TestLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "message-key")
	if _, err := Load(path, false); err == nil {
		t.Error("a missing key file without create was accepted")
	}
	k1, err := Load(path, true)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, mode %v", err, fi.Mode())
	}
	k2, err := Load(path, false)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now()
	st, _ := k1.Sign("undo", "incident-2", at, msg{By: "bo"})
	if err := k2.Verify("undo", "incident-2", msg{By: "bo"}, st, at, time.Minute); err != nil {
		t.Errorf("reloaded key does not verify: %v", err)
	}
	if _, err := Parse("tooshort"); err == nil || !strings.Contains(err.Error(), "at least 32") {
		t.Errorf("short key: %v", err)
	}
}
