package store

import (
	"container/list"
	"context"
	"database/sql/driver"
	"errors"

	"github.com/lib/pq"
)

// PostgreSQL parses and plans every statement that arrives unnamed, as
// lib/pq sends a query with parameters; for AIR's short statements that
// costs more than running them (measured with pgbench on AIR's schema: a
// two-read transaction 0.32–0.37 ms unnamed, 0.23–0.24 ms prepared; the
// investigation-state statement 0.55–0.65 ms against 0.42). preparedConn keeps the
// statements a connection runs again and again prepared, as pgx's statement
// cache does: the first time a text is seen it runs unnamed as before, the
// second time it is prepared (one round trip more, once per connection), and
// from then on it runs by name — still one round trip, without the parse
// and plan. Texts run once (an IN list of a size not seen again) are never
// prepared; a connection keeps at most maxPrepared statements, closing the
// least recently used.

// maxPrepared bounds the statements one connection keeps prepared, and
// maxSeen the texts it remembers having run once.
const (
	maxPrepared = 256
	maxSeen     = 1024
)

// preparedConn wraps a lib/pq connection. database/sql uses a connection
// from one goroutine at a time, so it needs no lock.
type preparedConn struct {
	driver.Conn
	stmts map[string]*list.Element // of *preparedStmt, most recent first in lru
	lru   *list.List
	seen  map[string]bool
	inTx  bool
}

type preparedStmt struct {
	query string
	stmt  driver.Stmt
}

func newPreparedConn(c driver.Conn) *preparedConn {
	return &preparedConn{Conn: c, stmts: map[string]*list.Element{}, lru: list.New(), seen: map[string]bool{}}
}

var (
	_ driver.NamedValueChecker  = (*preparedConn)(nil)
	_ driver.ConnBeginTx        = (*preparedConn)(nil)
	_ driver.ConnPrepareContext = (*preparedConn)(nil)
	_ driver.ExecerContext      = (*preparedConn)(nil)
	_ driver.QueryerContext     = (*preparedConn)(nil)
	_ driver.Pinger             = (*preparedConn)(nil)
	_ driver.SessionResetter    = (*preparedConn)(nil)
	_ driver.Validator          = (*preparedConn)(nil)
)

// stmt returns the prepared statement for query, preparing it on its second
// use; nil means run it unnamed.
func (c *preparedConn) stmt(ctx context.Context, query string, args []driver.NamedValue) (driver.Stmt, error) {
	if len(args) == 0 {
		return nil, nil // lib/pq's simple query: it may hold several statements
	}
	if e, ok := c.stmts[query]; ok {
		c.lru.MoveToFront(e)
		return e.Value.(*preparedStmt).stmt, nil
	}
	if !c.seen[query] {
		if len(c.seen) >= maxSeen {
			clear(c.seen)
		}
		c.seen[query] = true
		return nil, nil
	}
	delete(c.seen, query)
	st, err := c.Conn.(driver.ConnPrepareContext).PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.stmts[query] = c.lru.PushFront(&preparedStmt{query, st})
	if c.lru.Len() > maxPrepared {
		old := c.lru.Remove(c.lru.Back()).(*preparedStmt)
		delete(c.stmts, old.query)
		if err := old.stmt.Close(); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// forget drops query's statement after it failed because the table under
// it changed (a migration by a newer process): the next use prepares it
// again.
func (c *preparedConn) forget(query string) {
	if e, ok := c.stmts[query]; ok {
		c.lru.Remove(e)
		delete(c.stmts, query)
		_ = e.Value.(*preparedStmt).stmt.Close()
	}
}

// replanned reports whether err says a prepared statement's result type
// changed under it; outside a transaction the statement runs again
// unnamed, inside one the transaction has failed and the error stands.
func replanned(err error) bool {
	var pe *pq.Error
	return errors.As(err, &pe) && pe.Code == "0A000" // feature_not_supported: "cached plan must not change result type"
}

func (c *preparedConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	return run(ctx, c, query, args,
		func(st driver.Stmt) (driver.Result, error) { return st.(driver.StmtExecContext).ExecContext(ctx, args) },
		func() (driver.Result, error) { return c.Conn.(driver.ExecerContext).ExecContext(ctx, query, args) })
}

func (c *preparedConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	return run(ctx, c, query, args,
		func(st driver.Stmt) (driver.Rows, error) { return st.(driver.StmtQueryContext).QueryContext(ctx, args) },
		func() (driver.Rows, error) { return c.Conn.(driver.QueryerContext).QueryContext(ctx, query, args) })
}

// run runs query by its prepared statement when the connection keeps one,
// else unnamed.
func run[T any](ctx context.Context, c *preparedConn, query string, args []driver.NamedValue,
	prepared func(driver.Stmt) (T, error), unnamed func() (T, error)) (T, error) {
	st, err := c.stmt(ctx, query, args)
	if err != nil {
		var zero T
		return zero, err
	}
	if st != nil {
		out, err := prepared(st)
		if err == nil || !replanned(err) {
			return out, err
		}
		c.forget(query)
		if c.inTx {
			return out, err
		}
	}
	return unnamed()
}

func (c *preparedConn) CheckNamedValue(nv *driver.NamedValue) error {
	return c.Conn.(driver.NamedValueChecker).CheckNamedValue(nv)
}

func (c *preparedConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	tx, err := c.Conn.(driver.ConnBeginTx).BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	c.inTx = true
	return preparedTx{tx, c}, nil
}

// preparedTx tells its connection when the transaction ends.
type preparedTx struct {
	driver.Tx
	c *preparedConn
}

func (t preparedTx) Commit() error {
	t.c.inTx = false
	return t.Tx.Commit()
}

func (t preparedTx) Rollback() error {
	t.c.inTx = false
	return t.Tx.Rollback()
}

func (c *preparedConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.Conn.(driver.ConnPrepareContext).PrepareContext(ctx, query)
}

func (c *preparedConn) Ping(ctx context.Context) error {
	return c.Conn.(driver.Pinger).Ping(ctx)
}

func (c *preparedConn) ResetSession(ctx context.Context) error {
	return c.Conn.(driver.SessionResetter).ResetSession(ctx)
}

func (c *preparedConn) IsValid() bool {
	return c.Conn.(driver.Validator).IsValid()
}

// preparingConnector opens preparedConns.
type preparingConnector struct{ driver.Connector }

func (c preparingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return newPreparedConn(conn), nil
}
