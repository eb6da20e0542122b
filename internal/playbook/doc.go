// Package playbook is AIR's playbook language: YAML files that say which
// incidents a playbook applies to and which actions to propose at each of the
// six incident-response stages. Files are parsed, validated against the
// action registry and their expressions compiled and type-checked when they
// are loaded, so a bad playbook is rejected with "file:line:column: message"
// before any workflow runs; workflows receive a valid, compiled *Playbook.
//
// A playbook:
//
//	name: device-compromise       # required; lower-case letters, digits, '-' and '_'
//	version: 1                    # required, >= 1
//	order: 10                     # optional; lower runs first when several match
//	description: Malware or credential theft on a managed device.
//	match: len(devices) > 0 and any(alerts, {.severity in ["medium", "high"]})
//	stages:                       # triage, analysis, containment, eradication, recovery, review
//	  triage:
//	    - id: tag                 # required, unique in the playbook
//	      action: incident.tag    # required, a registered action type
//	      with: {tags: [device-compromise]}
//	  containment:
//	    - id: isolate
//	      for_each: filter(devices, {.verdict in ["malicious", "suspicious"]})
//	      when: item.osPlatform != "Linux"
//	      action: device.isolate
//	      approval: policy        # auto | required | policy (default)
//	      with:
//	        isolationType: Full
//	        comment: "AIR incident {{ incident.id }}: isolate {{ item.name }}"
//
// Expressions (match, when, for_each, target and the {{ }} templates in with)
// are expr-lang (https://expr-lang.org) over Env: incident, alerts, and the
// entity lists devices, users, mailboxes, files, processes, ips, urls and
// messages; inside a step with for_each, item is the current element, typed
// as an entity or an alert. A with value is a YAML literal, or a string with
// templates: exactly one "{{ expr }}" yields the expression's typed value
// (a list, a number), anything else renders to a string.
//
// Expressions run inside Temporal workflow code, so the language is kept
// pure and bounded: no now(), date(), timezone(), keys(), values(),
// toPairs(), repeat() or reduce(); ranges must have literal bounds spanning
// at most MaxRangeSpan; predicates nest at most MaxPredicateDepth deep; an
// expression is at most MaxExpressionLength characters; a for_each yields at
// most MaxForEach items.
//
// Use: Parse or LoadDir at startup and in CI; in a workflow, CompileCached
// the pinned source, then Matches, Steps and Step.Expand with an Env built by
// NewEnv from an activity's snapshot. Compiled programs are shared and
// evaluation takes a pooled VM, so a Playbook is safe for concurrent use.
//
// docs/playbooks.md is the author's guide.
package playbook
