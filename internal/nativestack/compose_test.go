package nativestack

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLoadCompose checks that the repository's docker-compose.yml loads,
// and that each way its Temporal set-up could drift from what the native
// stack runs is refused.
func TestLoadCompose(t *testing.T) {
	t.Parallel()
	c, err := LoadCompose("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(c.SchemaScript, "temporal-sql-tool") || c.ServerEnv["DB"] != "postgres12" {
		t.Errorf("schema script %q, server DB %q", c.SchemaScript, c.ServerEnv["DB"])
	}
	const good = `tool() { temporal-sql-tool --plugin "$$DB" --ep "$$POSTGRES_SEEDS" -p "$$DB_PORT" -u "$$POSTGRES_USER" -pw "$$POSTGRES_PWD" "$$@"; }
        tool --db "$$DBNAME" setup-schema -v 0.0
        tool --db "$$VISIBILITY_DBNAME" setup-schema -v 0.0`
	for _, tc := range []struct {
		name, script, serverDB, want string
	}{
		{"as compose has it", good, "temporal", ""},
		{"a literal host", strings.Replace(good, `"$$POSTGRES_SEEDS"`, "postgres", 1), "temporal", "does not read $POSTGRES_SEEDS"},
		{"a host variable", strings.Replace(good, "$$DB_PORT", "$DB_PORT", 1), "temporal", "compose would take from the host"},
		{"a variable unset", good + "\n        echo $$SCHEMA_DIR", "temporal", "does not set"},
		{"a path in the image", good + "\n        ls /etc/temporal/schema", "temporal", "path inside the image"},
		{"the server elsewhere", good, "other", `DBNAME: temporal-schema has "temporal", the temporal server "other"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			yml := `x-db: &db
  DB: postgres12
  DB_PORT: "5432"
  POSTGRES_SEEDS: postgres
  POSTGRES_USER: temporal
  POSTGRES_PWD: temporal
  DBNAME: temporal
  VISIBILITY_DBNAME: temporal_visibility
services:
  temporal-schema:
    environment: *db
    entrypoint: ["/bin/sh", "-ec"]
    command:
      - |
        ` + tc.script + `
  temporal:
    environment:
      <<: *db
      DBNAME: ` + tc.serverDB + `
`
			f := filepath.Join(t.TempDir(), "compose.yml")
			if err := os.WriteFile(f, []byte(yml), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := LoadCompose(f)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("got %v, want no error", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("got %v, want an error saying %q", err, tc.want)
			}
		})
	}
}
