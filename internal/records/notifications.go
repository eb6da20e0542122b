package records

import (
	"time"

	"github.com/airsoc/air/internal/domain"
)

// NotificationClaim asks for due notifications to send.
type NotificationClaim struct {
	// Token marks the claim; only its holder may record an outcome.
	Token string
	// Now is the time the claim is made at; Lease how long it holds a
	// row before another dispatcher may take it (a dispatcher that
	// died mid-send).
	Now   time.Time
	Lease time.Duration
	Limit int
	// SkipChannels are left alone (a channel that asked to be left in
	// peace for a while).
	SkipChannels []string
}

// NotificationOutcome is what became of one claimed attempt.
type NotificationOutcome struct {
	Status domain.NotificationStatus // sent, queued (retry at Next) or failed
	At     time.Time
	Next   time.Time // queued: when to try again
	Error  string
	// Uncount takes the attempt back (a channel that said "not now",
	// which says nothing of whether the message can be delivered).
	Uncount bool
}

// NotificationQuery selects deliveries for the history. The zero value
// lists the newest 100.
type NotificationQuery struct {
	Statuses   []domain.NotificationStatus
	Channels   []string
	Rules      []string
	IncidentID int64
	Key        string
	Limit      int // 0 means 100
	Offset     int
}
