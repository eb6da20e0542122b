package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/records"
)

func tokenSummary(t *records.Token) string {
	s := "role=" + t.Role
	if len(t.Groups) > 0 {
		s += " groups=" + strings.Join(t.Groups, ",")
	}
	return s + " name=" + t.Name
}

// CreateToken stores a new token and audits its creation.
func (s *Store) CreateToken(ctx context.Context, t *records.Token) error {
	c := *t
	c.CreatedAt = utc(c.CreatedAt)
	if c.Groups == nil {
		c.Groups = domain.StringList{}
	}
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		// Names are actors in the audit log: two tokens of one name, even
		// one revoked, would make its entries ambiguous.
		var taken int
		if err := sqlx.GetContext(ctx, tx, &taken, tx.Rebind(`SELECT count(*) FROM tokens WHERE lower(name) = lower(?)`), c.Name); err != nil {
			return err
		}
		if taken > 0 {
			return domain.Errorf(domain.KindConflict, "a token named %q exists already (revoked tokens keep their names): choose another name", c.Name)
		}
		if _, err := sqlx.NamedExecContext(ctx, tx, `INSERT INTO tokens (id, name, role, device_groups, hash,
			created_by, created_at) VALUES (:id, :name, :role, :device_groups, :hash, :created_by, :created_at)`, &c); err != nil {
			return err
		}
		return appendAudit(ctx, tx, records.AuditEntry{At: c.CreatedAt, Actor: c.CreatedBy, Verb: "token.created",
			Object: "token:" + c.ID, After: tokenSummary(&c)})
	})
	if err != nil {
		return fmt.Errorf("create token %s: %w", t.ID, err)
	}
	return nil
}

// TokenByHash returns the token whose secret hashes to hash, revoked or
// not, or a not-found error.
func (s *Store) TokenByHash(ctx context.Context, hash string) (*records.Token, error) {
	var t records.Token
	err := s.db.GetContext(ctx, &t, s.db.Rebind(`SELECT * FROM tokens WHERE hash = ?`), hash)
	if isNoRows(err) {
		return nil, domain.Errorf(domain.KindNotFound, "no such token")
	}
	if err != nil {
		return nil, fmt.Errorf("look up token: %w", err)
	}
	return &t, nil
}

// GetToken returns one token by id.
func (s *Store) GetToken(ctx context.Context, id string) (*records.Token, error) {
	var t records.Token
	err := s.db.GetContext(ctx, &t, s.db.Rebind(`SELECT * FROM tokens WHERE id = ?`), id)
	if isNoRows(err) {
		return nil, domain.Errorf(domain.KindNotFound, "token %s not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("get token %s: %w", id, err)
	}
	return &t, nil
}

// ListTokens returns every token, newest first, revoked ones included.
func (s *Store) ListTokens(ctx context.Context) ([]records.Token, error) {
	out := []records.Token{}
	if err := s.db.SelectContext(ctx, &out, `SELECT * FROM tokens ORDER BY created_at DESC, id`); err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return out, nil
}

// RevokeToken revokes a token and ends its sessions; revoking twice is a
// conflict.
func (s *Store) RevokeToken(ctx context.Context, id, by string, at time.Time) (*records.Token, error) {
	var t records.Token
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		if err := tx.GetContext(ctx, &t, tx.Rebind(`SELECT * FROM tokens WHERE id = ?`), id); err != nil {
			if isNoRows(err) {
				return domain.Errorf(domain.KindNotFound, "token %s not found", id)
			}
			return err
		}
		if t.RevokedAt != nil {
			return domain.Errorf(domain.KindConflict, "token %s was already revoked by %s", id, t.RevokedBy)
		}
		at = utc(at)
		t.RevokedAt, t.RevokedBy = &at, by
		if _, err := tx.ExecContext(ctx, tx.Rebind(`UPDATE tokens SET revoked_at = ?, revoked_by = ? WHERE id = ?`), at, by, id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, tx.Rebind(`DELETE FROM sessions WHERE token_id = ?`), id); err != nil {
			return err
		}
		return appendAudit(ctx, tx, records.AuditEntry{At: at, Actor: by, Verb: "token.revoked", Object: "token:" + id,
			Before: "active " + tokenSummary(&t), After: "revoked"})
	})
	if err != nil {
		return nil, fmt.Errorf("revoke token %s: %w", id, err)
	}
	return &t, nil
}

// TouchToken records that a token was used, at most once a minute so that
// reads do not turn into a write each.
func (s *Store) TouchToken(ctx context.Context, id string, at time.Time) error {
	at = utc(at)
	_, err := s.db.ExecContext(ctx, s.db.Rebind(`UPDATE tokens SET last_used_at = ?
		WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)`), at, id, at.Add(-time.Minute))
	if err != nil {
		return fmt.Errorf("touch token %s: %w", id, err)
	}
	return nil
}

// CreateSession stores a page session (by the hash of its secret) for a
// token, drops expired sessions, and audits the sign-in.
func (s *Store) CreateSession(ctx context.Context, hash string, t *records.Token, now, expires time.Time) error {
	now = utc(now)
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, tx.Rebind(`DELETE FROM sessions WHERE expires_at < ?`), now); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, tx.Rebind(`INSERT INTO sessions (hash, token_id, created_at, expires_at)
			VALUES (?, ?, ?, ?)`), hash, t.ID, now, utc(expires)); err != nil {
			return err
		}
		return appendAudit(ctx, tx, records.AuditEntry{At: now, Actor: t.Name, Verb: "session.created",
			Object: "token:" + t.ID, After: "signed in to the pages until " + utc(expires).Format(time.RFC3339)})
	})
	if err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	return nil
}

// SessionToken returns the active token behind an unexpired session, or a
// not-found error.
func (s *Store) SessionToken(ctx context.Context, hash string, now time.Time) (*records.Token, error) {
	var t records.Token
	err := s.db.GetContext(ctx, &t, s.db.Rebind(`SELECT t.* FROM sessions s JOIN tokens t ON t.id = s.token_id
		WHERE s.hash = ? AND s.expires_at > ? AND t.revoked_at IS NULL`), hash, utc(now))
	if isNoRows(err) {
		return nil, domain.Errorf(domain.KindNotFound, "no such session")
	}
	if err != nil {
		return nil, fmt.Errorf("look up session: %w", err)
	}
	return &t, nil
}

// DeleteSession ends a session and audits the sign-out; an unknown session
// is not an error.
func (s *Store) DeleteSession(ctx context.Context, hash, actor string, at time.Time) error {
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		var tokenID string
		err := tx.GetContext(ctx, &tokenID, tx.Rebind(`SELECT token_id FROM sessions WHERE hash = ?`), hash)
		if isNoRows(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, tx.Rebind(`DELETE FROM sessions WHERE hash = ?`), hash); err != nil {
			return err
		}
		return appendAudit(ctx, tx, records.AuditEntry{At: at, Actor: actor, Verb: "session.ended", Object: "token:" + tokenID,
			After: "signed out"})
	})
	if err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// deviceGroupExpr is the SQL for the lower-cased device group of the
// entity aliased e (its attrs hold the Graph rbacGroupName as deviceGroup).
func (s *Store) deviceGroupExpr(e string) string {
	if s.dialect == Postgres {
		return `lower(` + e + `.attrs::jsonb ->> 'deviceGroup')`
	}
	return `lower(json_extract(` + e + `.attrs, '$.deviceGroup'))`
}

// incidentInGroupsSQL is a condition true when the incident whose id is the
// SQL expression idExpr has a device in one of n groups (n placeholders,
// lower-cased arguments).
func (s *Store) incidentInGroupsSQL(idExpr string, n int) string {
	return `EXISTS (SELECT 1 FROM incident_entities sie JOIN entities se ON se.key = sie.entity_key
		WHERE sie.incident_id = ` + idExpr + ` AND se.kind = 'device' AND ` + s.deviceGroupExpr("se") +
		` IN (` + placeholders(n) + `))`
}

// actionInGroupsSQL is a condition true when the action aliased a acts in
// one of n device groups: a device target in one of them, or a target that
// is no device on an incident with a device in one of them. Its arguments
// are the lower-cased groups, twice.
func (s *Store) actionInGroupsSQL(n int) string {
	isDevice := `EXISTS (SELECT 1 FROM entities te WHERE te.key = a.target_key AND te.kind = 'device'`
	return `((` + isDevice + ` AND ` + s.deviceGroupExpr("te") + ` IN (` + placeholders(n) + `)))
		OR (NOT ` + isDevice + `) AND ` + s.incidentInGroupsSQL("a.incident_id", n) + `))`
}

func lowerAll(groups []string) []any {
	out := make([]any, len(groups))
	for i, g := range groups {
		out[i] = strings.ToLower(g)
	}
	return out
}

// IncidentsInGroups returns which of the incidents have a device in one of
// the device groups: the incidents a principal scoped to those groups sees.
func (s *Store) IncidentsInGroups(ctx context.Context, ids []int64, groups []string) (map[int64]bool, error) {
	out := map[int64]bool{}
	if len(ids) == 0 || len(groups) == 0 {
		return out, nil
	}
	q := `SELECT i.id FROM incidents i WHERE i.id IN (` + placeholders(len(ids)) + `) AND ` +
		s.incidentInGroupsSQL("i.id", len(groups))
	args := make([]any, 0, len(ids)+len(groups))
	for _, id := range ids {
		args = append(args, id)
	}
	args = append(args, lowerAll(groups)...)
	var found []int64
	if err := s.db.SelectContext(ctx, &found, s.db.Rebind(q), args...); err != nil {
		return nil, fmt.Errorf("scope incidents to device groups: %w", err)
	}
	for _, id := range found {
		out[id] = true
	}
	return out, nil
}
