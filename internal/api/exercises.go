package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/exercise"
	"github.com/airsoc/air/internal/store"
)

// ExerciseBody is the body of POST /api/v1/exercises.
type ExerciseBody struct {
	Name   string  `json:"name"`
	Source string  `json:"source,omitempty"`
	Speed  float64 `json:"speed,omitempty"` // 0 means 1, real time
}

// ExerciseAlertsBody is the body of POST /api/v1/exercises/{id}/alerts:
// alerts of the scenario with their ground truth.
type ExerciseAlertsBody struct {
	Alerts []domain.ExerciseAlert `json:"alerts"`
}

// ExerciseList answers GET /api/v1/exercises.
type ExerciseList struct {
	Value []domain.Exercise `json:"value"`
}

// ExerciseDetail is an exercise with its incidents.
type ExerciseDetail struct {
	domain.Exercise
	IncidentIDs []int64 `json:"incidentIds"`
}

// exercisesForAll refuses a token scoped to device groups: an exercise's
// incidents span whatever devices its scenario names.
func exercisesForAll(p *auth.Principal) error {
	if p != nil && p.Scoped() {
		return domain.Errorf(domain.KindForbidden, "exercises cover every device group; a token scoped to some may not see them")
	}
	return nil
}

// Exercises lists the exercises, newest first (viewer role).
func (s *Server) Exercises(ctx context.Context, p *auth.Principal) ([]domain.Exercise, error) {
	if err := p.Require(auth.Viewer); err != nil {
		return nil, err
	}
	if err := exercisesForAll(p); err != nil {
		return nil, err
	}
	return s.Store.ListExercises(ctx)
}

// ExerciseScore scores an exercise as it stands (viewer role): it may be
// asked while the replay runs.
func (s *Server) ExerciseScore(ctx context.Context, p *auth.Principal, id int64) (*domain.ExerciseScore, error) {
	if err := p.Require(auth.Viewer); err != nil {
		return nil, err
	}
	if err := exercisesForAll(p); err != nil {
		return nil, err
	}
	e, err := s.Store.GetExercise(ctx, id)
	if err != nil {
		return nil, err
	}
	f, err := s.Store.ExerciseFacts(ctx, id)
	if err != nil {
		return nil, err
	}
	sc := exercise.Score(*e, f.Alerts, f.Incidents, f.Actions)
	return &sc, nil
}

// listExercises answers GET /api/v1/exercises.
func (s *Server) listExercises(w http.ResponseWriter, r *http.Request) error {
	list, err := s.Exercises(r.Context(), auth.FromContext(r.Context()))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, ExerciseList{Value: list})
}

// postExercise answers POST /api/v1/exercises (admin): a new exercise,
// ready for its alerts.
func (s *Server) postExercise(w http.ResponseWriter, r *http.Request) error {
	var body ExerciseBody
	if err := decodeBody(w, r, &body, true); err != nil {
		return err
	}
	if body.Speed == 0 {
		body.Speed = 1
	}
	e, err := s.Store.CreateExercise(r.Context(), body.Name, body.Source, body.Speed, principalName(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, e)
}

// getExercise answers GET /api/v1/exercises/{id}.
func (s *Server) getExercise(w http.ResponseWriter, r *http.Request) error {
	id, err := exerciseID(r)
	if err != nil {
		return err
	}
	if err := exercisesForAll(auth.FromContext(r.Context())); err != nil {
		return err
	}
	e, err := s.Store.GetExercise(r.Context(), id)
	if err != nil {
		return err
	}
	ids, err := s.Store.ExerciseIncidents(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, ExerciseDetail{Exercise: *e, IncidentIDs: ids})
}

// getExerciseScore answers GET /api/v1/exercises/{id}/score.
func (s *Server) getExerciseScore(w http.ResponseWriter, r *http.Request) error {
	id, err := exerciseID(r)
	if err != nil {
		return err
	}
	sc, err := s.ExerciseScore(r.Context(), auth.FromContext(r.Context()), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, sc)
}

// finishExercise answers POST /api/v1/exercises/{id}/finish (admin): the
// replay is over.
func (s *Server) finishExercise(w http.ResponseWriter, r *http.Request) error {
	id, err := exerciseID(r)
	if err != nil {
		return err
	}
	e, err := s.Store.FinishExercise(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, e)
}

// postExerciseAlerts answers POST /api/v1/exercises/{id}/alerts (admin):
// the scenario's alerts, each stored under the exercise's own id for it
// (exercise.AlertID), correlated apart from real alerts, and its ground
// truth kept for the score. It answers as POST /api/v1/alerts does, with
// the stored ids.
func (s *Server) postExerciseAlerts(w http.ResponseWriter, r *http.Request) error {
	id, err := exerciseID(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	e, err := s.Store.GetExercise(ctx, id)
	if err != nil {
		return err
	}
	if e.Finished != nil {
		return domain.Errorf(domain.KindConflict, "exercise %d is finished: start another", id)
	}
	var body ExerciseAlertsBody
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, s.maxBody()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		return jsonError(err)
	}
	if len(body.Alerts) == 0 {
		return domain.Invalid("alerts", "want at least one alert")
	}
	docs := make([]json.RawMessage, len(body.Alerts))
	labels := map[string]exercise.Label{}
	for i, a := range body.Alerts {
		field := fmt.Sprintf("alerts[%d]", i)
		if a.Label != domain.LabelAttack && a.Label != domain.LabelBenign {
			return domain.Invalid(field+".label", "want attack or benign, got %q", a.Label)
		}
		var doc map[string]any
		if err := json.Unmarshal(a.Alert, &doc); err != nil {
			return domain.Invalid(field+".alert", "want a JSON object: %v", err)
		}
		orig, ok := doc["id"].(string)
		if !ok || orig == "" {
			return domain.Invalid(field+".alert.id", "required")
		}
		doc["id"] = exercise.AlertID(id, orig)
		if docs[i], err = json.Marshal(doc); err != nil {
			return err
		}
		labels[doc["id"].(string)] = exercise.Label{Label: a.Label, Phase: a.Phase}
	}
	arr, err := json.Marshal(docs)
	if err != nil {
		return err
	}
	sent := s.now()
	return s.ingestBody(w, r, bytes.NewReader(arr), id, func(ctx context.Context, ids []string) error {
		rows := make([]store.ExerciseAlert, 0, len(ids))
		for _, aid := range ids {
			rows = append(rows, store.ExerciseAlert{AlertID: aid, Label: labels[aid], SentAt: sent})
		}
		return s.Store.RecordExerciseAlerts(ctx, id, rows)
	})
}

func exerciseID(r *http.Request) (int64, error) {
	id, err := pathID(r)
	if err != nil {
		return 0, domain.Invalid("id", "want a positive integer exercise id, got %q", r.PathValue("id"))
	}
	return id, nil
}
