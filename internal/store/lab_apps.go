package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/labstate"
)

// The lab tenant's OAuth apps (migration 0450): a service principal that is
// enabled or not, and the permissions granted to it, changed through
// labApply like every other lab object.

// LabApplyOAuthApp changes a lab OAuth app exactly once per idempotency key.
// appID is lower case, as in the entity key.
func (s *Store) LabApplyOAuthApp(ctx context.Context, req LabRequest, appID, name string, decide func(*LabOAuthApp) (LabChange, error)) (*LabOperation, error) {
	a := &LabOAuthApp{}
	return s.labApply(ctx, req, labObject{
		lock: "lab:oauthApp:" + appID, target: appID, what: "OAuth app " + appID,
		load: func(ctx context.Context, tx *sqlx.Tx) (bool, error) {
			ok, err := found(tx.GetContext(ctx, a, tx.Rebind(`SELECT * FROM lab_oauth_apps WHERE app_id = ?`), appID))
			if ok {
				err = decodeGrants(a)
			}
			return ok, err
		},
		enrol: func() { *a = LabOAuthApp{AppID: appID, Name: name, Enabled: true} },
		save: func(ctx context.Context, tx *sqlx.Tx, insert bool, now time.Time) error {
			a.UpdatedAt = now
			return saveOAuthApp(ctx, tx, a, insert)
		},
	}, func() (LabChange, error) { return decide(a) })
}

// decodeGrants reads an app row's grants.
func decodeGrants(a *LabOAuthApp) error {
	a.Grants = []labstate.OAuthGrant{}
	if a.GrantsJSON == "" {
		return nil
	}
	if err := json.Unmarshal([]byte(a.GrantsJSON), &a.Grants); err != nil {
		return fmt.Errorf("OAuth app %s grants: %w", a.AppID, err)
	}
	return nil
}

func saveOAuthApp(ctx context.Context, tx sqlx.ExtContext, a *LabOAuthApp, insert bool) error {
	grants := a.Grants
	if grants == nil {
		grants = []labstate.OAuthGrant{}
	}
	b, err := json.Marshal(grants)
	if err != nil {
		return err
	}
	q := `UPDATE lab_oauth_apps SET name = ?, enabled = ?, consent_revoked = ?, grants = ?, updated_at = ? WHERE app_id = ?`
	if insert {
		q = `INSERT INTO lab_oauth_apps (name, enabled, consent_revoked, grants, updated_at, app_id) VALUES (?, ?, ?, ?, ?, ?)`
	}
	_, err = tx.ExecContext(ctx, tx.Rebind(q), a.Name, a.Enabled, a.ConsentRevoked, string(b), utc(a.UpdatedAt), a.AppID)
	return err
}

// seedOAuthApps creates or overwrites seeded apps inside LabSeedState's
// transaction; an app id is lower-cased, as entity keys are.
func seedOAuthApps(ctx context.Context, tx *sqlx.Tx, apps []LabOAuthApp, now time.Time,
	exists func(table, col, id string) (bool, error)) error {
	for i := range apps {
		a := apps[i]
		a.AppID = strings.ToLower(strings.TrimSpace(a.AppID))
		if a.AppID == "" {
			return domain.Invalid(fmt.Sprintf("oauthApps[%d].appId", i), "a lab OAuth app needs an appId (the application id)")
		}
		ok, err := exists("lab_oauth_apps", "app_id", a.AppID)
		if err != nil {
			return err
		}
		a.UpdatedAt = now
		if err := saveOAuthApp(ctx, tx, &a, !ok); err != nil {
			return fmt.Errorf("OAuth app %s: %w", a.AppID, err)
		}
	}
	return nil
}

// LabOAuthApps lists the lab tenant's OAuth apps by application id.
func (s *Store) LabOAuthApps(ctx context.Context) ([]LabOAuthApp, error) {
	out := []LabOAuthApp{}
	if err := s.db.SelectContext(ctx, &out, `SELECT * FROM lab_oauth_apps ORDER BY app_id`); err != nil {
		return nil, fmt.Errorf("list lab OAuth apps: %w", err)
	}
	for i := range out {
		if err := decodeGrants(&out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}
