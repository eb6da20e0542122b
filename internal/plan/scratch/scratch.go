// Package scratch correlates alerts into incidents without touching AIR's
// database: plan mode reads alerts from a file or a request, and wants the
// incidents the real correlation would make, with nothing stored. It runs
// the engine in memory (correlate.Memory) and derives each incident's
// fields, alerts and entities as the store would from the same decisions
// (derive.go); a test in package stored holds the two ways equal.
package scratch

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/airsoc/air/internal/correlate"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/plan"
	"github.com/airsoc/air/internal/policy"
)

// Incidents correlates the alerts as ingest would, one alert at a time
// with the default rules, and returns each resulting incident ready to
// plan, in order of creation; an incident merged into another is not
// returned, its alerts are in the one it was merged into. Alerts' short
// host names may be rewritten, as ingest does.
func Incidents(ctx context.Context, alerts []*domain.Alert, settings policy.Settings) ([]plan.Incident, error) {
	for i, a := range alerts {
		if a == nil || strings.TrimSpace(a.ID) == "" {
			return nil, domain.Invalid(fmt.Sprintf("alerts[%d].id", i), "required")
		}
	}
	c := newCorrelation(correlate.Rules{}, time.Now().UTC())
	for _, a := range alerts {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := c.ingest(a); err != nil {
			return nil, err
		}
	}
	return c.incidents(settings)
}
