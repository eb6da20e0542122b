package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/airsoc/air/internal/domain"
)

// The lab tenant's state beyond device isolation (lab.go): users,
// mailboxes, messages and artifacts. Every change goes through labApply,
// which gives each family the same exactly-once contract as
// LabSetIsolation: one transaction that returns the recorded operation for
// a repeated idempotency key, otherwise loads (or enrols) the object, lets
// the caller decide the change in memory, writes it back and records the
// operation. What a remediation does to an object is the lab tenant's
// business (internal/labtenant); the SQL is here.

// labObject is how labApply loads, enrols and saves one kind of object.
type labObject struct {
	lock   string // advisory lock key
	target string // what lab_operations records as the target
	what   string // "device ws1" in errors
	// load reads the object into the caller's value; found false when absent.
	load func(ctx context.Context, tx *sqlx.Tx) (found bool, err error)
	// enrol fills in a new object's defaults.
	enrol func()
	// save writes the object; insert when it was enrolled.
	save func(ctx context.Context, tx *sqlx.Tx, insert bool, now time.Time) error
}

func (s *Store) labApply(ctx context.Context, req LabRequest, obj labObject, decide func() (LabChange, error)) (*LabOperation, error) {
	op := &LabOperation{IdempotencyKey: req.Key, Operation: req.Operation, Target: obj.target}
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		if err := s.lockKeys(ctx, tx, []string{obj.lock}); err != nil {
			return err
		}
		err := tx.GetContext(ctx, op, tx.Rebind(`SELECT * FROM lab_operations WHERE idempotency_key = ?`), req.Key)
		if err == nil {
			return nil // already done: report what was done
		}
		if !isNoRows(err) {
			return err
		}
		known, err := obj.load(ctx, tx)
		if err != nil {
			return fmt.Errorf("load: %w", err)
		}
		if !known {
			if !req.Enroll {
				return domain.Errorf(domain.KindNotFound, "the lab tenant has no %s", obj.what)
			}
			obj.enrol()
		}
		ch, err := decide()
		if err != nil {
			return err
		}
		now := utc(time.Now())
		if ch.Changed || !known {
			if err := obj.save(ctx, tx, !known, now); err != nil {
				return fmt.Errorf("save: %w", err)
			}
		}
		op.Result, op.Changed, op.CreatedAt = ch.Result, ch.Changed, now
		_, err = tx.ExecContext(ctx, tx.Rebind(`INSERT INTO lab_operations (idempotency_key, operation, target, result, changed, created_at)
			VALUES (?, ?, ?, ?, ?, ?)`), op.IdempotencyKey, op.Operation, op.Target, op.Result, op.Changed, op.CreatedAt)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("lab %s on %s: %w", req.Operation, obj.what, err)
	}
	return op, nil
}

// LabApplyDevice changes a lab device exactly once per idempotency key:
// decide mutates the device in memory and says what happened.
func (s *Store) LabApplyDevice(ctx context.Context, req LabRequest, id, name string, decide func(*LabDevice) (LabChange, error)) (*LabOperation, error) {
	d := &LabDevice{}
	return s.labApply(ctx, req, labObject{
		lock: "lab:" + id, target: id, what: "device " + id,
		load: func(ctx context.Context, tx *sqlx.Tx) (bool, error) {
			return found(tx.GetContext(ctx, d, tx.Rebind(`SELECT * FROM lab_devices WHERE id = ?`), id))
		},
		enrol: func() { *d = LabDevice{ID: id, Name: name} },
		save: func(ctx context.Context, tx *sqlx.Tx, insert bool, now time.Time) error {
			d.UpdatedAt = now
			return saveDevice(ctx, tx, d, insert)
		},
	}, func() (LabChange, error) { return decide(d) })
}

func saveDevice(ctx context.Context, tx sqlx.ExtContext, d *LabDevice, insert bool) error {
	q := `UPDATE lab_devices SET name = ?, isolated = ?, isolation_type = ?, app_restricted = ?, last_scan = ?,
		scans = ?, packages = ?, updated_at = ? WHERE id = ?`
	if insert {
		q = `INSERT INTO lab_devices (name, isolated, isolation_type, app_restricted, last_scan, scans, packages, updated_at, id)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`
	}
	_, err := tx.ExecContext(ctx, tx.Rebind(q), d.Name, d.Isolated, d.IsolationType, d.AppRestricted, d.LastScan,
		d.Scans, d.Packages, utc(d.UpdatedAt), d.ID)
	return err
}

// LabApplyUser changes a lab user exactly once per idempotency key.
func (s *Store) LabApplyUser(ctx context.Context, req LabRequest, id, name string, decide func(*LabUser) (LabChange, error)) (*LabOperation, error) {
	u := &LabUser{}
	return s.labApply(ctx, req, labObject{
		lock: "lab:user:" + id, target: id, what: "user " + id,
		load: func(ctx context.Context, tx *sqlx.Tx) (bool, error) {
			return found(tx.GetContext(ctx, u, tx.Rebind(`SELECT * FROM lab_users WHERE id = ?`), id))
		},
		enrol: func() { *u = LabUser{ID: id, Name: name, Enabled: true, Risk: "none"} },
		save: func(ctx context.Context, tx *sqlx.Tx, insert bool, now time.Time) error {
			u.UpdatedAt = now
			return saveUser(ctx, tx, u, insert)
		},
	}, func() (LabChange, error) { return decide(u) })
}

func saveUser(ctx context.Context, tx sqlx.ExtContext, u *LabUser, insert bool) error {
	q := `UPDATE lab_users SET name = ?, enabled = ?, sessions_revoked = ?, must_change_password = ?, risk = ?,
		updated_at = ? WHERE id = ?`
	if insert {
		q = `INSERT INTO lab_users (name, enabled, sessions_revoked, must_change_password, risk, updated_at, id)
			VALUES (?, ?, ?, ?, ?, ?, ?)`
	}
	if u.Risk == "" {
		u.Risk = "none"
	}
	_, err := tx.ExecContext(ctx, tx.Rebind(q), u.Name, u.Enabled, u.SessionsRevoked, u.MustChangePassword, u.Risk,
		utc(u.UpdatedAt), u.ID)
	return err
}

// LabApplyMailbox changes a lab mailbox exactly once per idempotency key.
func (s *Store) LabApplyMailbox(ctx context.Context, req LabRequest, address, name string, decide func(*LabMailbox) (LabChange, error)) (*LabOperation, error) {
	m := &LabMailbox{}
	return s.labApply(ctx, req, labObject{
		lock: "lab:mailbox:" + address, target: address, what: "mailbox " + address,
		load: func(ctx context.Context, tx *sqlx.Tx) (bool, error) {
			ok, err := found(tx.GetContext(ctx, m, tx.Rebind(`SELECT * FROM lab_mailboxes WHERE address = ?`), address))
			if ok {
				err = decodeRules(m)
			}
			return ok, err
		},
		enrol: func() { *m = LabMailbox{Address: address, Name: name} },
		save: func(ctx context.Context, tx *sqlx.Tx, insert bool, now time.Time) error {
			m.UpdatedAt = now
			return saveMailbox(ctx, tx, m, insert)
		},
	}, func() (LabChange, error) { return decide(m) })
}

// decodeRules reads a mailbox row's inbox rules.
func decodeRules(m *LabMailbox) error {
	m.InboxRules = []LabInboxRule{}
	if m.RulesJSON == "" {
		return nil
	}
	if err := json.Unmarshal([]byte(m.RulesJSON), &m.InboxRules); err != nil {
		return fmt.Errorf("mailbox %s inbox rules: %w", m.Address, err)
	}
	return nil
}

func saveMailbox(ctx context.Context, tx sqlx.ExtContext, m *LabMailbox, insert bool) error {
	rules := m.InboxRules
	if rules == nil {
		rules = []LabInboxRule{}
	}
	b, err := json.Marshal(rules)
	if err != nil {
		return err
	}
	q := `UPDATE lab_mailboxes SET name = ?, external_forwarding = ?, inbox_rules = ?, updated_at = ? WHERE address = ?`
	if insert {
		q = `INSERT INTO lab_mailboxes (name, external_forwarding, inbox_rules, updated_at, address) VALUES (?, ?, ?, ?, ?)`
	}
	_, err = tx.ExecContext(ctx, tx.Rebind(q), m.Name, m.ExternalForwarding, string(b), utc(m.UpdatedAt), m.Address)
	return err
}

// LabApplyMessage changes a lab message exactly once per idempotency key.
func (s *Store) LabApplyMessage(ctx context.Context, req LabRequest, id, subject string, decide func(*LabMessage) (LabChange, error)) (*LabOperation, error) {
	m := &LabMessage{}
	return s.labApply(ctx, req, labObject{
		lock: "lab:message:" + id, target: id, what: "message " + id,
		load: func(ctx context.Context, tx *sqlx.Tx) (bool, error) {
			return found(tx.GetContext(ctx, m, tx.Rebind(`SELECT * FROM lab_messages WHERE id = ?`), id))
		},
		enrol: func() { *m = LabMessage{ID: id, Subject: subject, Folder: "inbox"} },
		save: func(ctx context.Context, tx *sqlx.Tx, insert bool, now time.Time) error {
			m.UpdatedAt = now
			return saveMessage(ctx, tx, m, insert)
		},
	}, func() (LabChange, error) { return decide(m) })
}

func saveMessage(ctx context.Context, tx sqlx.ExtContext, m *LabMessage, insert bool) error {
	q := `UPDATE lab_messages SET mailbox = ?, subject = ?, sender = ?, folder = ?, updated_at = ? WHERE id = ?`
	if insert {
		q = `INSERT INTO lab_messages (mailbox, subject, sender, folder, updated_at, id) VALUES (?, ?, ?, ?, ?, ?)`
	}
	if m.Folder == "" {
		m.Folder = "inbox"
	}
	_, err := tx.ExecContext(ctx, tx.Rebind(q), m.Mailbox, m.Subject, m.Sender, m.Folder, utc(m.UpdatedAt), m.ID)
	return err
}

// LabApplyArtifact changes a lab artifact exactly once per idempotency key.
// Artifacts are always enrolled on first use (state ""): there is no
// "unknown file" in a tenant that has never seen it quarantined.
func (s *Store) LabApplyArtifact(ctx context.Context, req LabRequest, kind, id, scope string, decide func(*LabArtifact) (LabChange, error)) (*LabOperation, error) {
	a := &LabArtifact{}
	what := kind + " " + id
	if scope != "" {
		what += " on " + scope
	}
	req.Enroll = true
	return s.labApply(ctx, req, labObject{
		lock: "lab:" + kind + ":" + id + ":" + scope, target: id, what: what,
		load: func(ctx context.Context, tx *sqlx.Tx) (bool, error) {
			return found(tx.GetContext(ctx, a, tx.Rebind(`SELECT * FROM lab_artifacts WHERE kind = ? AND id = ? AND scope = ?`),
				kind, id, scope))
		},
		enrol: func() { *a = LabArtifact{Kind: kind, ID: id, Scope: scope} },
		save: func(ctx context.Context, tx *sqlx.Tx, insert bool, now time.Time) error {
			a.UpdatedAt = now
			return saveArtifact(ctx, tx, a, insert)
		},
	}, func() (LabChange, error) { return decide(a) })
}

func saveArtifact(ctx context.Context, tx sqlx.ExtContext, a *LabArtifact, insert bool) error {
	q := `UPDATE lab_artifacts SET state = ?, expires_at = ?, updated_at = ? WHERE kind = ? AND id = ? AND scope = ?`
	if insert {
		q = `INSERT INTO lab_artifacts (state, expires_at, updated_at, kind, id, scope) VALUES (?, ?, ?, ?, ?, ?)`
	}
	var exp *time.Time
	if a.ExpiresAt != nil {
		t := utc(*a.ExpiresAt)
		exp = &t
	}
	_, err := tx.ExecContext(ctx, tx.Rebind(q), a.State, exp, utc(a.UpdatedAt), a.Kind, a.ID, a.Scope)
	return err
}

// LabSeedState creates or overwrites lab objects, all in one transaction.
func (s *Store) LabSeedState(ctx context.Context, seed LabSeed) error {
	now := utc(time.Now())
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		exists := func(table, col, id string) (bool, error) {
			var n int
			err := tx.GetContext(ctx, &n, tx.Rebind(`SELECT COUNT(*) FROM `+table+` WHERE `+col+` = ?`), id)
			return n > 0, err
		}
		for i := range seed.Devices {
			d := seed.Devices[i]
			if d.ID == "" {
				return domain.Invalid(fmt.Sprintf("devices[%d].id", i), "a lab device needs an id")
			}
			ok, err := exists("lab_devices", "id", d.ID)
			if err != nil {
				return err
			}
			d.UpdatedAt = now
			if err := saveDevice(ctx, tx, &d, !ok); err != nil {
				return fmt.Errorf("device %s: %w", d.ID, err)
			}
		}
		for i := range seed.Users {
			u := seed.Users[i]
			if u.ID == "" {
				return domain.Invalid(fmt.Sprintf("users[%d].id", i), "a lab user needs an id (UPN or SID)")
			}
			ok, err := exists("lab_users", "id", u.ID)
			if err != nil {
				return err
			}
			u.UpdatedAt = now
			if err := saveUser(ctx, tx, &u, !ok); err != nil {
				return fmt.Errorf("user %s: %w", u.ID, err)
			}
		}
		for i := range seed.Mailboxes {
			m := seed.Mailboxes[i]
			if m.Address == "" {
				return domain.Invalid(fmt.Sprintf("mailboxes[%d].address", i), "a lab mailbox needs an address")
			}
			ok, err := exists("lab_mailboxes", "address", m.Address)
			if err != nil {
				return err
			}
			m.UpdatedAt = now
			if err := saveMailbox(ctx, tx, &m, !ok); err != nil {
				return fmt.Errorf("mailbox %s: %w", m.Address, err)
			}
		}
		for i := range seed.Messages {
			m := seed.Messages[i]
			if m.ID == "" {
				return domain.Invalid(fmt.Sprintf("messages[%d].id", i), "a lab message needs an id (networkMessageId)")
			}
			ok, err := exists("lab_messages", "id", m.ID)
			if err != nil {
				return err
			}
			m.UpdatedAt = now
			if err := saveMessage(ctx, tx, &m, !ok); err != nil {
				return fmt.Errorf("message %s: %w", m.ID, err)
			}
		}
		return seedOAuthApps(ctx, tx, seed.OAuthApps, now, exists)
	})
	if err != nil {
		return fmt.Errorf("seed lab tenant: %w", err)
	}
	return nil
}

// LabDeviceByID returns one lab device.
func (s *Store) LabDeviceByID(ctx context.Context, id string) (*LabDevice, error) {
	var d LabDevice
	if err := s.db.GetContext(ctx, &d, s.db.Rebind(`SELECT * FROM lab_devices WHERE id = ?`), id); err != nil {
		if isNoRows(err) {
			return nil, domain.Errorf(domain.KindNotFound, "the lab tenant has no device %s", id)
		}
		return nil, fmt.Errorf("read lab device: %w", err)
	}
	return &d, nil
}

// LabUsers lists the lab tenant's users by id.
func (s *Store) LabUsers(ctx context.Context) ([]LabUser, error) {
	out := []LabUser{}
	if err := s.db.SelectContext(ctx, &out, `SELECT * FROM lab_users ORDER BY id`); err != nil {
		return nil, fmt.Errorf("list lab users: %w", err)
	}
	return out, nil
}

// LabMailboxes lists the lab tenant's mailboxes by address.
func (s *Store) LabMailboxes(ctx context.Context) ([]LabMailbox, error) {
	out := []LabMailbox{}
	if err := s.db.SelectContext(ctx, &out, `SELECT * FROM lab_mailboxes ORDER BY address`); err != nil {
		return nil, fmt.Errorf("list lab mailboxes: %w", err)
	}
	for i := range out {
		if err := decodeRules(&out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// LabMessages lists the lab tenant's messages by id.
func (s *Store) LabMessages(ctx context.Context) ([]LabMessage, error) {
	out := []LabMessage{}
	if err := s.db.SelectContext(ctx, &out, `SELECT * FROM lab_messages ORDER BY id`); err != nil {
		return nil, fmt.Errorf("list lab messages: %w", err)
	}
	return out, nil
}

// LabArtifacts lists the lab tenant's artifacts by kind, id and scope.
func (s *Store) LabArtifacts(ctx context.Context) ([]LabArtifact, error) {
	out := []LabArtifact{}
	if err := s.db.SelectContext(ctx, &out, `SELECT * FROM lab_artifacts ORDER BY kind, id, scope`); err != nil {
		return nil, fmt.Errorf("list lab artifacts: %w", err)
	}
	return out, nil
}

// found turns a single-row read's error into found/not found.
func found(err error) (bool, error) {
	if isNoRows(err) {
		return false, nil
	}
	return err == nil, err
}
