package workflows

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/logging"
	"github.com/airsoc/air/internal/msgauth"
)

func testKeys(t *testing.T, seed byte) *msgauth.Keyring {
	t.Helper()
	k, err := msgauth.New(bytes.Repeat([]byte{seed}, msgauth.MinKeyBytes))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

const authWorkflowID = "auth-test-incident"

// authFixture is the usual fixture with the Authenticator installed, as
// the worker runs it.
func authFixture(t *testing.T, k *msgauth.Keyring) *fixture {
	f := newFixture(t, domain.VerdictMalicious)
	f.env.SetWorkerOptions(worker.Options{Interceptors: []interceptor.WorkerInterceptor{Authenticator(k)}})
	f.env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: authWorkflowID})
	return f
}

func (f *fixture) signed(k *msgauth.Keyring, kind string, msg any) {
	f.t.Helper()
	if err := Sign(k, kind, authWorkflowID, f.env.Now(), msg); err != nil {
		f.t.Fatal(err)
	}
}

// TestForgedDecisionsAreRefused: with the Authenticator installed, a
// decide Update is accepted only when stamped with AIR's key over exactly
// what it says: unsigned, signed with another key, altered after signing
// (another decider or role), meant for another workflow, or signed long
// ago — all refused as forbidden; the genuine one then approves.
func TestForgedDecisionsAreRefused(t *testing.T) {
	k := testKeys(t, 1)
	f := authFixture(t, k)
	var refusals []string
	f.env.RegisterDelayedCallback(func() {
		id := f.pendingAction().ID
		base := DecideRequest{ActionID: id, Decision: domain.DecisionApprove, By: "ana", Role: domain.RoleResponder}
		forged := map[string]func() DecideRequest{
			"unsigned": func() DecideRequest { return base },
			"other key": func() DecideRequest {
				r := base
				if err := Sign(testKeys(t, 2), UpdateDecide, authWorkflowID, f.env.Now(), &r); err != nil {
					t.Fatal(err)
				}
				return r
			},
			"decider altered": func() DecideRequest {
				r := base
				r.By, r.Role = "viewer-vic", domain.RoleViewer
				f.signed(k, UpdateDecide, &r)
				r.By, r.Role = "mallory", domain.RoleAdmin
				return r
			},
			"other workflow": func() DecideRequest {
				r := base
				if err := Sign(k, UpdateDecide, "incident-999", f.env.Now(), &r); err != nil {
					t.Fatal(err)
				}
				return r
			},
			"stale": func() DecideRequest {
				r := base
				if err := Sign(k, UpdateDecide, authWorkflowID, f.env.Now().Add(-time.Hour), &r); err != nil {
					t.Fatal(err)
				}
				return r
			},
			"another update's stamp": func() DecideRequest {
				r := base
				if err := Sign(k, UpdateUndo, authWorkflowID, f.env.Now(), &r); err != nil {
					t.Fatal(err)
				}
				return r
			},
		}
		for _, name := range []string{"unsigned", "other key", "decider altered", "other workflow", "stale", "another update's stamp"} {
			f.decide(forged[name](), func(err error) {
				if err == nil || !strings.Contains(err.Error(), "unauthenticated") {
					t.Errorf("%s decision: err %v, want refused as unauthenticated", name, err)
					return
				}
				refusals = append(refusals, name)
			})
		}
		ok := base
		f.signed(k, UpdateDecide, &ok)
		f.decide(ok, func(err error) {
			if err != nil {
				t.Errorf("signed decision: %v", err)
			}
		})
	}, time.Minute)
	st := f.run()
	if len(refusals) != 6 {
		t.Errorf("refused %v, want all six forgeries", refusals)
	}
	if st.Investigation != domain.InvestigationSuccessfullyRemediated {
		t.Errorf("investigation %s, want successfullyRemediated by the signed approval", st.Investigation)
	}
	for _, a := range st.Actions {
		if a.DecidedBy != "" && a.DecidedBy != "ana" {
			t.Errorf("action %s decided by %q", a.ID, a.DecidedBy)
		}
	}
}

// TestForgedIncidentChangesAreDropped: an incident-changed signal not
// signed with AIR's key (or altered) is not recorded; a signed one is.
func TestForgedIncidentChangesAreDropped(t *testing.T) {
	k := testKeys(t, 1)
	f := authFixture(t, k)
	f.env.RegisterDelayedCallback(func() {
		f.env.SignalWorkflow(SignalIncidentChanged, IncidentChange{Field: FieldStatus, To: "resolved", By: "forger"})
		altered := IncidentChange{Field: FieldStatus, To: "inProgress", By: "ana"}
		f.signed(k, SignalIncidentChanged, &altered)
		altered.By = "mallory"
		f.env.SignalWorkflow(SignalIncidentChanged, altered)
		good := IncidentChange{Field: FieldAssignedTo, To: "bo", By: "ana"}
		f.signed(k, SignalIncidentChanged, &good)
		f.env.SignalWorkflow(SignalIncidentChanged, good)
		approve := DecideRequest{ActionID: f.pendingAction().ID, Decision: domain.DecisionApprove, By: "ana", Role: domain.RoleResponder}
		f.signed(k, UpdateDecide, &approve)
		f.decide(approve, func(err error) {
			if err != nil {
				t.Errorf("approve: %v", err)
			}
		})
	}, time.Minute)
	st := f.run()
	if len(st.Changes) != 1 || st.Changes[0].By != "ana" || st.Changes[0].To != "bo" {
		t.Errorf("changes %+v, want only the signed assignment by ana", st.Changes)
	}
}

// TestRecordedHistoriesReplayWithAuthenticator: the histories recorded
// before messages were signed (unsigned incident-changed signals among
// them) replay on a worker that checks signatures: the check is guarded by
// a version marker.
func TestRecordedHistoriesReplayWithAuthenticator(t *testing.T) {
	files, err := filepath.Glob("testdata/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("recorded histories: %v (%d)", err, len(files))
	}
	log := logrus.New()
	log.SetLevel(logrus.WarnLevel)
	for _, f := range files {
		r, err := worker.NewWorkflowReplayerWithOptions(worker.WorkflowReplayerOptions{
			Interceptors: []interceptor.WorkerInterceptor{Authenticator(testKeys(t, 7))},
		})
		if err != nil {
			t.Fatal(err)
		}
		r.RegisterWorkflow(IncidentWorkflow)
		if err := r.ReplayWorkflowHistoryFromJSONFile(logging.NewTemporal(log), f); err != nil {
			t.Errorf("replay %s: %v", f, err)
		}
	}
}

var _ = testsuite.TestUpdateCallback{}
