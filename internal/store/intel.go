package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/intel"
	"github.com/airsoc/air/internal/records"
)

// intelBatch is how many indicators one flush writes: one COPY into the
// import's staging table on PostgreSQL, one short transaction on SQLite
// (which holds the write lock that long, not for the whole import).
const intelBatch = 5000

// IntelImport writes one import of a feed. Indicators added go under a new
// import id, invisible to look-ups until Commit switches the feed to it;
// Abort (or a failed Commit) deletes them. An IntelImport is not safe for
// concurrent use.
//
// On PostgreSQL the indicators are first COPYed into an unlogged staging
// table of the import's own (intelStaging) and moved into intel_indicators
// at Commit in one INSERT sorted by (kind, value): inserting a million rows
// in the index's order costs a fraction of inserting them where each
// falls. On SQLite they go into intel_indicators batch by batch.
type IntelImport struct {
	s       *Store
	feed    string
	id      int64
	pending []intel.Indicator
	added   int
	// flushed counts indicators written to the database: stored rows on
	// SQLite (a duplicate is not stored), staged rows on PostgreSQL.
	flushed int
	stored  int
	// techniques counts the ATT&CK techniques AddKnowledge wrote.
	techniques int
}

// intelStaging names the PostgreSQL staging table of an import. It is
// unlogged (a crash empties it, which Commit notices by counting) and
// dropped when the import commits or is discarded; the next import of the
// feed drops those that a crash left behind.
func intelStaging(importID int64) string { return "intel_staging_" + strconv.FormatInt(importID, 10) }

// BeginIntelImport starts importing the feed called name.
func (s *Store) BeginIntelImport(ctx context.Context, name string) (*IntelImport, error) {
	if strings.TrimSpace(name) == "" {
		return nil, domain.Invalid("name", "a feed needs a name")
	}
	var id int64
	err := s.db.GetContext(ctx, &id, s.db.Rebind(`INSERT INTO intel_imports (feed, started_at) VALUES (?, ?) RETURNING id`),
		name, utc(time.Now()))
	if err != nil {
		return nil, fmt.Errorf("begin import of feed %q: %w", name, err)
	}
	im := &IntelImport{s: s, feed: name, id: id}
	if s.dialect == Postgres {
		// kind and value sort byte-wise, as intel_indicators' do.
		_, err := s.db.ExecContext(ctx, `CREATE UNLOGGED TABLE `+intelStaging(id)+` (ord BIGINT NOT NULL,
			kind TEXT COLLATE "C" NOT NULL, value TEXT COLLATE "C" NOT NULL, subdomains BOOLEAN NOT NULL,
			score INTEGER NOT NULL, family TEXT NOT NULL, ref TEXT NOT NULL, valid_from TIMESTAMPTZ, valid_until TIMESTAMPTZ)`)
		if err != nil {
			im.Abort(context.WithoutCancel(ctx))
			return nil, fmt.Errorf("begin import of feed %q: %w", name, err)
		}
	}
	return im, nil
}

// Add queues an indicator, writing a batch when enough are queued. The
// indicator must be normalised (intel.Parse's are).
func (im *IntelImport) Add(ctx context.Context, in intel.Indicator) error {
	im.pending = append(im.pending, in)
	im.added++
	if len(im.pending) >= intelBatch {
		return im.flush(ctx)
	}
	return nil
}

// Added returns how many indicators Add has taken, for progress reports.
func (im *IntelImport) Added() int { return im.added }

func (im *IntelImport) flush(ctx context.Context) error {
	if len(im.pending) == 0 {
		return nil
	}
	var n int64
	var err error
	if im.s.dialect == Postgres {
		n, err = im.flushPostgres(ctx)
	} else {
		n, err = im.flushSQLite(ctx)
	}
	if err != nil {
		// A later import of the feed that went live deletes this one's
		// rows and staging table, and would refuse it at Commit anyway:
		// say so rather than that a table is missing.
		if _, lerr := liveImport(ctx, im.s.db, im.feed, im.id); lerr != nil {
			return lerr
		}
		return fmt.Errorf("write indicators of feed %q: %w", im.feed, err)
	}
	im.flushed += int(n)
	im.pending = im.pending[:0]
	return nil
}

// intelStagingColumns are the staging table's columns; ord is the
// indicator's position in the feed, so that of a value named twice the
// first is kept.
var intelStagingColumns = []string{"ord", "kind", "value", "subdomains", "score", "family", "ref", "valid_from", "valid_until"}

// flushPostgres COPYs the batch into the import's staging table.
func (im *IntelImport) flushPostgres(ctx context.Context) (int64, error) {
	err := im.s.inTx(ctx, func(tx *sqlx.Tx) error {
		// The staging table is unlogged: its commits need not wait for
		// the WAL to reach the disk.
		if _, err := tx.ExecContext(ctx, `SET LOCAL synchronous_commit = off`); err != nil {
			return err
		}
		stmt, err := tx.PrepareContext(ctx, pq.CopyIn(intelStaging(im.id), intelStagingColumns...))
		if err != nil {
			return err
		}
		defer stmt.Close()
		for i, in := range im.pending {
			if _, err := stmt.ExecContext(ctx, int64(im.flushed+i), string(in.Kind), in.Value, in.Subdomains, int64(in.Score),
				in.Family, in.Ref, nullTime(in.ValidFrom), nullTime(in.ValidUntil)); err != nil {
				return err
			}
		}
		_, err = stmt.ExecContext(ctx)
		return err
	})
	return int64(len(im.pending)), err
}

// promote moves the staged indicators into intel_indicators in one
// statement, sorted by the primary key's (kind, value) so that the index is
// filled in its own order, keeping the first of a value staged twice. It
// returns how many it stored. A staging table that lost rows (PostgreSQL
// restarted: unlogged tables come back empty) fails the import rather than
// committing part of the feed.
func (im *IntelImport) promote(ctx context.Context) (int, error) {
	var stored int64
	err := im.s.inTx(ctx, func(tx *sqlx.Tx) error {
		var staged int
		if err := tx.GetContext(ctx, &staged, `SELECT count(*) FROM `+intelStaging(im.id)); err != nil {
			return err
		}
		if staged != im.flushed {
			return fmt.Errorf("the staging table holds %d of the %d indicators written (was PostgreSQL restarted?)", staged, im.flushed)
		}
		// A million rows sort in memory with more than the default 4 MB.
		if _, err := tx.ExecContext(ctx, `SET LOCAL work_mem = '64MB'`); err != nil {
			return err
		}
		r, err := tx.ExecContext(ctx, `INSERT INTO intel_indicators (import_id, kind, value, subdomains, score, family, ref, valid_from, valid_until)
			SELECT DISTINCT ON (kind, value) $1::bigint, kind, value, subdomains, score, family, ref, valid_from, valid_until
			FROM `+intelStaging(im.id)+` ORDER BY kind, value, ord`, im.id)
		if err != nil {
			return err
		}
		stored, err = r.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store indicators of feed %q: %w", im.feed, err)
	}
	if _, err := im.s.db.ExecContext(ctx, `DROP TABLE IF EXISTS `+intelStaging(im.id)); err != nil {
		return 0, fmt.Errorf("drop the staging table of feed %q: %w", im.feed, err)
	}
	return int(stored), nil
}

// flushSQLite writes the batch row by row through one prepared statement
// in one transaction: the SQLite driver binds a statement's parameters in
// time quadratic in their number, so one wide INSERT is slower.
func (im *IntelImport) flushSQLite(ctx context.Context) (int64, error) {
	var stored int64
	err := im.s.inTx(ctx, func(tx *sqlx.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO intel_indicators (import_id, kind, value, subdomains, score, family, ref, valid_from, valid_until)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (import_id, kind, value) DO NOTHING`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, in := range im.pending {
			r, err := stmt.ExecContext(ctx, im.id, string(in.Kind), in.Value, in.Subdomains, in.Score, in.Family, in.Ref,
				nullTime(in.ValidFrom), nullTime(in.ValidUntil))
			if err != nil {
				return err
			}
			n, err := r.RowsAffected()
			if err != nil {
				return err
			}
			stored += n
		}
		return nil
	})
	return stored, err
}

func nullTime(t *time.Time) any {
	if t == nil {
		return nil
	}
	return utc(*t)
}

// Commit makes the import the feed's live one, replacing the previous
// import in one transaction, audits it, and deletes the replaced
// indicators. feed describes the feed; Commit fills in its name, counts of
// indicators stored and duplicates, and the import time. When another
// import of the same feed that started later has already committed, Commit
// refuses with a conflict and discards this one.
func (im *IntelImport) Commit(ctx context.Context, feed records.IntelFeed) (*records.IntelFeed, error) {
	// Refuse early what the switch below would refuse, before writing
	// (on PostgreSQL, moving a million rows) for nothing.
	if _, err := liveImport(ctx, im.s.db, im.feed, im.id); err != nil {
		im.Abort(context.WithoutCancel(ctx))
		return nil, err
	}
	if err := im.flush(ctx); err != nil {
		im.Abort(context.WithoutCancel(ctx))
		return nil, err
	}
	im.stored = im.flushed
	if im.s.dialect == Postgres {
		n, err := im.promote(ctx)
		if err != nil {
			im.Abort(context.WithoutCancel(ctx))
			return nil, err
		}
		im.stored = n
	}
	feed.Name = im.feed
	feed.Indicators = im.stored
	feed.Duplicates = im.added - im.stored
	feed.Techniques = im.techniques
	feed.ImportedAt = utc(time.Now()).Truncate(time.Microsecond)
	var replaced int64
	err := im.s.inTx(ctx, func(tx *sqlx.Tx) error {
		var before records.IntelFeed
		cur, err := liveImport(ctx, tx, im.feed, im.id)
		if err != nil {
			return err
		}
		if cur != 0 {
			replaced = cur
			if err := tx.GetContext(ctx, &before, tx.Rebind(`SELECT `+intelFeedColumns+` FROM intel_feeds WHERE name = ?`), im.feed); err != nil {
				return err
			}
		}
		r, err := tx.ExecContext(ctx, tx.Rebind(`INSERT INTO intel_feeds (name, import_id, format, benign, title, description,
				source, indicators, unsupported, skipped, duplicates, techniques, imported_by, imported_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET import_id = excluded.import_id, format = excluded.format,
				benign = excluded.benign, title = excluded.title, description = excluded.description,
				source = excluded.source, indicators = excluded.indicators, unsupported = excluded.unsupported,
				skipped = excluded.skipped, duplicates = excluded.duplicates, techniques = excluded.techniques,
				imported_by = excluded.imported_by, imported_at = excluded.imported_at
			WHERE intel_feeds.import_id < excluded.import_id`),
			feed.Name, im.id, feed.Format, feed.Benign, feed.Title, feed.Description, feed.Source, feed.Indicators,
			feed.Unsupported, feed.Skipped, feed.Duplicates, feed.Techniques, feed.ImportedBy, feed.ImportedAt)
		if err != nil {
			return fmt.Errorf("switch feed %q: %w", im.feed, err)
		}
		// Two commits of one feed at the same moment on PostgreSQL both
		// pass liveImport above (neither sees the other's uncommitted
		// row); the WHERE keeps the later import, whichever commits last.
		if n, err := r.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return laterImportWon(im.feed)
		}
		entry := records.AuditEntry{At: feed.ImportedAt, Actor: feed.ImportedBy, Verb: "intel.imported", Object: "feed:" + im.feed,
			After: auditJSON(feedSummary(feed))}
		if replaced != 0 {
			entry.Before = auditJSON(feedSummary(before))
		}
		return appendAudit(ctx, tx, entry)
	})
	if err != nil {
		im.Abort(context.WithoutCancel(ctx))
		return nil, err
	}
	// The replaced import is no longer visible; deleting it may take a
	// while and need not be atomic with the switch. Earlier imports that
	// died half-way go with it.
	if err := im.s.deleteIntelImports(ctx, im.feed, im.id); err != nil {
		return &feed, fmt.Errorf("feed %q imported, but deleting its replaced indicators failed: %w", im.feed, err)
	}
	return &feed, nil
}

// liveImport returns the id of the feed's live import (0 for a new feed),
// refusing with a conflict when it is later than import id: of two imports
// that race, the one that started later wins.
func liveImport(ctx context.Context, q sqlx.ExtContext, feed string, id int64) (int64, error) {
	var cur int64
	err := sqlx.GetContext(ctx, q, &cur, q.Rebind(`SELECT import_id FROM intel_feeds WHERE name = ?`), feed)
	switch {
	case isNoRows(err):
		return 0, nil
	case err != nil:
		return 0, err
	case cur > id:
		return 0, laterImportWon(feed)
	}
	return cur, nil
}

// laterImportWon is the conflict of an import that a later one of the same
// feed overtook.
func laterImportWon(feed string) error {
	return domain.Errorf(domain.KindConflict, "a later import of feed %q finished first; this one is discarded", feed)
}

// Abort discards the import's indicators.
func (im *IntelImport) Abort(ctx context.Context) error {
	im.pending = nil
	if err := im.s.deleteIndicators(ctx, im.id); err != nil {
		return fmt.Errorf("discard import of feed %q: %w", im.feed, err)
	}
	_, err := im.s.db.ExecContext(ctx, im.s.db.Rebind(`DELETE FROM intel_imports WHERE id = ?`), im.id)
	return err
}

// deleteIntelImports deletes the imports of a feed older than keep.
func (s *Store) deleteIntelImports(ctx context.Context, feed string, keep int64) error {
	var old []int64
	if err := s.db.SelectContext(ctx, &old, s.db.Rebind(`SELECT id FROM intel_imports WHERE feed = ? AND id < ?`), feed, keep); err != nil {
		return err
	}
	for _, id := range old {
		if err := s.deleteIndicators(ctx, id); err != nil {
			return err
		}
		if _, err := s.db.ExecContext(ctx, s.db.Rebind(`DELETE FROM intel_imports WHERE id = ?`), id); err != nil {
			return err
		}
	}
	return nil
}

// deleteIndicators deletes an import's indicators. On SQLite it deletes
// intelBatch rows a statement: one DELETE of a million rows holds the
// database's only write lock for longer than ingest waits for it
// (busy_timeout), while PostgreSQL's row locks let one statement run
// beside everything else.
func (s *Store) deleteIndicators(ctx context.Context, importID int64) error {
	if _, err := s.db.ExecContext(ctx, s.db.Rebind(`DELETE FROM attack_objects WHERE import_id = ?`), importID); err != nil {
		return err
	}
	if s.dialect == Postgres {
		if _, err := s.db.ExecContext(ctx, `DROP TABLE IF EXISTS `+intelStaging(importID)); err != nil {
			return err
		}
		_, err := s.db.ExecContext(ctx, `DELETE FROM intel_indicators WHERE import_id = $1`, importID)
		return err
	}
	for {
		r, err := s.db.ExecContext(ctx, `DELETE FROM intel_indicators WHERE rowid IN
			(SELECT rowid FROM intel_indicators WHERE import_id = ? LIMIT ?)`, importID, intelBatch)
		if err != nil {
			return err
		}
		if n, err := r.RowsAffected(); err != nil || n == 0 {
			return err
		}
	}
}

// feedSummary is what the audit log keeps of a feed.
func feedSummary(f records.IntelFeed) map[string]any {
	m := map[string]any{"format": f.Format, "benign": f.Benign, "source": f.Source, "indicators": f.Indicators,
		"skipped": f.Skipped, "unsupported": f.Unsupported}
	if f.Techniques > 0 {
		m["techniques"] = f.Techniques
	}
	return m
}

func auditJSON(v any) string {
	b, _ := json.Marshal(v) // maps of plain values always encode
	return string(b)
}

const intelFeedColumns = `name, format, benign, title, description, source, indicators, unsupported, skipped,
	duplicates, techniques, imported_by, imported_at`

// IntelFeeds lists the imported feeds by name.
func (s *Store) IntelFeeds(ctx context.Context) ([]records.IntelFeed, error) {
	out := []records.IntelFeed{}
	if err := s.db.SelectContext(ctx, &out, `SELECT `+intelFeedColumns+` FROM intel_feeds ORDER BY name`); err != nil {
		return nil, fmt.Errorf("list intel feeds: %w", err)
	}
	return out, nil
}

// DeleteIntelFeed removes a feed and its indicators, audited, and returns
// the feed as it was.
func (s *Store) DeleteIntelFeed(ctx context.Context, name, actor string) (*records.IntelFeed, error) {
	var id int64
	var before records.IntelFeed
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		if err := tx.GetContext(ctx, &before, tx.Rebind(`SELECT `+intelFeedColumns+` FROM intel_feeds WHERE name = ?`), name); err != nil {
			if isNoRows(err) {
				return domain.Errorf(domain.KindNotFound, "no intel feed %q", name)
			}
			return err
		}
		if err := tx.GetContext(ctx, &id, tx.Rebind(`DELETE FROM intel_feeds WHERE name = ? RETURNING import_id`), name); err != nil {
			return err
		}
		return appendAudit(ctx, tx, records.AuditEntry{Actor: actor, Verb: "intel.deleted", Object: "feed:" + name,
			Before: auditJSON(feedSummary(before))})
	})
	if err != nil {
		return nil, err
	}
	return &before, s.deleteIntelImports(ctx, name, id+1)
}

// intelRow is an indicator row joined with its feed.
type intelRow struct {
	Feed       string       `db:"feed"`
	Benign     bool         `db:"benign"`
	Kind       string       `db:"kind"`
	Value      string       `db:"value"`
	Subdomains bool         `db:"subdomains"`
	Score      int          `db:"score"`
	Family     string       `db:"family"`
	Ref        string       `db:"ref"`
	ValidFrom  sql.NullTime `db:"valid_from"`
	ValidUntil sql.NullTime `db:"valid_until"`
}

func (r intelRow) match() records.IntelMatch {
	m := records.IntelMatch{Feed: r.Feed, Benign: r.Benign, Indicator: intel.Indicator{Kind: intel.Kind(r.Kind), Value: r.Value,
		Subdomains: r.Subdomains, Score: r.Score, Family: r.Family, Ref: r.Ref}}
	if r.ValidFrom.Valid {
		t := r.ValidFrom.Time.UTC()
		m.ValidFrom = &t
	}
	if r.ValidUntil.Valid {
		t := r.ValidUntil.Time.UTC()
		m.ValidUntil = &t
	}
	return m
}

const intelSelect = `SELECT f.name AS feed, f.benign, i.kind, i.value, i.subdomains, i.score, i.family, i.ref,
		i.valid_from, i.valid_until
	FROM intel_indicators i JOIN intel_feeds f ON f.import_id = i.import_id
	WHERE (i.valid_from IS NULL OR i.valid_from <= ?) AND (i.valid_until IS NULL OR i.valid_until > ?)`

// intelLookups are LookupIntel's two queries, prepared once per store on
// PostgreSQL: lib/pq runs an unprepared query with parameters in two round
// trips (parse, then bind and execute), a prepared one in one, and the
// server neither parses nor plans it again. (SQLite prepares in process,
// for little.)
type intelLookups struct {
	ip, values *sqlx.Stmt
}

// intelLookups returns the store's look-up statements, preparing them on
// first use; a failed preparation is tried again by the next look-up.
func (s *Store) intelLookups(ctx context.Context) (*intelLookups, error) {
	s.lookupsMu.Lock()
	defer s.lookupsMu.Unlock()
	if s.lookups != nil {
		return s.lookups, nil
	}
	ip, err := s.db.PreparexContext(ctx, s.db.Rebind(intelSelect+intelIPWhere))
	if err != nil {
		return nil, err
	}
	values, err := s.db.PreparexContext(ctx, s.db.Rebind(intelSelect+` AND i.kind = ? AND i.value = ANY(?) ORDER BY f.name, i.value`))
	if err != nil {
		ip.Close()
		return nil, err
	}
	s.lookups = &intelLookups{ip: ip, values: values}
	return s.lookups, nil
}

// closeIntelLookups closes the look-up statements, if prepared.
func (s *Store) closeIntelLookups() {
	s.lookupsMu.Lock()
	defer s.lookupsMu.Unlock()
	if s.lookups != nil {
		s.lookups.ip.Close()
		s.lookups.values.Close()
		s.lookups = nil
	}
}

// intelIPWhere selects an IP's indicators and every network, in one
// indexed query (a BitmapOr of two ranges of the primary key on
// PostgreSQL).
const intelIPWhere = ` AND ((i.kind = 'ip' AND i.value = ?) OR i.kind = 'cidr') ORDER BY f.name, i.kind DESC, i.value`

// LookupIntel returns the indicators of live feeds that match a value of a
// kind (ip, domain, url or file) at time at, by feed name: an IP matches
// its address and the networks (cidr) that contain it, a domain matches
// itself and the entries for a parent domain that cover subdomains.
// Expired indicators and those not yet valid do not match. value must be
// normalised (intel.Normalize).
func (s *Store) LookupIntel(ctx context.Context, kind intel.Kind, value string, at time.Time) ([]records.IntelMatch, error) {
	at = utc(at)
	if kind == intel.KindIP {
		return s.lookupIP(ctx, value, at)
	}
	values := []string{value}
	if kind == intel.KindDomain {
		values = intel.ParentDomains(value)
	}
	var rows []intelRow
	if s.dialect == Postgres {
		st, err := s.intelLookups(ctx)
		if err == nil {
			err = st.values.SelectContext(ctx, &rows, at, at, string(kind), pq.Array(values))
		}
		if err != nil {
			return nil, fmt.Errorf("look up %s %s: %w", kind, value, err)
		}
	} else {
		q, args, err := sqlx.In(intelSelect+` AND i.kind = ? AND i.value IN (?) ORDER BY f.name, i.value`, at, at, string(kind), values)
		if err != nil {
			return nil, err
		}
		if err := s.db.SelectContext(ctx, &rows, s.db.Rebind(q), args...); err != nil {
			return nil, fmt.Errorf("look up %s %s: %w", kind, value, err)
		}
	}
	out := []records.IntelMatch{}
	for _, r := range rows {
		if kind == intel.KindDomain && r.Value != value && !r.Subdomains {
			continue
		}
		out = append(out, r.match())
	}
	return out, nil
}

// lookupIP reads, in one round trip, the indicators of the address and
// every network, and keeps the networks that contain it. Networks are few
// (warning lists of cloud and private ranges), so they are checked here
// rather than indexed by range in SQL.
func (s *Store) lookupIP(ctx context.Context, ip string, at time.Time) ([]records.IntelMatch, error) {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return nil, domain.Invalid("value", "not an IP address: %q", ip)
	}
	var rows []intelRow
	if s.dialect == Postgres {
		st, err := s.intelLookups(ctx)
		if err == nil {
			err = st.ip.SelectContext(ctx, &rows, at, at, ip)
		}
		if err != nil {
			return nil, fmt.Errorf("look up ip %s: %w", ip, err)
		}
	} else if err := s.db.SelectContext(ctx, &rows, s.db.Rebind(intelSelect+intelIPWhere), at, at, ip); err != nil {
		return nil, fmt.Errorf("look up ip %s: %w", ip, err)
	}
	out := []records.IntelMatch{}
	for _, r := range rows {
		if r.Kind == string(intel.KindCIDR) {
			p, err := netip.ParsePrefix(r.Value)
			if err != nil || !p.Contains(addr) {
				continue
			}
		}
		out = append(out, r.match())
	}
	return out, nil
}
