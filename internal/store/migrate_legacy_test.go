package store_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/airsoc/air/internal/store"
	"github.com/airsoc/air/internal/store/storetest"
)

// TestLegacyVersionsAreAdopted: a database an earlier AIR migrated records
// its versions in schema_migrations. Opening it copies them into goose's
// table once and applies only what it lacks: re-running a migration that
// creates a table would fail the open.
func TestLegacyVersionsAreAdopted(t *testing.T) {
	dbs := map[string]struct{ driver, dsn string }{
		"sqlite": {"sqlite", filepath.Join(t.TempDir(), "air.db")},
	}
	if url := storetest.SchemaURL(t); url != "" {
		dbs["postgres"] = struct{ driver, dsn string }{"postgres", url}
	}
	for name, db := range dbs {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			reopen := func() {
				t.Helper()
				s, err := store.Open(ctx, db.dsn)
				if err != nil {
					t.Fatalf("open: %v", err)
				}
				s.Close()
			}
			reopen()
			raw, err := sqlx.Open(db.driver, db.dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			applied := func() []int {
				t.Helper()
				var vs []int
				if err := raw.Select(&vs, `SELECT version_id FROM goose_db_version WHERE version_id > 0 ORDER BY version_id`); err != nil {
					t.Fatal(err)
				}
				return vs
			}
			all := applied()
			if len(all) < 20 || !slices.Contains(all, 560) {
				t.Fatalf("a fresh database recorded versions %v", all)
			}
			// Make it look as an earlier AIR left it, version 560 not yet applied.
			for _, q := range []string{`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)`,
				`DROP TABLE goose_db_version`} {
				if _, err := raw.Exec(q); err != nil {
					t.Fatal(err)
				}
			}
			for _, v := range all {
				if v == 560 {
					continue
				}
				if _, err := raw.Exec(raw.Rebind(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, 'before goose')`), v); err != nil {
					t.Fatal(err)
				}
			}
			reopen()
			if got := applied(); !slices.Equal(got, all) {
				t.Errorf("after adopting the legacy versions: %v, want %v", got, all)
			}
			var rows int
			if err := raw.Get(&rows, `SELECT COUNT(*) FROM goose_db_version`); err != nil {
				t.Fatal(err)
			}
			reopen() // nothing left to adopt or apply
			var again int
			if err := raw.Get(&again, `SELECT COUNT(*) FROM goose_db_version`); err != nil || again != rows {
				t.Errorf("a second open changed the version table: %d rows, then %d (%v)", rows, again, err)
			}
		})
	}
}
