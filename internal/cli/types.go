package cli

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/airsoc/air/internal/actions"
)

// actionTypes prints the action registry: every action type with its
// target, parameters, undo, risk and the connectors that can carry it out.
// The registry is compiled in, so this needs no running worker.
func actionTypes(_ context.Context, env Env, args []string) error {
	fs := newFlags(env, "actions types")
	out := outputFlag(fs, "table", "table|json")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError{"actions types: takes no arguments"}
	}
	if err := checkOutput(*out, "table|json"); err != nil {
		return err
	}
	specs := actions.All()
	if *out == "json" {
		printJSON(env.Stdout, specs)
		return nil
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	defer tw.Flush()
	fmt.Fprintln(tw, "TYPE\tTARGET\tUNDO\tRISK\tCONNECTORS\tPARAMETERS")
	for _, s := range specs {
		target := string(s.Target)
		if target == "" {
			target = "incident"
		}
		risk := s.Risk()
		if on := s.IrreversibleOn(); len(on) > 0 {
			risk += " (not on " + strings.Join(on, ",") + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.Type, target, dash(s.Undo), risk,
			dash(strings.Join(s.Connectors, ",")), dash(paramList(s.Params)))
	}
	return nil
}

// paramList writes parameters as a playbook author reads them:
// isolationType=Full|Selective, ruleId!, comment.
func paramList(ps []actions.Param) string {
	parts := make([]string, 0, len(ps))
	for _, p := range ps {
		s := p.Name
		if p.Required {
			s += "!"
		}
		switch {
		case len(p.Enum) > 0:
			s += "=" + strings.Join(p.Enum, "|")
		case p.Type != actions.String:
			s += ":" + string(p.Type)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
