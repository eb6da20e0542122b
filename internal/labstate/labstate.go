// Package labstate is the lab tenant's state as the lab tenant
// (internal/labtenant) decides it and the store keeps it: the simulated
// devices, users, mailboxes, messages, OAuth apps and artifacts, the operations
// carried out on them, and the contract of the storage that applies each
// operation exactly once. It is a leaf: connectors depend on it and on
// domain, never on the store.
package labstate

import (
	"context"
	"time"
)

// Store applies the lab tenant's operations, each exactly once per
// idempotency key: a repeated key returns the recorded operation without
// calling decide again; otherwise the object is loaded (or enrolled, when
// the request allows it), decide changes it in memory, and the change and
// the operation are written in one transaction. store.Store implements it.
type Store interface {
	LabApplyDevice(ctx context.Context, req Request, id, name string, decide func(*Device) (Change, error)) (*Operation, error)
	LabApplyUser(ctx context.Context, req Request, id, name string, decide func(*User) (Change, error)) (*Operation, error)
	LabApplyMailbox(ctx context.Context, req Request, address, name string, decide func(*Mailbox) (Change, error)) (*Operation, error)
	LabApplyMessage(ctx context.Context, req Request, id, subject string, decide func(*Message) (Change, error)) (*Operation, error)
	LabApplyArtifact(ctx context.Context, req Request, kind, id, scope string, decide func(*Artifact) (Change, error)) (*Operation, error)
	LabApplyOAuthApp(ctx context.Context, req Request, appID, name string, decide func(*OAuthApp) (Change, error)) (*Operation, error)
	// LabSeedState creates or overwrites the seed's objects.
	LabSeedState(ctx context.Context, seed Seed) error
}

// Device is a simulated device of the lab tenant.
type Device struct {
	ID        string    `json:"id" db:"id"`
	Name      string    `json:"name" db:"name"`
	Isolated  bool      `json:"isolated" db:"isolated"`
	UpdatedAt time.Time `json:"updatedAt" db:"updated_at"`
	// Added by migration 0002.
	IsolationType string `json:"isolationType,omitempty" db:"isolation_type"` // Full or Selective while isolated
	AppRestricted bool   `json:"appRestricted" db:"app_restricted"`
	LastScan      string `json:"lastScan,omitempty" db:"last_scan"` // Quick or Full, the last scan asked for
	Scans         int    `json:"scans" db:"scans"`
	Packages      int    `json:"packages" db:"packages"` // investigation packages collected
}

// Operation is one request the lab tenant carried out.
type Operation struct {
	IdempotencyKey string    `json:"idempotencyKey" db:"idempotency_key"`
	Operation      string    `json:"operation" db:"operation"`
	Target         string    `json:"target" db:"target"`
	Result         string    `json:"result" db:"result"`
	Changed        bool      `json:"changed" db:"changed"` // false when the device already was in the asked state
	CreatedAt      time.Time `json:"createdAt" db:"created_at"`
}

// Change is what the lab tenant decided a request does to one object.
type Change struct {
	Result  string // what a real API would have answered, in words
	Changed bool   // false when the object already was in the asked state
}

// Request names one lab operation: the caller's idempotency key, the
// operation's name and whether an unknown object may be enrolled on first
// use (the lab's default) or is not found (a strict lab, like a real API).
type Request struct {
	Key       string
	Operation string
	Enroll    bool
}

// User is a simulated user account.
type User struct {
	ID                 string    `json:"id" db:"id"`
	Name               string    `json:"name" db:"name"`
	Enabled            bool      `json:"enabled" db:"enabled"`
	SessionsRevoked    int       `json:"sessionsRevoked" db:"sessions_revoked"`
	MustChangePassword bool      `json:"mustChangePassword" db:"must_change_password"`
	Risk               string    `json:"risk" db:"risk"` // none, confirmedCompromised, dismissed
	UpdatedAt          time.Time `json:"updatedAt" db:"updated_at"`
}

// InboxRule is an inbox rule of a simulated mailbox.
type InboxRule struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	ForwardTo string `json:"forwardTo,omitempty"`
}

// Mailbox is a simulated mailbox.
type Mailbox struct {
	Address            string      `json:"address" db:"address"`
	Name               string      `json:"name" db:"name"`
	ExternalForwarding string      `json:"externalForwarding,omitempty" db:"external_forwarding"`
	InboxRules         []InboxRule `json:"inboxRules" db:"-"`
	RulesJSON          string      `json:"-" db:"inbox_rules"`
	UpdatedAt          time.Time   `json:"updatedAt" db:"updated_at"`
}

// Message is a simulated delivered message.
type Message struct {
	ID        string    `json:"id" db:"id"` // networkMessageId
	Mailbox   string    `json:"mailbox" db:"mailbox"`
	Subject   string    `json:"subject" db:"subject"`
	Sender    string    `json:"sender" db:"sender"`
	Folder    string    `json:"folder" db:"folder"` // inbox or deleteditems
	UpdatedAt time.Time `json:"updatedAt" db:"updated_at"`
}

// Artifact is a quarantined file, a killed process, a removed
// persistence mechanism or a blocked indicator.
type Artifact struct {
	Kind      string     `json:"kind" db:"kind"`
	ID        string     `json:"id" db:"id"`
	Scope     string     `json:"scope" db:"scope"` // a device id, or "" for tenant-wide
	State     string     `json:"state" db:"state"`
	ExpiresAt *time.Time `json:"expiresAt,omitempty" db:"expires_at"`
	UpdatedAt time.Time  `json:"updatedAt" db:"updated_at"`
}

// OAuthApp is a simulated OAuth app: its service principal in the tenant
// and the permissions granted to it. An app enrolled on first use is
// enabled and holds grants the lab does not know; a seeded one lists them.
type OAuthApp struct {
	AppID          string       `json:"appId" db:"app_id"` // lower case, as in the entity key
	Name           string       `json:"name" db:"name"`
	Enabled        bool         `json:"enabled" db:"enabled"`
	ConsentRevoked bool         `json:"consentRevoked" db:"consent_revoked"`
	Grants         []OAuthGrant `json:"grants" db:"-"`
	GrantsJSON     string       `json:"-" db:"grants"`
	UpdatedAt      time.Time    `json:"updatedAt" db:"updated_at"`
}

// OAuthGrant is one permission granted to an OAuth app: a delegated
// permission grant (Graph oAuth2PermissionGrant: a user's or an admin's
// consent to scopes) or an application permission (an appRoleAssignment).
type OAuthGrant struct {
	ID          string `json:"id"`
	Type        string `json:"type"`                  // delegated or application
	ConsentType string `json:"consentType,omitempty"` // Principal (one user) or AllPrincipals (admin)
	Principal   string `json:"principal,omitempty"`   // the consenting user, for Principal
	Scope       string `json:"scope"`                 // scopes (delegated) or the app role (application)
}

// Seed is initial lab state: objects to create or overwrite.
type Seed struct {
	Devices   []Device   `json:"devices" yaml:"devices"`
	Users     []User     `json:"users" yaml:"users"`
	Mailboxes []Mailbox  `json:"mailboxes" yaml:"mailboxes"`
	Messages  []Message  `json:"messages" yaml:"messages"`
	OAuthApps []OAuthApp `json:"oauthApps" yaml:"oauthApps"`
}
