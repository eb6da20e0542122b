package store

import "context"

// ExecForTest runs a statement directly, for tests that check what the
// database itself refuses.
func (s *Store) ExecForTest(ctx context.Context, stmt string) error {
	_, err := s.db.ExecContext(ctx, stmt)
	return err
}
