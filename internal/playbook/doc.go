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
//	      action: incident.tag    # a registered action type, or use: SUB-PLAYBOOK
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
// entity lists devices, users, mailboxes, files, processes, ips, urls,
// messages and oauthApps; inside a step with for_each, item is the current element, typed
// as an entity or an alert; steps.ID is the output of an earlier step; in an
// error handler, error and failed_step; in a sub-playbook, inputs.NAME. A
// with value is a YAML literal, or a string with templates: exactly one
// "{{ expr }}" yields the expression's typed value (a list, a number),
// anything else renders to a string.
//
// Steps also say how they fail: timeout, retry (attempts, backoff,
// non-retryable error kinds) and on_error (fail, continue, or a handler
// step). A step with use instead of action runs a sub-playbook (kind: sub),
// whose typed inputs it passes in with. The loader checks what a step reads:
// a step exists and runs earlier, a handler is used, a sub-playbook exists,
// takes the inputs given and is not part of a loop of uses.
//
// Expressions run inside Temporal workflow code, so the language is kept
// pure and bounded: no now(), date(), timezone(), keys(), values(),
// toPairs(), repeat() or reduce(); ranges must have literal bounds spanning
// at most MaxRangeSpan; predicates nest at most MaxPredicateDepth deep and
// an expression MaxNesting deep; an expression is at most
// MaxExpressionLength characters with at most exprsafe.MaxNodes parts and
// list literals of exprsafe.MaxArrayLiteral elements; a for_each yields at
// most MaxForEach items. Every evaluation is metered (exprsafe.BudgetSteps, exprsafe.BudgetBytes):
// past its steps or string bytes that one evaluation fails, the same way on
// every replay.
//
// Use: LoadDir at startup and in CI (Parse checks one file alone); in a
// workflow, CompileSet the pinned sources, then Select, Steps and
// Step.Expand with an Env built by NewEnv from an activity's snapshot,
// WithInputs for a sub-playbook's steps and WithError for a handler.
// Compiled programs are shared and evaluation takes a pooled VM, so a
// Playbook is safe for concurrent use. ParseTestFile and LoadTests decode
// playbook tests (NAME.test.yaml), which the workflow's test runner runs.
//
// docs/playbooks.md is the author's guide.
package playbook
