package cli

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/airsoc/air/internal/playbooktest"
)

// playbooksTest runs `starter playbooks test [DIR]`: every case of every
// NAME.test.yaml through the real workflow, with a pass/fail line per case,
// what differed for the failures, and a summary.
func playbooksTest(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "playbooks test")
	fs.Usage = func() {
		fmt.Fprint(env.Stderr, "Usage: starter playbooks test [-v] [--together] [DIR]\n\n"+
			"Run every playbook test (*.test.yaml) in DIR (default ./playbooks) against the real incident\n"+
			"workflow with mocked action results; exits 1 if a case fails.\n\n"+
			"With --together every case runs with all the playbooks of DIR loaded, as the worker runs them:\n"+
			"each case says which playbooks ran, and where several acted on one target (overlap:).\n\n")
		fs.PrintDefaults()
	}
	verbose := fs.Bool("v", false, "print passing cases too")
	together := fs.Bool("together", false, "run each case with every playbook of DIR loaded, and show overlaps")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	dir := "playbooks"
	if len(pos) > 0 {
		dir = pos[0]
	}
	results, err := playbooktest.RunDirWith(ctx, dir, playbooktest.Options{Together: *together})
	if err != nil {
		return err
	}
	failed, overlapping := 0, 0
	for _, r := range results {
		overlap := slices.ContainsFunc(r.Notes, func(n string) bool { return strings.HasPrefix(n, "overlap ") })
		if overlap {
			overlapping++
		}
		// Together, the notes are the point: print every case that has some.
		if r.Passed() && !*verbose && len(r.Notes) == 0 {
			continue
		}
		verdict := "PASS"
		if !r.Passed() {
			verdict = "FAIL"
			failed++
		}
		fmt.Fprintf(env.Stdout, "%s  %s / %s  (%s:%d)\n", verdict, r.Playbook, r.Case, r.File, r.Line)
		if *together {
			fmt.Fprintf(env.Stdout, "        ran: %s\n", strings.Join(r.Ran, ", "))
		}
		for _, p := range r.Problems {
			fmt.Fprintf(env.Stdout, "        %s\n", p)
		}
		for _, n := range r.Notes {
			fmt.Fprintf(env.Stdout, "        note: %s\n", n)
		}
	}
	fmt.Fprintf(env.Stdout, "%d passed, %d failed", len(results)-failed, failed)
	if *together {
		fmt.Fprintf(env.Stdout, ", %d with overlaps", overlapping)
	}
	fmt.Fprintln(env.Stdout)
	if failed > 0 {
		return errors.New("playbook tests failed")
	}
	return nil
}
