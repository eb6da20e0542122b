package workflows

import (
	"fmt"
	"reflect"
	"time"

	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/workflow"

	"github.com/airsoc/air/internal/msgauth"
)

// Authentication of the messages that carry a person's act (see
// internal/msgauth and docs/security.md). The worker installs
// Authenticator as a workflow interceptor; every decide, undo, request and
// stop Update and every incident-changed signal must then carry a stamp made
// with the key AIR's processes share. The engine signs them.

// UpdateMaxAge is how far from the workflow's clock an Update's stamp may
// be: a captured Update replayed later is refused.
const UpdateMaxAge = 10 * time.Minute

// versionSignedChanges guards the check of incident-changed signals: a
// history recorded before it replays with its unsigned signals taken.
const versionSignedChanges = "signed-incident-changes"

// signed is a message AIR signs: it gives access to its stamp.
type signed interface{ stamp() **msgauth.Stamp }

func (m *DecideRequest) stamp() **msgauth.Stamp  { return &m.Auth }
func (m *UndoRequest) stamp() **msgauth.Stamp    { return &m.Auth }
func (m *ManualRequest) stamp() **msgauth.Stamp  { return &m.Auth }
func (m *StopRequest) stamp() **msgauth.Stamp    { return &m.Auth }
func (m *IncidentChange) stamp() **msgauth.Stamp { return &m.Auth }

// Sign stamps an Update's or signal's payload (a pointer to one of the
// signed messages) for the workflow with the given id; the engine calls it
// for every message it sends.
func Sign(k *msgauth.Keyring, kind, workflowID string, at time.Time, msg any) error {
	m, ok := msg.(signed)
	if !ok {
		return fmt.Errorf("sign %s: %T is not a message AIR signs", kind, msg)
	}
	*m.stamp() = nil
	st, err := k.Sign(kind, workflowID, at, msg)
	*m.stamp() = &st
	return err
}

// verify checks a received message's stamp; msg is the message as the
// handler receives it (a value), which verify leaves unchanged.
func verify(k *msgauth.Keyring, kind, workflowID string, msg any, now time.Time, maxAge time.Duration) error {
	copied := reflect.New(reflect.TypeOf(msg))
	copied.Elem().Set(reflect.ValueOf(msg))
	m, ok := copied.Interface().(signed)
	if !ok {
		return fmt.Errorf("%w: %s: unexpected payload %T", msgauth.ErrUnauthenticated, kind, msg)
	}
	st := *m.stamp()
	*m.stamp() = nil
	if st == nil {
		st = &msgauth.Stamp{}
	}
	return k.Verify(kind, workflowID, m, *st, now, maxAge)
}

// Authenticator returns the worker interceptor that refuses Updates and
// has the workflow drop incident-changed signals not stamped with a key of
// k (see authentic). Update validation is never replayed, so Updates are
// checked against the workflow's clock too (UpdateMaxAge). The signal check
// is replayed: keep a rotated key in the ring while histories signed with
// it may replay.
func Authenticator(k *msgauth.Keyring) interceptor.WorkerInterceptor {
	return &authenticator{keys: k}
}

type authenticator struct {
	interceptor.WorkerInterceptorBase
	keys *msgauth.Keyring
}

func (a *authenticator) InterceptWorkflow(ctx workflow.Context, next interceptor.WorkflowInboundInterceptor) interceptor.WorkflowInboundInterceptor {
	return &authInbound{WorkflowInboundInterceptorBase: interceptor.WorkflowInboundInterceptorBase{Next: next}, keys: a.keys}
}

type authInbound struct {
	interceptor.WorkflowInboundInterceptorBase
	keys *msgauth.Keyring
}

func (a *authInbound) ValidateUpdate(ctx workflow.Context, in *interceptor.UpdateInput) error {
	if len(in.Args) != 1 {
		return refuse(ErrForbidden, "update %s: %v", in.Name, fmt.Errorf("%w: want one signed argument", msgauth.ErrUnauthenticated))
	}
	if err := verify(a.keys, in.Name, workflow.GetInfo(ctx).WorkflowExecution.ID, in.Args[0], workflow.Now(ctx), UpdateMaxAge); err != nil {
		return refuse(ErrForbidden, "update %s refused: %v", in.Name, err)
	}
	return a.Next.ValidateUpdate(ctx, in)
}

// ExecuteWorkflow hands the keyring to the workflow through its context,
// where recordChange finds it (authentic).
func (a *authInbound) ExecuteWorkflow(ctx workflow.Context, in *interceptor.ExecuteWorkflowInput) (any, error) {
	return a.Next.ExecuteWorkflow(workflow.WithValue(ctx, keysKey{}, a.keys), in)
}

type keysKey struct{}

// authentic reports whether an incident-changed signal may be recorded:
// it must carry a valid stamp when the worker checks signatures. Signals
// are replayed, unlike Update validators, so the check runs in the
// workflow (signal handlers run outside its coroutines, where no version
// marker can be read or written): behind the versionSignedChanges marker,
// a pure function of the payload and the keyring.
func (w *incident) authentic(ctx workflow.Context, ch IncidentChange) bool {
	keys, _ := ctx.Value(keysKey{}).(*msgauth.Keyring)
	if keys == nil {
		return true // a worker without the Authenticator (workflow unit tests)
	}
	if w.version(ctx, versionSignedChanges) == workflow.DefaultVersion {
		return true // recorded before changes were signed
	}
	if err := verify(keys, SignalIncidentChanged, workflow.GetInfo(ctx).WorkflowExecution.ID, ch, time.Time{}, 0); err != nil {
		w.log.Warn("incident-changed signal dropped", "error", err, "by", ch.By)
		return false
	}
	return true
}
