package store

import (
	"io/fs"
	"path"
	"strings"
	"testing"
	"testing/fstest"
)

func TestUniqueVersionsRefusesASharedNumber(t *testing.T) {
	dup := fstest.MapFS{"0008_alerts.sql": {}, "0008_limits.sql": {}, "0009_x.sql": {}}
	entries, err := fs.ReadDir(dup, ".")
	if err != nil {
		t.Fatal(err)
	}
	err = uniqueVersions(entries)
	if err == nil || !strings.Contains(err.Error(), "share version 8") {
		t.Fatalf("uniqueVersions(%v) = %v, want a shared-version error", dup, err)
	}
	// The embedded migrations themselves must pass.
	for _, d := range []Dialect{Postgres, SQLite} {
		files, err := fs.ReadDir(migrations, path.Join("migrations", string(d)))
		if err != nil {
			t.Fatal(err)
		}
		if err := uniqueVersions(files); err != nil {
			t.Errorf("%s: %v", d, err)
		}
	}
}
