package nativestack

import (
	"context"
	"fmt"
	"testing"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/store"
)

// LabIsolations counts, per device ("dev7"), the operations the lab tenant
// carried out and those that changed nothing (a second isolation of an
// isolated device).
func LabIsolations(ctx context.Context, st *store.Store) (done, noop map[string]int, err error) {
	ops, err := st.LabOperations(ctx)
	if err != nil {
		return nil, nil, err
	}
	done, noop = map[string]int{}, map[string]int{}
	for _, op := range ops {
		done[op.Target]++
		if !op.Changed {
			noop[op.Target]++
		}
	}
	return done, noop, nil
}

// CheckOncePerDevice is the exactly-once check of the crash and scale-out
// tests, whose devices are dev0 … dev<devices-1>, each to be isolated: every
// action succeeded, each device has exactly one action, and the target
// (done and noop as LabIsolations counts them, or a vendor fake) carried
// out one isolation per device that changed something.
func CheckOncePerDevice(t testing.TB, acts []domain.Action, done, noop map[string]int, devices int) {
	t.Helper()
	perDevice := map[domain.EntityKey]int{}
	for _, a := range acts {
		if a.Status != domain.ActionSucceeded {
			t.Errorf("action %s on %s: %s", a.ID, a.TargetKey, a.Status)
		}
		perDevice[a.TargetKey]++
	}
	for i := range devices {
		dev := fmt.Sprintf("dev%d", i)
		if n := perDevice[domain.EntityKey("device:"+dev)]; n != 1 {
			t.Errorf("%s: %d actions, want 1", dev, n)
		}
		if n := done[dev]; n != 1 {
			t.Errorf("%s: isolated %d times at the target, want exactly once", dev, n)
		}
		if n := noop[dev]; n != 0 {
			t.Errorf("%s: %d isolations changed nothing or did not succeed: a second isolation of an isolated device", dev, n)
		}
	}
}
