package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"hash/fnv"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/jmoiron/sqlx"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/database"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations
var migrations embed.FS

// versionTable is where goose records the applied migrations.
const versionTable = "goose_db_version"

// legacyTable is where AIR recorded them before it used goose.
const legacyTable = "schema_migrations"

// migrate applies every embedded migration the database has not applied,
// in version order, each in its own transaction, with goose: its version
// table, its PostgreSQL session lock (two processes starting at once do
// not both migrate) and out-of-order versions allowed (a migration written
// on one branch with a lower number than another's still runs when both
// land). Each .sql file runs as one goose migration whose statements
// splitStatements cuts, so the files need no goose annotations.
func (s *Store) migrate(ctx context.Context) error {
	dialect := database.DialectSQLite3
	if s.dialect == Postgres {
		dialect = database.DialectPostgres
	}
	versions, err := database.NewStore(dialect, versionTable)
	if err != nil {
		return err
	}
	if err := s.adoptLegacyVersions(ctx, versions); err != nil {
		return fmt.Errorf("adopt %s: %w", legacyTable, err)
	}
	steps, err := embeddedMigrations(string(s.dialect))
	if err != nil {
		return err
	}
	opts := []goose.ProviderOption{
		goose.WithStore(versions),
		goose.WithDisableGlobalRegistry(true),
		goose.WithAllowOutofOrder(true),
		goose.WithGoMigrations(steps...),
		goose.WithLogger(goose.NopLogger()),
	}
	if s.dialect == Postgres {
		// One lock per database and schema, so that deployments (and
		// tests) in schemas of their own do not wait for each other; a
		// second process of one deployment polls for it every second.
		var where string
		if err := s.db.GetContext(ctx, &where, `SELECT current_database() || '.' || current_schema()`); err != nil {
			return err
		}
		id := fnv.New64a()
		id.Write([]byte("air-migrations:" + where))
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(int64(id.Sum64())), lock.WithLockTimeout(1, 600))
		if err != nil {
			return err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider("", s.db.DB, nil, opts...)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("apply migrations: %w", err)
	}
	return nil
}

// embeddedMigrations makes a goose migration of each embedded .sql file of
// a dialect, its version the number its name starts with.
func embeddedMigrations(dialect string) ([]*goose.Migration, error) {
	dir := path.Join("migrations", dialect)
	files, err := fs.ReadDir(migrations, dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	if err := uniqueVersions(files); err != nil {
		return nil, err
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Name() < files[j].Name() })
	out := make([]*goose.Migration, 0, len(files))
	for _, f := range files {
		name := f.Name()
		v, err := strconv.Atoi(strings.SplitN(name, "_", 2)[0])
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must start with a version number above 0", name)
		}
		body, err := migrations.ReadFile(path.Join(dir, name))
		if err != nil {
			return nil, err
		}
		up := &goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error {
			for _, stmt := range splitStatements(string(body)) {
				if _, err := tx.ExecContext(ctx, stmt); err != nil {
					return fmt.Errorf("migration %s: %w\n%s", name, err, stmt)
				}
			}
			return nil
		}}
		out = append(out, goose.NewGoMigration(int64(v), up, nil))
	}
	return out, nil
}

// adoptLegacyVersions copies, once, the versions AIR recorded in
// schema_migrations before it used goose into goose's version table, so
// that a database made by an earlier AIR applies only what it lacks. The
// old table stays, unused.
func (s *Store) adoptLegacyVersions(ctx context.Context, versions database.Store) error {
	if legacy, err := s.tableExists(ctx, s.db, legacyTable); err != nil || !legacy {
		return err
	}
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if s.dialect == Postgres {
		// Two processes starting at once must not both copy.
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(4242)`); err != nil {
			return err
		}
	}
	if done, err := s.tableExists(ctx, tx, versionTable); err != nil || done {
		return err
	}
	var applied []int64
	if err := tx.SelectContext(ctx, &applied, `SELECT version FROM `+legacyTable+` ORDER BY version`); err != nil {
		return err
	}
	if err := versions.CreateVersionTable(ctx, tx); err != nil {
		return err
	}
	// Version 0 is the row goose writes when it makes its table.
	for _, v := range append([]int64{0}, applied...) {
		if err := versions.Insert(ctx, tx, database.InsertRequest{Version: v}); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// tableExists reports whether the store's schema has a table.
func (s *Store) tableExists(ctx context.Context, q sqlx.QueryerContext, name string) (bool, error) {
	query := `SELECT COUNT(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = $1`
	if s.dialect == Postgres {
		query = `SELECT to_regclass($1) IS NOT NULL`
	}
	var ok bool
	err := sqlx.GetContext(ctx, q, &ok, query, name)
	return ok, err
}

// splitStatements splits a migration on semicolons that end a line; the
// migrations hold no semicolons inside literals.
func splitStatements(body string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(body, "\n") {
		if i := strings.Index(line, "--"); i >= 0 {
			line = line[:i]
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(strings.TrimSpace(line), ";") {
			if stmt := strings.TrimSpace(cur.String()); stmt != ";" {
				out = append(out, stmt)
			}
			cur.Reset()
		}
	}
	if stmt := strings.TrimSpace(cur.String()); stmt != "" {
		out = append(out, stmt)
	}
	return out
}

// uniqueVersions refuses two migration files with one version number: the
// runner remembers versions, so the second would be skipped silently (two
// branches that each add "0008_…" would land one of them unapplied).
func uniqueVersions(files []fs.DirEntry) error {
	seen := map[string]string{}
	for _, f := range files {
		v, _, _ := strings.Cut(f.Name(), "_")
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("migration %s: name must start with a version number", f.Name())
		}
		key := strconv.Itoa(n)
		if other, ok := seen[key]; ok {
			return fmt.Errorf("migrations %s and %s share version %d: renumber one", other, f.Name(), n)
		}
		seen[key] = f.Name()
	}
	return nil
}
