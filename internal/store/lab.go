package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/airsoc/air/internal/labstate"
)

// The lab tenant's state types are labstate's (a leaf the connectors
// share); the store keeps them under these names.
type (
	LabDevice    = labstate.Device
	LabOperation = labstate.Operation
	LabChange    = labstate.Change
	LabRequest   = labstate.Request
	LabUser      = labstate.User
	LabInboxRule = labstate.InboxRule
	LabMailbox   = labstate.Mailbox
	LabMessage   = labstate.Message
	LabArtifact  = labstate.Artifact
	LabSeed      = labstate.Seed
	LabOAuthApp  = labstate.OAuthApp
)

var _ labstate.Store = (*Store)(nil)

// LabSetIsolation isolates (or releases) a lab device, exactly once per
// idempotency key: a repeated key returns the first call's recorded
// operation without touching the device again. A device the lab has not
// seen is enrolled on first use. Isolating an isolated device changes
// nothing and says so.
func (s *Store) LabSetIsolation(ctx context.Context, key, deviceID, name string, isolate bool) (*LabOperation, error) {
	op := &LabOperation{IdempotencyKey: key, Target: deviceID, Operation: "release"}
	if isolate {
		op.Operation = "isolate"
	}
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		if err := s.lockKeys(ctx, tx, []string{"lab:" + deviceID}); err != nil {
			return err
		}
		err := tx.GetContext(ctx, op, tx.Rebind(`SELECT * FROM lab_operations WHERE idempotency_key = ?`), key)
		if err == nil {
			return nil // already done: report what was done
		}
		if !isNoRows(err) {
			return err
		}
		now := utc(time.Now())
		var dev LabDevice
		err = tx.GetContext(ctx, &dev, tx.Rebind(`SELECT * FROM lab_devices WHERE id = ?`), deviceID)
		if isNoRows(err) {
			dev = LabDevice{ID: deviceID, Name: name}
			if _, err := tx.ExecContext(ctx, tx.Rebind(`INSERT INTO lab_devices (id, name, isolated, updated_at)
				VALUES (?, ?, ?, ?)`), deviceID, name, false, now); err != nil {
				return fmt.Errorf("enroll lab device: %w", err)
			}
		} else if err != nil {
			return err
		}
		op.Changed = dev.Isolated != isolate
		switch {
		case op.Changed && isolate:
			op.Result = "isolated"
		case op.Changed:
			op.Result = "released"
		case isolate:
			op.Result = "already isolated"
		default:
			op.Result = "not isolated"
		}
		if op.Changed {
			if _, err := tx.ExecContext(ctx, tx.Rebind(`UPDATE lab_devices SET isolated = ?, updated_at = ? WHERE id = ?`),
				isolate, now, deviceID); err != nil {
				return fmt.Errorf("update lab device: %w", err)
			}
		}
		op.CreatedAt = now
		_, err = tx.ExecContext(ctx, tx.Rebind(`INSERT INTO lab_operations (idempotency_key, operation, target, result, changed, created_at)
			VALUES (?, ?, ?, ?, ?, ?)`), op.IdempotencyKey, op.Operation, op.Target, op.Result, op.Changed, op.CreatedAt)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("lab %s %s: %w", op.Operation, deviceID, err)
	}
	return op, nil
}

// LabDevices lists the lab tenant's devices by id.
func (s *Store) LabDevices(ctx context.Context) ([]LabDevice, error) {
	out := []LabDevice{}
	if err := s.db.SelectContext(ctx, &out, `SELECT * FROM lab_devices ORDER BY id`); err != nil {
		return nil, fmt.Errorf("list lab devices: %w", err)
	}
	return out, nil
}

// LabOperations lists every operation the lab tenant carried out, oldest
// first; tests use it to prove no remediation ran twice.
func (s *Store) LabOperations(ctx context.Context) ([]LabOperation, error) {
	out := []LabOperation{}
	if err := s.db.SelectContext(ctx, &out, `SELECT * FROM lab_operations ORDER BY created_at, idempotency_key`); err != nil {
		return nil, fmt.Errorf("list lab operations: %w", err)
	}
	return out, nil
}
