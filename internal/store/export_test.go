package store

import (
	"context"

	"github.com/jmoiron/sqlx"
)

// IntelStagingTablesForTest lists the intel import staging tables that
// exist (PostgreSQL; none on SQLite).
func (s *Store) IntelStagingTablesForTest(ctx context.Context) ([]string, error) {
	if s.dialect != Postgres {
		return nil, nil
	}
	var names []string
	err := s.db.SelectContext(ctx, &names, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_name LIKE 'intel\_staging\_%' ORDER BY table_name`)
	return names, err
}

// DBForTest is the store's connection pool.
func (s *Store) DBForTest() *sqlx.DB { return s.db }

// MaxPreparedForTest is how many statements a connection keeps prepared.
const MaxPreparedForTest = maxPrepared
