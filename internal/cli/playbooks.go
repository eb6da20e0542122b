package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/airsoc/air/internal/playbook"
)

// playbooks runs `starter playbooks SUBCOMMAND`. They work on files, not
// on the API: a SOC lead checks playbooks before they ship, and CI does the
// same without a running AIR. The exceptions are inputs, whose values are
// the tenant's and live in the running AIR, and backtest, which replays the
// running AIR's stored incidents.
func playbooks(ctx context.Context, env Env, args []string) error {
	if len(args) == 0 {
		return usageError{"playbooks: missing subcommand (validate, test, plan, backtest, inputs or schema)"}
	}
	switch args[0] {
	case "validate":
		return playbooksValidate(env, args[1:])
	case "test":
		return playbooksTest(ctx, env, args[1:])
	case "plan":
		return playbooksPlan(ctx, env, args[1:])
	case "backtest":
		return playbooksBacktest(ctx, env, args[1:])
	case "schema":
		return playbooksSchema(env, args[1:])
	case "inputs":
		return playbooksInputs(ctx, env, args[1:])
	}
	return usageError{fmt.Sprintf("unknown command %q", "playbooks "+args[0])}
}

// playbooksValidate loads every playbook and playbook test file of a
// directory the way the worker does, prints every problem as
// file:line:column: message, and fails when there is one.
func playbooksValidate(env Env, args []string) error {
	fs := newFlags(env, "playbooks validate")
	fs.Usage = func() {
		fmt.Fprint(env.Stderr, "Usage: starter playbooks validate [DIR]\n\n"+
			"Check every playbook (*.yaml) and playbook test (*.test.yaml) in DIR (default ./playbooks):\n"+
			"keys, actions and their arguments, expressions and their types, step references,\n"+
			"sub-playbooks. Prints each problem as file:line:column: message; exits 1 if there is one.\n")
	}
	dir, err := playbookDir(fs, args)
	if err != nil {
		return err
	}

	var diags []playbook.Diagnostic
	pbs, err := playbook.LoadDir(dir)
	var le *playbook.LoadError
	switch {
	case errors.As(err, &le):
		diags = append(diags, le.Diagnostics...)
	case err != nil:
		return err
	}
	tests, err := playbook.LoadTests(dir)
	switch {
	case errors.As(err, &le):
		diags = append(diags, le.Diagnostics...)
	case err != nil:
		return err
	}
	if pbs != nil {
		names := make([]string, len(pbs))
		for i, pb := range pbs {
			names[i] = pb.Name
		}
		for _, tf := range tests {
			i := slices.Index(names, tf.Playbook)
			if i < 0 {
				diags = append(diags, playbook.Diagnostic{File: tf.File, Line: 1, Column: 1,
					Message: fmt.Sprintf("playbook %q: no playbook of that name in %s", tf.Playbook, dir)})
				continue
			}
			for _, c := range tf.Cases {
				if _, err := c.CheckInputs(pbs[i]); err != nil {
					diags = append(diags, playbook.Diagnostic{File: tf.File, Line: c.InputsLine, Column: 1,
						Message: fmt.Sprintf("case %q: inputs: %v", c.Name, err)})
				}
			}
		}
	}

	for _, d := range diags {
		fmt.Fprintln(env.Stdout, d.String())
	}
	if len(diags) > 0 {
		files := map[string]bool{}
		for _, d := range diags {
			files[d.File] = true
		}
		return fmt.Errorf("playbooks in %s: %s in %s", dir, plural(len(diags), "problem"), plural(len(files), "file"))
	}
	subs, cases := 0, 0
	for _, pb := range pbs {
		if pb.Kind == playbook.KindSub {
			subs++
		}
	}
	for _, tf := range tests {
		cases += len(tf.Cases)
	}
	fmt.Fprintf(env.Stdout, "playbooks in %s are valid: %s (%s), %s with %s\n", dir,
		plural(len(pbs), "playbook"), plural(subs, "sub-playbook"), plural(len(tests), "test file"), plural(cases, "case"))
	for _, o := range mayOverlap(pbs) {
		fmt.Fprintf(env.Stdout, "note: %s\n", o)
	}
	return nil
}

// mayOverlap names the pairs of playbooks, neither exclusive, that take
// the same remediation (their sub-playbooks' included): when both match
// one incident, a target they share gets one action, the second proposal
// joining the first.
func mayOverlap(pbs []*playbook.Playbook) []string {
	type book struct {
		name  string
		types []string
	}
	var books []book
	for _, pb := range pbs {
		if pb.Kind == playbook.KindSub || pb.Exclusive {
			continue
		}
		books = append(books, book{pb.Name, remediationTypes(pb, 0)})
	}
	var out []string
	for i := range books {
		for j := i + 1; j < len(books); j++ {
			var shared []string
			for _, t := range books[i].types {
				if slices.Contains(books[j].types, t) {
					shared = append(shared, t)
				}
			}
			if len(shared) > 0 {
				out = append(out, fmt.Sprintf("%s and %s both take %s: on an incident both match, a shared target gets one action "+
					"(make one exclusive to keep them apart; starter playbooks test --together shows it)", books[i].name, books[j].name, strings.Join(shared, ", ")))
			}
		}
	}
	return out
}

// remediationTypes lists the remediation action types a playbook's steps
// and sub-playbooks take, sorted.
func remediationTypes(pb *playbook.Playbook, depth int) []string {
	var types []string
	for _, stage := range playbook.Stages {
		for _, st := range pb.Steps(stage) {
			switch {
			case st.Use != "" && st.Callee != nil && depth < 4:
				types = append(types, remediationTypes(st.Callee, depth+1)...)
			case st.Spec != nil && st.Spec.Remediation: // ask and wait steps have no Spec
				types = append(types, st.Action)
			}
		}
	}
	slices.Sort(types)
	return slices.Compact(types)
}

// plural writes a count and a noun, with an s when the count is not one.
func plural(n int, noun string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// playbooksSchema runs `starter playbooks schema [DIR]`: it writes the JSON
// Schemas of playbooks and playbook tests, as this AIR knows its actions,
// into DIR/schema/, where the files' yaml-language-server headers
// (`$schema=schema/playbook.schema.json`) find them wherever DIR is copied.
func playbooksSchema(env Env, args []string) error {
	fs := newFlags(env, "playbooks schema")
	fs.Usage = func() {
		fmt.Fprint(env.Stderr, "Usage: starter playbooks schema [DIR]\n\n"+
			"Write the JSON Schemas of playbooks and playbook tests into DIR/schema/ (default ./playbooks),\n"+
			"for editors: put '# yaml-language-server: $schema=schema/playbook.schema.json' (or\n"+
			"schema/playbook-test.schema.json in a test) first in each file.\n")
	}
	dir, err := playbookDir(fs, args)
	if err != nil {
		return err
	}
	out := filepath.Join(dir, "schema")
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	for name, doc := range map[string][]byte{playbook.SchemaFileName: playbook.Schema(), playbook.TestSchemaFileName: playbook.TestSchema()} {
		path := filepath.Join(out, name)
		if err := os.WriteFile(path, doc, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "wrote %s\n", path)
	}
	return nil
}

// playbookDir parses a command taking at most one directory of playbooks,
// ./playbooks by default.
func playbookDir(fs *flag.FlagSet, args []string) (string, error) {
	pos, err := parse(fs, args)
	switch {
	case err != nil:
		return "", err
	case len(pos) > 1:
		return "", usageError{fs.Name() + ": name at most one directory"}
	case len(pos) == 1:
		return pos[0], nil
	}
	return "playbooks", nil
}
