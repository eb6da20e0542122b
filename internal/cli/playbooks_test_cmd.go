package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/airsoc/air/internal/playbooktest"
)

// playbooksTest runs `starter playbooks test [DIR]`: every case of every
// NAME.test.yaml through the real workflow, with a pass/fail line per case,
// what differed for the failures, and a summary.
func playbooksTest(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "playbooks test")
	fs.Usage = func() {
		fmt.Fprint(env.Stderr, "Usage: starter playbooks test [DIR]\n\n"+
			"Run every playbook test (*.test.yaml) in DIR (default ./playbooks) against the real incident\n"+
			"workflow with mocked action results; exits 1 if a case fails.\n")
	}
	verbose := fs.Bool("v", false, "print passing cases too")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	dir := "playbooks"
	if len(pos) > 0 {
		dir = pos[0]
	}
	results, err := playbooktest.RunDir(ctx, dir)
	if err != nil {
		return err
	}
	failed := 0
	for _, r := range results {
		if r.Passed() {
			if *verbose {
				fmt.Fprintf(env.Stdout, "PASS  %s / %s\n", r.Playbook, r.Case)
			}
			continue
		}
		failed++
		fmt.Fprintf(env.Stdout, "FAIL  %s / %s  (%s:%d)\n", r.Playbook, r.Case, r.File, r.Line)
		for _, p := range r.Problems {
			fmt.Fprintf(env.Stdout, "        %s\n", p)
		}
	}
	fmt.Fprintf(env.Stdout, "%d passed, %d failed\n", len(results)-failed, failed)
	if failed > 0 {
		return errors.New("playbook tests failed")
	}
	return nil
}
