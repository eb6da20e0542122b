package mde

import (
	"fmt"
	"github.com/airsoc/air/internal/remediation"
	"strings"
)

// Live response: Defender for Endpoint has no machine action that kills
// one process or removes a persistence mechanism, but its live response
// API runs a script from the tenant's live response library on the
// device (POST /api/machines/{id}/runliveresponse, a machine action of
// type LiveResponse). AIR runs two scripts the tenant uploads once
// (scripts/ in this package): one kills a process by id, one removes a
// registry key or value, a scheduled task or a service. The machine action
// is followed like any other (marker in its comment, heartbeat resume,
// poll to Succeeded), so exactly once holds the same way.
//
// What it cannot do: restore removed persistence (the script keeps no
// copy: persistence.restore stays with the lab or a webhook), run while
// another live response session is open on the device (the API runs one
// at a time: "already in progress" is joined only if it is AIR's), or run
// more than 10 calls a minute per tenant (the API's limit for live
// response, below the machine actions' 100).

// Default names of the scripts in the tenant's live response library.
const (
	DefaultKillProcessScript       = "air-kill-process.ps1"
	DefaultRemovePersistenceScript = "air-remove-persistence.ps1"
)

// liveResponse builds the body of a runliveresponse call running one
// library script with its arguments.
func liveResponse(comment, script, args string) map[string]any {
	return map[string]any{"Comment": comment, "Commands": []map[string]any{{"type": "RunScript",
		"params": []map[string]string{{"key": "ScriptName", "value": script}, {"key": "Args", "value": args}}}}}
}

// psQuote quotes a value as one PowerShell single-quoted argument.
func psQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// killArgs and persistenceArgs are the scripts' arguments.
func killArgs(p map[string]any) string {
	return fmt.Sprintf("-ProcessId %s", remediation.StringParam(p, "processId", ""))
}

func persistenceArgs(p map[string]any) string {
	return fmt.Sprintf("-Kind %s -Name %s", psQuote(remediation.StringParam(p, "kind", "")), psQuote(remediation.StringParam(p, "name", "")))
}
