package workflows

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/airsoc/air/internal/correlate"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/policy"
	"github.com/airsoc/air/internal/store"
)

// TestRandomInterleavings drives investigations with random interleavings
// of joining alerts, decisions by different people, settings changes,
// undos and stops, then restarts the incident's workflow, and checks the
// invariants the live loop promises after each run:
//   - the run completes, in a defined final state, with nothing pending;
//   - a decision the workflow accepted is what the action shows;
//   - one live action per (type, target): none proposed twice;
//   - every effect in the lab tenant belongs to a recorded action that
//     ran, and no action ran twice (one lab operation per idempotency key,
//     none for actions that never ran);
//   - every final action says why (who decided, or the policy's reason);
//   - a stopped run ends terminatedByUser.
//
// A failing seed is printed; rerun it with AIR_SEED.
func TestRandomInterleavings(t *testing.T) {
	seeds := 12
	if testing.Short() {
		seeds = 3
	}
	for seed := range seeds {
		t.Run(fmt.Sprint("seed-", seed), func(t *testing.T) {
			interleave(t, uint64(seed))
		})
	}
}

type decision struct {
	id       string
	decision domain.Decision
}

func interleave(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 21))
	f := newFixtureWith(t, deviceEvidence(domain.VerdictMalicious), fileEvidence())
	levels := []policy.Level{policy.Full, policy.SemiAll, policy.None}
	f.settings(policy.Settings{Default: levels[rng.IntN(len(levels))], FourEyes: rng.IntN(2) == 0})

	var accepted []decision
	stopped := false
	people := []string{"ana", "bo"}
	at := func() time.Duration { return time.Duration(1+rng.IntN(180)) * time.Minute }
	events := 4 + rng.IntN(6)
	for i := range events {
		switch rng.IntN(5) {
		case 0: // an alert joins
			id := fmt.Sprintf("alert-join-%d", i)
			f.env.RegisterDelayedCallback(func() {
				now := time.Date(2026, 5, 1, 9, 30, 0, 0, time.UTC)
				res, err := f.store.IngestAlert(context.Background(), &domain.Alert{ID: id, Title: "More malware on ws-042",
					Status: domain.AlertNew, Severity: domain.SeverityHigh, Category: "Execution",
					CreatedDateTime: now, LastUpdateDateTime: now, Evidence: []domain.Evidence{deviceEvidence(domain.VerdictMalicious)}},
					correlate.Rules{})
				if err != nil {
					t.Errorf("ingest: %v", err)
					return
				}
				if res.IncidentID == f.incident {
					f.env.SignalWorkflow(SignalAlertsAdded, AlertsAdded{AlertIDs: []string{id}})
				}
			}, at())
		case 1: // a decision on a pending action
			approve := rng.IntN(3) > 0
			who := people[rng.IntN(2)]
			f.env.RegisterDelayedCallback(func() {
				for _, a := range f.actions() {
					if a.Status != domain.ActionPending {
						continue
					}
					d := domain.DecisionReject
					if approve {
						d = domain.DecisionApprove
					}
					f.decide(DecideRequest{ActionID: a.ID, Decision: d, By: who, Role: domain.RoleResponder}, func(err error) {
						if err == nil {
							accepted = append(accepted, decision{a.ID, d})
						}
					})
					return
				}
			}, at())
		case 2: // settings change mid-investigation
			s := policy.Settings{Default: levels[rng.IntN(len(levels))], FourEyes: rng.IntN(2) == 0}
			f.env.RegisterDelayedCallback(func() { f.settings(s) }, at())
		case 3: // an undo of something that ran
			who := people[rng.IntN(2)]
			f.env.RegisterDelayedCallback(func() {
				for _, a := range f.actions() {
					if a.Status == domain.ActionSucceeded && a.UndoOf == "" {
						f.update(UpdateUndo, UndoRequest{ActionID: a.ID, By: who, Role: domain.RoleResponder, Comment: "false alarm"}, func(any, error) {})
						return
					}
				}
			}, at())
		case 4: // a stop, now and then
			if rng.IntN(3) > 0 {
				continue
			}
			f.env.RegisterDelayedCallback(func() {
				f.update(UpdateStop, StopRequest{Reason: "known pentest", By: "ana", Role: domain.RoleResponder}, func(_ any, err error) {
					if err == nil {
						stopped = true
					}
				})
			}, at())
		}
	}
	st := f.run()
	t.Logf("%d events: %d actions, %d decisions taken, stopped %v, ended %s", events, len(f.actions()), len(accepted), stopped, st.Investigation)
	checkInvariants(t, f, st, accepted, stopped)

	// A restart: the next run of the same incident (as new alerts or an
	// Update would start it) must not redo anything.
	before, err := f.store.LabOperations(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	done := map[string]string{} // idempotency key → action id, of actions final before the restart
	for _, a := range f.actions() {
		done[a.IdempotencyKey] = a.ID
	}
	f.rerun()
	st = f.run()
	checkInvariants(t, f, st, accepted, false)
	after, _ := f.store.LabOperations(context.Background())
	if len(after) < len(before) {
		t.Fatalf("lab operations went from %d to %d", len(before), len(after))
	}
	for _, op := range after {
		if id, ok := done[op.IdempotencyKey]; ok && !slices.ContainsFunc(before, func(b store.LabOperation) bool { return b.IdempotencyKey == op.IdempotencyKey }) {
			t.Errorf("the restart ran action %s again (%s)", id, op.Operation)
		}
	}
}

func checkInvariants(t *testing.T, f *fixture, st *State, accepted []decision, stopped bool) {
	t.Helper()
	switch st.Investigation {
	case domain.InvestigationBenign, domain.InvestigationSuccessfullyRemediated, domain.InvestigationPartiallyRemediated,
		domain.InvestigationFailed, domain.InvestigationTerminatedByUser:
	default:
		t.Errorf("final state %q", st.Investigation)
	}
	if stopped && st.Investigation != domain.InvestigationTerminatedByUser {
		t.Errorf("stopped, but ended %s", st.Investigation)
	}
	acts := f.actions()
	byID := map[string]domain.Action{}
	live := map[string]string{}
	for _, a := range acts {
		byID[a.ID] = a
		switch a.Status {
		case domain.ActionPending, domain.ActionApproved, domain.ActionRunning:
			t.Errorf("action %s still %s after the run completed", a.ID, a.Status)
		case domain.ActionRejected, domain.ActionExpired:
			if a.DecidedBy == "" && a.DecisionComment == "" && a.Status == domain.ActionRejected {
				t.Errorf("action %s rejected without who or why", a.ID)
			}
		default:
			if a.DecidedBy == "" && a.Reason == "" {
				t.Errorf("action %s %s without who decided or the policy's reason", a.ID, a.Status)
			}
			if a.UndoOf == "" {
				k := a.Type + " " + string(a.TargetKey)
				if other, dup := live[k]; dup {
					t.Errorf("%s proposed twice: %s and %s", k, other, a.ID)
				}
				live[k] = a.ID
			}
		}
	}
	for _, d := range accepted {
		a := byID[d.id]
		switch {
		case d.decision == domain.DecisionReject && a.Status != domain.ActionRejected:
			t.Errorf("accepted reject of %s, but it is %s", d.id, a.Status)
		case d.decision == domain.DecisionApprove && (a.Status == domain.ActionRejected || a.Status == domain.ActionExpired):
			t.Errorf("accepted approval of %s, but it is %s", d.id, a.Status)
		}
	}
	ops, err := f.store.LabOperations(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	for _, op := range ops {
		if keys[op.IdempotencyKey] {
			t.Errorf("lab operation %s ran twice", op.IdempotencyKey)
		}
		keys[op.IdempotencyKey] = true
		found := false
		for _, a := range acts {
			if a.IdempotencyKey == op.IdempotencyKey {
				found = true
				if a.Status != domain.ActionSucceeded && a.Status != domain.ActionFailed && a.Status != domain.ActionUndone {
					t.Errorf("lab %s on %s by action %s, which is %s", op.Operation, op.Target, a.ID, a.Status)
				}
			}
		}
		if !found {
			t.Errorf("lab %s on %s by no recorded action (key %s)", op.Operation, op.Target, op.IdempotencyKey)
		}
	}
}
