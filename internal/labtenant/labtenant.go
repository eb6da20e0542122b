// Package labtenant is AIR's built-in lab tenant: a simulated tenant whose
// devices keep their state in AIR's store. It carries out remediations the
// way a real target does — it remembers each request's idempotency key and
// answers a repeat with the first answer, and isolating an isolated device
// is a no-op that says so — so that the demo, `worker -dev` and the tests
// exercise the same exactly-once path a production connector must.
package labtenant

import (
	"context"
	"strings"

	"github.com/airsoc/air/activities"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/store"
)

// Tenant is the lab tenant.
type Tenant struct {
	Store *store.Store
}

var _ activities.Executor = (*Tenant)(nil)

// Execute carries out one remediation.
func (t *Tenant) Execute(ctx context.Context, req activities.ExecuteRequest) (activities.ExecuteResult, error) {
	switch req.Type {
	case "device.isolate", "device.release":
		id, ok := strings.CutPrefix(string(req.Target), string(domain.KindDevice)+":")
		if !ok || id == "" {
			return activities.ExecuteResult{}, domain.Invalid("target", "%s needs a device, got %q", req.Type, req.Target)
		}
		op, err := t.Store.LabSetIsolation(ctx, req.IdempotencyKey, id, req.TargetName, req.Type == "device.isolate")
		if err != nil {
			return activities.ExecuteResult{}, err
		}
		return activities.ExecuteResult{Summary: op.Result, Changed: op.Changed}, nil
	}
	return activities.ExecuteResult{}, domain.Errorf(domain.KindInvalid, "the lab tenant cannot carry out %s", req.Type)
}
