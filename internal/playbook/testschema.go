package playbook

import (
	"bytes"
	"encoding/json"
	"slices"

	"github.com/airsoc/air/internal/actions"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/policy"
)

// The key tables of playbook test files (NAME.test.yaml). The parser's key
// lists and TestSchema both come from them, like playbookFields for
// playbooks.

var (
	targetSchema = obj{"type": "string", "pattern": "^[a-zA-Z]+:.+$", "examples": []string{"device:dev1", "user:alice@corp.example"}}
	stringsList  = obj{"type": "array", "items": obj{"type": "string"}}
)

var testFileFields = []field{
	{"playbook", "The name of the playbook under test. It runs alone (with the sub-playbooks it uses) unless playbooks test --together.", idSchema},
	{"cases", "The test cases: alerts in, what the playbook must (and must not) do out.",
		obj{"type": "array", "minItems": 1, "items": obj{"$ref": "#/$defs/case"}}},
}

var testCaseFields = []field{
	{"name", "The case's name, unique in the file.", obj{"type": "string"}},
	{"automation", "The tenant's automation settings for the case; absent: semi-all.", obj{"$ref": "#/$defs/automation"}},
	{"alerts", "Graph alerts (as the ingest API takes them) forming one incident: make them share an entity.",
		obj{"type": "array", "minItems": 1, "items": obj{"type": "object"}}},
	{"incident", "Instead of alerts: incident fields set by hand, with its alerts.", obj{"$ref": "#/$defs/incident"}},
	{"entities", "Facts alerts do not carry, by entity key (device:dev1, user:alice@corp.example): attrs, tags, and what vendors answer analysis steps.",
		obj{"type": "object", "propertyNames": obj{"pattern": "^[a-zA-Z]+:.+$"}, "additionalProperties": obj{"$ref": "#/$defs/facts"}}},
	{"results", "Mocked outcomes of executed actions; an action none matches succeeds with the result ok.",
		obj{"type": []string{"array", "null"}, "items": obj{"$ref": "#/$defs/result"}}},
	{"decisions", "Analyst decisions on pending actions, the first that names an action applies.",
		obj{"type": []string{"array", "null"}, "items": obj{"$ref": "#/$defs/decision"}}},
	{"pending", "What analysts do with a pending action no decision names: expire (default: it expires after 7 days), approve or reject.",
		obj{"enum": []string{PendingExpire, PendingApprove, PendingReject}}},
	{"answers", "Answers people give to the playbook's questions, by ask step id: a choice, or a list of them for a question that takes several. A question no answer names times out (its default applies, or the step fails).",
		obj{"type": "object", "propertyNames": idSchema, "additionalProperties": answerSchema}},
	{"inputs", "The tenant's values of the playbook's inputs for the case, by name (as starter playbooks inputs sets them); absent: the defaults.",
		obj{"type": "object", "propertyNames": obj{"pattern": "^[A-Za-z_][A-Za-z0-9_]*$"}}},
	{"intel", "Threat-intelligence indicators loaded before the case, for analysis steps: {feed, kind: file|ip|cidr|domain|url, value, score, family, benign: true for a known-benign list}.",
		obj{"type": "array", "items": obj{"$ref": "#/$defs/indicator"}}},
	{"history", "Graph alerts ingested before the case's alerts, in incidents of their own or not: what hunt steps and prevalence find in the store.",
		obj{"type": "array", "items": obj{"type": "object"}}},
	{"expect", "What the case checks at the end.", obj{"$ref": "#/$defs/expect"}},
}

var answerSchema = obj{"anyOf": []obj{{"type": "string"}, {"type": "array", "items": obj{"type": "string"}, "minItems": 1}}}

var testAutoFields = []field{
	{"default", "The tenant's automation level.", obj{"enum": policy.Levels}},
	{"groups", "Automation level by device group.", obj{"type": "object", "additionalProperties": obj{"enum": policy.Levels}}},
	{"autoEmail", "true: email actions follow the automation level instead of always waiting.", obj{"type": "boolean"}},
	{"fourEyes", "true: whoever requested a manual action cannot approve it.", obj{"type": "boolean"}},
	{"guardrails", "Tenant-wide caps on blast radius, as the settings API takes them.", obj{"type": "object"}},
}

var testIncidentFields = []field{
	{"displayName", "The incident's name.", obj{"type": "string"}},
	{"description", "The incident's description.", obj{"type": "string"}},
	{"severity", "Severity set by hand.", obj{"type": "string"}},
	{"status", "Status.", obj{"type": "string"}},
	{"classification", "Classification.", obj{"type": "string"}},
	{"determination", "Determination.", obj{"type": "string"}},
	{"assignedTo", "Assignee.", obj{"type": "string"}},
	{"customTags", "Tags.", stringsList},
	{"alerts", "The incident's alerts, as Graph alerts.", obj{"type": "array", "minItems": 1, "items": obj{"type": "object"}}},
}

var testEntityFields = []field{
	{"attrs", "Attributes by name (isolationState, privileged, adminCount, manager, deviceType, …), written as strings or scalars.",
		obj{"type": "object", "additionalProperties": obj{"type": []string{"string", "number", "boolean"}}}},
	{"tags", "Tags the entity carries.", stringsList},
	{"vendor", "What vendor connectors answer when an analysis step (file.analyze, ip.analyze, device.analyze, user.analyze) asks about the entity, by fact kind without its vendor. prefix: file_stats, ip_stats, logged_on_users, related_alerts, risky_user, sign_ins, each in its fact's shape (docs/intel.md), or error to make the vendor fail. The facts' source is test.",
		obj{"type": "object", "propertyNames": obj{"enum": VendorTestKinds()}, "additionalProperties": obj{"type": "object"}}},
}

var testResultFields = []field{
	{"action", "The action type the result answers.", obj{"$ref": "#/$defs/action"}},
	{"target", "The entity key it answers for; absent: any target.", targetSchema},
	{"result", "The result text of a success; ok when absent.", obj{"type": "string"}},
	{"error", "Make the action fail with this message.", obj{"type": "string"}},
	{"kind", "The error's kind; failed when absent.", obj{"enum": ErrorKinds}},
	{"output", "What the action returns, read by later steps as results[i].output.", obj{"type": "object"}},
}

var testDecisionFields = []field{
	{"action", "The action type decided.", obj{"$ref": "#/$defs/action"}},
	{"target", "The entity key; absent: any target.", targetSchema},
	{"decision", "approve or reject.", obj{"enum": []string{string(domain.DecisionApprove), string(domain.DecisionReject)}}},
	{"by", "Who decides; analyst when absent.", obj{"type": "string"}},
	{"comment", "The decision's comment.", obj{"type": "string"}},
}

var testExpectFields = []field{
	{"state", "The final investigation state.", obj{"enum": investigationStates}},
	{"tags", "Tags the incident must carry.", stringsList},
	{"comments", "Substrings some incident comment must contain.", stringsList},
	{"actions", "Exactly the remediation actions proposed, in any order; [] expects none.",
		obj{"type": "array", "items": obj{"$ref": "#/$defs/expectedAction"}}},
	{"not", "What must not happen: actions of a type (on a target), tags, comment texts.", obj{"$ref": "#/$defs/not"}},
	{"answers", "The answers the questions ended with, by ask step id (a default applied on timeout counts): a choice, or a list of them.",
		obj{"type": "object", "propertyNames": idSchema, "additionalProperties": answerSchema}},
	{"incident", "Incident fields at the end, as case actions set them.", obj{"$ref": "#/$defs/expectIncident"}},
	{"verdicts", "The verdicts entities end with (an analyst's, a rule's, else the provider's), by entity key.",
		obj{"type": "object", "propertyNames": obj{"pattern": "^[a-zA-Z]+:.+$"}, "additionalProperties": obj{"enum": verdictNames()}}},
}

var testIntelFields = []field{
	{"feed", "The feed the indicator belongs to.", obj{"type": "string"}},
	{"kind", "What it names.", obj{"enum": []string{"file", "ip", "cidr", "domain", "url"}}},
	{"value", "The hash, address, domain or URL.", obj{"type": "string"}},
	{"score", "The feed's score, 0-100.", obj{"type": "integer"}},
	{"family", "The malware family.", obj{"type": "string"}},
	{"benign", "true: the feed is a known-benign list (a MISP warning list).", obj{"type": "boolean"}},
}

func verdictNames() []string {
	out := make([]string, len(domain.Verdicts))
	for i, v := range domain.Verdicts {
		out[i] = string(v)
	}
	return out
}

var testExpIncFields = []field{
	{"severity", "The incident's severity.", obj{"enum": []string{"unknown", "informational", "low", "medium", "high"}}},
	{"status", "The incident's status.", obj{"enum": []string{"active", "inProgress", "resolved", "redirected"}}},
	{"classification", "The incident's classification.", obj{"enum": domain.Classifications}},
	{"determination", "The incident's determination.", obj{"type": "string"}},
	{"assignedTo", "Who the incident is assigned to.", obj{"type": "string"}},
}

var testActionFields = []field{
	{"type", "The remediation action type.", obj{"$ref": "#/$defs/remediation"}},
	{"target", "The entity key it acts on.", targetSchema},
	{"run", "auto: ran without an analyst; wait: waited for one.", obj{"enum": []string{RunAuto, RunWait}}},
	{"reason", "A substring of the policy's reason.", obj{"type": "string"}},
	{"status", "The action's final status.", obj{"enum": domain.ActionStatuses}},
}

var testNotFields = []field{
	{"actions", "Remediation actions that must not be proposed: a type, and a target (absent: on any target).",
		obj{"type": "array", "items": obj{"$ref": "#/$defs/notAction"}}},
	{"tags", "Tags the incident must not carry.", stringsList},
	{"comments", "Texts no incident comment may contain.", stringsList},
}

var testNotActFields = []field{
	{"type", "The remediation action type.", obj{"$ref": "#/$defs/remediation"}},
	{"target", "The entity key; absent: any target.", targetSchema},
}

// TestSchema returns the JSON Schema (draft 2020-12) of playbook test files,
// for editors: playbooks/schema/playbook-test.schema.json is its output. Like Schema it
// follows the parser's key tables and the action registry; alerts are only
// checked to be mappings (the loader decodes them as Graph alerts).
func TestSchema() []byte {
	var all, remediation []string
	for _, sp := range actions.All() {
		all = append(all, sp.Type)
		if sp.Remediation {
			remediation = append(remediation, sp.Type)
		}
	}
	def := func(fs []field, required ...string) obj {
		o := obj{"type": "object", "properties": properties(fs), "additionalProperties": false}
		if len(required) > 0 {
			o["required"] = required
		}
		return o
	}
	doc := obj{
		"$schema":              "https://json-schema.org/draft/2020-12/schema",
		"$id":                  "https://github.com/airsoc/air/playbooks/schema/playbook-test.schema.json",
		"title":                "AIR playbook test",
		"description":          "A playbook test file (NAME.test.yaml) of AIR. Generated by starter playbooks schema (the AIR that reads the tests knows its actions); docs/playbooks.md is the guide.",
		"type":                 "object",
		"properties":           properties(testFileFields),
		"additionalProperties": false,
		"required":             []string{"playbook", "cases"},
		"$defs": obj{
			"case": func() obj {
				o := def(testCaseFields, "name", "expect")
				o["oneOf"] = []obj{{"required": []string{"alerts"}}, {"required": []string{"incident"}}}
				return o
			}(),
			"automation":     def(testAutoFields),
			"incident":       def(testIncidentFields, "alerts"),
			"facts":          def(testEntityFields),
			"result":         def(testResultFields, "action"),
			"decision":       def(testDecisionFields, "action", "decision"),
			"expect":         def(testExpectFields),
			"expectedAction": def(testActionFields, "type"),
			"not":            def(testNotFields),
			"expectIncident": def(testExpIncFields),
			"indicator":      def(testIntelFields, "feed", "kind", "value"),
			"notAction":      def(testNotActFields, "type"),
			"action":         obj{"enum": all},
			"remediation":    obj{"enum": slices.Clip(remediation)},
		},
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil { // only maps, slices, strings and numbers
		return nil
	}
	return b.Bytes()
}
