package playbook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/airsoc/air/internal/actions"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/enrich"
	"github.com/airsoc/air/internal/graph"
	"github.com/airsoc/air/internal/intel"
	"github.com/airsoc/air/internal/policy"
)

// A playbook test file, NAME.test.yaml beside a playbook, says what the
// playbook must do with given alerts: which remediation actions it
// proposes, whether each runs on its own or waits and why, and the final
// investigation state, under mocked action results and analyst decisions.
// ParseTestFile decodes one strictly (an unknown key is an error at its
// line and column); the runner (starter playbooks test, go test) feeds the
// alerts through internal/graph and the real workflow.

// TestFile is one playbook test file.
type TestFile struct {
	File     string // as given to ParseTestFile
	Playbook string // the name of the playbook under test
	Cases    []TestCase
}

// TestCase is one scenario of a test file.
type TestCase struct {
	Name string
	Line int // where the case starts in its file
	// Automation is the tenant's automation settings for the case; nil for
	// the runner's default.
	Automation *policy.Settings
	// Alerts are the input alerts, each a Graph alert document as the ingest
	// API takes it (already checked with graph.DecodeAlert).
	Alerts []json.RawMessage
	// Incident holds the incident fields the case sets by hand (severity,
	// customTags, classification, …) as a Graph incident document without
	// its alerts; nil when the case gives alerts only.
	Incident json.RawMessage
	// Entities are facts about entities that alerts do not carry: tenant
	// state (isolationState) and directory data (privileged, manager, tags),
	// by entity key. The runner adds them to the incident's entities.
	Entities map[domain.EntityKey]EntityFacts
	// Results mock the outcome of executed actions; an action no result
	// matches succeeds with the result "ok".
	Results []MockResult
	// Decisions are analyst decisions on pending actions; a pending action
	// no decision matches gets Pending.
	Decisions []TestDecision
	// Pending is what analysts do with a pending action no decision
	// names: PendingExpire (the default, ""), PendingApprove or
	// PendingReject.
	Pending string
	// Answers are what people answer the playbook's questions, by ask
	// step id; a question none names times out.
	Answers map[string][]string
	// Inputs are the tenant's values of the tested playbook's inputs for
	// the case (nil: every input at its default); InputsLine is where they
	// are, for diagnostics. CheckInputs checks them against the playbook.
	Inputs     map[string]any
	InputsLine int
	// Intel are threat-intelligence indicators loaded before the case,
	// grouped into feeds by name, for analysis steps to find.
	Intel []TestIndicator
	// History are alerts ingested before the case's own (in their own
	// incidents or not), for hunt steps and prevalence to find.
	History []json.RawMessage
	Expect  Expectation
}

// TestIndicator is one indicator of a test case's intel: the feed it
// belongs to (a known-benign list when Benign) and the indicator.
type TestIndicator struct {
	Feed      string
	Benign    bool
	Indicator intel.Indicator
}

// CheckInputs checks the case's inputs against the tested playbook and
// returns them converted to the declared types.
func (c *TestCase) CheckInputs(pb *Playbook) (InputValues, error) {
	if c.Inputs == nil {
		return nil, nil
	}
	return pb.CheckInputValues(c.Inputs)
}

// EntityFacts are attributes and tags a test case adds to an entity, and
// what vendors answer analysis steps about it.
type EntityFacts struct {
	Attrs map[string]string
	Tags  []string
	// Vendor are the vendor facts analysis steps get, by fact kind
	// (domain.FactVendor*), as JSON in the kind's shape; a
	// domain.FactVendorError value makes the vendor fail with its
	// message.
	Vendor map[string]json.RawMessage
}

// vendorTestKinds maps a test file's vendor keys to fact kinds and the
// shapes their values must decode into.
var vendorTestKinds = map[string]struct {
	kind  string
	shape func() any
}{
	"file_stats":      {domain.FactVendorFileStats, func() any { return &enrich.FileStats{} }},
	"ip_stats":        {domain.FactVendorIPStats, func() any { return &enrich.IPStats{} }},
	"logged_on_users": {domain.FactVendorLoggedOnUsers, func() any { return &enrich.LoggedOnUsers{} }},
	"related_alerts":  {domain.FactVendorRelatedAlerts, func() any { return &enrich.RelatedAlerts{} }},
	"risky_user":      {domain.FactVendorRiskyUser, func() any { return &enrich.RiskyUser{} }},
	"sign_ins":        {domain.FactVendorSignIns, func() any { return &enrich.SignIns{} }},
	"error":           {domain.FactVendorError, func() any { return &struct{ Message string }{} }},
}

// VendorTestKinds lists the keys of an entity's vendor facts in a test
// file.
func VendorTestKinds() []string {
	out := make([]string, 0, len(vendorTestKinds))
	for k := range vendorTestKinds {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// MockResult is the outcome an executed action gets in a test case.
type MockResult struct {
	Action string           // action type
	Target domain.EntityKey // "" matches every target
	Result string           // the result text of a success; "ok" when empty
	// Error makes the action fail with this message, of kind Kind (one of
	// ErrorKinds; "failed" when empty).
	Error  string
	Kind   string
	Output map[string]any // what the action returns, read by later steps as results[i].output
	Line   int
}

// WithFacts returns a copy of entities (an incident's, as a snapshot gives
// them) with the case's entity facts added: attributes set, tags added. It
// also returns the keys of facts no entity had, sorted, which a runner
// reports as a mistake in the test.
func (c *TestCase) WithFacts(entities []domain.Entity) ([]domain.Entity, []domain.EntityKey) {
	out := make([]domain.Entity, len(entities))
	used := map[domain.EntityKey]bool{}
	for i, e := range entities {
		facts, ok := c.Entities[e.Key]
		if ok {
			used[e.Key] = true
			e.Attrs = cloneAttrs(e.Attrs)
			for k, v := range facts.Attrs {
				e.Attrs[k] = v
			}
			e.Tags = slices.Clone(e.Tags)
			for _, t := range facts.Tags {
				if !slices.Contains(e.Tags, t) {
					e.Tags = append(e.Tags, t)
				}
			}
		}
		out[i] = e
	}
	var missing []domain.EntityKey
	for k := range c.Entities {
		if !used[k] {
			missing = append(missing, k)
		}
	}
	slices.Sort(missing)
	return out, missing
}

// Failed reports whether the mocked action fails.
func (r MockResult) Failed() bool { return r.Error != "" }

// TestDecision is an analyst's decision on a pending action.
type TestDecision struct {
	Action   string
	Target   domain.EntityKey // "" matches every target
	Decision domain.Decision  // approve or reject
	By       string           // who decided; "analyst" when empty
	Comment  string
	Line     int
}

// Expectation is what a test case checks at the end. Empty fields are not
// checked, except that Actions, when the file gives actions (even []), must
// be exactly the remediation actions proposed, in any order.
type Expectation struct {
	// Incident are incident fields the case expects at the end (severity,
	// status, classification, determination, assignedTo), by their Graph
	// names: what case actions set.
	Incident map[string]string
	State    domain.InvestigationState
	Tags     []string // tags the incident must carry
	Comments []string // substrings of incident comments that must appear
	// Actions is nil when the file does not give actions.
	Actions []ExpectedAction
	// Not lists what must not happen.
	Not Absence
	// Answers are the answers the questions must end with, by ask step
	// id; nil when not checked.
	Answers map[string][]string
	// Verdicts are the verdicts entities must end with, by entity key (the
	// verdict in effect: an analyst's, a rule's, else the provider's).
	Verdicts map[domain.EntityKey]domain.Verdict
}

// Absence is what a test case expects not to happen (expect.not): no
// remediation action of a type (on a target, when given), no tag, no
// comment containing a text.
type Absence struct {
	Actions  []ExpectedAction // Type and Target only; Target "" means any target
	Tags     []string
	Comments []string
}

// ExpectedAction is one remediation action a test case expects.
type ExpectedAction struct {
	Type   string
	Target domain.EntityKey
	Run    string              // RunAuto or RunWait
	Reason string              // a substring of the policy's reason; "" not checked
	Status domain.ActionStatus // the action's final status; "" not checked
	Line   int
}

// What analysts do with pending actions no decision names (TestCase.Pending).
const (
	PendingExpire  = "expire"  // leave them; they expire after 7 days
	PendingApprove = "approve" // approve every one
	PendingReject  = "reject"  // reject every one
)

// How an expected action started (ExpectedAction.Run).
const (
	RunAuto = "auto" // ran without waiting for an analyst
	RunWait = "wait" // waited for an analyst (or expired)
)

// Keys of the test file format, from the tables TestSchema documents.
var (
	testFileKeys     = names(testFileFields)
	testCaseKeys     = names(testCaseFields)
	testAutoKeys     = names(testAutoFields)
	testIncidentKeys = names(testIncidentFields)
	testEntityKeys   = names(testEntityFields)
	testResultKeys   = names(testResultFields)
	testDecisionKeys = names(testDecisionFields)
	testExpectKeys   = names(testExpectFields)
	testExpIncKeys   = names(testExpIncFields)
	testActionKeys   = names(testActionFields)
	testNotKeys      = names(testNotFields)
	testNotActKeys   = names(testNotActFields)
	testIntelKeys    = names(testIntelFields)
)

// ParseTestFile decodes a playbook test file. file names it in diagnostics
// and becomes TestFile.File. Every problem is reported at once in a
// *LoadError. It checks what it can alone: keys, types, action types, enum
// values and the alerts themselves; LoadTests and the runner check that the
// playbook exists.
func ParseTestFile(file string, src []byte) (*TestFile, error) {
	l := newLoader(file, src)
	tf := l.testFile(src)
	if len(l.diags) > 0 {
		sortDiagnostics(l.diags)
		return nil, &LoadError{Diagnostics: l.diags}
	}
	return tf, nil
}

// LoadTests parses every playbook test file (*.test.yaml, *.test.yml) in
// dir, sorted by file name, reporting every problem of every file at once
// in a *LoadError.
func LoadTests(dir string) ([]*TestFile, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("load playbook tests: %w", err)
	}
	var (
		out   []*TestFile
		diags []Diagnostic
	)
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !isTestFile(name) {
			continue
		}
		path := filepath.Join(dir, name)
		src, err := os.ReadFile(path)
		if err != nil {
			diags = append(diags, Diagnostic{File: path, Line: 1, Column: 1, Message: err.Error()})
			continue
		}
		tf, err := ParseTestFile(path, src)
		var le *LoadError
		switch {
		case errors.As(err, &le):
			diags = append(diags, le.Diagnostics...)
		case err != nil:
			return nil, err
		default:
			out = append(out, tf)
		}
	}
	if len(diags) > 0 {
		sortDiagnostics(diags)
		return nil, &LoadError{Diagnostics: diags}
	}
	return out, nil
}

func isTestFile(name string) bool {
	return strings.HasSuffix(name, ".test.yaml") || strings.HasSuffix(name, ".test.yml")
}

func (l *loader) testFile(src []byte) *TestFile {
	if len(src) > maxFileSize {
		l.add(1, 1, "file is %d bytes, the limit is %d", len(src), maxFileSize)
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(src))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			l.add(1, 1, "empty file, want a playbook test with playbook and cases")
		} else {
			l.yamlError(err)
		}
		return nil
	}
	if len(doc.Content) != 1 {
		l.add(1, 1, "empty file, want a playbook test with playbook and cases")
		return nil
	}
	root := doc.Content[0]
	f, ok := l.fields(root, "a playbook test", testFileKeys)
	if !ok {
		return nil
	}
	tf := &TestFile{File: l.file}
	if n := f.vals["playbook"]; n == nil {
		l.errorf(root, "playbook test has no playbook: name the playbook under test")
	} else if s, ok := l.str(n, "playbook"); ok {
		if !validID(s) {
			l.errorf(n, "playbook %q: a playbook name has lower-case letters, digits, '-' and '_'", s)
		}
		tf.Playbook = s
	}
	cn := f.vals["cases"]
	if cn == nil || cn.Kind != yaml.SequenceNode || len(cn.Content) == 0 {
		at := root
		if cn != nil {
			at = cn
		}
		l.errorf(at, "cases must be a list of at least one test case")
		return tf
	}
	seen := map[string]int{}
	for _, c := range cn.Content {
		if l.alias(c) {
			continue
		}
		tc, ok := l.testCase(c)
		if !ok {
			continue
		}
		if first, dup := seen[tc.Name]; dup {
			l.errorf(c, "duplicate case name %q, first at line %d", tc.Name, first)
		}
		seen[tc.Name] = tc.Line
		tf.Cases = append(tf.Cases, tc)
	}
	return tf
}

func (l *loader) testCase(n *yaml.Node) (TestCase, bool) {
	tc := TestCase{Line: n.Line}
	f, ok := l.fields(n, "a test case", testCaseKeys)
	if !ok {
		return tc, false
	}
	if nn := f.vals["name"]; nn == nil {
		l.errorf(n, "test case has no name")
	} else if s, ok := l.str(nn, "name"); ok {
		tc.Name = s
	}

	if an := f.vals["automation"]; an != nil {
		tc.Automation = l.automation(an)
	}

	alerts, incident := f.vals["alerts"], f.vals["incident"]
	switch {
	case alerts != nil && incident != nil:
		l.errorf(f.keys["incident"], "give alerts or an incident with its alerts, not both")
	case incident != nil:
		tc.Incident, alerts = l.testIncident(incident)
		if alerts == nil {
			l.errorf(incident, "incident has no alerts")
		}
	case alerts == nil:
		l.errorf(n, "test case has no alerts: give alerts, or an incident with its alerts")
	}
	if alerts != nil {
		tc.Alerts = l.testAlerts(alerts)
	}

	if en := f.vals["entities"]; en != nil {
		tc.Entities = l.testEntities(en)
	}
	if rn := f.vals["results"]; rn != nil {
		for _, item := range l.list(rn, "results") {
			if r, ok := l.mockResult(item); ok {
				tc.Results = append(tc.Results, r)
			}
		}
	}
	if dn := f.vals["decisions"]; dn != nil {
		for _, item := range l.list(dn, "decisions") {
			if d, ok := l.decision(item); ok {
				tc.Decisions = append(tc.Decisions, d)
			}
		}
	}
	if in := f.vals["inputs"]; in != nil && in.ShortTag() != "!!null" {
		if in.Kind != yaml.MappingNode {
			l.errorf(in, "inputs must be a mapping of input names to values, got %s", kindName(in))
		} else if raw, ok := l.toJSON(in, "inputs"); ok {
			if err := json.Unmarshal(raw, &tc.Inputs); err != nil {
				l.errorf(in, "inputs: %v", err)
			}
			tc.InputsLine = in.Line
		}
	}
	if pn := f.vals["pending"]; pn != nil {
		if s, ok := l.str(pn, "pending"); ok {
			if s != PendingExpire && s != PendingApprove && s != PendingReject {
				l.errorf(pn, "pending must be expire, approve or reject (what analysts do with pending actions no decision names), got %q", s)
			}
			tc.Pending = s
		}
	}
	if an := f.vals["answers"]; an != nil {
		tc.Answers = l.answers(an, "answers")
	}
	if in := f.vals["intel"]; in != nil {
		for _, item := range l.list(in, "intel") {
			if ti, ok := l.testIndicator(item); ok {
				tc.Intel = append(tc.Intel, ti)
			}
		}
	}
	if hn := f.vals["history"]; hn != nil {
		tc.History = l.testAlerts(hn)
	}
	if en := f.vals["expect"]; en == nil {
		l.errorf(n, "test case has no expect: say what the playbook must do")
	} else {
		tc.Expect = l.expectation(en)
	}
	return tc, true
}

// list returns the items of a sequence node, reporting anything else.
func (l *loader) list(n *yaml.Node, what string) []*yaml.Node {
	if n.ShortTag() == "!!null" {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		l.errorf(n, "%s must be a list, got %s", what, kindName(n))
		return nil
	}
	var out []*yaml.Node
	for _, c := range n.Content {
		if !l.alias(c) {
			out = append(out, c)
		}
	}
	return out
}

// strs reads a list of strings.
func (l *loader) strs(n *yaml.Node, what string) []string {
	out := []string{}
	for _, c := range l.list(n, what) {
		if s, ok := l.str(c, what+" item"); ok {
			out = append(out, s)
		}
	}
	return out
}

// optStr reads an optional string field.
func (l *loader) optStr(f fieldSet, key string) string {
	n := f.vals[key]
	if n == nil || n.ShortTag() == "!!null" {
		return ""
	}
	s, _ := l.str(n, key)
	return s
}

func (l *loader) automation(n *yaml.Node) *policy.Settings {
	if _, ok := l.fields(n, "automation", testAutoKeys); !ok {
		return nil
	}
	raw, ok := l.toJSON(n, "automation")
	if !ok {
		return nil
	}
	var s policy.Settings
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		l.errorf(n, "automation: %v", err)
		return nil
	}
	if err := s.Validate(); err != nil {
		l.errorf(n, "automation: %v", err)
		return nil
	}
	return &s
}

func (l *loader) testIncident(n *yaml.Node) (json.RawMessage, *yaml.Node) {
	f, ok := l.fields(n, "incident", testIncidentKeys)
	if !ok {
		return nil, nil
	}
	alerts := f.vals["alerts"]
	rest := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value != "alerts" {
			rest.Content = append(rest.Content, n.Content[i], n.Content[i+1])
		}
	}
	raw, _ := l.toJSON(rest, "incident")
	return raw, alerts
}

func (l *loader) testAlerts(n *yaml.Node) []json.RawMessage {
	items := l.list(n, "alerts")
	if len(items) == 0 && n.Kind == yaml.SequenceNode {
		l.errorf(n, "alerts must hold at least one alert")
	}
	var out []json.RawMessage
	for i, a := range items {
		if a.Kind != yaml.MappingNode {
			l.errorf(a, "alerts[%d] must be a mapping (a Graph alert), got %s", i, kindName(a))
			continue
		}
		raw, ok := l.toJSON(a, fmt.Sprintf("alerts[%d]", i))
		if !ok {
			continue
		}
		if _, err := graph.DecodeAlert(raw); err != nil {
			l.errorf(a, "alerts[%d]: %v", i, err)
			continue
		}
		out = append(out, raw)
	}
	return out
}

func (l *loader) testEntities(n *yaml.Node) map[domain.EntityKey]EntityFacts {
	if n.Kind != yaml.MappingNode {
		l.errorf(n, "entities must be a mapping of entity keys (device:ID, user:UPN, …) to facts, got %s", kindName(n))
		return nil
	}
	out := map[domain.EntityKey]EntityFacts{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key, ok := l.str(k, "entity key")
		if !ok {
			continue
		}
		kind, _, found := strings.Cut(key, ":")
		if !found || !isEntityKind(kind) {
			l.errorf(k, "entity key %q: want KIND:ID with KIND one of %s", key, strings.Join(inputTypes()[:len(entityLists)], ", "))
			continue
		}
		if _, dup := out[domain.EntityKey(key)]; dup {
			l.errorf(k, "duplicate entity %q", key)
			continue
		}
		f, ok := l.fields(v, "entity facts", testEntityKeys)
		if !ok {
			continue
		}
		facts := EntityFacts{}
		if an := f.vals["attrs"]; an != nil {
			if an.Kind != yaml.MappingNode {
				l.errorf(an, "attrs must be a mapping of attribute names to strings, got %s", kindName(an))
			} else {
				facts.Attrs = map[string]string{}
				for j := 0; j+1 < len(an.Content); j += 2 {
					ak, av := an.Content[j], an.Content[j+1]
					if av.Kind != yaml.ScalarNode || av.ShortTag() == "!!null" {
						l.errorf(av, "attrs.%s must be a string, got %s", ak.Value, kindName(av))
						continue
					}
					facts.Attrs[ak.Value] = av.Value // 1 and true as written
				}
			}
		}
		if tn := f.vals["tags"]; tn != nil {
			facts.Tags = l.strs(tn, "tags")
		}
		if vn := f.vals["vendor"]; vn != nil {
			facts.Vendor = l.vendorFacts(vn)
		}
		out[domain.EntityKey(key)] = facts
	}
	return out
}

// vendorFacts reads an entity's vendor answers: each key a vendor fact
// kind, each value in its shape (unknown fields refused, so that a typo
// does not silently leave a rule unread).
func (l *loader) vendorFacts(n *yaml.Node) map[string]json.RawMessage {
	if n.Kind != yaml.MappingNode {
		l.errorf(n, "vendor must be a mapping of fact kinds (%s) to values, got %s", strings.Join(VendorTestKinds(), ", "), kindName(n))
		return nil
	}
	out := map[string]json.RawMessage{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		vk, ok := vendorTestKinds[k.Value]
		if !ok {
			l.errorf(k, "vendor: unknown fact kind %q, want one of %s%s", k.Value, strings.Join(VendorTestKinds(), ", "), suggest(k.Value, VendorTestKinds()))
			continue
		}
		if v.Kind != yaml.MappingNode {
			l.errorf(v, "vendor.%s must be a mapping, got %s", k.Value, kindName(v))
			continue
		}
		raw, ok := l.toJSON(v, "vendor."+k.Value)
		if !ok {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(vk.shape()); err != nil {
			l.errorf(v, "vendor.%s: %v", k.Value, err)
			continue
		}
		out[vk.kind] = raw
	}
	return out
}

// actionType reads a registered action type.
func (l *loader) actionType(n *yaml.Node, what string) string {
	s, ok := l.str(n, what)
	if !ok {
		return ""
	}
	if _, ok := actions.Lookup(s); !ok {
		l.errorf(n, "%s: unknown action %q%s", what, s, suggest(s, actions.Names()))
	}
	return s
}

// targetKey reads an entity key, KIND:ID.
func (l *loader) targetKey(f fieldSet) domain.EntityKey {
	n := f.vals["target"]
	if n == nil || n.ShortTag() == "!!null" {
		return ""
	}
	s, ok := l.str(n, "target")
	if !ok {
		return ""
	}
	kind, id, found := strings.Cut(s, ":")
	if !found || id == "" || !isEntityKind(kind) {
		l.errorf(n, "target %q: want an entity key KIND:ID such as device:dev1 or user:alice@corp.example", s)
	}
	return domain.EntityKey(s)
}

func (l *loader) mockResult(n *yaml.Node) (MockResult, bool) {
	r := MockResult{Line: n.Line}
	f, ok := l.fields(n, "a result", testResultKeys)
	if !ok {
		return r, false
	}
	if an := f.vals["action"]; an == nil {
		l.errorf(n, "result has no action")
	} else {
		r.Action = l.actionType(an, "action")
	}
	r.Target = l.targetKey(f)
	r.Result, r.Error, r.Kind = l.optStr(f, "result"), l.optStr(f, "error"), l.optStr(f, "kind")
	switch {
	case r.Kind != "" && !contains(ErrorKinds, r.Kind):
		l.errorf(f.vals["kind"], "kind: unknown error kind %q, want one of %s", r.Kind, strings.Join(ErrorKinds, ", "))
	case r.Kind != "" && r.Error == "":
		l.errorf(f.keys["kind"], "kind says how an action fails: give the error too")
	case r.Error != "" && r.Result != "":
		l.errorf(f.keys["result"], "a result is a success's text; a failing action has an error instead")
	}
	if on := f.vals["output"]; on != nil {
		if on.Kind != yaml.MappingNode {
			l.errorf(on, "output must be a mapping, got %s", kindName(on))
		} else if raw, ok := l.toJSON(on, "output"); ok {
			if err := json.Unmarshal(raw, &r.Output); err != nil {
				l.errorf(on, "output: %v", err)
			}
		}
	}
	return r, true
}

func (l *loader) decision(n *yaml.Node) (TestDecision, bool) {
	d := TestDecision{Line: n.Line}
	f, ok := l.fields(n, "a decision", testDecisionKeys)
	if !ok {
		return d, false
	}
	if an := f.vals["action"]; an == nil {
		l.errorf(n, "decision has no action")
	} else {
		d.Action = l.actionType(an, "action")
	}
	d.Target = l.targetKey(f)
	switch dn := f.vals["decision"]; {
	case dn == nil:
		l.errorf(n, "decision has no decision: approve or reject")
	default:
		if s, ok := l.str(dn, "decision"); ok {
			if s != string(domain.DecisionApprove) && s != string(domain.DecisionReject) {
				l.errorf(dn, "decision must be approve or reject, got %q", s)
			}
			d.Decision = domain.Decision(s)
		}
	}
	d.By, d.Comment = l.optStr(f, "by"), l.optStr(f, "comment")
	return d, true
}

func (l *loader) expectation(n *yaml.Node) Expectation {
	var e Expectation
	f, ok := l.fields(n, "expect", testExpectKeys)
	if !ok {
		return e
	}
	if sn := f.vals["state"]; sn != nil {
		if s, ok := l.str(sn, "state"); ok {
			if !contains(investigationStates, s) {
				l.errorf(sn, "state: unknown investigation state %q, want one of %s", s, strings.Join(investigationStates, ", "))
			}
			e.State = domain.InvestigationState(s)
		}
	}
	if tn := f.vals["tags"]; tn != nil {
		e.Tags = l.strs(tn, "tags")
	}
	if cn := f.vals["comments"]; cn != nil {
		e.Comments = l.strs(cn, "comments")
	}
	if in := f.vals["incident"]; in != nil {
		if inf, ok := l.fields(in, "expect.incident", testExpIncKeys); ok {
			e.Incident = map[string]string{}
			for _, k := range testExpIncKeys {
				if vn := inf.vals[k]; vn != nil {
					if v, ok := l.str(vn, "incident."+k); ok {
						e.Incident[k] = v
					}
				}
			}
		}
	}
	if an := f.vals["actions"]; an != nil {
		e.Actions = []ExpectedAction{}
		for _, item := range l.list(an, "actions") {
			if a, ok := l.expectedAction(item); ok {
				e.Actions = append(e.Actions, a)
			}
		}
	}
	if nn := f.vals["not"]; nn != nil {
		e.Not = l.absence(nn)
	}
	if an := f.vals["answers"]; an != nil {
		e.Answers = l.answers(an, "expect.answers")
	}
	if vn := f.vals["verdicts"]; vn != nil {
		e.Verdicts = map[domain.EntityKey]domain.Verdict{}
		if vn.Kind != yaml.MappingNode {
			l.errorf(vn, "verdicts must be a mapping of entity keys to verdicts, got %s", kindName(vn))
		}
		for _, en := range l.namedEntries(vn, "entity key") {
			if v, ok := l.str(en.val, "verdicts."+en.key.Value); ok {
				if !slices.Contains(domain.Verdicts, domain.Verdict(v)) {
					l.errorf(en.val, "verdicts.%s: unknown verdict %q, want one of %v", en.key.Value, v, domain.Verdicts)
				}
				e.Verdicts[domain.EntityKey(en.key.Value)] = domain.Verdict(v)
			}
		}
	}
	return e
}

// testIndicator reads one indicator of a case's intel.
func (l *loader) testIndicator(n *yaml.Node) (TestIndicator, bool) {
	var ti TestIndicator
	f, ok := l.fields(n, "an intel indicator", testIntelKeys)
	if !ok {
		return ti, false
	}
	for _, k := range []string{"feed", "kind", "value"} {
		if f.vals[k] == nil {
			l.errorf(n, "intel indicator has no %s", k)
			ok = false
		}
	}
	if !ok {
		return ti, false
	}
	ti.Feed, _ = l.str(f.vals["feed"], "feed")
	kind, _ := l.str(f.vals["kind"], "kind")
	value, _ := l.str(f.vals["value"], "value")
	k, v, err := intel.Normalize(intel.Kind(kind), value)
	if err != nil {
		l.errorf(f.vals["value"], "intel: %v", err)
		return ti, false
	}
	ti.Indicator = intel.Indicator{Kind: k, Value: v, Ref: fmt.Sprintf("line %d", n.Line)}
	if bn := f.vals["benign"]; bn != nil {
		ti.Benign, _ = l.boolean(bn, "benign")
	}
	if sn := f.vals["score"]; sn != nil {
		ti.Indicator.Score, _ = l.integer(sn, "score")
	}
	if fn := f.vals["family"]; fn != nil {
		ti.Indicator.Family, _ = l.str(fn, "family")
	}
	return ti, true
}

// answers reads a mapping of ask step ids to a choice or a list of them.
func (l *loader) answers(n *yaml.Node, what string) map[string][]string {
	out := map[string][]string{}
	if n.Kind != yaml.MappingNode {
		l.errorf(n, "%s must be a mapping of ask step ids to answers, got %s", what, kindName(n))
		return out
	}
	for _, e := range l.namedEntries(n, "step id") {
		switch v := e.val; {
		case v.Kind == yaml.ScalarNode && v.ShortTag() == "!!str":
			out[e.key.Value] = []string{v.Value}
		case v.Kind == yaml.SequenceNode && len(v.Content) > 0:
			out[e.key.Value] = l.strs(v, what+"."+e.key.Value)
		default:
			l.errorf(v, "%s.%s must be a choice or a list of choices, got %s", what, e.key.Value, kindName(v))
		}
	}
	return out
}

// absence decodes expect.not.
func (l *loader) absence(n *yaml.Node) Absence {
	var a Absence
	f, ok := l.fields(n, "expect.not", testNotKeys)
	if !ok {
		return a
	}
	if tn := f.vals["tags"]; tn != nil {
		a.Tags = l.strs(tn, "not.tags")
	}
	if cn := f.vals["comments"]; cn != nil {
		a.Comments = l.strs(cn, "not.comments")
	}
	if an := f.vals["actions"]; an != nil {
		for _, item := range l.list(an, "not.actions") {
			af, ok := l.fields(item, "an action that must not be proposed", testNotActKeys)
			if !ok {
				continue
			}
			x := ExpectedAction{Line: item.Line}
			if tn := af.vals["type"]; tn == nil {
				l.errorf(item, "not.actions: an action needs a type")
			} else if x.Type = l.actionType(tn, "type"); x.Type != "" {
				if spec, ok := actions.Lookup(x.Type); ok && !spec.Remediation {
					l.errorf(tn, "type: %s is incident bookkeeping, not a remediation action; check it with not.tags or not.comments", x.Type)
				}
			}
			x.Target = l.targetKey(af)
			a.Actions = append(a.Actions, x)
		}
	}
	return a
}

var investigationStates = []string{"queued", "running", "pendingApproval", "pendingResource", "successfullyRemediated",
	"partiallyRemediated", "benign", "failed", "partiallyInvestigated", "terminatedByUser", "terminatedBySystem",
	"unsupportedAlertType"}

func (l *loader) expectedAction(n *yaml.Node) (ExpectedAction, bool) {
	a := ExpectedAction{Line: n.Line}
	f, ok := l.fields(n, "an expected action", testActionKeys)
	if !ok {
		return a, false
	}
	if tn := f.vals["type"]; tn == nil {
		l.errorf(n, "expected action has no type")
	} else if a.Type = l.actionType(tn, "type"); a.Type != "" {
		if spec, ok := actions.Lookup(a.Type); ok && !spec.Remediation {
			l.errorf(tn, "type: %s is incident bookkeeping, not a remediation action; check it with tags or comments", a.Type)
		}
	}
	a.Target = l.targetKey(f)
	if rn := f.vals["run"]; rn != nil {
		if s, ok := l.str(rn, "run"); ok {
			if s != RunAuto && s != RunWait {
				l.errorf(rn, "run must be auto or wait, got %q", s)
			}
			a.Run = s
		}
	}
	a.Reason = l.optStr(f, "reason")
	if sn := f.vals["status"]; sn != nil {
		if s, ok := l.str(sn, "status"); ok {
			if !slices.Contains(domain.ActionStatuses, domain.ActionStatus(s)) {
				l.errorf(sn, "status: unknown action status %q, want one of %s", s, statusNames())
			}
			a.Status = domain.ActionStatus(s)
		}
	}
	return a, true
}

func statusNames() string {
	names := make([]string, len(domain.ActionStatuses))
	for i, s := range domain.ActionStatuses {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}

// toJSON converts a YAML node to JSON: mappings with string keys, lists,
// strings (timestamps kept as written), numbers, booleans and null.
func (l *loader) toJSON(n *yaml.Node, what string) (json.RawMessage, bool) {
	v, ok := l.plain(n, what, 0)
	if !ok {
		return nil, false
	}
	raw, err := json.Marshal(v)
	if err != nil {
		l.errorf(n, "%s: %v", what, err)
		return nil, false
	}
	return raw, true
}

// maxDocDepth bounds how deeply a test file's documents nest.
const maxDocDepth = 32

func (l *loader) plain(n *yaml.Node, what string, depth int) (any, bool) {
	if depth > maxDocDepth {
		l.errorf(n, "%s: nests more than %d deep", what, maxDocDepth)
		return nil, false
	}
	if l.alias(n) {
		return nil, false
	}
	switch n.Kind {
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		ok := true
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				l.errorf(k, "%s: keys must be strings", what)
				ok = false
				continue
			}
			if _, dup := m[k.Value]; dup {
				l.errorf(k, "%s: duplicate key %q", what, k.Value)
				ok = false
				continue
			}
			e, eok := l.plain(v, what+"."+k.Value, depth+1)
			m[k.Value] = e
			ok = ok && eok
		}
		return m, ok
	case yaml.SequenceNode:
		out := make([]any, len(n.Content))
		ok := true
		for i, c := range n.Content {
			e, eok := l.plain(c, fmt.Sprintf("%s[%d]", what, i), depth+1)
			out[i] = e
			ok = ok && eok
		}
		return out, ok
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!str", "!!timestamp":
			return n.Value, true
		case "!!null":
			return nil, true
		case "!!int", "!!float", "!!bool":
			var v any
			if err := n.Decode(&v); err != nil {
				l.errorf(n, "%s: %v", what, err)
				return nil, false
			}
			return v, true
		}
		l.errorf(n, "%s: unsupported YAML tag %s", what, n.ShortTag())
		return nil, false
	}
	l.errorf(n, "%s: unsupported value", what)
	return nil, false
}
