package web

import (
	"strings"

	"github.com/airsoc/air/internal/records"
)

// activityLine is an activity-log entry as a person reads it: who, in
// words ("Playbook contain-device", not "system:playbook:contain-device"),
// and what, as a sentence ("Investigation moved from running to pending
// approval", not "investigation.state running → pendingApproval"). From
// and To are the old and new values, shown struck and highlighted; the
// verb stays in a tooltip for whoever reads the API's audit log.
type activityLine struct {
	Who, What, From, To string
}

// actorName says who acted: a person's name as it is, AIR's parts in words.
func actorName(actor string) string {
	rest, ok := strings.CutPrefix(actor, "system:")
	if !ok {
		return actor
	}
	if pb, ok := strings.CutPrefix(rest, "playbook:"); ok {
		return "Playbook " + pb
	}
	return "AIR " + label(rest)
}

// fieldNames are incident fields in words, for "incident.<field>" verbs.
var fieldNames = map[string]string{
	"displayName": "name", "assignedTo": "assignee", "resolvingComment": "resolving comment",
	"customTags": "tags", "tags": "tags",
}

// activity turns an audit entry into an activityLine.
func activity(e records.AuditEntry) activityLine {
	l := activityLine{Who: actorName(e.Actor), From: pretty(e.Before), To: pretty(e.After)}
	enumish := func() { l.From, l.To = label(l.From), label(l.To) }
	switch e.Verb {
	case "incident.created":
		l.What, l.From, l.To = "Opened the incident", "", ""
	case "investigation.state":
		enumish()
		l.What = "Investigation"
	case "investigation.stop":
		l.What, l.From = "Stopped the investigation:", ""
	case "alert.joined":
		l.What, l.From = "Alert added:", ""
	case "alert.updated":
		l.What = "Alert updated:"
	case "alert.moved_in":
		l.What, l.From = "Alert moved in:", ""
	case "alert.moved_out":
		l.What, l.From = "Alert moved out:", ""
	case "alert.status", "alert.classification", "alert.determination", "alert.assignedTo":
		field := strings.TrimPrefix(e.Verb, "alert.")
		if field == "assignedTo" {
			field = fieldNames[field]
		} else {
			enumish()
		}
		l.What = "Changed the " + field + " of alert " + strings.TrimPrefix(e.Object, "alert:")
	case "alert.comment":
		l.What, l.From = "Commented on alert "+strings.TrimPrefix(e.Object, "alert:")+":", ""
	case "alerts.counted":
		l.What = "More alerts of the same kind:"
	case "action.created":
		l.What, l.From = "Proposed an action:", ""
	case "action.status":
		l.What = "Action"
		if before, after, ok := strings.Cut(l.To, ": "); ok {
			l.To = label(before) + ": " + after
		} else {
			l.To = label(l.To)
		}
		l.From = label(l.From)
	case "action.joined":
		l.What, l.From = "Joined an open action:", ""
	case "incident.comment":
		l.What, l.From = "Commented:", ""
	case "incident.merged_into":
		l.What = "Merged into another incident:"
	case "incident.merged_from":
		l.What = "Took in a merged incident:"
	case "incident.merge_refused":
		l.What = "Did not merge:"
	case "incident.status", "incident.severity", "incident.classification", "incident.determination":
		enumish()
		l.What = "Changed the " + strings.TrimPrefix(e.Verb, "incident.")
	default:
		field, ok := strings.CutPrefix(e.Verb, "incident.")
		if !ok {
			l.What = label(strings.ReplaceAll(e.Verb, ".", " "))
			break
		}
		if n, ok := fieldNames[field]; ok {
			field = n
		} else {
			field = strings.ToLower(label(field))
		}
		l.What = "Changed the " + field
	}
	if l.From == "" && l.To == "" && strings.HasSuffix(l.What, ":") {
		l.What = strings.TrimSuffix(l.What, ":")
	}
	return l
}
