package domain

import (
	"slices"
	"strings"
)

// Remediation is an entity's remediation status (Graph names) as AIR's
// actions on it leave it, or else as the provider's evidence said: a
// pending action makes it pendingApproval, one approved or running
// running, a succeeded one remediated, a failed one unremediated, and only
// rejected or expired ones declined. Undo actions and undone actions do
// not count as remediation.
func Remediation(acts []Action, fromEvidence RemediationStatus) RemediationStatus {
	has := func(sts ...ActionStatus) bool {
		return slices.ContainsFunc(acts, func(a Action) bool { return a.UndoOf == "" && slices.Contains(sts, a.Status) })
	}
	switch {
	case has(ActionPending):
		return "pendingApproval"
	case has(ActionApproved, ActionRunning):
		return "running"
	case has(ActionSucceeded):
		return "remediated"
	case has(ActionFailed):
		return "unremediated"
	case has(ActionRejected, ActionExpired):
		return "declined"
	case fromEvidence != "":
		return fromEvidence
	}
	return "none"
}

// RemediationOf works out the remediation status of each of an incident's
// entities from the actions on them and the alerts' evidence (the last
// alert that says something other than none wins).
func RemediationOf(entities []Entity, alerts []Alert, acts []Action) map[EntityKey]RemediationStatus {
	evidence := map[EntityKey]RemediationStatus{}
	for _, a := range alerts {
		for _, ev := range a.Evidence {
			if ev.Entity != nil && ev.RemediationStatus != "" && ev.RemediationStatus != "none" {
				evidence[ev.Entity.Key] = ev.RemediationStatus
			}
		}
	}
	on := map[EntityKey][]Action{}
	for _, a := range acts {
		on[a.TargetKey] = append(on[a.TargetKey], a)
	}
	out := make(map[EntityKey]RemediationStatus, len(entities))
	for _, e := range entities {
		out[e.Key] = Remediation(on[e.Key], evidence[e.Key])
	}
	return out
}

// Uncontained lists the entities the evidence calls malicious that nothing
// contained already: no provider remediation status says remediated,
// prevented or blocked, and a device is not reported isolated. An
// investigation that leaves one of them so is not benign (SPEC "Facts and
// verdicts"), whatever else it did not need to do.
func Uncontained(entities []Entity, alerts []Alert) []EntityKey {
	held := map[EntityKey]bool{}
	for _, a := range alerts {
		for _, ev := range a.Evidence {
			switch ev.RemediationStatus {
			case "remediated", "prevented", "blocked":
				if ev.Entity != nil {
					held[ev.Entity.Key] = true
				}
			}
		}
	}
	var out []EntityKey
	for _, e := range entities {
		if e.Verdict != VerdictMalicious || held[e.Key] || slices.Contains(out, e.Key) {
			continue
		}
		if e.Kind == KindDevice && strings.EqualFold(e.Attrs["isolationState"], "isolated") {
			continue
		}
		out = append(out, e.Key)
	}
	return out
}
