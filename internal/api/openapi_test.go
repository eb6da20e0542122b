package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"

	"github.com/airsoc/air/internal/api"
	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/correlate"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/graph"
	"github.com/airsoc/air/internal/intel"
	"github.com/airsoc/air/internal/plan"
	"github.com/airsoc/air/internal/playbook"
	"github.com/airsoc/air/internal/policy"
	"github.com/airsoc/air/internal/records"
	"github.com/airsoc/air/internal/report"
	"github.com/airsoc/air/internal/review"
	"github.com/airsoc/air/internal/store"
	"github.com/airsoc/air/workflows"
)

// The tests here hold openapi.yaml to the code: to Routes, to the parsers'
// parameters, to the Go types' JSON names and enums, and to what the
// handlers really answer.

// loadOpenAPI reads openapi.yaml as plain JSON values (objects are
// map[string]any, numbers json.Number), as a JSON Schema compiler takes
// them.
func loadOpenAPI(t *testing.T) map[string]any {
	t.Helper()
	raw, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var y any
	if err := yaml.Unmarshal(raw, &y); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	// A mapping key YAML reads as other than a string (an unquoted status
	// code) has no JSON form and fails here.
	b, err := json.Marshal(y)
	if err != nil {
		t.Fatalf("openapi.yaml has no JSON form (quote numeric keys): %v", err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	m, ok := doc.(map[string]any)
	if !ok || m["openapi"] != "3.1.0" {
		t.Fatalf("openapi.yaml is not an OpenAPI 3.1.0 document")
	}
	return m
}

// pointer resolves a local reference such as #/components/schemas/Action.
func pointer(doc map[string]any, ref string) (any, bool) {
	if !strings.HasPrefix(ref, "#/") {
		return nil, false
	}
	var cur any = doc
	for _, tok := range strings.Split(ref[2:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[tok]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(c) {
				return nil, false
			}
			cur = c[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// follow returns the object at ref, following $refs, and where it is.
func follow(t *testing.T, doc map[string]any, ref string) (map[string]any, string) {
	t.Helper()
	for range 10 {
		v, ok := pointer(doc, ref)
		if !ok {
			t.Fatalf("%s does not resolve", ref)
		}
		m, _ := v.(map[string]any)
		next, isRef := m["$ref"].(string)
		if !isRef {
			return m, ref
		}
		ref = next
	}
	t.Fatalf("%s: $ref loop", ref)
	return nil, ""
}

var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// openAPIPath turns a ServeMux path pattern into an OpenAPI path template.
func openAPIPath(p string) string {
	p = strings.TrimSuffix(p, "{$}")
	return strings.ReplaceAll(p, "...}", "}")
}

var pathParam = regexp.MustCompile(`\{([^}]+)\}`)

// operations lists the document's operations by "METHOD /path".
func operations(t *testing.T, doc map[string]any) map[string]map[string]any {
	t.Helper()
	paths, ok := doc["paths"].(map[string]any)
	if !ok {
		t.Fatal("openapi.yaml has no paths")
	}
	ops := map[string]map[string]any{}
	for path, item := range paths {
		for _, m := range httpMethods {
			if op, ok := item.(map[string]any)[m].(map[string]any); ok {
				ops[strings.ToUpper(m)+" "+path] = op
			}
		}
	}
	return ops
}

func operationByID(t *testing.T, doc map[string]any, id string) (string, map[string]any) {
	t.Helper()
	for key, op := range operations(t, doc) {
		if op["operationId"] == id {
			return key, op
		}
	}
	t.Fatalf("openapi.yaml has no operation %s", id)
	return "", nil
}

// parameters lists an operation's parameters, its path's included.
func parameters(t *testing.T, doc map[string]any, key string, op map[string]any) []map[string]any {
	t.Helper()
	_, path, _ := strings.Cut(key, " ")
	item, _ := pointer(doc, "#/paths/"+escapePointer(path))
	var out []map[string]any
	for _, list := range []any{item.(map[string]any)["parameters"], op["parameters"]} {
		l, _ := list.([]any)
		for i, p := range l {
			pm, _ := p.(map[string]any)
			if ref, ok := pm["$ref"].(string); ok {
				pm, _ = follow(t, doc, ref)
			}
			if pm == nil {
				t.Fatalf("%s: parameter %d is not an object", key, i)
			}
			out = append(out, pm)
		}
	}
	return out
}

// TestOpenAPIMatchesRoutes checks that openapi.yaml documents every route
// of Routes, with its role, and nothing else.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	ops := operations(t, doc)
	routes := map[string]bool{}
	for _, rt := range (&api.Server{}).Routes() {
		method, path, _ := strings.Cut(rt.Pattern, " ")
		key := method + " " + openAPIPath(path)
		routes[key] = true
		op, ok := ops[key]
		if !ok {
			t.Errorf("route %s is not in openapi.yaml", rt.Pattern)
			continue
		}
		role, ok := op["x-air-role"].(string)
		if !ok || role != string(rt.Role) {
			t.Errorf("%s: x-air-role %q, want %q (Routes)", key, op["x-air-role"], rt.Role)
		}
		say := string(rt.Role)
		if say == "" {
			say = "none"
		}
		if desc, _ := op["description"].(string); !strings.HasPrefix(desc, "**Role:** "+say) {
			t.Errorf("%s: description %.40q does not start with **Role:** %s", key, desc, say)
		}
		sec, hasSec := op["security"].([]any)
		if rt.Role == "" && (!hasSec || len(sec) != 0) {
			t.Errorf("%s is open: want security: []", key)
		}
		if rt.Role != "" && hasSec && len(sec) == 0 {
			t.Errorf("%s needs a token, but its security is empty", key)
		}
		responses, _ := op["responses"].(map[string]any)
		var want []string
		if rt.Role != "" {
			want = append(want, "401", "403", "429")
		}
		if op["requestBody"] != nil {
			want = append(want, "400", "413")
		}
		for _, code := range want {
			if responses[code] == nil {
				t.Errorf("%s: response %s is not documented", key, code)
			}
		}
		ok2xx := false
		for code := range responses {
			ok2xx = ok2xx || strings.HasPrefix(code, "2")
			if !strings.HasPrefix(code, "4") {
				continue
			}
			resp, at := follow(t, doc, "#/paths/"+escapePointer(openAPIPath(path))+"/"+strings.ToLower(method)+"/responses/"+code)
			if !mentionsError(doc, resp) {
				t.Errorf("%s: response %s (%s) does not carry the Error schema", key, code, at)
			}
		}
		if !ok2xx {
			t.Errorf("%s: no success response", key)
		}
		var inPath []string
		for _, m := range pathParam.FindAllStringSubmatch(openAPIPath(path), -1) {
			inPath = append(inPath, m[1])
		}
		var declared []string
		for _, p := range parameters(t, doc, key, op) {
			if p["in"] == "path" {
				declared = append(declared, p["name"].(string))
				if p["required"] != true {
					t.Errorf("%s: path parameter %v is not required", key, p["name"])
				}
			}
		}
		slices.Sort(inPath)
		slices.Sort(declared)
		if !slices.Equal(inPath, declared) {
			t.Errorf("%s: path parameters %v declared, want %v", key, declared, inPath)
		}
	}
	for key := range ops {
		if !routes[key] {
			t.Errorf("openapi.yaml documents %s, which is no route", key)
		}
	}
}

// mentionsError reports whether a response's JSON body is the Error schema,
// or one of a oneOf that includes it.
func mentionsError(doc map[string]any, resp map[string]any) bool {
	content, _ := resp["content"].(map[string]any)
	media, _ := content["application/json"].(map[string]any)
	schema, _ := media["schema"].(map[string]any)
	const ref = "#/components/schemas/Error"
	if schema["$ref"] == ref {
		return true
	}
	alts, _ := schema["oneOf"].([]any)
	return slices.ContainsFunc(alts, func(a any) bool { return a.(map[string]any)["$ref"] == ref })
}

// TestOpenAPIRefsResolve checks that every $ref points at something, and
// that every component is used.
func TestOpenAPIRefsResolve(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	used := map[string]bool{}
	var walk func(at string, v any)
	walk = func(at string, v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"]; ok {
				s, _ := ref.(string)
				if _, ok := pointer(doc, s); !ok || !strings.HasPrefix(s, "#/components/") {
					t.Errorf("%s: $ref %q does not resolve to a component", at, ref)
				}
				used[s] = true
			}
			for k, x := range v {
				walk(at+"/"+escapePointer(k), x)
			}
		case []any:
			for i, x := range v {
				walk(at+"/"+strconv.Itoa(i), x)
			}
		}
	}
	walk("#", doc)
	components, _ := doc["components"].(map[string]any)
	for kind, set := range components {
		if kind == "securitySchemes" {
			continue
		}
		for name := range set.(map[string]any) {
			if ref := "#/components/" + kind + "/" + name; !used[ref] {
				t.Errorf("%s is never used", ref)
			}
		}
	}
}

// jsonFields lists the JSON names encoding/json gives a struct's fields,
// each with whether it may be left out (omitempty, omitzero).
func jsonFields(t reflect.Type) map[string]bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	own, promoted := map[string]bool{}, map[string]bool{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if f.Anonymous && name == "" && ft.Kind() == reflect.Struct {
			for k, v := range jsonFields(ft) {
				promoted[k] = v
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		optional := false
		for _, o := range strings.Split(opts, ",") {
			optional = optional || o == "omitempty" || o == "omitzero"
		}
		own[name] = optional
	}
	for k, v := range promoted {
		if _, shadowed := own[k]; !shadowed {
			own[k] = v
		}
	}
	return own
}

// schemaFields collects a schema's properties and required names, through
// $refs and allOf.
func schemaFields(t *testing.T, doc map[string]any, ref string, props, required map[string]bool) {
	t.Helper()
	s, at := follow(t, doc, ref)
	ps, _ := s["properties"].(map[string]any)
	for name := range ps {
		props[name] = true
	}
	if s["properties"] == nil && s["allOf"] == nil {
		t.Fatalf("%s has neither properties nor allOf", at)
	}
	req, _ := s["required"].([]any)
	for _, r := range req {
		required[r.(string)] = true
	}
	all, _ := s["allOf"].([]any)
	for i := range all {
		schemaFields(t, doc, at+"/allOf/"+strconv.Itoa(i), props, required)
	}
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestOpenAPISchemasMatchGoTypes checks that the documented properties are
// the Go types' JSON names and, for what the API answers, that the required
// ones are exactly those always present (no omitempty).
func TestOpenAPISchemasMatchGoTypes(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	type answer bool // the API answers it (else: it is a request body)
	const resp, req answer = true, false
	cases := []struct {
		schema string // a component name, or a pointer into the document
		typ    any
		answer answer
	}{
		{"Error", api.ErrorBodyType, resp},
		{"ErrorDetail", api.ErrorDetail{}, resp},
		{"Principal", auth.Principal{}, resp},
		{"Token", records.Token{}, resp},
		{"TokenRequest", api.TokenRequest{}, req},
		{"CreatedToken", auth.Created{}, resp},
		{"AuditEntry", records.AuditEntry{}, resp},
		{"AuditPage", records.AuditPage{}, resp},
		{"Notification", domain.Notification{}, resp},
		{"NotificationPage", domain.NotificationPage{}, resp},
		{"NotificationTestRequest", api.NotificationTestBody{}, req},
		{"Problem", graph.Problem{}, resp},
		{"AlertResult", api.AlertResult{}, resp},
		{"IngestResponse", api.IngestResponse{}, resp},
		{"MoveRequest", api.MoveBody{}, req},
		{"MoveResult", api.MoveResult{}, resp},
		{"Alert", domain.Alert{}, resp},
		{"Evidence", domain.Evidence{}, resp},
		{"Entity", domain.Entity{}, resp},
		{"EntityTagsRequest", api.EntityTagsBody{}, req},
		{"EntityDetail", api.EntityDetail{}, resp},
		{"EntityAlias", api.EntityAlias{}, resp},
		{"Incident", domain.Incident{}, resp},
		{"PriorityFactor", correlate.Factor{}, resp},
		{"ImpactedAssets", records.ImpactedAssets{}, resp},
		{"Derived", records.Derived{}, resp},
		{"IncidentRow", records.IncidentRow{}, resp},
		{"IncidentPage", records.IncidentPage{}, resp},
		{"Comment", domain.Comment{}, resp},
		{"CommentRequest", api.CommentBody{}, req},
		{"IncidentDetail", api.IncidentDetail{}, resp},
		{"IncidentChange", records.IncidentChange{}, req},
		{"BulkIncidentRequest", api.BulkIncidentBody{}, req},
		{"IncidentResult", api.IncidentResult{}, resp},
		{"BulkIncidentResponse", api.BulkIncidentResponse{}, resp},
		{"InvestigationState", workflows.State{}, resp},
		{"#/components/schemas/InvestigationState/properties/playbooks/items", workflows.PinnedPlaybook{}, resp},
		{"#/components/schemas/InvestigationState/properties/steps/items", workflows.StepRecord{}, resp},
		{"#/components/schemas/InvestigationState/properties/changes/items", workflows.ChangeRecord{}, resp},
		{"Action", domain.Action{}, resp},
		{"ActionRow", records.ActionRow{}, resp},
		{"ActionPage", records.ActionPage{}, resp},
		{"DecisionRequest", api.DecisionBody{}, req},
		{"Question", domain.Question{}, resp},
		{"QuestionRow", records.QuestionRow{}, resp},
		{"QuestionPage", records.QuestionPage{}, resp},
		{"AnswerRequest", api.AnswerBody{}, req},
		{"#/components/schemas/InvestigationState/properties/waits/items", workflows.WaitRecord{}, resp},
		{"BulkDecisionRequest", api.BulkDecisionBody{}, req},
		{"BulkResult", api.BulkResult{}, resp},
		{"BulkDecisionResponse", api.BulkDecisionResponse{}, resp},
		{"ManualActionRequest", api.ManualActionBody{}, req},
		{"ReviewReport", review.Report{}, resp},
		{"Milestone", review.Milestone{}, resp},
		{"TimelineEntry", review.Entry{}, resp},
		{"ReviewDecision", review.Decision{}, resp},
		{"AlertLine", review.AlertLine{}, resp},
		{"#/components/schemas/ReviewReport/properties/tactics/items", review.Tactic{}, resp},
		{"#/components/schemas/ReviewReport/properties/techniques/items", review.Technique{}, resp},
		{"Metrics", review.Metrics{}, resp},
		{"#/components/schemas/Metrics/properties/counts", store.StatusCounts{}, resp},
		{"#/components/schemas/Metrics/properties/automation", review.Automation{}, resp},
		{"Stat", review.Stat{}, resp},
		{"PendingTimes", review.Pending{}, resp},
		{"#/components/schemas/PendingTimes/allOf/1/properties/buckets/items", review.Bucket{}, resp},
		{"AutomationSettings", policy.Settings{}, req}, // a PUT body too: nothing required
		{"#/components/schemas/AutomationSettings/properties/guardrails", policy.Guardrails{}, req},
		{"#/components/schemas/AutomationSettings/properties/guardrails/properties/rates/additionalProperties", policy.Rate{}, resp},
		{"#/components/schemas/AutomationSettings/properties/rules/items", policy.Rule{}, resp},
		{"PlanRequest", api.PlanRequest{}, req},
		{"PlanStep", plan.Step{}, resp},
		{"Plan", plan.Plan{}, resp},
		{"PlanResponse", api.PlanResponse{}, resp},
		{"BacktestRequest", api.BacktestRequest{}, req},
		{"#/components/schemas/BacktestRequest/properties/playbooks/items", api.BacktestSource{}, req},
		{"BacktestResponse", api.BacktestResponse{}, resp},
		{"BacktestIncident", plan.IncidentDiff{}, resp},
		{"BacktestDifference", plan.Difference{}, resp},
		{"BacktestCount", plan.Count{}, resp},
		{"PlaybookInputs", api.PlaybookInputs{}, resp},
		{"#/components/schemas/PlaybookInputs/properties/declared/items", api.InputDecl{}, resp},
		{"InputsRequest", api.InputsBody{}, req},
		{"IntelFeed", records.IntelFeed{}, resp},
		{"FeedList", api.FeedList{}, resp},
		{"IntelProblem", intel.Problem{}, resp},
		{"FeedImportResult", api.FeedImportResult{}, resp},
		{"IntelMatch", records.IntelMatch{}, resp},
		{"IntelLookup", api.IntelLookup{}, resp},
		{"Prevalence", records.Prevalence{}, resp},
		{"Fact", domain.Fact{}, resp},
		{"FactList", api.FactList{}, resp},
		{"ReportCalendar", domain.ReportCalendar{}, req},
		{"ReportScheduleRequest", report.ScheduleRequest{}, req},
		{"ReportScheduleState", domain.ReportScheduleState{}, resp},
		{"ReportSchedule", api.ReportScheduleView{}, resp},
		{"KeepReportRequest", api.KeepRequest{}, req},
		{"ReportDelivery", domain.ReportDelivery{}, resp},
		{"ReportRun", domain.ReportRun{}, resp},
		{"ReportRunPage", records.ReportRunPage{}, resp},
		{"Exercise", domain.Exercise{}, resp},
		{"ExerciseList", api.ExerciseList{}, resp},
		{"ExerciseDetail", api.ExerciseDetail{}, resp},
		{"ExerciseRequest", api.ExerciseBody{}, req},
		{"ExerciseAlert", domain.ExerciseAlert{}, req},
		{"ExerciseAlertsRequest", api.ExerciseAlertsBody{}, req},
		{"ExerciseScore", domain.ExerciseScore{}, resp},
		{"GroupingScore", domain.GroupingScore{}, resp},
		{"PhaseScore", domain.PhaseScore{}, resp},
		{"ExerciseActions", domain.ExerciseAction{}, resp},
		{"#/components/schemas/ExerciseActions/properties/byType/items", domain.TypeActionCounts{}, resp},
	}
	for _, c := range cases {
		ref := c.schema
		if !strings.HasPrefix(ref, "#") {
			ref = "#/components/schemas/" + ref
		}
		typ, ok := c.typ.(reflect.Type)
		if !ok {
			typ = reflect.TypeOf(c.typ)
		}
		props, required := map[string]bool{}, map[string]bool{}
		schemaFields(t, doc, ref, props, required)
		fields := jsonFields(typ)
		if got, want := keys(props), keys(fields); !slices.Equal(got, want) {
			t.Errorf("%s: properties %v, want the JSON names of %v: %v", c.schema, got, typ, want)
		}
		always := map[string]bool{}
		for name, optional := range fields {
			if !optional {
				always[name] = true
			}
		}
		for name := range required {
			if !props[name] {
				t.Errorf("%s: required %q is no property", c.schema, name)
			}
		}
		if c.answer == resp {
			if got, want := keys(required), keys(always); !slices.Equal(got, want) {
				t.Errorf("%s: required %v, want the fields %v always has (no omitempty): %v", c.schema, got, typ, want)
			}
		}
	}
}

// TestOpenAPIEnumsAndParameters checks the documented enums against the
// domain's lists, and the query parameters against the parsers'.
func TestOpenAPIEnumsAndParameters(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	strs := func(v any) []string {
		rv := reflect.ValueOf(v)
		out := make([]string, rv.Len())
		for i := range out {
			out[i] = fmt.Sprint(rv.Index(i).Interface())
		}
		return out
	}
	for schema, want := range map[string][]string{
		"Severity":               strs(domain.Severities),
		"IncidentStatus":         strs(domain.IncidentStatuses),
		"AlertStatus":            strs(domain.AlertStatuses),
		"InvestigationStateName": strs(domain.InvestigationStates),
		"Verdict":                strs(domain.Verdicts),
		"RemediationStatus":      strs(domain.RemediationStatuses),
		"ActionStatus":           strs(domain.ActionStatuses),
		"NotificationStatus":     strs(domain.NotificationStatuses),
		"QuestionStatus":         strs(domain.QuestionStatuses),
		"Audience":               strs(domain.Audiences),
		"Role":                   strs(domain.Roles),
		"AutomationLevel":        strs(policy.Levels),
		"Stage":                  strs(playbook.Stages),
		"IncidentChange/properties/classification": domain.Classifications,
	} {
		s, _ := follow(t, doc, "#/components/schemas/"+schema)
		got := strs(s["enum"])
		if !slices.Equal(got, want) {
			t.Errorf("%s: enum %v, want %v", schema, got, want)
		}
	}

	for id, want := range map[string][]string{
		"listIncidents":     api.IncidentFilters(),
		"exportIncidents":   api.IncidentFilters(),
		"listActions":       api.ActionFilters,
		"listQuestions":     api.QuestionFilters,
		"listAudit":         api.AuditFilters,
		"listNotifications": api.NotificationFilters,
		"listReportRuns":    api.ReportRunFilters,
		"getMetricsSummary": {"range"},
	} {
		key, op := operationByID(t, doc, id)
		var got []string
		for _, p := range parameters(t, doc, key, op) {
			if p["in"] == "query" {
				got = append(got, p["name"].(string))
			}
		}
		want = slices.Clone(want)
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s: query parameters %v, want %v", id, got, want)
		}
	}

	for id, cols := range map[string][]string{"listIncidents": records.SortableIncidentColumns(), "listActions": records.SortableActionColumns()} {
		key, op := operationByID(t, doc, id)
		for _, p := range parameters(t, doc, key, op) {
			if p["name"] != "sort" {
				continue
			}
			re := regexp.MustCompile(p["schema"].(map[string]any)["pattern"].(string))
			for _, c := range cols {
				if !re.MatchString(c) || !re.MatchString("-"+c) {
					t.Errorf("%s: sort pattern %s refuses %q", id, re, c)
				}
			}
			if re.MatchString("nope") {
				t.Errorf("%s: sort pattern %s takes any column", id, re)
			}
		}
	}
}

// TestOpenAPIAnswers calls the API on a real store and checks each answer
// against the document: the status is documented for the operation, the
// content type is one it lists, and a JSON body validates against its
// schema (JSON Schema 2020-12, formats asserted).
func TestOpenAPIAnswers(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	const base = "https://air.invalid/openapi.json"
	if err := c.AddResource(base, doc); err != nil {
		t.Fatal(err)
	}
	// Every schema component compiles.
	for name := range doc["components"].(map[string]any)["schemas"].(map[string]any) {
		if _, err := c.Compile(base + "#/components/schemas/" + name); err != nil {
			t.Errorf("schema %s: %v", name, err)
		}
	}

	f := newFixture(t, auth.Rate{PerSecond: -1})
	withIngest(f)
	call := func(who, method, tmpl, path, body string, want int) string {
		t.Helper()
		var got string
		resp := f.call(who, method, path, body, &got)
		if resp.StatusCode != want {
			t.Errorf("%s %s: HTTP %d, want %d: %.300s", method, path, resp.StatusCode, want, got)
			return got
		}
		at := "#/paths/" + escapePointer(tmpl) + "/" + strings.ToLower(method) + "/responses/" + strconv.Itoa(want)
		if _, ok := pointer(doc, at); !ok {
			t.Errorf("%s %s answered %d, which openapi.yaml does not document", method, tmpl, want)
			return got
		}
		r, at := follow(t, doc, at)
		media, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
		if err != nil {
			t.Errorf("%s %s: Content-Type %q: %v", method, path, resp.Header.Get("Content-Type"), err)
			return got
		}
		content, _ := r["content"].(map[string]any)
		if _, ok := content[media]; !ok {
			t.Errorf("%s %s %d: answered %s, documented %v", method, tmpl, want, media, keysOf(content))
			return got
		}
		if media != "application/json" {
			return got
		}
		inst, err := jsonschema.UnmarshalJSON(strings.NewReader(got))
		if err != nil {
			t.Errorf("%s %s: %v", method, path, err)
			return got
		}
		sch, err := c.Compile(base + at + "/content/application~1json/schema")
		if err != nil {
			t.Errorf("%s %s: compile the schema at %s: %v", method, tmpl, at, err)
			return got
		}
		if err := sch.Validate(inst); err != nil {
			t.Errorf("%s %s %d does not fit the document: %v\nbody: %.1000s", method, tmpl, want, err, got)
		}
		return got
	}
	inc1, inc2 := itoa(f.inc1), itoa(f.inc2)
	sample, err := os.ReadFile("../graph/testdata/sample-alert.json")
	if err != nil {
		t.Fatal(err)
	}
	const badAlert = `{"class_uid":2004,"time":1}`

	call("", "GET", "/healthz", "/healthz", "", 200)
	call("", "GET", "/readyz", "/readyz", "", 200)
	call("vic", "GET", "/metrics", "/metrics", "", 200)
	call("sam", "GET", "/metrics", "/metrics", "", 403)
	if got := call("vic", "GET", "/api/v1/openapi.yaml", "/api/v1/openapi.yaml", "", 200); got != string(mustRead(t, "openapi.yaml")) {
		t.Error("GET /api/v1/openapi.yaml does not serve openapi.yaml")
	}
	call("", "GET", "/api/v1/me", "/api/v1/me", "", 401)
	call("vic", "GET", "/api/v1/me", "/api/v1/me", "", 200)
	call("al", "POST", "/api/v1/alerts", "/api/v1/alerts", "["+string(sample)+","+badAlert+"]", 207)
	call("al", "POST", "/api/v1/alerts", "/api/v1/alerts", badAlert, 400)
	call("al", "POST", "/api/v1/alerts", "/api/v1/alerts", "{", 400)
	call("vic", "POST", "/api/v1/alerts", "/api/v1/alerts", badAlert, 403)
	call("al", "POST", "/api/v1/alerts/{id}/move", "/api/v1/alerts/da638412345678901234_1873210987/move", `{"incidentId":0}`, 200)
	call("vic", "GET", "/api/v1/alerts/export", "/api/v1/alerts/export", "", 200)
	call("vic", "GET", "/api/v1/incidents", "/api/v1/incidents?status=all&range=all&sort=-priorityScore", "", 200)
	call("vic", "GET", "/api/v1/incidents", "/api/v1/incidents?nope=1", "", 400)
	call("vic", "GET", "/api/v1/incidents/export", "/api/v1/incidents/export?status=all&range=all", "", 200)
	call("vic", "GET", "/api/v1/incidents/{id}", "/api/v1/incidents/"+inc1, "", 200)
	call("vic", "GET", "/api/v1/incidents/{id}", "/api/v1/incidents/999999", "", 404)
	call("vic", "GET", "/api/v1/incidents/{id}/correlation", "/api/v1/incidents/"+inc1+"/correlation", "", 200)
	call("al", "PATCH", "/api/v1/incidents/{id}", "/api/v1/incidents/"+inc1, `{"addTags":["vip"],"severity":"medium","assignedTo":"al"}`, 200)
	call("al", "PATCH", "/api/v1/incidents/{id}", "/api/v1/incidents/"+inc1, `{"status":"redirected"}`, 400)
	call("al", "PATCH", "/api/v1/incidents/{id}", "/api/v1/incidents/"+inc1, `{"comment":"`+strings.Repeat("x", 70<<10)+`"}`, 413)
	call("al", "POST", "/api/v1/incidents/{id}/comments", "/api/v1/incidents/"+inc1+"/comments", `{"comment":"looking"}`, 201)
	call("al", "POST", "/api/v1/incidents/bulk", "/api/v1/incidents/bulk", `{"ids":[`+inc1+`,999999],"change":{"comment":"bulk"}}`, 207)
	call("al", "POST", "/api/v1/incidents/bulk", "/api/v1/incidents/bulk", `{"ids":[`+inc1+`],"change":{"comment":"bulk"}}`, 200)
	call("vic", "GET", "/api/v1/incidents/{id}/review", "/api/v1/incidents/"+inc1+"/review", "", 409)
	call("al", "PATCH", "/api/v1/incidents/{id}", "/api/v1/incidents/"+inc2,
		`{"status":"resolved","classification":"truePositive","determination":"malware","resolvingComment":"done"}`, 200)
	call("vic", "GET", "/api/v1/incidents/{id}/review", "/api/v1/incidents/"+inc2+"/review", "", 200)
	call("vic", "GET", "/api/v1/metrics/summary", "/api/v1/metrics/summary?range=7d", "", 200)
	call("vic", "GET", "/api/v1/reports/daily", "/api/v1/reports/daily", "", 200)
	call("sam", "GET", "/api/v1/reports/daily", "/api/v1/reports/daily?date=2026-01-05", "", 200)
	call("vic", "GET", "/api/v1/reports/daily", "/api/v1/reports/daily?date=5.1.2026", "", 400)
	call("vic", "GET", "/api/v1/reports/monthly", "/api/v1/reports/monthly", "", 200)
	call("vic", "GET", "/api/v1/reports/monthly", "/api/v1/reports/monthly?range=7d", "", 400)
	call("vic", "GET", "/api/v1/reports/quarterly", "/api/v1/reports/quarterly", "", 200)
	call("vic", "GET", "/api/v1/reports/quarterly", "/api/v1/reports/quarterly?quarter=2026-Q9", "", 400)
	call("vic", "GET", "/api/v1/settings/sla", "/api/v1/settings/sla", "", 200)
	call("adam", "PUT", "/api/v1/settings/sla", "/api/v1/settings/sla", `{"acknowledge":{"high":"30m","medium":"2d"}}`, 200)
	call("adam", "PUT", "/api/v1/settings/sla", "/api/v1/settings/sla", `{"acknowledge":{"urgent":"30m"}}`, 400)
	call("vic", "PUT", "/api/v1/settings/sla", "/api/v1/settings/sla", `{"acknowledge":{"high":"30m"}}`, 403)
	call("vic", "GET", "/api/v1/actions", "/api/v1/actions?view=pending&sort=-createdAt", "", 200)
	call("vic", "GET", "/api/v1/actions", "/api/v1/actions?format=csv", "", 200)
	call("vic", "GET", "/api/v1/actions/{id}", "/api/v1/actions/iso-ws1", "", 200)
	call("sam", "GET", "/api/v1/actions/{id}", "/api/v1/actions/iso-ws1", "", 404)
	call("rita", "POST", "/api/v1/actions/{id}/approve", "/api/v1/actions/done-srv1/approve", `{"comment":"late"}`, 409)
	call("rita", "POST", "/api/v1/actions/{id}/reject", "/api/v1/actions/done-srv1/reject", "", 409)
	call("al", "POST", "/api/v1/actions/{id}/reject", "/api/v1/actions/iso-ws1/reject", "", 403)
	// (A succeeded undo answers what the test double makes up: not checked here.)
	call("rita", "POST", "/api/v1/actions/{id}/undo", "/api/v1/actions/iso-ws1/undo", `{"comment":"restore"}`, 409)
	call("rita", "POST", "/api/v1/actions/decide", "/api/v1/actions/decide", `{"ids":["iso-ws1"],"decision":"approve"}`, 207)
	call("rita", "POST", "/api/v1/actions/decide", "/api/v1/actions/decide", `{"ids":["iso-srv1","scan-srv1"],"decision":"reject"}`, 400)
	call("adam", "GET", "/api/v1/audit", "/api/v1/audit?verb=incident.&limit=50", "", 200)
	call("adam", "POST", "/api/v1/notifications/test", "/api/v1/notifications/test", `{"channel":"soc-slack"}`, 400) // none configured
	f.srv.Notifier = &notifierStub{st: f.st}
	call("adam", "POST", "/api/v1/notifications/test", "/api/v1/notifications/test", `{"channel":"soc-slack"}`, 200)
	call("adam", "POST", "/api/v1/notifications/test", "/api/v1/notifications/test", `{"channel":""}`, 400)
	call("adam", "POST", "/api/v1/notifications/test", "/api/v1/notifications/test", `{"chanel":"soc-slack"}`, 400)
	call("adam", "GET", "/api/v1/notifications", "/api/v1/notifications?status=queued,sent&channel=soc-slack&limit=10", "", 200)
	call("adam", "GET", "/api/v1/notifications", "/api/v1/notifications?status=lost", "", 400)
	call("vic", "GET", "/api/v1/notifications", "/api/v1/notifications", "", 403)
	call("vic", "GET", "/api/v1/audit", "/api/v1/audit", "", 403)
	call("adam", "GET", "/api/v1/tokens", "/api/v1/tokens", "", 200)
	var created auth.Created
	if err := json.Unmarshal([]byte(call("adam", "POST", "/api/v1/tokens", "/api/v1/tokens", `{"role":"viewer","name":"doc","groups":["Servers"]}`, 201)), &created); err != nil || created.Token == nil {
		t.Fatalf("create a token: %v", err)
	}
	call("adam", "DELETE", "/api/v1/tokens/{id}", "/api/v1/tokens/"+created.Token.ID, "", 200)
	call("adam", "DELETE", "/api/v1/tokens/{id}", "/api/v1/tokens/"+created.Token.ID, "", 409)
	call("vic", "GET", "/api/v1/settings/automation", "/api/v1/settings/automation", "", 200)
	call("adam", "PUT", "/api/v1/settings/automation", "/api/v1/settings/automation",
		`{"default":"semi-core","groups":{"Servers":"none"},"fourEyes":true,"guardrails":{"rates":{"device.isolate":{"max":5,"per":"1h"}},"protectedTags":["critical"]},"rules":[{"name":"r","when":"target.kind == \"device\"","then":"wait"}]}`, 200)
	call("vic", "GET", "/api/v1/settings/automation", "/api/v1/settings/automation", "", 200)
	call("adam", "PUT", "/api/v1/settings/automation", "/api/v1/settings/automation", `{"default":"most"}`, 400)
	call("adam", "PUT", "/api/v1/entities/{key}/tags", "/api/v1/entities/device:ws1/tags", `{"tags":["critical"]}`, 200)
	call("vic", "POST", "/api/v1/playbooks/plan", "/api/v1/playbooks/plan", `{"incidentId":`+inc1+`}`, 200)
	call("vic", "POST", "/api/v1/playbooks/plan", "/api/v1/playbooks/plan", `{}`, 400)
	call("vic", "GET", "/api/v1/entities/{key}", "/api/v1/entities/device:ws1", "", 200)
	call("sam", "GET", "/api/v1/entities/{key}", "/api/v1/entities/device:ws1", "", 404)
	call("vic", "GET", "/api/v1/entities/{key}", "/api/v1/entities/planet:earth", "", 400)
	call("vic", "POST", "/api/v1/playbooks/backtest", "/api/v1/playbooks/backtest", `{"playbooks":[{"file":"c.yaml","source":`+strconv.Quote(containPlaybook)+`}],"verbose":true}`, 200)
	call("vic", "POST", "/api/v1/playbooks/backtest", "/api/v1/playbooks/backtest", `{"playbooks":[{"file":"c.yaml","source":"name: x"}]}`, 400)
	withInputPlaybooks(t, f)
	call("vic", "GET", "/api/v1/playbooks/{name}/inputs", "/api/v1/playbooks/contain/inputs", "", 200)
	call("vic", "GET", "/api/v1/playbooks/{name}/inputs", "/api/v1/playbooks/nope/inputs", "", 404)
	call("adam", "PUT", "/api/v1/playbooks/{name}/inputs", "/api/v1/playbooks/contain/inputs", `{"inputs":{"containHosts":false}}`, 200)
	call("adam", "PUT", "/api/v1/playbooks/{name}/inputs", "/api/v1/playbooks/contain/inputs", `{"inputs":{"containHosts":"no"}}`, 400)
	call("vic", "PUT", "/api/v1/playbooks/{name}/inputs", "/api/v1/playbooks/contain/inputs", `{"inputs":{}}`, 403)
	call("vic", "POST", "/api/v1/playbooks/plan", "/api/v1/playbooks/plan", `{"incidentId":`+inc1+`,"inputs":{"contain":{"queue":"ir"}}}`, 200)

	call("adam", "POST", "/api/v1/intel/feeds", "/api/v1/intel/feeds?name=ipsum&source=ipsum.txt", "# ipsum\n198.51.100.1\t7\n", 200)
	call("adam", "POST", "/api/v1/intel/feeds", "/api/v1/intel/feeds?name=trail", "198.51.100.2 9 emotet\nnot-an-indicator\n", 207)
	call("adam", "POST", "/api/v1/intel/feeds", "/api/v1/intel/feeds?name=bad", "{\"type\": \"bundle\", \"objects\": [", 400)
	call("adam", "POST", "/api/v1/intel/feeds", "/api/v1/intel/feeds?name=a%20b", "1.1.1.1", 400)
	call("vic", "POST", "/api/v1/intel/feeds", "/api/v1/intel/feeds?name=x", "1.1.1.1", 403)
	call("vic", "GET", "/api/v1/intel/feeds", "/api/v1/intel/feeds", "", 200)
	call("vic", "GET", "/api/v1/intel/lookup", "/api/v1/intel/lookup?kind=ip&value=198.51.100.1", "", 200)
	call("vic", "GET", "/api/v1/intel/lookup", "/api/v1/intel/lookup?kind=ip&value=nope", "", 400)
	call("vic", "GET", "/api/v1/prevalence", "/api/v1/prevalence?kind=file&value="+strings.Repeat("a", 64), "", 200)
	call("sam", "GET", "/api/v1/prevalence", "/api/v1/prevalence?kind=ip&value=198.51.100.1", "", 403)
	call("adam", "DELETE", "/api/v1/intel/feeds/{name}", "/api/v1/intel/feeds/trail", "", 200)
	call("adam", "DELETE", "/api/v1/intel/feeds/{name}", "/api/v1/intel/feeds/trail", "", 404)
	if err := f.st.RecordFacts(context.Background(), f.inc1, []domain.Fact{{Entity: "device:ws1", Kind: domain.FactPrevalence,
		Source: "store", Value: domain.RawJSON(`{"devices":1}`), ObservedAt: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	call("vic", "GET", "/api/v1/incidents/{id}/facts", "/api/v1/incidents/"+inc1+"/facts", "", 200)
	call("vic", "GET", "/api/v1/incidents/{id}/facts", "/api/v1/incidents/999999/facts", "", 404)
}

func keysOf(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func mustRead(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// notifierStub queues the test message in the store, as the notification
// service does, and answers with the stored row.
type notifierStub struct{ st *store.Store }

func (n *notifierStub) Channels() []string { return []string{"soc-slack"} }

func (n *notifierStub) Test(ctx context.Context, channel, by string, wait time.Duration) (*domain.Notification, error) {
	if channel != "soc-slack" {
		return nil, domain.Invalid("channels", "no notification channel %q", channel)
	}
	inc := int64(1)
	if _, err := n.st.EnqueueNotifications(ctx, []domain.Notification{{Key: "test:1", Channel: channel, IncidentID: &inc,
		Subject: "[AIR] Test notification", Text: by + " asked for a test"}}); err != nil {
		return nil, err
	}
	page, err := n.st.QueryNotifications(ctx, records.NotificationQuery{Key: "test:1"})
	if err != nil {
		return nil, err
	}
	return &page.Value[0], nil
}
