package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/types/known/durationpb"
)

// retryStart calls open until it succeeds, fails for a reason waiting
// cannot fix, or cfg.StartTimeout passes: in production the database and
// Temporal often start beside AIR and answer a little later. Each wait is
// logged with the reason.
func retryStart[T any](ctx context.Context, cfg Config, what string, open func() (T, error)) (T, error) {
	limit := cfg.StartTimeout
	if limit <= 0 {
		limit = 2 * time.Minute
	}
	deadline := time.Now().Add(limit)
	wait := 500 * time.Millisecond
	for {
		v, err := open()
		if err == nil || !transient(err) || time.Now().Add(wait).After(deadline) {
			if err != nil && transient(err) {
				err = fmt.Errorf("%s did not answer within %s: %w", what, limit, err)
			}
			return v, err
		}
		cfg.Log.WithError(err).Warnf("waiting for %s; retrying in %s", what, wait)
		select {
		case <-ctx.Done():
			return v, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 10*time.Second)
	}
}

// transient reports whether err means the other side is not up (yet),
// rather than refusing what AIR asked.
func transient(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) || errors.Is(err, syscall.ECONNREFUSED) {
		return true
	}
	var unavailable *serviceerror.Unavailable
	if errors.As(err, &unavailable) {
		return true
	}
	msg := err.Error()
	for _, s := range []string{"connection refused", "failed reaching server", "the database system is starting up", "no such host", "i/o timeout", "connection reset"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// ensureNamespace registers cfg.Namespace when Temporal does not know it
// (-create-namespace), with 30 days of retention.
func ensureNamespace(ctx context.Context, cfg Config, opts client.Options) error {
	nc, err := client.NewNamespaceClient(opts)
	if err != nil {
		return fmt.Errorf("namespace %s: %w", cfg.Namespace, err)
	}
	defer nc.Close()
	missing, err := retryStart(ctx, cfg, "Temporal at "+cfg.TemporalAddress, func() (bool, error) {
		_, err := nc.Describe(ctx, cfg.Namespace)
		var notFound *serviceerror.NamespaceNotFound
		if errors.As(err, &notFound) {
			return true, nil
		}
		return false, err
	})
	if err != nil {
		return fmt.Errorf("namespace %s: %w", cfg.Namespace, err)
	}
	if !missing {
		return waitServed(ctx, cfg, opts)
	}
	err = nc.Register(ctx, &workflowservice.RegisterNamespaceRequest{
		Namespace:                        cfg.Namespace,
		Description:                      "AIR incident investigations",
		WorkflowExecutionRetentionPeriod: durationpb.New(30 * 24 * time.Hour),
	})
	var exists *serviceerror.NamespaceAlreadyExists
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("register namespace %s: %w", cfg.Namespace, err)
	}
	cfg.Log.Infof("registered Temporal namespace %s (30 days of retention)", cfg.Namespace)
	return waitServed(ctx, cfg, opts)
}

// waitServed waits until the frontend serves the namespace. A Temporal
// server learns of a namespace registered in its database when it
// refreshes its namespace cache (every 10 s by default): until then it
// answers "namespace not found" to pollers and to SignalWithStart, and a
// first start that did not wait would fail its first alerts with 503s.
// Describe reads the database, so it cannot tell; a listing can.
func waitServed(ctx context.Context, cfg Config, opts client.Options) error {
	c, err := client.NewLazyClient(opts)
	if err != nil {
		return fmt.Errorf("namespace %s: %w", cfg.Namespace, err)
	}
	defer c.Close()
	limit := cfg.StartTimeout
	if limit <= 0 {
		limit = 2 * time.Minute
	}
	deadline := time.Now().Add(limit)
	for logged := false; ; {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := c.ListWorkflow(actx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: cfg.Namespace, PageSize: 1})
		cancel()
		var denied *serviceerror.PermissionDenied
		switch {
		case err == nil:
			return nil
		case errors.As(err, &denied):
			return fmt.Errorf("namespace %s: %w", cfg.Namespace, err)
		case ctx.Err() != nil:
			return ctx.Err()
		case time.Now().After(deadline):
			return fmt.Errorf("namespace %s: Temporal did not serve it within %s: %w", cfg.Namespace, limit, err)
		}
		if !logged {
			cfg.Log.WithError(err).Warnf("waiting for Temporal to serve namespace %s", cfg.Namespace)
			logged = true
		}
		time.Sleep(500 * time.Millisecond)
	}
}
