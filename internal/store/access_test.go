package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/records"
	"github.com/airsoc/air/internal/store"
)

func TestTokensAndSessions(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Second)
		tok := &records.Token{ID: "tok_1", Name: "ana", Role: "responder", Groups: domain.StringList{"Workstations"},
			Hash: "h1", CreatedBy: "admin", CreatedAt: now}
		if err := s.CreateToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
		got, err := s.TokenByHash(ctx, "h1")
		if err != nil || got.ID != "tok_1" || got.Role != "responder" || len(got.Groups) != 1 || got.Groups[0] != "Workstations" {
			t.Fatalf("token by hash: got %+v, %v", got, err)
		}
		if _, err := s.TokenByHash(ctx, "nope"); domain.KindOf(err) != domain.KindNotFound {
			t.Errorf("unknown hash: got %v, want not found", err)
		}
		if err := s.TouchToken(ctx, "tok_1", now); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.GetToken(ctx, "tok_1"); got.LastUsedAt == nil {
			t.Errorf("last used not recorded")
		}

		if err := s.CreateSession(ctx, "sess1", tok, now, now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if got, err := s.SessionToken(ctx, "sess1", now.Add(time.Minute)); err != nil || got.ID != "tok_1" {
			t.Errorf("live session: got %+v, %v", got, err)
		}
		if _, err := s.SessionToken(ctx, "sess1", now.Add(2*time.Hour)); domain.KindOf(err) != domain.KindNotFound {
			t.Errorf("expired session: got %v, want not found", err)
		}

		if _, err := s.RevokeToken(ctx, "tok_1", "admin", now); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SessionToken(ctx, "sess1", now.Add(time.Minute)); domain.KindOf(err) != domain.KindNotFound {
			t.Errorf("session of a revoked token: got %v, want not found", err)
		}
		if _, err := s.RevokeToken(ctx, "tok_1", "admin", now); domain.KindOf(err) != domain.KindConflict {
			t.Errorf("revoke twice: got %v, want conflict", err)
		}
		if _, err := s.RevokeToken(ctx, "tok_x", "admin", now); domain.KindOf(err) != domain.KindNotFound {
			t.Errorf("revoke unknown: got %v, want not found", err)
		}

		page, err := s.QueryAudit(ctx, records.AuditQuery{Verbs: []string{"token.", "session."}, Ascending: true})
		if err != nil {
			t.Fatal(err)
		}
		var verbs []string
		for _, e := range page.Value {
			verbs = append(verbs, e.Verb+" by "+e.Actor)
			if strings.Contains(e.After+e.Before, "h1") {
				t.Errorf("audit entry carries the token hash: %+v", e)
			}
		}
		want := "token.created by admin, session.created by ana, token.revoked by admin"
		if got := strings.Join(verbs, ", "); got != want || page.Total != 3 {
			t.Errorf("audit: got %q (total %d), want %q", got, page.Total, want)
		}
	})
}

func TestAuditIsAppendOnly(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		if err := s.CreateToken(ctx, &records.Token{ID: "tok_1", Name: "a", Role: "admin", Hash: "h", CreatedBy: "x", CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		for _, stmt := range []string{`UPDATE audit SET actor = 'mallory'`, `DELETE FROM audit`} {
			if err := s.ExecForTest(ctx, stmt); err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Errorf("%s: got %v, want the database to refuse (append-only)", stmt, err)
			}
		}
		page, err := s.QueryAudit(ctx, records.AuditQuery{})
		if err != nil || page.Total != 1 || page.Value[0].Actor != "x" {
			t.Errorf("audit after refused changes: %+v, %v", page, err)
		}
	})
}

func TestQueryAuditFilters(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		for i, who := range []string{"ana", "bob", "ana", "cy"} {
			tok := &records.Token{ID: "tok_" + string(rune('a'+i)), Name: "token-" + string(rune('a'+i)), Role: "viewer", Hash: "h" + string(rune('a'+i)),
				CreatedBy: who, CreatedAt: base.Add(time.Duration(i) * time.Hour)}
			if err := s.CreateToken(ctx, tok); err != nil {
				t.Fatal(err)
			}
		}
		tests := []struct {
			name string
			q    records.AuditQuery
			want []string // objects, in order
		}{
			{"newest first", records.AuditQuery{}, []string{"token:tok_d", "token:tok_c", "token:tok_b", "token:tok_a"}},
			{"by actor", records.AuditQuery{Actors: []string{"ana"}}, []string{"token:tok_c", "token:tok_a"}},
			{"verb exact", records.AuditQuery{Verbs: []string{"token.created"}, Limit: 1}, []string{"token:tok_d"}},
			{"verb prefix", records.AuditQuery{Verbs: []string{"token."}, Ascending: true, Offset: 3}, []string{"token:tok_d"}},
			{"verb no match", records.AuditQuery{Verbs: []string{"action."}}, nil},
			{"time range", records.AuditQuery{Since: base.Add(time.Hour), Until: base.Add(3 * time.Hour)}, []string{"token:tok_c", "token:tok_b"}},
			{"object", records.AuditQuery{Object: "token:tok_b"}, []string{"token:tok_b"}},
		}
		for _, tt := range tests {
			page, err := s.QueryAudit(ctx, tt.q)
			if err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			var got []string
			for _, e := range page.Value {
				got = append(got, e.Object)
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
			}
		}
	})
}
