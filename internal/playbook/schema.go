package playbook

import (
	"bytes"
	"encoding/json"
	"slices"

	"github.com/airsoc/air/internal/actions"
)

// field is one key a playbook mapping accepts, with what the JSON Schema
// says of it. The parser's key lists and the schema both come from these
// tables, so that an editor's completion and the loader agree.
type field struct {
	name   string
	doc    string
	schema obj // JSON Schema of the value, without its description
}

type obj = map[string]any

// Shared schema fragments.
var (
	exprSchema = obj{"type": []string{"string", "boolean"},
		"examples": []string{`incident.severity in ["medium", "high"]`, `filter(devices, {.verdict == "malicious"})`}}
	idSchema       = obj{"type": "string", "pattern": "^[a-z0-9_-]+$"}
	durationSchema = obj{"type": "string", "pattern": durationPattern, "examples": []string{"30s", "5m", "1h30m"}}
	templateSchema = obj{"type": "string", "pattern": `\{\{.*\}\}`}
)

const durationPattern = `^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`

var playbookFields = []field{
	{"name", "The playbook's name: lower-case letters, digits, '-' and '_'. Unique in its directory; actions record it.", idSchema},
	{"version", "The playbook's version, 1 or more. A running incident keeps the version it started with; raise it with every change.",
		obj{"type": "integer", "minimum": 1}},
	{"kind", "sub for a sub-playbook, which never matches an incident and runs only where a step says use: NAME. Absent for a playbook.",
		obj{"enum": []string{KindSub}}},
	{"order", "When several playbooks match an incident they run by order, lowest first, then by name. Default 0.",
		obj{"type": "integer"}},
	{"description", "What the playbook is for, in a sentence or two.", obj{"type": "string"}},
	{"match", "An expression that chooses the incidents the playbook applies to; absent matches every incident. Sees incident, alerts and the entity lists.", exprSchema},
	{"fallback", "true: the playbook applies only to incidents no other playbook matched (its match still applies).",
		obj{"type": "boolean"}},
	{"exclusive", "true: when the playbook matches an incident it runs alone: the other playbooks that match do not run. When several exclusive playbooks match, the first by order, then name, runs.",
		obj{"type": "boolean"}},
	{"beside", "true: the playbook runs beside the others wherever it matches (evidence analysis for every incident): it does not keep fallback playbooks out and an exclusive playbook does not leave it out.",
		obj{"type": "boolean"}},
	{"inputs", "Inputs, by name: a sub-playbook's take a type (device, user, mailbox, file, process, ip, url, message, string, int, bool, strings) or {type, default, description}; a playbook's are tenant switches {type: string|int|bool|strings, default, description}, each with a default, set per tenant with starter playbooks inputs. Expressions read them as inputs.NAME.",
		obj{"type": "object", "propertyNames": obj{"pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
			"additionalProperties": obj{"$ref": "#/$defs/input"}}},
	{"stages", "The steps of each stage; stages run in the order triage, analysis, containment, eradication, recovery, review, and any may be absent or empty.",
		obj{"$ref": "#/$defs/stages"}},
}

var stepFields = []field{
	{"id", "The step's id, unique in the playbook: lower-case letters, digits, '-' and '_'. Later steps read its output as steps.ID (steps[\"ID\"] when it holds '-').", idSchema},
	{"action", "The action type the step proposes (see the action table). A step has action or use, not both.", obj{"$ref": "#/$defs/action"}},
	{"use", "The name of a sub-playbook (kind: sub) to run in place of this step; with gives its inputs.", idSchema},
	{"ask", "A question to a person (an analyst in the action center, or the user target names), with choices, a timeout and reminders; later steps read steps.ID.answer. A step has one of action, use, ask and wait.",
		obj{"$ref": "#/$defs/ask"}},
	{"wait", "A condition on the incident to wait for, with a timeout; it is checked again whenever the incident changes. Later steps read steps.ID.met.",
		obj{"$ref": "#/$defs/wait"}},
	{"when", "An expression that must be true for the step (or, with for_each, for the item) to run.", exprSchema},
	{"for_each", "An expression yielding a list of entities or alerts: the step runs once for each, as item, each a separately recorded action.", exprSchema},
	{"target", "An expression yielding the entity the action acts on, when it is not the for_each item.", exprSchema},
	{"with", "The action's arguments (or a sub-playbook's inputs): YAML values, where a string holding {{ expression }} is a template.",
		obj{"type": "object"}},
	{"approval", "auto: run without approval unless a guardrail stops it; required: always wait for an analyst; policy (default): the automation level decides. Remediation actions only.",
		obj{"enum": []string{ApprovalAuto, ApprovalRequired, ApprovalPolicy}}},
	{"timeout", "How long one invocation may run, as a Go duration (30s, 5m, 1h); the workflow's default when absent.", durationSchema},
	{"retry", "How a failed invocation is tried again.", obj{"$ref": "#/$defs/retry"}},
	{"connectors", "The connectors the step's actions go through, in order of preference: connector kinds (lab, mde, graph, falcon, okta, exo, webhook, air) or configured connectors' names (a webhook's). The next is tried only when one is not configured or answers that the target is unknown to it or that AIR may not act; never after a timeout or an unclear failure. Each must carry the action type. Remediation actions only; absent: the tenant's routes decide.",
		obj{"type": "array", "items": obj{"type": "string", "pattern": "^[a-z][a-z0-9_-]*$"}, "minItems": 1, "maxItems": MaxConnectors, "uniqueItems": true}},
	{"on_error", "What a failure does: fail (default) stops the playbook, continue goes on, or the id of a handler step of this playbook to run.",
		obj{"type": "string", "anyOf": []obj{{"enum": []string{OnErrorFail, OnErrorContinue}}, idSchema}}},
	{"handler", "true: the step is an error handler, skipped in the normal flow and run only by another step's on_error; it reads error and failed_step.",
		obj{"type": "boolean"}},
}

var askFields = []field{
	{"to", "Who answers: analyst (the question waits in the action center) or user (the user target names, through a notification channel).",
		obj{"enum": []string{AskAnalyst, AskUser}}},
	{"question", "The question, a template like a with argument.", obj{"type": "string"}},
	{"choices", "The answers it takes: a list, or a {{ expression }} yielding a list of strings.",
		obj{"anyOf": []obj{{"type": "array", "items": obj{"type": "string"}, "minItems": 1, "maxItems": MaxChoices}, templateSchema}}},
	{"multiple", "true: the answer is one or more of the choices (read steps.ID.answers).", obj{"type": "boolean"}},
	{"timeout", "How long the question waits for an answer (default 24h, at most 720h).", durationSchema},
	{"remind", "Remind every so often while the question is open; shorter than the timeout.", durationSchema},
	{"default", "The answer when nobody answers in time; without one a timeout fails the step (on_error applies).",
		obj{"anyOf": []obj{{"type": "string"}, {"type": "array", "items": obj{"type": "string"}, "minItems": 1}}}},
}

var waitFields = []field{
	{"until", "The condition to wait for: an expression over the incident, alerts, entities and earlier steps, checked again whenever the incident changes.", exprSchema},
	{"timeout", "How long to wait (default 24h, at most 720h); when it runs out the step fails (on_error applies).", durationSchema},
}

var retryFields = []field{
	{"attempts", "Tries in all, the first included; 1 never retries.", obj{"type": "integer", "minimum": 1, "maximum": MaxAttempts}},
	{"backoff", "The wait before the first retry; it doubles after each.", durationSchema},
	{"max_backoff", "The longest wait between two tries.", durationSchema},
	{"non_retryable", "Error kinds that fail at once, without retrying.",
		obj{"type": "array", "items": obj{"enum": ErrorKinds}, "uniqueItems": true}},
}

var inputFields = []field{
	{"type", "The input's type: an entity kind (the value is an entity of the incident) or string, int, bool, strings.",
		obj{"enum": inputTypes()}},
	{"default", "The value when the caller gives none; an input without a default is required. Entity inputs have none.", obj{}},
	{"description", "What the input is for.", obj{"type": "string"}},
}

// names lists the keys of a field table, in order.
func names(fs []field) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.name
	}
	return out
}

// properties builds the schema properties of a field table.
func properties(fs []field) obj {
	props := obj{}
	for _, f := range fs {
		p := obj{"description": f.doc}
		for k, v := range f.schema {
			p[k] = v
		}
		props[f.name] = p
	}
	return props
}

// The schema files' names. A playbook directory carries them in its
// schema/ subdirectory (starter playbooks schema writes them there), so
// that the header `# yaml-language-server: $schema=schema/playbook.schema.json`
// keeps working when the directory is copied.
const (
	SchemaFileName     = "playbook.schema.json"
	TestSchemaFileName = "playbook-test.schema.json"
)

// Schema returns the JSON Schema (draft 2020-12) of playbook files, for
// editors: playbooks/schema/playbook.schema.json is its output. It knows every key the
// loader accepts, every registered action type and each one's arguments;
// what it cannot know (expression types, step references, sub-playbook
// inputs) the loader checks.
func Schema() []byte {
	stages := obj{}
	for _, s := range Stages {
		stages[string(s)] = obj{"description": stageDocs[s],
			"type": []string{"array", "null"}, "items": obj{"$ref": "#/$defs/step"}}
	}

	specs := actions.All()
	actionNames := make([]string, len(specs))
	var perAction []obj
	for i, sp := range specs {
		actionNames[i] = sp.Type
		props := obj{}
		var required []string
		for _, p := range sp.Params {
			props[p.Name] = paramSchema(p)
			if p.Required {
				required = append(required, p.Name)
			}
		}
		with := obj{"type": "object", "properties": props, "additionalProperties": false}
		if len(required) > 0 {
			with["required"] = required
		}
		perAction = append(perAction, obj{
			"if":   obj{"required": []string{"action"}, "properties": obj{"action": obj{"const": sp.Type}}},
			"then": obj{"properties": obj{"with": with}},
		})
	}

	step := obj{
		"type":                 "object",
		"description":          "One step: an action (or a sub-playbook), optionally for each item of a list, under a condition, with templated arguments.",
		"properties":           properties(stepFields),
		"additionalProperties": false,
		"required":             []string{"id"},
		"oneOf": []obj{{"required": []string{"action"}}, {"required": []string{"use"}},
			{"required": []string{"ask"}}, {"required": []string{"wait"}}},
		"allOf": perAction,
	}
	input := obj{
		"description": "A sub-playbook input: its type, or {type, default, description}.",
		"oneOf": []obj{
			{"enum": inputTypes()},
			{"type": "object", "properties": properties(inputFields), "additionalProperties": false, "required": []string{"type"}},
		},
	}
	doc := obj{
		"$schema":              "https://json-schema.org/draft/2020-12/schema",
		"$id":                  "https://github.com/airsoc/air/playbooks/schema/playbook.schema.json",
		"title":                "AIR playbook",
		"description":          "A playbook of AIR, the automated investigation and response engine. Generated by starter playbooks schema (the AIR that reads the playbooks knows its actions); docs/playbooks.md is the guide.",
		"type":                 "object",
		"properties":           properties(playbookFields),
		"additionalProperties": false,
		"required":             []string{"name", "version"},
		"$defs": obj{
			"stages": obj{"type": []string{"object", "null"}, "properties": stages, "additionalProperties": false},
			"step":   step,
			"action": obj{"enum": actionNames},
			"retry":  obj{"type": "object", "properties": properties(retryFields), "additionalProperties": false},
			"ask": obj{"type": "object", "properties": properties(askFields), "additionalProperties": false,
				"required": []string{"to", "question", "choices"}},
			"wait": obj{"type": "object", "properties": properties(waitFields), "additionalProperties": false,
				"required": []string{"until"}},
			"input": input,
		},
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil { // the document holds only maps, slices, strings and numbers
		return nil
	}
	return b.Bytes()
}

var stageDocs = map[Stage]string{
	StageTriage:      "Triage: tag, comment, decide what the incident is.",
	StageAnalysis:    "Analysis: enrich and look up what the evidence needs.",
	StageContainment: "Containment: stop the spread (isolate, disable, revoke).",
	StageEradication: "Eradication: remove the threat (quarantine, block, delete).",
	StageRecovery:    "Recovery: undo containment once it is safe (release, enable).",
	StageReview:      "Review (post-incident): report and comment.",
}

// paramSchema is the schema of one action argument: its type, or a string
// holding a template, which the loader type-checks instead.
func paramSchema(p actions.Param) obj {
	var typed obj
	switch p.Type {
	case actions.String:
		typed = obj{"type": "string"}
		if len(p.Enum) > 0 {
			typed = obj{"enum": p.Enum}
		}
	case actions.Int:
		typed = obj{"type": "integer"}
	case actions.Bool:
		typed = obj{"type": "boolean"}
	case actions.StringList:
		typed = obj{"type": "array", "items": obj{"type": "string"}}
	default:
		typed = obj{}
	}
	s := obj{"anyOf": []obj{typed, templateSchema}}
	if p.Doc != "" {
		s["description"] = p.Doc
	}
	if p.Default != nil {
		s["default"] = p.Default
	}
	return s
}

// inputTypes lists the types a sub-playbook input may have.
func inputTypes() []string {
	var out []string
	for _, l := range entityLists {
		out = append(out, string(l.kind))
	}
	return append(out, InputString, InputInt, InputBool, InputStrings)
}

func isInputType(t string) bool { return slices.Contains(inputTypes(), t) }
