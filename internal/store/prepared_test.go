package store_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/airsoc/air/internal/store"
	"github.com/airsoc/air/internal/store/storetest"
)

// TestPreparedStatements: on PostgreSQL a connection prepares a statement
// the second time it runs it and runs it by name from then on; a table
// changed under a prepared statement is read again (outside a transaction
// at once, inside one from the next use on); and a connection keeps no
// more than its bound of statements prepared.
func TestPreparedStatements(t *testing.T) {
	ctx := context.Background()
	s, err := store.Open(ctx, storetest.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	conn, err := s.DBForTest().Connx(ctx) // one connection: statements are prepared per connection
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	prepared := func() []string {
		t.Helper()
		var out []string
		if err := conn.SelectContext(ctx, &out, `SELECT statement FROM pg_prepared_statements`); err != nil {
			t.Fatal(err)
		}
		return out
	}

	q := `SELECT count(*) FROM incidents WHERE id > $1`
	for i, want := range []bool{false, true, true} {
		var n int
		if err := conn.GetContext(ctx, &n, q, 0); err != nil {
			t.Fatal(err)
		}
		if got := slices.Contains(prepared(), q); got != want {
			t.Fatalf("after run %d: prepared %v, want %v", i+1, got, want)
		}
	}

	// A column added under a prepared SELECT *.
	if _, err := conn.ExecContext(ctx, `CREATE TABLE prep (id int); INSERT INTO prep VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	sel := `SELECT * FROM prep WHERE id = $1`
	columns := func(ex sqlx.QueryerContext) (int, error) {
		rows, err := ex.QueryxContext(ctx, sel, 1)
		if err != nil {
			return 0, err
		}
		defer rows.Close()
		cols, err := rows.Columns()
		return len(cols), err
	}
	for range 2 {
		if _, err := columns(conn); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Contains(prepared(), sel) {
		t.Fatalf("%q not prepared after two runs", sel)
	}
	addColumn := func(name string) {
		t.Helper()
		if _, err := s.DBForTest().ExecContext(ctx, `ALTER TABLE prep ADD COLUMN `+name+` text DEFAULT 'x'`); err != nil {
			t.Fatal(err)
		}
	}
	addColumn("a")
	if n, err := columns(conn); err != nil || n != 2 {
		t.Fatalf("after a column was added, outside a transaction: %d columns, %v; want 2", n, err)
	}
	for range 2 {
		if _, err := columns(conn); err != nil {
			t.Fatal(err)
		}
	}
	addColumn("b")
	tx, err := conn.BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := columns(tx); err == nil {
		t.Error("inside a transaction, a statement whose table changed ran: the transaction should have failed")
	}
	tx.Rollback()
	if n, err := columns(conn); err != nil || n != 3 {
		t.Fatalf("after the failed transaction: %d columns, %v; want 3", n, err)
	}

	// The bound.
	for i := range store.MaxPreparedForTest + 50 {
		for range 2 {
			var n int
			if err := conn.GetContext(ctx, &n, fmt.Sprintf(`SELECT $1::int + %d`, i), 1); err != nil || n != 1+i {
				t.Fatalf("query %d: %d, %v", i, n, err)
			}
		}
	}
	if n := len(prepared()); n > store.MaxPreparedForTest {
		t.Errorf("%d statements prepared on one connection, want at most %d", n, store.MaxPreparedForTest)
	}
}

// TestPreparedStatementsOff: prepared_statements=off in the URL (for a
// pooler that loses named statements) keeps every statement unnamed, and
// the parameter never reaches PostgreSQL; another value is refused.
func TestPreparedStatementsOff(t *testing.T) {
	ctx := context.Background()
	dsn := storetest.PostgresURL(t)
	s, err := store.Open(ctx, dsn+"&prepared_statements=off")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	conn, err := s.DBForTest().Connx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	q := `SELECT count(*) FROM incidents WHERE id > $1`
	for range 3 {
		var n int
		if err := conn.GetContext(ctx, &n, q, 0); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	if err := conn.SelectContext(ctx, &names, `SELECT statement FROM pg_prepared_statements`); err != nil || len(names) != 0 {
		t.Errorf("prepared with prepared_statements=off: %v, %v", names, err)
	}
	if _, err := store.Open(ctx, dsn+"&prepared_statements=maybe"); err == nil || !strings.Contains(err.Error(), `prepared_statements="maybe": want on or off`) {
		t.Errorf("prepared_statements=maybe: %v, want refused", err)
	}
}
