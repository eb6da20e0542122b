package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
)

// incidentsStop runs `starter incidents stop ID --reason …`: a responder
// stops the incident's running investigation.
func incidentsStop(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "incidents stop")
	reason := fs.String("reason", "", "why the investigation stops (required; audited and given to every pending action)")
	out := outputFlag(fs, "table", "table|json")
	arg, err := parseOne(fs, args, out, "table|json", "one incident's id")
	if err != nil {
		return err
	}
	id, err := incidentID(arg)
	if err != nil {
		return err
	}
	body, _ := json.Marshal(map[string]string{"reason": *reason})
	var st struct {
		StoppedBy  string `json:"stoppedBy"`
		StopReason string `json:"stopReason"`
	}
	if _, err := call(ctx, env, http.MethodPost, fmt.Sprintf("/api/v1/incidents/%d/stop", id), body, &st); err != nil {
		return err
	}
	if *out == "json" {
		printJSON(env.Stdout, st)
		return nil
	}
	fmt.Fprintf(env.Stdout, "incident %d: investigation stopped by %s (%s); its pending actions are rejected\n", id, st.StoppedBy, st.StopReason)
	return nil
}
