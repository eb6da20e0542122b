package records

import (
	"time"

	"github.com/airsoc/air/internal/domain"
)

// Token is an API token as stored: its secret is never kept, only the
// secret's hash.
type Token struct {
	ID   string `json:"id" db:"id"`
	Name string `json:"name" db:"name"`
	Role string `json:"role" db:"role"`
	// Groups scopes the token to device groups; empty means every group.
	Groups     domain.StringList `json:"groups" db:"device_groups"`
	Hash       string            `json:"-" db:"hash"`
	CreatedBy  string            `json:"createdBy" db:"created_by"`
	CreatedAt  time.Time         `json:"createdAt" db:"created_at"`
	LastUsedAt *time.Time        `json:"lastUsedAt,omitempty" db:"last_used_at"`
	RevokedAt  *time.Time        `json:"revokedAt,omitempty" db:"revoked_at"`
	RevokedBy  string            `json:"revokedBy,omitempty" db:"revoked_by"`
}

// Active reports whether the token still authenticates.
func (t *Token) Active() bool { return t.RevokedAt == nil }
