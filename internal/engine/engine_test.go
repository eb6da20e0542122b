package engine

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/workflows"
)

// TestDecisionsAnswerUnavailableWhenTemporalIsDown: with the frontend
// unreachable, decide, undo, stop and the signal of new alerts give up
// after UpdateTimeout with an unavailable error (the API's 503) instead of
// hanging while the SDK retries.
func TestDecisionsAnswerUnavailableWhenTemporalIsDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	c, err := client.NewLazyClient(client.Options{HostPort: addr, Logger: quiet{}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	e := &Engine{Client: c, UpdateTimeout: 500 * time.Millisecond}
	for name, call := range map[string]func() error{
		"decide": func() error {
			_, err := e.Decide(context.Background(), 1, workflows.DecideRequest{ActionID: "a1", Decision: domain.DecisionApprove, By: "ana", Role: domain.RoleResponder})
			return err
		},
		"undo": func() error {
			_, err := e.Undo(context.Background(), 1, workflows.UndoRequest{ActionID: "a1", By: "ana", Role: domain.RoleResponder})
			return err
		},
		"stop": func() error {
			st, err := e.Stop(context.Background(), 1, workflows.StopRequest{Reason: "drill", By: "ana", Role: domain.RoleResponder})
			if st != nil {
				t.Errorf("stop: a state %+v beside the error", st)
			}
			return err
		},
		"new alerts": func() error {
			return e.AlertsJoined(context.Background(), 1, []string{"al-1"})
		},
	} {
		done := make(chan error, 1)
		go func() { done <- call() }()
		select {
		case err := <-done:
			var de *domain.Error
			if !errors.As(err, &de) || de.Kind != domain.KindUnavailable {
				t.Errorf("%s: %v, want an unavailable error", name, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s still waiting 10 s after a 500 ms deadline", name)
		}
	}
}

type quiet struct{}

func (quiet) Debug(string, ...any) {}
func (quiet) Info(string, ...any)  {}
func (quiet) Warn(string, ...any)  {}
func (quiet) Error(string, ...any) {}
