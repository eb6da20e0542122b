// Package store keeps AIR's state in PostgreSQL or SQLite through sqlx: the
// alerts, entities and incidents that ingest and correlation produce, the
// action center's rows that workflow activities project, the lab tenant's
// state, and the audit log.
//
// All SQL lives here. Exported methods own their transaction; unexported
// helpers take a sqlx.ExtContext so that one helper serves inside or outside
// a transaction. Migrations are embedded, versioned .sql files, one set per
// dialect, applied at Open by goose (migrate.go).
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/airsoc/air/internal/events"
	"github.com/jmoiron/sqlx"
)

// Dialect names the database behind a Store.
type Dialect string

// Dialects.
const (
	Postgres Dialect = "postgres"
	SQLite   Dialect = "sqlite"
)

// Store is AIR's database.
type Store struct {
	db      *sqlx.DB
	dialect Dialect
	pub     Publisher
	// lookups are intel look-up statements, prepared on first use
	// (PostgreSQL only; see intelLookups).
	lookupsMu sync.Mutex
	lookups   *intelLookups
}

// Publisher hears of the store's changes to incidents and actions once
// they are committed; *events.Hub is one. Publish must not block.
type Publisher interface {
	Publish(evs ...events.Event)
}

// SetPublisher makes the store publish its committed changes to p (nil:
// to no one). Call it before the store is shared: it is not synchronised.
func (s *Store) SetPublisher(p Publisher) { s.pub = p }

// publish tells the publisher of committed changes. Call it after the
// transaction committed, never inside it: a page that re-reads on the
// event must find the change.
func (s *Store) publish(evs ...events.Event) {
	if s.pub != nil && len(evs) > 0 {
		s.pub.Publish(evs...)
	}
}

// incidentChanged is the event of a change to incident id.
func incidentChanged(id int64) events.Event {
	return events.Event{Kind: events.Incident, IncidentID: id}
}

// Open connects to the database named by dsn and brings its schema up to
// date. A dsn starting with postgres:// or postgresql:// is PostgreSQL;
// anything else is a SQLite file path (optionally prefixed with sqlite://).
func Open(ctx context.Context, dsn string) (*Store, error) {
	s, err := connect(dsn)
	if err != nil {
		return nil, err
	}
	if err := s.migrate(ctx); err != nil {
		s.db.Close()
		return nil, err
	}
	return s, nil
}

func connect(dsn string) (*Store, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		conn, err := pqConnector(dsn)
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		db := sqlx.NewDb(sql.OpenDB(conn), "postgres")
		db.SetMaxOpenConns(16)
		db.SetMaxIdleConns(16)
		return &Store{db: db, dialect: Postgres}, nil
	}
	file := strings.TrimPrefix(dsn, "sqlite://")
	if file == "" {
		return nil, errors.New("open sqlite: empty database path")
	}
	// WAL lets readers run beside the one writer; immediate transactions take
	// the write lock up front so that two writers queue on busy_timeout
	// instead of failing half-way with SQLITE_BUSY.
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(ON)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	q.Set("_time_format", "sqlite")
	db := sqlx.NewDb(sql.OpenDB(dsnConnector{"file:" + file + "?" + q.Encode(), sqliteDriver}), "sqlite")
	db.SetMaxOpenConns(4)
	return &Store{db: db, dialect: SQLite}, nil
}

// Dialect reports which database the store uses.
func (s *Store) Dialect() Dialect { return s.dialect }

// Close closes the database.
func (s *Store) Close() error {
	s.closeIntelLookups()
	return s.db.Close()
}

// Ping checks that the database answers; /readyz calls it.
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// inTx runs fn in a transaction, committing when it returns nil. A panic
// in fn rolls the transaction back before it goes on up: a handler that
// recovers it must not leave a connection idle in a transaction, holding
// its locks.
func (s *Store) inTx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			_ = tx.Rollback()
			panic(p)
		}
	}()
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// inIncidentTx is inTx for a change to incident id: once committed, the
// publisher hears of it. A transaction that changed nothing still
// publishes; a page re-reading for nothing costs little.
func (s *Store) inIncidentTx(ctx context.Context, id int64, fn func(tx *sqlx.Tx) error) error {
	if err := s.inTx(ctx, fn); err != nil {
		return err
	}
	s.publish(incidentChanged(id))
	return nil
}

// utc normalises times before they are written, so that SQLite's text
// timestamps compare in time order.
func utc(t time.Time) time.Time { return t.UTC() }

func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }
