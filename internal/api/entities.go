package api

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/correlate"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/entity"
	"github.com/airsoc/air/internal/records"
	"github.com/airsoc/air/internal/store"
)

// EntityListMax bounds each list of an entity's page: incidents, alerts and
// actions, most recent first; the totals stay exact.
const EntityListMax = 100

// EntityDetail is one device, user or other entity across incidents: what
// GET /api/v1/entities/{key} answers and the entity page shows.
type EntityDetail struct {
	store.EntityRecord
	// Aliases are the other keys of the same device or user: its FQDN or
	// short host name, or its Defender device id (correlate.HostAliases),
	// and the identifiers alerts named together with it — MDE id, FQDN,
	// host name, IP, UPN, SID, DOMAIN\account, Entra object id
	// (store.EntityAliases). Their incidents, alerts and actions are listed
	// with the entity's own.
	Aliases []EntityAlias `json:"aliases"`
	// Incidents, Alerts and Actions are the most recent EntityListMax of
	// each the principal may see; the totals count every one.
	Incidents     []records.IncidentRow `json:"incidents"`
	IncidentTotal int                   `json:"incidentTotal"`
	Alerts        []domain.Alert        `json:"alerts"`
	AlertTotal    int                   `json:"alertTotal"`
	Actions       []records.ActionRow   `json:"actions"`
	ActionTotal   int                   `json:"actionTotal"`
}

// EntityAlias is another key of the same entity.
type EntityAlias struct {
	Key  domain.EntityKey `json:"key"`
	Name string           `json:"name"`
	// Why says what the alias is: "short host name", "FQDN" or "device id"
	// for host names that match; for an identifier named together with the
	// entity, entity.What's word ("MDE id", "IP", "UPN", "SID", "account",
	// "Entra object id", …).
	Why string `json:"why"`
	// AlertID is the first alert that named the two together; FirstSeen and
	// LastSeen the first and last such alert's activity. An IP stands for
	// the device only within correlate.IPAliasWindow of them. Empty for a
	// host name that matches.
	AlertID   string     `json:"alertId,omitempty"`
	FirstSeen *time.Time `json:"firstSeen,omitempty"`
	LastSeen  *time.Time `json:"lastSeen,omitempty"`
}

// ParseEntityKey checks that s is an entity key AIR makes, "<kind>:<id>"
// with a known kind; the error names the field.
func ParseEntityKey(field, s string) (domain.EntityKey, error) {
	k := domain.EntityKey(strings.TrimSpace(s))
	kind, _, ok := entity.Split(k)
	if !ok {
		return "", domain.Invalid(field, "want an entity key <kind>:<id> such as device:ws-042, got %q", s)
	}
	if !slices.Contains(entity.Kinds, kind) {
		return "", domain.Invalid(field, "unknown entity kind %q; want one of %s", kind, kindList())
	}
	return k, nil
}

func kindList() string {
	names := make([]string, len(entity.Kinds))
	for i, k := range entity.Kinds {
		names[i] = string(k)
	}
	return strings.Join(names, ", ")
}

// Entity returns an entity with its aliases and the incidents, alerts and
// actions that involve it, as the principal may see them: for a principal
// scoped to device groups, only those of incidents with a device in the
// groups, and an entity none of whose incidents is in scope is not found.
func (s *Server) Entity(ctx context.Context, p *auth.Principal, key domain.EntityKey) (*EntityDetail, error) {
	if err := p.Require(auth.Viewer); err != nil {
		return nil, err
	}
	rec, err := s.Store.GetEntity(ctx, key)
	if err != nil {
		return nil, err
	}
	d := &EntityDetail{EntityRecord: *rec, Aliases: []EntityAlias{}}
	if d.Aliases, err = s.entityAliases(ctx, rec.Entity); err != nil {
		return nil, err
	}
	keys := []domain.EntityKey{key}
	for _, a := range d.Aliases {
		keys = append(keys, a.Key)
	}
	inc, err := s.Store.QueryIncidents(ctx, records.IncidentQuery{EntityKeys: keys, Scope: p.Groups,
		Sort: "-lastActivityDateTime", Limit: EntityListMax})
	if err != nil {
		return nil, err
	}
	if p.Scoped() && inc.Total == 0 {
		return nil, domain.Errorf(domain.KindNotFound, "entity %s not found", key)
	}
	d.Incidents, d.IncidentTotal = inc.Value, inc.Total
	alerts, err := s.Store.EntityAlerts(ctx, records.EntityAlertQuery{Keys: keys, Scope: p.Groups, Limit: EntityListMax})
	if err != nil {
		return nil, err
	}
	d.Alerts, d.AlertTotal = alerts.Value, alerts.Total
	acts, err := s.Store.QueryActions(ctx, records.ActionQuery{TargetKeys: keys, Scope: p.Groups, Desc: true, Limit: EntityListMax})
	if err != nil {
		return nil, err
	}
	d.Actions, d.ActionTotal = acts.Value, acts.Total
	return d, nil
}

// entityAliases finds an entity's other keys: the devices stored under its
// host labels that correlate.HostAliases calls the same, then the
// identifiers alerts named together with it.
func (s *Server) entityAliases(ctx context.Context, e domain.Entity) ([]EntityAlias, error) {
	out, err := s.hostAliases(ctx, e)
	if err != nil {
		return nil, err
	}
	named, err := s.Store.EntityAliases(ctx, e.Key)
	if err != nil {
		return nil, err
	}
	for _, r := range named {
		if r.Key == e.Key || slices.ContainsFunc(out, func(a EntityAlias) bool { return a.Key == r.Key }) {
			continue
		}
		_, id, _ := entity.Split(r.Key)
		first, last := r.First, r.Last
		out = append(out, EntityAlias{Key: r.Key, Name: id, Why: entity.What(r.Key), AlertID: r.Alert,
			FirstSeen: &first, LastSeen: &last})
	}
	return out, nil
}

// hostAliases finds a device's other host keys: the devices stored under
// its host labels that correlate.HostAliases calls the same.
func (s *Server) hostAliases(ctx context.Context, e domain.Entity) ([]EntityAlias, error) {
	out := []EntityAlias{}
	names := correlate.HostNames(e)
	if len(names) == 0 {
		return out, nil
	}
	var labels []string
	for _, h := range names {
		if l := entity.ShortHost(h); !slices.Contains(labels, l) {
			labels = append(labels, l)
		}
	}
	known, err := s.Store.DevicesByLabel(ctx, labels)
	if err != nil {
		return nil, err
	}
	byKey := map[domain.EntityKey]domain.Entity{}
	for _, k := range known {
		byKey[k.Key] = k
	}
	for _, k := range correlate.HostAliases(e, known) {
		why := "device id"
		if h, ok := correlate.HostKey(k); ok {
			why = map[bool]string{true: "FQDN", false: "short host name"}[strings.Contains(h, ".")]
		}
		out = append(out, EntityAlias{Key: k, Name: byKey[k].Name, Why: why})
	}
	return out, nil
}

// FindEntity returns the key of the entity of a kind that a person names
// (store.FindEntity); the entity page then applies the principal's scope.
func (s *Server) FindEntity(ctx context.Context, p *auth.Principal, kind, name string) (domain.EntityKey, error) {
	if err := p.Require(auth.Viewer); err != nil {
		return "", err
	}
	k := domain.EntityKind(strings.TrimSpace(kind))
	if !slices.Contains(entity.Kinds, k) {
		return "", domain.Invalid("kind", "unknown entity kind %q; want one of %s", kind, kindList())
	}
	if strings.TrimSpace(name) == "" {
		return "", domain.Invalid("name", "want the entity's name or id")
	}
	return s.Store.FindEntity(ctx, k, name)
}

// getEntity answers GET /api/v1/entities/{key}.
func (s *Server) getEntity(w http.ResponseWriter, r *http.Request) error {
	key, err := ParseEntityKey("key", r.PathValue("key"))
	if err != nil {
		return err
	}
	d, err := s.Entity(r.Context(), auth.FromContext(r.Context()), key)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, d)
}
