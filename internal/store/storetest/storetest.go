// Package storetest opens stores for tests of the packages above the store:
// a fresh SQLite file, and a fresh PostgreSQL schema when TEST_DATABASE_URL
// is set, so that their tests run on both databases as the store's own do.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/airsoc/air/internal/store"
)

// Store is the store these helpers open. The tests of internal/cli and
// internal/web, which seed a real store and read it back, name it here:
// they reach the store through this package alone, and their own imports
// hold to the rule that commands and pages never import internal/store
// (internal/records' TestCommandsAndPagesDoNotImportTheStore).
type Store = store.Store

// Each runs fn as a parallel subtest on a fresh SQLite store ("sqlite") and
// a fresh PostgreSQL schema ("postgres"), which is skipped when
// TEST_DATABASE_URL is unset (and fails under CI).
func Each(t *testing.T, fn func(t *testing.T, s *store.Store)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		fn(t, SQLite(t))
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		fn(t, open(t, PostgresURL(t)))
	})
}

// EachPair is Each with two stores over one database, as two processes
// hold them: one SQLite file opened twice ("sqlite"), and one PostgreSQL
// schema opened twice, each with its own pool ("postgres").
func EachPair(t *testing.T, fn func(t *testing.T, a, b *store.Store)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		file := filepath.Join(t.TempDir(), "air.db")
		a := open(t, file)
		fn(t, a, open(t, file))
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		dsn := PostgresURL(t)
		a := open(t, dsn)
		fn(t, a, open(t, dsn))
	})
}

// SQLite opens a store in a fresh file, closed at the end.
func SQLite(t testing.TB) *store.Store {
	t.Helper()
	return open(t, filepath.Join(t.TempDir(), "air.db"))
}

// Postgres opens a store in a schema of its own, dropped at the end, or
// returns nil when TEST_DATABASE_URL is unset.
func Postgres(t testing.TB) *store.Store {
	t.Helper()
	dsn := SchemaURL(t)
	if dsn == "" {
		return nil
	}
	return open(t, dsn)
}

// open opens the store at dsn, closed when the test ends.
func open(t testing.TB, dsn string) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatalf("open %s: %v", dsn, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// PostgresURL is SchemaURL for a test that needs PostgreSQL: without
// TEST_DATABASE_URL it skips the test, and fails it under CI, where a
// skipped path would pass unseen.
func PostgresURL(t testing.TB) string {
	t.Helper()
	dsn := SchemaURL(t)
	if dsn == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("TEST_DATABASE_URL is not set under CI")
		}
		t.Skip("TEST_DATABASE_URL not set: PostgreSQL tests skipped")
	}
	return dsn
}

// SchemaURL makes a fresh PostgreSQL schema, dropped at the end, and
// returns TEST_DATABASE_URL pointed at it (for tests that open several
// stores on one schema); "" when TEST_DATABASE_URL is unset.
func SchemaURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv("TEST_DATABASE_URL")
	if base == "" {
		return ""
	}
	schema := fmt.Sprintf("t_%d_%d", time.Now().UnixNano(), rand.IntN(1e6))
	admin, err := sqlx.Open("postgres", base)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		if n, err := orphanLinks(admin, schema); err != nil || n > 0 {
			t.Errorf("check alert-entity links: %d rows lack their alert or entity (%v)", n, err)
		}
		admin.Exec(`DROP SCHEMA ` + schema + ` CASCADE`)
		admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// orphanLinks counts the alert-entity links of a schema whose alert or
// entity does not exist: PostgreSQL no longer checks them with foreign keys
// (migration 0560), so every PostgreSQL test checks them when it ends. A
// schema without the tables (a test that never migrated) counts none.
func orphanLinks(db *sqlx.DB, schema string) (int, error) {
	var n int
	err := db.Get(&n, `SELECT count(*) FROM `+schema+`.alert_entities ae
		WHERE NOT EXISTS (SELECT 1 FROM `+schema+`.alerts a WHERE a.id = ae.alert_id)
		OR NOT EXISTS (SELECT 1 FROM `+schema+`.entities e WHERE e.key = ae.entity_key)`)
	var pe *pq.Error
	if errors.As(err, &pe) && pe.Code == "42P01" { // undefined_table
		return 0, nil
	}
	return n, err
}
