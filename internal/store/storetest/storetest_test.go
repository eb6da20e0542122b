package storetest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/airsoc/air/internal/store"
)

// TestOrphanLinksAreCounted: the check every PostgreSQL test runs at its
// end sees a link whose alert and entity were never written, and none in a
// schema without tables.
func TestOrphanLinksAreCounted(t *testing.T) {
	base := PostgresURL(t) // skips (fails under CI) without PostgreSQL
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := sqlx.Open("postgres", base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	schema := fmt.Sprintf("orphans_%d_%d", time.Now().UnixNano(), rand.IntN(1e6))
	if _, err := admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
		t.Fatal(err)
	}
	defer admin.Exec(`DROP SCHEMA ` + schema + ` CASCADE`)
	if n, err := orphanLinks(admin, schema); err != nil || n != 0 {
		t.Fatalf("empty schema: %d orphans, %v", n, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	s, err := store.Open(context.Background(), u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n, err := orphanLinks(admin, schema); err != nil || n != 0 {
		t.Fatalf("migrated schema: %d orphans, %v", n, err)
	}
	if _, err := admin.Exec(`INSERT INTO ` + schema + `.alert_entities (alert_id, entity_key, verdict) VALUES ('gone', 'device:gone', 'unknown')`); err != nil {
		t.Fatal(err)
	}
	if n, err := orphanLinks(admin, schema); err != nil || n != 1 {
		t.Fatalf("one orphan link: counted %d, %v", n, err)
	}
}
