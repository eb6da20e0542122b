package labtenant_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airsoc/air/activities/connectortest"
	"github.com/airsoc/air/internal/actions"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/labstate"
	"github.com/airsoc/air/internal/labtenant"
	"github.com/airsoc/air/internal/remediation"
	"github.com/airsoc/air/internal/store"
	"github.com/airsoc/air/internal/store/storetest"
)

func req(typ, target, params, key string) remediation.Request {
	return remediation.Request{ActionID: "a", IncidentID: 1, Type: typ, Target: domain.EntityKey(target),
		TargetName: "name", Params: []byte(params), IdempotencyKey: key}
}

// TestEveryTypeIsExactlyOncePerKey runs each remediation type twice with one
// key (a retried activity: the recorded answer, no second effect), then
// with a new key (a second request: the target is already in the asked
// state where the type has one).
func TestEveryTypeIsExactlyOncePerKey(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		lab := &labtenant.Tenant{Store: s}
		sha := strings.Repeat("ab", 32)
		tests := []struct {
			typ, target, params string
			first, second       string // "changed: result" of the first key and of a new key
		}{
			{"device.isolate", "device:d1", `{"isolationType":"Selective"}`, "true: isolated", "false: already isolated"},
			{"device.release", "device:d1", `{}`, "true: released", "false: not isolated"},
			{"device.restrict_app_execution", "device:d1", `{}`, "true: app execution restricted", "false: app execution already restricted"},
			{"device.unrestrict_app_execution", "device:d1", `{}`, "true: app execution restriction lifted", "false: app execution not restricted"},
			{"device.run_av_scan", "device:d1", `{"scanType":"Full"}`, "true: Full scan run", "true: Full scan run"},
			{"device.collect_investigation_package", "device:d1", `{}`, "true: investigation package 1 collected", "true: investigation package 2 collected"},
			{"file.stop_and_quarantine", "file:" + sha, `{"deviceId":"d1"}`, "true: file stopped and quarantined", "false: already quarantined"},
			{"file.release_quarantine", "file:" + sha, `{"deviceId":"d1"}`, "true: file released from quarantine", "false: not quarantined"},
			{"process.kill", "process:d1:42:2026-03-01T00:00:00Z", `{}`, "true: process killed", "false: process already ended"},
			{"persistence.remove", "device:d1", `{"kind":"service","name":"evilsvc"}`, "true: persistence removed", "false: persistence already removed"},
			{"persistence.restore", "device:d1", `{"kind":"service","name":"evilsvc"}`, "true: persistence restored", "false: persistence not removed"},
			{"email.soft_delete", "message:m1", `{}`, "true: message moved to Deleted Items", "false: message already in deleteditems"},
			{"email.move_to_inbox", "message:m1", `{}`, "true: message moved to the inbox", "false: message already in inbox"},
			{"email.block_sender", "mailbox:evil@example.net", `{"expiresIn":"720h"}`, "true: sender blocked", "false: sender already blocked"},
			{"email.unblock_sender", "mailbox:evil@example.net", `{}`, "true: sender unblocked", "false: sender not blocked"},
			{"url.block", "url:https://evil.example/x", `{}`, "true: URL blocked", "false: URL already blocked"},
			{"url.unblock", "url:https://evil.example/x", `{}`, "true: URL unblocked", "false: URL not blocked"},
			{"ip.block", "ip:203.0.113.9", `{}`, "true: IP address blocked", "false: IP address already blocked"},
			{"ip.unblock", "ip:203.0.113.9", `{}`, "true: IP address unblocked", "false: IP address not blocked"},
			{"file.block", "file:" + sha, `{}`, "true: file hash blocked", "false: file hash already blocked"},
			{"file.unblock", "file:" + sha, `{}`, "true: file hash unblocked", "false: file hash not blocked"},
			{"mailbox.disable_external_forwarding", "mailbox:ana@contoso.example", `{}`, "false: no external forwarding", "false: no external forwarding"},
			{"mailbox.remove_inbox_rule", "mailbox:ana@contoso.example", `{"ruleId":"r1"}`, "false: inbox rule r1 already gone", "false: inbox rule r1 already gone"},
			{"user.disable", "user:ana@contoso.example", `{}`, "true: disabled", "false: already disabled"},
			{"user.enable", "user:ana@contoso.example", `{}`, "true: enabled", "false: already enabled"},
			{"user.revoke_sessions", "user:ana@contoso.example", `{}`, "true: sign-in sessions revoked", "true: sign-in sessions revoked"},
			{"user.reset_password", "user:ana@contoso.example", `{}`, "true: password change required at next sign-in", "false: password change already required"},
			{"user.reset_factors", "user:ana@contoso.example", `{}`, "true: MFA methods removed: the user registers again at next sign-in", "true: MFA methods removed: the user registers again at next sign-in"},
			{"user.confirm_compromised", "user:ana@contoso.example", `{}`, "true: confirmed compromised (risk high)", "false: already confirmed compromised"},
			{"user.dismiss_risk", "user:ana@contoso.example", `{}`, "true: risk dismissed", "false: no risk to dismiss"},
			{"app.disable", "oauthApp:5e3ce6c0-2b1f-4285-8d4b-75ee78787346", `{}`, "true: service principal disabled", "false: service principal already disabled"},
			{"app.enable", "oauthApp:5e3ce6c0-2b1f-4285-8d4b-75ee78787346", `{}`, "true: service principal enabled", "false: service principal not disabled"},
			{"app.revoke_consent", "oauthApp:5e3ce6c0-2b1f-4285-8d4b-75ee78787346", `{}`, "true: consent grants and app role assignments revoked", "false: no consent grants left to revoke"},
		}
		covered := map[string]bool{}
		for _, tt := range tests {
			covered[tt.typ] = true
			run := func(key string) string {
				res, err := lab.Execute(ctx, req(tt.typ, tt.target, tt.params, key))
				if err != nil {
					t.Fatalf("%s (%s): %v", tt.typ, key, err)
				}
				return fmt.Sprintf("%v: %s", res.Changed, res.Summary)
			}
			if got := run(tt.typ + "/1"); got != tt.first {
				t.Errorf("%s: got %q, want %q", tt.typ, got, tt.first)
			}
			if got := run(tt.typ + "/1"); got != tt.first {
				t.Errorf("%s retried: got %q, want the recorded %q", tt.typ, got, tt.first)
			}
			if got := run(tt.typ + "/2"); got != tt.second {
				t.Errorf("%s again: got %q, want %q", tt.typ, got, tt.second)
			}
			if tt.typ == "email.block_sender" {
				arts, err := s.LabArtifacts(ctx)
				if err != nil || len(arts) == 0 {
					t.Fatal(err)
				}
				if a := arts[len(arts)-1]; a.Kind != "sender" || a.ExpiresAt == nil || a.ExpiresAt.Before(time.Now().Add(719*time.Hour)) {
					t.Errorf("sender block: %+v; want it to expire in 720h", a)
				}
			}
		}
		for _, spec := range actions.All() {
			if spec.Remediation && !spec.CaseAction() && !covered[spec.Type] { // case actions are AIR's own (internal/caseaction)
				t.Errorf("%s is not covered by this test", spec.Type)
			}
		}
		ops, err := s.LabOperations(ctx)
		if err != nil || len(ops) != 2*len(tests) {
			t.Errorf("operations: got %d (%v), want %d: a retried key records nothing", len(ops), err, 2*len(tests))
		}
		dev, err := s.LabDeviceByID(ctx, "d1")
		if err != nil || dev.Isolated || dev.AppRestricted || dev.Scans != 2 || dev.LastScan != "Full" || dev.Packages != 2 {
			t.Errorf("device after all: %+v, %v", dev, err)
		}
		users, _ := s.LabUsers(ctx)
		if len(users) != 1 || !users[0].Enabled || users[0].SessionsRevoked != 2 || !users[0].MustChangePassword || users[0].Risk != "dismissed" {
			t.Errorf("users: %+v", users)
		}
		apps, _ := s.LabOAuthApps(ctx)
		if len(apps) != 1 || !apps[0].Enabled || !apps[0].ConsentRevoked || len(apps[0].Grants) != 0 {
			t.Errorf("OAuth apps: %+v", apps)
		}
		arts, _ := s.LabArtifacts(ctx)
		if len(arts) != 7 {
			t.Errorf("artifacts: got %d, want 7: %+v", len(arts), arts)
		}
		for _, a := range arts {
			if a.Kind == "sender" && (a.State != "unblocked" || a.ExpiresAt != nil) {
				t.Errorf("an unblocked sender keeps no expiry: %+v", a)
			}
		}
	})
}

func TestSeedStrictAndMailboxes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		lab := &labtenant.Tenant{Store: s, Strict: true}
		err := lab.Seed(ctx, store.LabSeed{
			Users: []store.LabUser{{ID: "ana@contoso.example", Name: "Ana", Enabled: true}},
			Mailboxes: []store.LabMailbox{{Address: "ana@contoso.example", Name: "Ana", ExternalForwarding: "x@evil.example",
				InboxRules: []store.LabInboxRule{{ID: "r1", Name: "move to RSS", ForwardTo: "x@evil.example"}, {ID: "r2", Name: "keep"}}}},
			Messages: []store.LabMessage{{ID: "m1", Mailbox: "ana@contoso.example", Subject: "invoice", Sender: "x@evil.example"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, tt := range []struct{ typ, target, params, want string }{
			{"mailbox.disable_external_forwarding", "mailbox:ana@contoso.example", `{}`, "forwarding to x@evil.example disabled"},
			{"mailbox.remove_inbox_rule", "mailbox:ana@contoso.example", `{"ruleId":"r1"}`, "inbox rule r1 removed"},
			{"email.soft_delete", "message:m1", `{}`, "message moved to Deleted Items"},
			{"user.disable", "user:ana@contoso.example", `{}`, "disabled"},
		} {
			res, err := lab.Execute(ctx, req(tt.typ, tt.target, tt.params, "k/"+tt.typ))
			if err != nil || res.Summary != tt.want || !res.Changed {
				t.Errorf("%s: got %+v, %v; want %q", tt.typ, res, err, tt.want)
			}
		}
		mbs, _ := s.LabMailboxes(ctx)
		if len(mbs) != 1 || mbs[0].ExternalForwarding != "" || len(mbs[0].InboxRules) != 1 || mbs[0].InboxRules[0].ID != "r2" {
			t.Errorf("mailbox: %+v", mbs)
		}
		msgs, _ := s.LabMessages(ctx)
		if len(msgs) != 1 || msgs[0].Folder != "deleteditems" || msgs[0].Subject != "invoice" {
			t.Errorf("messages: %+v", msgs)
		}
		for _, tt := range []struct{ typ, target, params string }{
			{"user.disable", "user:bob@contoso.example", `{}`},
			{"device.isolate", "device:d9", `{}`},
			{"mailbox.disable_external_forwarding", "mailbox:bob@contoso.example", `{}`},
			{"email.soft_delete", "message:m9", `{}`},
		} {
			_, err := lab.Execute(ctx, req(tt.typ, tt.target, tt.params, "k/"+tt.target))
			if domain.KindOf(err) != domain.KindNotFound {
				t.Errorf("strict %s on %s: got %v, want not found", tt.typ, tt.target, err)
			}
		}
	})
}

// TestSeededOAuthApp: a seeded app's grants are what revoking its consent
// names and empties; the seed lower-cases the application id as entity
// keys do; a strict lab does not know an app it was not given.
func TestSeededOAuthApp(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		lab := &labtenant.Tenant{Store: s, Strict: true}
		err := lab.Seed(ctx, store.LabSeed{OAuthApps: []store.LabOAuthApp{{AppID: "5E3CE6C0-2B1F-4285-8D4B-75EE78787346",
			Name: "Mail Helper", Enabled: true, Grants: []labstate.OAuthGrant{
				{ID: "g1", Type: "delegated", ConsentType: "Principal", Principal: "ana@contoso.example", Scope: "Mail.Read offline_access"},
				{ID: "g2", Type: "delegated", ConsentType: "AllPrincipals", Scope: "User.Read Mail.Read"},
				{ID: "r1", Type: "application", Scope: "Mail.ReadWrite"}}}}})
		if err != nil {
			t.Fatal(err)
		}
		const app = "oauthApp:5e3ce6c0-2b1f-4285-8d4b-75ee78787346"
		for _, tt := range []struct{ typ, want string }{
			{"app.disable", "true: service principal disabled"},
			{"app.revoke_consent", "true: 2 delegated permission grant(s) and 1 app role assignment(s) revoked (scopes Mail.Read offline_access User.Read)"},
			{"app.enable", "true: service principal enabled"},
		} {
			res, err := lab.Execute(ctx, req(tt.typ, app, `{}`, "k/"+tt.typ))
			if got := fmt.Sprintf("%v: %s", res.Changed, res.Summary); err != nil || got != tt.want {
				t.Errorf("%s: got %q, %v; want %q", tt.typ, got, err, tt.want)
			}
		}
		apps, err := s.LabOAuthApps(ctx)
		if err != nil || len(apps) != 1 || apps[0].Name != "Mail Helper" || !apps[0].Enabled || !apps[0].ConsentRevoked || len(apps[0].Grants) != 0 {
			t.Errorf("apps: %+v, %v", apps, err)
		}
		_, err = lab.Execute(ctx, req("app.disable", "oauthApp:00000000-0000-4000-8000-00000000dead", `{}`, "k/unknown"))
		if domain.KindOf(err) != domain.KindNotFound {
			t.Errorf("strict app.disable on an unknown app: got %v, want not found", err)
		}
	})
}

func TestBadRequests(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		lab := &labtenant.Tenant{Store: s}
		for _, tt := range []struct{ typ, target, params, want string }{
			{"device.isolate", "user:ana", `{}`, "target: device.isolate needs a device target"},
			{"device.isolate", "device:", `{}`, "needs a device target"},
			{"incident.tag", "device:d1", `{}`, "cannot carry out incident.tag"},
			{"email.block_sender", "mailbox:x@y", `{"expiresIn":"forever"}`, "params.expiresIn"},
			{"mailbox.remove_inbox_rule", "mailbox:x@y", `{}`, `needs parameter "ruleId"`},
			{"persistence.restore", "device:d1", `{"comment":"undo"}`, `needs parameter "kind"`},
			{"device.isolate", "device:d1", `{"isolationType":"Partial"}`, `unknown value "Partial"`},
			{"device.isolate", "device:d1", `{"isolation":"Full"}`, `takes no parameter "isolation"`},
		} {
			_, err := lab.Execute(context.Background(), req(tt.typ, tt.target, tt.params, "k/"+tt.typ+tt.target))
			if domain.KindOf(err) != domain.KindInvalid || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%s on %s: got %v, want invalid %q", tt.typ, tt.target, err, tt.want)
			}
		}
	})
}

// TestFaultsAnswerLikeVendors checks the lab's bad days, through the
// activity, so that each is the outcome a vendor's answer would be.
func TestFaultsAnswerLikeVendors(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		lab := &labtenant.Tenant{Store: s, Faults: []labtenant.Fault{
			{Type: "device.isolate", Answer: labtenant.Throttled, Times: 2, RetryAfter: 4 * time.Second},
			{Type: "device.*", Answer: labtenant.InProgress, Times: 1},
			{Type: "user.*", Answer: labtenant.Unavailable, Times: 1},
		}}
		var got []string
		run := func(typ, target, key string) {
			res, err := connectortest.Run(lab, req(typ, target, `{}`, key), "", nil)
			o := connectortest.Outcome(err)
			if err == nil {
				o += fmt.Sprintf(" changed=%v %s", res.Changed, res.Summary)
			}
			got = append(got, o)
		}
		run("device.isolate", "device:d1", "k1") // throttled
		run("device.isolate", "device:d1", "k1") // throttled again
		run("device.isolate", "device:d1", "k1") // the in-progress fault: joins
		run("device.release", "device:d1", "k2") // faults spent
		run("user.disable", "user:ana", "k3")    // unavailable
		run("user.disable", "user:ana", "k3")
		want := []string{
			"retry after 4s", "retry after 4s",
			"ok changed=false already in progress: joined the running request; isolated",
			"ok changed=true released",
			"retry",
			"ok changed=true disabled",
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("answers:\n got %q\nwant %q", got, want)
		}
	})
}

// TestConcurrentRequestsOneEffect: the same key from two workers at once
// (a retry racing the original) records one operation.
func TestConcurrentRequestsOneEffect(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		lab := &labtenant.Tenant{Store: s}
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := lab.Execute(context.Background(), req("user.revoke_sessions", "user:ana", `{}`, "same-key"))
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("concurrent: %v", err)
			}
		}
		users, _ := s.LabUsers(context.Background())
		if len(users) != 1 || users[0].SessionsRevoked != 1 {
			t.Errorf("users: %+v, want sessions revoked once", users)
		}
	})
}
