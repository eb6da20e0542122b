package web

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/domain"
)

// Exercises are the breach exercises and their scores; *api.Server is
// one. Nil: the pages answer not found.
type Exercises interface {
	Exercises(ctx context.Context, p *auth.Principal) ([]domain.Exercise, error)
	ExerciseScore(ctx context.Context, p *auth.Principal, id int64) (*domain.ExerciseScore, error)
}

// exercisesView is what the exercises pages show: the list, or one
// exercise's score.
type exercisesView struct {
	List  []domain.Exercise
	Score *domain.ExerciseScore
}

// exercises shows the exercises, newest first.
func (p *pages) exercises(w http.ResponseWriter, r *http.Request) error {
	if p.Exercises == nil {
		return domain.Errorf(domain.KindNotFound, "no exercises here")
	}
	pr := auth.FromContext(r.Context())
	list, err := p.Exercises.Exercises(r.Context(), pr)
	if err != nil {
		return err
	}
	p.render(w, r, http.StatusOK, "exercises", &view{Title: "Breach exercises", Nav: "exercises", Principal: pr,
		CSRF: auth.CSRFToken(secretOf(r)), Exercises: &exercisesView{List: list}})
	return nil
}

// exercise shows one exercise's score.
func (p *pages) exercise(w http.ResponseWriter, r *http.Request) error {
	if p.Exercises == nil {
		return domain.Errorf(domain.KindNotFound, "no exercises here")
	}
	pr := auth.FromContext(r.Context())
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return domain.Errorf(domain.KindNotFound, "no exercise %q", r.PathValue("id"))
	}
	sc, err := p.Exercises.ExerciseScore(r.Context(), pr, id)
	if err != nil {
		return err
	}
	p.render(w, r, http.StatusOK, "exercises", &view{Title: fmt.Sprintf("Exercise %d: %s", id, sc.Exercise.Name), Nav: "exercises",
		Principal: pr, CSRF: auth.CSRFToken(secretOf(r)), Exercises: &exercisesView{Score: sc}})
	return nil
}

// seconds writes a time in seconds (nil: not yet) as 1m30s.
func seconds(s *float64) string {
	if s == nil {
		return ""
	}
	return (time.Duration(*s * float64(time.Second))).Round(time.Second).String()
}
