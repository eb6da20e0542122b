package store

import (
	"context"
	"time"
)

// ExecArgsForTest runs a statement with arguments, times written as the
// store writes them: for tests that pin what the store stamps with the
// wall clock (an incident's creation and milestones).
func (s *Store) ExecArgsForTest(ctx context.Context, stmt string, args ...any) error {
	for i, a := range args {
		switch t := a.(type) {
		case time.Time:
			args[i] = utc(t)
		case *time.Time:
			if t != nil {
				args[i] = utc(*t)
			}
		}
	}
	_, err := s.db.ExecContext(ctx, s.db.Rebind(stmt), args...)
	return err
}
