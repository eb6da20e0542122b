package store

import (
	"context"
	"fmt"
	"time"
)

// Rate-limit buckets that every process on the database shares (table
// rate_limits, migration 0460). A bucket is kept as the time it is full
// again (GCRA's theoretical arrival time), so that a take is one atomic
// upsert whose arithmetic runs in the database: two processes taking at
// once queue on the row (PostgreSQL's row lock, SQLite's write lock), and
// no read-then-write race can hand one request out twice. The store only
// counts; what a key is and what to do past the limit is the caller's
// (internal/auth.Limiter).

// maxBucketSpan bounds Burst×Interval, so that a bucket's time stays
// inside int64 nanoseconds (until the year 2262) whatever the setting.
const maxBucketSpan = 100 * 365 * 24 * time.Hour

// RateBucket is a token bucket: at most Burst requests at once, one more
// every Interval. Every process must use one bucket per key: a key taken
// with two settings is counted with whichever each take names.
type RateBucket struct {
	Interval time.Duration
	Burst    int
}

// span returns the bucket's interval and its capacity in time
// (Burst×Interval), both positive nanoseconds.
func (b RateBucket) span() (interval, span int64) {
	interval = max(1, int64(b.Interval))
	burst := int64(max(1, b.Burst))
	if burst > int64(maxBucketSpan)/interval {
		return interval, int64(maxBucketSpan) / interval * interval
	}
	return interval, burst * interval
}

// RateLimitTake takes up to n requests from key's bucket at now and
// returns how many it granted, which is fewer than n when the bucket holds
// fewer; when it granted none, wait is how long until the bucket holds one
// again.
func (s *Store) RateLimitTake(ctx context.Context, key string, b RateBucket, n int, now time.Time) (granted int, wait time.Duration, err error) {
	interval, span := b.span()
	at, num := now.UnixNano(), int64(max(1, n))
	full := at + span
	first := min(num, span/interval) // a key without a row has a full bucket
	lo, hi := "LEAST", "GREATEST"
	if s.dialect == SQLite {
		lo, hi = "min", "max"
	}
	base := hi + "(rate_limits.tat, CAST(? AS BIGINT))"
	avail := fmt.Sprintf("%s(0, %s(CAST(? AS BIGINT), (CAST(? AS BIGINT) - %s) / CAST(? AS BIGINT)))", hi, lo, base)
	q := `INSERT INTO rate_limits (key, tat, granted) VALUES (?, ?, ?)
		ON CONFLICT (key) DO UPDATE SET granted = ` + avail + `,
		tat = ` + base + ` + ` + avail + ` * CAST(? AS BIGINT)
		RETURNING tat, granted`
	args := []any{key, at + first*interval, first,
		num, full, at, interval, // granted = avail
		at,                      // tat = base
		num, full, at, interval, // + avail
		interval} // * interval
	var row struct {
		Tat     int64 `db:"tat"`
		Granted int64 `db:"granted"`
	}
	if err := s.db.GetContext(ctx, &row, s.db.Rebind(q), args...); err != nil {
		return 0, 0, fmt.Errorf("take from rate limit %s: %w", key, err)
	}
	if row.Granted > 0 {
		return int(row.Granted), 0, nil
	}
	// Nothing granted: the row is unchanged and its tat is past now.
	return 0, time.Duration(max(row.Tat, at) + interval - full), nil
}

// RateLimitPeek returns how many requests key's bucket holds at now,
// taking none; when it holds none, wait is how long until it holds one.
func (s *Store) RateLimitPeek(ctx context.Context, key string, b RateBucket, now time.Time) (available int, wait time.Duration, err error) {
	interval, span := b.span()
	at := now.UnixNano()
	var tats []int64
	if err := s.db.SelectContext(ctx, &tats, s.db.Rebind(`SELECT tat FROM rate_limits WHERE key = ?`), key); err != nil {
		return 0, 0, fmt.Errorf("read rate limit %s: %w", key, err)
	}
	if len(tats) == 0 {
		return int(span / interval), 0, nil
	}
	base, full := max(tats[0], at), at+span
	if n := (full - base) / interval; n > 0 {
		return int(n), 0, nil
	}
	return 0, time.Duration(base + interval - full), nil
}

// RateLimitPrune deletes the buckets that are full again at now (a row
// that says so counts the same as no row) and returns how many it deleted.
func (s *Store) RateLimitPrune(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, s.db.Rebind(`DELETE FROM rate_limits WHERE tat <= ?`), now.UnixNano())
	if err != nil {
		return 0, fmt.Errorf("prune rate limits: %w", err)
	}
	return res.RowsAffected()
}
