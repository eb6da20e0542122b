package api

import (
	"net/http"
	"strings"

	"github.com/airsoc/air/activities"
	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/policy"
)

// getAutomation returns the tenant's automation settings: levels,
// guardrails, approval rules, four-eyes.
func (s *Server) getAutomation(w http.ResponseWriter, r *http.Request) error {
	var set policy.Settings
	ok, err := s.Store.Setting(r.Context(), activities.SettingsKey, &set)
	if err != nil {
		return err
	}
	if !ok {
		set = s.DefaultAutomation
	}
	return writeJSON(w, http.StatusOK, set)
}

// putAutomation replaces the automation settings after checking them; the
// change is audited and applies to the next decision of every
// investigation.
func (s *Server) putAutomation(w http.ResponseWriter, r *http.Request) error {
	var set policy.Settings
	if err := decodeBody(w, r, &set, true); err != nil {
		return err
	}
	if err := set.Validate(); err != nil {
		return err
	}
	if err := s.Store.PutSetting(r.Context(), activities.SettingsKey, set, principalName(r)); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, set)
}

// EntityTagsBody is the body of PUT /api/v1/entities/{key}/tags.
type EntityTagsBody struct {
	Tags []string `json:"tags"`
}

// putEntityTags sets an entity's tags (guardrails protect tagged ones).
func (s *Server) putEntityTags(w http.ResponseWriter, r *http.Request) error {
	key := domain.EntityKey(r.PathValue("key"))
	if kind, id, ok := strings.Cut(string(key), ":"); !ok || kind == "" || id == "" {
		return domain.Invalid("key", "want an entity key such as device:<id>, got %q", key)
	}
	var body EntityTagsBody
	if err := decodeBody(w, r, &body, true); err != nil {
		return err
	}
	for i, t := range body.Tags {
		if strings.TrimSpace(t) == "" {
			return domain.Invalid("tags", "tag %d is empty", i)
		}
	}
	if err := s.Store.SetEntityTags(r.Context(), key, body.Tags, principalName(r)); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"key": key, "tags": body.Tags})
}

func principalName(r *http.Request) string {
	if p := auth.FromContext(r.Context()); p != nil {
		return p.Name
	}
	return "api"
}
