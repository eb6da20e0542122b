package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/lib/pq"
	"modernc.org/sqlite"

	"github.com/airsoc/air/internal/domain"
)

// Text the database cannot hold. PostgreSQL refuses a NUL character in
// text ("invalid byte sequence for encoding UTF8: 0x00") and bytes that
// are not UTF-8, and its jsonb refuses the JSON escape \u0000 — which the
// store's JSON columns meet in their ::jsonb indexes. Before this guard,
// one such string failed the whole statement (and with it a batch of valid
// alerts) as an internal error. The callers that know the field (decode,
// api) refuse such input first and name it; the guard is the backstop that
// turns whatever slips past into an invalid-input error on both databases,
// so SQLite, which would store it, behaves as PostgreSQL does.

// CheckText returns an invalid-input error naming field when s cannot be
// stored: it holds a NUL, bytes that are not UTF-8, or the JSON escape
// \u0000 (which only a JSON text should hold, and jsonb refuses).
func CheckText(field, s string) error {
	switch {
	case strings.IndexByte(s, 0) >= 0:
		return domain.Invalid(field, "contains a NUL character (\\u0000), which AIR does not store")
	case !utf8.ValidString(s):
		return domain.Invalid(field, "is not valid UTF-8")
	case hasNULEscape(s):
		return domain.Invalid(field, "contains the JSON escape \\u0000 (a NUL character), which AIR does not store")
	}
	return nil
}

// hasNULEscape reports whether s holds \u0000 as a JSON escape: preceded by
// an odd number of backslashes (`\\u0000` is a backslash and text).
func hasNULEscape(s string) bool {
	for i := 0; ; {
		j := strings.Index(s[i:], `\u0000`)
		if j < 0 {
			return false
		}
		j += i
		n := 0
		for k := j - 1; k >= 0 && s[k] == '\\'; k-- {
			n++
		}
		if n%2 == 0 {
			return true
		}
		i = j + 1
	}
}

// checkArg checks one statement argument: strings (and named string
// types), byte slices, and what a driver.Valuer (pq.Array, JSON columns)
// turns into.
func checkArg(v any) error {
	if vr, ok := v.(driver.Valuer); ok {
		if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer && rv.IsNil() {
			return nil
		}
		out, err := vr.Value()
		if err != nil {
			return nil // the driver reports it
		}
		v = out
	}
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		return CheckText("", x)
	case []byte:
		return CheckText("", string(x))
	}
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.String {
		return CheckText("", rv.String())
	}
	return nil
}

// guardedDriver opens connections that check every argument with checkArg
// before the driver sees it.
type guardedDriver struct{ driver.Driver }

func (d guardedDriver) Open(name string) (driver.Conn, error) {
	c, err := d.Driver.Open(name)
	if err != nil {
		return nil, err
	}
	return guardedConn{c}, nil
}

// guardedConnector is guardedDriver for drivers opened by connector (pq).
type guardedConnector struct{ driver.Connector }

func (c guardedConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return guardedConn{conn}, nil
}

// guardedConn forwards everything to the driver's connection, adding the
// argument check. database/sql asks a connection (not a statement) for its
// NamedValueChecker whenever a statement has none, which covers Exec and
// Query on the connection and pq's COPY statements.
type guardedConn struct{ driver.Conn }

var (
	_ driver.NamedValueChecker  = guardedConn{}
	_ driver.ConnBeginTx        = guardedConn{}
	_ driver.ConnPrepareContext = guardedConn{}
	_ driver.ExecerContext      = guardedConn{}
	_ driver.QueryerContext     = guardedConn{}
	_ driver.Pinger             = guardedConn{}
	_ driver.SessionResetter    = guardedConn{}
	_ driver.Validator          = guardedConn{}
)

func (c guardedConn) CheckNamedValue(nv *driver.NamedValue) error {
	if err := checkArg(nv.Value); err != nil {
		return err
	}
	if nvc, ok := c.Conn.(driver.NamedValueChecker); ok {
		return nvc.CheckNamedValue(nv)
	}
	return driver.ErrSkip
}

func (c guardedConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if b, ok := c.Conn.(driver.ConnBeginTx); ok {
		return b.BeginTx(ctx, opts)
	}
	if opts.Isolation != 0 || opts.ReadOnly {
		return nil, errors.New("store: driver cannot set transaction options")
	}
	return c.Conn.Begin() //nolint:staticcheck // fallback for drivers without BeginTx
}

func (c guardedConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	if p, ok := c.Conn.(driver.ConnPrepareContext); ok {
		return p.PrepareContext(ctx, query)
	}
	return c.Conn.Prepare(query)
}

func (c guardedConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if e, ok := c.Conn.(driver.ExecerContext); ok {
		return e.ExecContext(ctx, query, args)
	}
	return nil, driver.ErrSkip
}

func (c guardedConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if q, ok := c.Conn.(driver.QueryerContext); ok {
		return q.QueryContext(ctx, query, args)
	}
	return nil, driver.ErrSkip
}

func (c guardedConn) Ping(ctx context.Context) error {
	if p, ok := c.Conn.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

func (c guardedConn) ResetSession(ctx context.Context) error {
	if r, ok := c.Conn.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (c guardedConn) IsValid() bool {
	if v, ok := c.Conn.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

// pqConnector and sqliteDriver are the two drivers, guarded.
func pqConnector(dsn string) (driver.Connector, error) {
	dsn, prepare, err := pqURL(dsn)
	if err != nil {
		return nil, err
	}
	c, err := pq.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	if !prepare {
		return guardedConnector{c}, nil
	}
	return guardedConnector{preparingConnector{c}}, nil
}

var sqliteDriver = guardedDriver{&sqlite.Driver{}}

// dsnConnector opens a driver.Driver by name, as sql.Open would.
type dsnConnector struct {
	dsn string
	d   driver.Driver
}

func (c dsnConnector) Connect(context.Context) (driver.Conn, error) { return c.d.Open(c.dsn) }
func (c dsnConnector) Driver() driver.Driver                        { return c.d }

// pqURL is the database URL as lib/pq gets it, and whether its
// connections keep statements prepared (preparedConn).
//
// It turns lib/pq's binary_parameters on unless the URL says otherwise: a
// query then travels with its parameters in one round trip instead of two
// (prepare, then execute). An investigation's store work is some fifty
// short statements, so the round trips are much of what it costs
// PostgreSQL and the worker (docs/deployment.md).
//
// It reads and removes prepared_statements (AIR's parameter, not
// PostgreSQL's): on, the default, or off for a connection pooler that
// shares server connections between clients per transaction and so loses
// named statements (PgBouncer in transaction mode before 1.21, or without
// max_prepared_statements).
func pqURL(dsn string) (string, bool, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return dsn, true, nil // pq.NewConnector says what is wrong with it
	}
	q := u.Query()
	if !q.Has("binary_parameters") {
		q.Set("binary_parameters", "yes")
	}
	prepare := true
	if q.Has("prepared_statements") {
		switch v := q.Get("prepared_statements"); v {
		case "on":
		case "off":
			prepare = false
		default:
			return "", false, fmt.Errorf("database URL: prepared_statements=%q: want on or off", v)
		}
		q.Del("prepared_statements")
	}
	u.RawQuery = q.Encode()
	return u.String(), prepare, nil
}
