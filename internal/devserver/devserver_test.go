package devserver

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

// TestFileStateUsesWriteAheadLog: the embedded server's SQLite file is in
// WAL mode (a pragma kept in the file), so the tuning reaches SQLite under
// the names Temporal's plugin passes on; under the mattn-style names it
// used to carry ("_journal_mode") SQLite ignored it and every commit paid
// a rollback journal and a full fsync. A second start on the same file
// keeps working.
func TestFileStateUsesWriteAheadLog(t *testing.T) {
	file := filepath.Join(t.TempDir(), "temporal.db")
	for start := range 2 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		srv, err := Start(ctx, Config{DatabaseFile: file})
		cancel()
		if err != nil {
			t.Fatalf("start %d: %v", start+1, err)
		}
		if err := srv.Stop(); err != nil {
			t.Fatalf("stop %d: %v", start+1, err)
		}
	}
	db, err := sql.Open("sqlite", file)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var mode string
	if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" {
		t.Errorf("journal_mode %q, want wal", mode)
	}
}
