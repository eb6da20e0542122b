package app

import (
	"context"
	"fmt"
	"time"

	"github.com/sirupsen/logrus"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/airsoc/air/activities"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/ingest"
	"github.com/airsoc/air/internal/sources"
	"github.com/airsoc/air/internal/store"
	"github.com/airsoc/air/workflows"
)

// pulledSources are the built pollers and write-back clients, and the
// webhook sources' keys.
type pulledSources struct {
	acts           *activities.Sources
	webhookSecrets map[string][]byte
}

// newSources builds every configured source's client; secrets are read
// here, so a missing one stops the start with its setting named.
func newSources(ctx context.Context, cfg sources.Config, st *store.Store, p *ingest.Pipeline, log logrus.FieldLogger) (*pulledSources, error) {
	acts := &activities.Sources{Store: st, Config: cfg, Pollers: map[string]sources.Poller{},
		WriteBackers: map[string]sources.WriteBacker{}, Log: log.WithField("component", "sources"),
		Ingest: func(ctx context.Context, alerts []*domain.Alert) error {
			_, err := p.Ingest(ctx, alerts)
			return err
		}}
	for _, s := range cfg.Sources {
		if !s.Polled() {
			continue
		}
		poller, err := sources.New(ctx, s, sources.Options{})
		if err != nil {
			return nil, fmt.Errorf("alert sources are misconfigured:\n%w", err)
		}
		acts.Pollers[s.Name] = poller
		wb, err := sources.NewWriteBacker(ctx, s, sources.Options{})
		if err != nil {
			return nil, fmt.Errorf("alert sources are misconfigured:\n%w", err)
		}
		if wb != nil {
			acts.WriteBackers[s.Name] = wb
		}
	}
	secrets, err := cfg.WebhookSecrets(nil)
	if err != nil {
		return nil, fmt.Errorf("alert sources are misconfigured:\n%w", err)
	}
	return &pulledSources{acts: acts, webhookSecrets: secrets}, nil
}

// RegisterSources registers the polling and write-back workflows and
// their activities on a worker.
func RegisterSources(w worker.Registry, p *pulledSources) {
	w.RegisterWorkflow(workflows.SourceWorkflow)
	w.RegisterWorkflow(workflows.WriteBackWorkflow)
	w.RegisterActivity(p.acts)
}

// startSources starts each polled source's loop, or leaves the one already
// running (a restart of AIR does not restart the loops).
func startSources(ctx context.Context, tc client.Client, cfg sources.Config) error {
	for _, s := range cfg.Sources {
		if !s.Polled() {
			continue
		}
		_, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID: workflows.SourceWorkflowID(s.Name), TaskQueue: workflows.TaskQueue,
			WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
			WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		}, workflows.SourceWorkflow, workflows.SourceInput{Source: s.Name})
		if err != nil {
			return fmt.Errorf("start polling source %s: %w", s.Name, err)
		}
	}
	return nil
}

// writeBackLimit bounds how many alerts of one incident a change is
// written back to.
const writeBackLimit = 1000

// writeBacker starts one write-back workflow per alert of the incident
// that a write-back source brought; the analyst's request does not wait
// for the providers.
func writeBacker(tc client.Client, st *store.Store, cfg sources.Config) func(context.Context, int64, sources.Change) error {
	writes := map[string]string{} // source name → type, for sources that write back
	for _, s := range cfg.Sources {
		if s.WriteBack {
			writes[s.Name] = s.Type
		}
	}
	if len(writes) == 0 {
		return nil
	}
	return func(ctx context.Context, incidentID int64, ch sources.Change) error {
		alerts, err := st.SourcedAlerts(ctx, incidentID, writeBackLimit)
		if err != nil {
			return err
		}
		// A provider incident is written only when all its alerts are
		// this incident's: each source's alerts are the siblings.
		siblings := map[string][]string{}
		for _, sa := range alerts {
			if typ, ok := writes[sa.Source]; ok {
				siblings[sa.Source] = append(siblings[sa.Source], providerID(typ, sa.Alert))
			}
		}
		at := time.Now().UnixNano()
		for _, sa := range alerts {
			typ, ok := writes[sa.Source]
			if !ok || (ch.AlertID != "" && sa.Alert.ID != ch.AlertID) {
				continue
			}
			c := ch
			c.Seen = sa.Alert.LastUpdateDateTime
			c.Siblings = siblings[sa.Source]
			in := activities.WriteBackInput{AlertID: sa.Alert.ID, ProviderAlertID: providerID(typ, sa.Alert), Source: sa.Source, Change: c}
			if _, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
				ID: fmt.Sprintf("writeback-%s-%d", sa.Alert.ID, at), TaskQueue: workflows.TaskQueue,
			}, workflows.WriteBackWorkflow, in); err != nil {
				return fmt.Errorf("start write-back of alert %s: %w", sa.Alert.ID, err)
			}
		}
		return nil
	}
}

// providerID is the id a source's write-back knows an alert by: Sentinel
// incidents list SecurityAlert rows by SystemAlertId (AIR's alert id),
// the others their own alert id.
func providerID(sourceType string, a domain.Alert) string {
	if sourceType == sources.TypeSentinel || a.ProviderAlertID == "" {
		return a.ID
	}
	return a.ProviderAlertID
}
