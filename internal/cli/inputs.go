package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/airsoc/air/internal/api"
	"github.com/airsoc/air/internal/playbook"
)

// playbooksInputs runs `starter playbooks inputs NAME [KEY=VALUE ...]`:
// the playbook's inputs (its tenant switches) with this tenant's values,
// and with KEY=VALUE arguments sets them — the other stored values stay —
// without editing the file. Unlike the other playbooks commands it talks
// to the running AIR (AIR_URL): the values are the tenant's, kept there.
func playbooksInputs(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "playbooks inputs")
	fs.Usage = func() {
		fmt.Fprint(env.Stderr, "Usage: starter playbooks inputs NAME [KEY=VALUE ...] [--reset] [-o table|json]\n\n"+
			"Show a playbook's inputs and this tenant's values; KEY=VALUE sets one (true/false, an integer,\n"+
			"a comma-separated list, or text, as the input's type says). Needs the admin role to set.\n\n")
		fs.PrintDefaults()
	}
	reset := fs.Bool("reset", false, "clear the tenant's values first: inputs not set again run with their defaults")
	out := outputFlag(fs, "table", "table|json")
	pos, err := parsePositional(fs, args, out, "table|json", "a playbook", func(n int) bool { return n >= 1 })
	if err != nil {
		return err
	}
	path := "/api/v1/playbooks/" + url.PathEscape(pos[0]) + "/inputs"
	var cur api.PlaybookInputs
	if _, err := call(ctx, env, http.MethodGet, path, nil, &cur); err != nil {
		return err
	}
	if len(pos) > 1 || *reset {
		vals := maps.Clone(cur.Inputs)
		if *reset || vals == nil {
			vals = map[string]any{}
		}
		for _, kv := range pos[1:] {
			key, text, ok := strings.Cut(kv, "=")
			if !ok {
				return usageError{fmt.Sprintf("playbooks inputs: %q: want KEY=VALUE", kv)}
			}
			i := slices.IndexFunc(cur.Declared, func(d api.InputDecl) bool { return d.Name == key })
			if i < 0 {
				names := make([]string, len(cur.Declared))
				for j, d := range cur.Declared {
					names[j] = d.Name
				}
				return fmt.Errorf("playbook %s has no input %q (it has: %s)", cur.Playbook, key, strings.Join(names, ", "))
			}
			v, err := playbook.ParseInputValue(key, cur.Declared[i].Type, text)
			if err != nil {
				return err
			}
			vals[key] = v
		}
		body, err := json.Marshal(api.InputsBody{Inputs: vals})
		if err != nil {
			return err
		}
		cur = api.PlaybookInputs{} // decoding into the old maps would merge them
		if _, err := call(ctx, env, http.MethodPut, path, body, &cur); err != nil {
			return err
		}
	}
	if *out == "json" {
		printJSON(env.Stdout, cur)
		return nil
	}
	fmt.Fprintf(env.Stdout, "Playbook %s v%d\n", cur.Playbook, cur.Version)
	if len(cur.Declared) == 0 {
		fmt.Fprintln(env.Stdout, "  declares no inputs")
		return nil
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	defer tw.Flush()
	fmt.Fprintln(tw, "INPUT\tTYPE\tDEFAULT\tTENANT\tIN USE\tDESCRIPTION")
	for _, d := range cur.Declared {
		tenant := "-"
		if v, ok := cur.Inputs[d.Name]; ok {
			tenant = inputText(v)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", d.Name, d.Type, inputText(d.Default), tenant,
			inputText(cur.Effective[d.Name]), dash(d.Description))
	}
	return nil
}

// inputText writes an input's value as the command line takes it.
func inputText(v any) string {
	switch v := v.(type) {
	case nil:
		return "-"
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = fmt.Sprint(e)
		}
		return strings.Join(parts, ",")
	case []string:
		return strings.Join(v, ",")
	case string:
		return fmt.Sprintf("%q", v)
	}
	return fmt.Sprint(v)
}

// inputFlags collects repeated --input KEY=VALUE (or PLAYBOOK.KEY=VALUE)
// flags of plan mode.
type inputFlags []string

func (f *inputFlags) String() string     { return strings.Join(*f, " ") }
func (f *inputFlags) Set(v string) error { *f = append(*f, v); return nil }

// applyInputs turns --input flags into values by playbook: KEY=VALUE sets
// the input of every playbook that declares KEY, PLAYBOOK.KEY=VALUE that
// playbook's only. A key no playbook declares is an error.
func applyInputs(books []*playbook.Playbook, flags []string, into map[string]map[string]any) (map[string]map[string]any, error) {
	if into == nil {
		into = map[string]map[string]any{}
	}
	for _, kv := range flags {
		key, text, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, usageError{fmt.Sprintf("--input %q: want KEY=VALUE or PLAYBOOK.KEY=VALUE", kv)}
		}
		only, name := "", key
		if pb, k, ok := strings.Cut(key, "."); ok {
			only, name = pb, k
		}
		found := false
		for _, pb := range books {
			if only != "" && pb.Name != only || pb.Kind == playbook.KindSub {
				continue
			}
			if _, ok := pb.Input(name); !ok {
				continue
			}
			v, err := pb.ParseInputText(name, text)
			if err != nil {
				return nil, fmt.Errorf("--input %s: %w", kv, err)
			}
			if into[pb.Name] == nil {
				into[pb.Name] = map[string]any{}
			}
			into[pb.Name][name] = v
			found = true
		}
		if !found {
			return nil, usageError{fmt.Sprintf("--input %s: no playbook declares an input %q", kv, key)}
		}
	}
	return into, nil
}
