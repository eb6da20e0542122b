// Package connectortest runs a connector the way the incident workflow
// does — inside the ExecuteAction activity, through activities.classify —
// and names the outcome, so that contract tests assert what Temporal will
// do with each vendor answer (succeed, retry, retry after the vendor's
// delay, or fail for good) rather than what the connector returned.
package connectortest

import (
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/sirupsen/logrus"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/airsoc/air/activities"
	"github.com/airsoc/air/internal/remediation"
)

// Run executes req with exec inside the ExecuteAction activity. resume, when
// not empty, is the heartbeat detail a previous attempt left (Defender for
// Endpoint's machine action id). log receives the activity's logs; nil
// discards them.
func Run(exec remediation.Executor, req remediation.Request, resume string, log logrus.FieldLogger) (remediation.Result, error) {
	var s testsuite.WorkflowTestSuite
	s.SetLogger(tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	env := s.NewTestActivityEnvironment()
	if log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		log = l
	}
	a := &activities.Activities{Executor: exec, Log: log}
	env.RegisterActivity(a)
	if resume != "" {
		env.SetHeartbeatDetails(resume)
	}
	val, err := env.ExecuteActivity(a.ExecuteAction, req)
	if err != nil {
		return remediation.Result{}, err
	}
	var res remediation.Result
	if err := val.Get(&res); err != nil {
		return remediation.Result{}, err
	}
	return res, nil
}

// Outcome names what Temporal does with an activity's error:
// "ok", "retry", "retry after 7s", or "fail <kind>".
func Outcome(err error) string {
	if err == nil {
		return "ok"
	}
	var app *temporal.ApplicationError
	if !errors.As(err, &app) {
		return "retry" // a timeout or cancellation: the retry policy applies
	}
	switch {
	case app.NonRetryable():
		return "fail " + app.Type()
	case app.NextRetryDelay() > 0:
		return fmt.Sprintf("retry after %s", app.NextRetryDelay())
	}
	return "retry"
}
