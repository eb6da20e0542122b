package store_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airsoc/air/internal/correlate"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/records"
	"github.com/airsoc/air/internal/store"
)

// FuzzStoreText feeds arbitrary strings to the store's text inputs — an
// alert's id, title and entity name, a search, a tag filter, incident tags,
// a token name — on PostgreSQL when TEST_DATABASE_URL is set (else SQLite).
// Each call must succeed or fail as invalid input: never as an internal
// error, which is what a NUL or bytes that are not UTF-8 were on
// PostgreSQL. With no -fuzz flag it runs the seeds as a normal test.
func FuzzStoreText(f *testing.F) {
	for _, seed := range []string{"", "ws-042", "a\x00b", "\x00", "\xff\xfe", `\u0000`, `\\u0000`, "é日本", "%_'\"\\", "a\u2028b"} {
		f.Add(seed)
	}
	st := OpenPostgres(f)
	if st == nil {
		st = OpenSQLite(f)
	}
	ctx := context.Background()
	var calls atomic.Int64 // the same input comes again: ids must not
	f.Fuzz(func(t *testing.T, s string) {
		n := calls.Add(1)
		bad := store.CheckText("", s) != nil
		check := func(what string, err error, mustWork bool) {
			t.Helper()
			k := domain.KindOf(err)
			if err == nil || (k == domain.KindInvalid || k == domain.KindConflict) && (bad || !mustWork) {
				return
			}
			t.Errorf("%s with %q: %v (kind %q), want success or an invalid-input error", what, s, err, domain.KindOf(err))
		}

		now := time.Now()
		a := &domain.Alert{ID: fmt.Sprintf("fz-%d", n), Title: s, Status: domain.AlertNew, Severity: domain.SeverityHigh,
			CreatedDateTime: now, LastUpdateDateTime: now, Evidence: []domain.Evidence{{Type: "userEvidence",
				Verdict: domain.VerdictSuspicious, Entity: &domain.Entity{Key: domain.EntityKey(fmt.Sprintf("user:fz-%d", n)),
					Kind: domain.KindUser, Name: s, Attrs: map[string]string{"upn": s}}}}}
		res, err := st.IngestAlert(ctx, a, correlate.Rules{})
		check("ingest", err, true)

		_, err = st.QueryIncidents(ctx, records.IncidentQuery{Search: s, Tags: []string{s}, Entity: s, Limit: 5})
		check("query incidents", err, true)
		_, err = st.QueryAudit(ctx, records.AuditQuery{Actors: []string{s}, Limit: 5})
		check("query audit", err, true)

		if res.IncidentID != 0 {
			check("tags", st.AddIncidentTags(ctx, res.IncidentID, []string{s}, "fuzz"), false)
			check("comment", st.AddIncidentComment(ctx, res.IncidentID, s, "fuzz"), false)
		}
		check("token", st.CreateToken(ctx, &records.Token{ID: fmt.Sprintf("tok-%d", n), Name: s, Role: "viewer",
			Hash: fmt.Sprintf("h-%d", n), CreatedBy: "fuzz", CreatedAt: now}), false)
	})
}
