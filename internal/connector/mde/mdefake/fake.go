// Package mdefake is a Defender for Endpoint tenant over HTTP for tests:
// it follows the documented machine action and indicator contracts
// (status codes, bodies, errors), so that the connector's contract tests
// and the worker crash test run against the same behaviour.
package mdefake

import (
	"crypto/sha1"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/airsoc/air/internal/connector/mde"
)

// Fake follows Defender for Endpoint's documented machine action
// contract: POST /api/machines/{id}/{action} with a JSON body whose Comment
// is required, 201 with a MachineAction; GET /api/machineactions/{id};
// GET /api/machineactions?$filter=…; GET /api/machines?$filter=…; errors as
// {"error": {"code", "message", "target"}}; 400 ActiveRequestAlreadyExists
// "Action is already in progress" while an action of the same type is
// pending on the machine; 404 for an unknown machine or action.
type Fake struct {
	// Mu guards the fields below while the server runs.
	Mu       sync.Mutex
	Token    string            // the bearer token the API accepts
	Machines map[string]string // id → computerDnsName
	Actions  []*mde.MachineAction
	Polls    map[string]int // action id → GETs so far
	// finishAfter is how many polls an action stays Pending/InProgress;
	// final is the status it ends in.
	FinishAfter int
	Final       string
	// inject, when it returns a status, answers a request instead.
	Inject func(r *http.Request) (status int, header http.Header, body string)
	// Slow blocks answers until the request's context ends.
	Slow bool
	// PageSize, when above 0, pages the machine action and indicator lists
	// as the API does past its page size: $skip and an @odata.nextLink.
	PageSize int
	// AnyMachine makes a machine looked up by a DNS name it does not know
	// exist, onboarded on the spot (a tenant with every device onboarded).
	AnyMachine bool

	Posts     []Post
	TokenHits int
	// indicators are the tenant's custom indicators (indicators_test.go).
	Indicators []*mde.Indicator
	Deletes    []string
	Calls      int
}

// Post is one POST the fake received: the action path and its JSON body.
type Post struct {
	Path string
	Body map[string]any
}

// MachineID is the machine New knows, ws-042.corp.example.
const MachineID = "1e5bc9d7e413ddd7902c2932e418702b84d0cc07"

// New returns a fake tenant with one machine, MachineID, whose machine
// actions succeed on the third poll; it accepts the client secret "s3cret"
// and answers with the token "tok-1".
func New() *Fake {
	return &Fake{Token: "tok-1", Machines: map[string]string{MachineID: "ws-042.corp.example"},
		Polls: map[string]int{}, FinishAfter: 2, Final: mde.Succeeded}
}

func writeErr(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": msg, "target": "req-1"}})
}

var (
	postPath    = regexp.MustCompile(`^/api/machines/([^/]+)/([A-Za-z]+)$`)
	actionPath  = regexp.MustCompile(`^/api/machineactions/([^/]+)$`)
	filterMatch = regexp.MustCompile(`(\w+) eq '([^']*)'`)
)

var bodies = map[string]struct {
	maType string
	fields map[string][]string // field → allowed values (nil: any non-empty)
}{
	"isolate":                     {"Isolate", map[string][]string{"IsolationType": {"Full", "Selective"}}},
	"unisolate":                   {"Unisolate", nil},
	"restrictCodeExecution":       {"RestrictCodeExecution", nil},
	"unrestrictCodeExecution":     {"UnrestrictCodeExecution", nil},
	"runAntiVirusScan":            {"RunAntiVirusScan", map[string][]string{"ScanType": {"Quick", "Full"}}},
	"collectInvestigationPackage": {"CollectInvestigationPackage", nil},
	"StopAndQuarantineFile":       {"StopAndQuarantineFile", map[string][]string{"Sha1": nil}},
	"runliveresponse":             {"LiveResponse", nil},
}

func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	if strings.HasSuffix(r.URL.Path, "/oauth2/v2.0/token") {
		f.TokenHits++
		if r.FormValue("grant_type") != "client_credentials" || r.FormValue("client_secret") != "s3cret" ||
			r.FormValue("scope") != mde.Scope {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided."}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"token_type":"Bearer","expires_in":3599,"access_token":%q}`, f.Token)
		return
	}
	f.Calls++
	if f.Slow {
		f.Mu.Unlock()
		<-r.Context().Done()
		f.Mu.Lock()
		return
	}
	if f.Inject != nil {
		if status, h, body := f.Inject(r); status != 0 {
			for k, v := range h {
				w.Header()[k] = v
			}
			w.WriteHeader(status)
			fmt.Fprint(w, body)
			return
		}
	}
	if r.Header.Get("Authorization") != "Bearer "+f.Token {
		writeErr(w, http.StatusUnauthorized, "Unauthorized", "Unauthorized")
		return
	}
	switch m := postPath.FindStringSubmatch(r.URL.Path); {
	case r.Method == http.MethodPost && m != nil:
		f.post(w, r, m[1], m[2])
	case r.Method == http.MethodGet && r.URL.Path == "/api/machineactions":
		filter := filters(r)
		var out []*mde.MachineAction
		for _, a := range slices.Backward(f.Actions) { // newest first
			if (filter["machineId"] == "" || a.MachineID == filter["machineId"]) && (filter["type"] == "" || a.Type == filter["type"]) {
				out = append(out, a)
			}
		}
		page(f, w, r, out)
	case r.Method == http.MethodGet && actionPath.MatchString(r.URL.Path):
		id := actionPath.FindStringSubmatch(r.URL.Path)[1]
		i := slices.IndexFunc(f.Actions, func(a *mde.MachineAction) bool { return a.ID == id })
		if i < 0 {
			writeErr(w, http.StatusNotFound, "ResourceNotFound", "MachineAction "+id+" was not found")
			return
		}
		a := f.Actions[i]
		f.Polls[id]++
		switch n := f.Polls[id]; {
		case a.Status != mde.Pending && a.Status != mde.InProgress:
		case f.FinishAfter >= 0 && n > f.FinishAfter:
			a.Status = f.Final
		default:
			a.Status = mde.InProgress
		}
		json.NewEncoder(w).Encode(a)
	case r.Method == http.MethodGet && r.URL.Path == "/api/machines":
		var out []map[string]string
		want := filters(r)["computerDnsName"]
		for id, name := range f.Machines {
			if name == want {
				out = append(out, map[string]string{"id": id, "computerDnsName": name})
			}
		}
		if len(out) == 0 && f.AnyMachine && want != "" {
			id := fmt.Sprintf("%x", sha1.Sum([]byte(want)))
			f.Machines[id] = want
			out = append(out, map[string]string{"id": id, "computerDnsName": want})
		}
		json.NewEncoder(w).Encode(map[string]any{"value": out})
	case r.URL.Path == "/api/indicators" || strings.HasPrefix(r.URL.Path, "/api/indicators/"):
		f.indicatorRoute(w, r)
	default:
		writeErr(w, http.StatusNotFound, "NotFound", "no route")
	}
}

func filters(r *http.Request) map[string]string {
	out := map[string]string{}
	for _, m := range filterMatch.FindAllStringSubmatch(r.URL.Query().Get("$filter"), -1) {
		out[m[1]] = m[2]
	}
	return out
}

func (f *Fake) post(w http.ResponseWriter, r *http.Request, machine, action string) {
	spec, ok := bodies[action]
	if !ok {
		writeErr(w, http.StatusNotFound, "NotFound", "no such action")
		return
	}
	var body map[string]any
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		writeErr(w, http.StatusBadRequest, "InvalidRequestBody", "Invalid request body.")
		return
	}
	f.Posts = append(f.Posts, Post{Path: action, Body: body})
	if c, _ := body["Comment"].(string); c == "" {
		writeErr(w, http.StatusBadRequest, "MissingRequiredParameter", "Parameter Comment is missing.")
		return
	}
	if action == "runliveresponse" && !liveCommands(body["Commands"]) {
		writeErr(w, http.StatusBadRequest, "InvalidInput", "Invalid input Commands.")
		return
	}
	for field, allowed := range spec.fields {
		v, _ := body[field].(string)
		if v == "" || (allowed != nil && !slices.Contains(allowed, v)) {
			writeErr(w, http.StatusBadRequest, "InvalidInput", "Invalid input "+field+".")
			return
		}
	}
	name, ok := f.Machines[machine]
	if !ok {
		writeErr(w, http.StatusNotFound, "ResourceNotFound", "Machine "+machine+" was not found")
		return
	}
	for _, a := range f.Actions {
		if a.MachineID == machine && a.Type == spec.maType && (a.Status == mde.Pending || a.Status == mde.InProgress) {
			writeErr(w, http.StatusBadRequest, "ActiveRequestAlreadyExists", "Action is already in progress")
			return
		}
	}
	a := f.Add(machine, name, spec.maType, body["Comment"].(string), mde.Pending)
	if s, ok := body["IsolationType"].(string); ok {
		a.Scope = s
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(a)
}

// Add records a machine action as if someone had asked for it.
func (f *Fake) Add(machine, name, maType, comment, status string) *mde.MachineAction {
	a := &mde.MachineAction{ID: fmt.Sprintf("ma-%d", len(f.Actions)+1), Type: maType, Requestor: "air@contoso.example",
		RequestorComment: comment, Status: status, MachineID: machine, ComputerDNSName: name,
		CreationDateTimeUtc: "2026-03-01T10:00:00Z"}
	f.Actions = append(f.Actions, a)
	return a
}

// client builds a connector against the fake, as connector.NewRouter does.

// indicatorRoute follows the documented Indicator API: POST /api/indicators
// ("submit or update": one indicator per value and type; indicatorValue,
// indicatorType, action, title and description required; indicatorType
// one of FileSha1, FileSha256, FileMd5, CertificateThumbprint, IpAddress,
// DomainName, Url; no CIDR for IPs) answering 200 with the Indicator;
// GET /api/indicators with $filter on indicatorValue and indicatorType;
// DELETE /api/indicators/{id} answering 204, or 404 for an unknown id.
func (f *Fake) indicatorRoute(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/api/indicators":
		fl := filters(r)
		out := []*mde.Indicator{}
		for _, in := range f.Indicators {
			if (fl["indicatorValue"] == "" || strings.EqualFold(in.IndicatorValue, fl["indicatorValue"])) &&
				(fl["indicatorType"] == "" || in.IndicatorType == fl["indicatorType"]) {
				out = append(out, in)
			}
		}
		page(f, w, r, out)
	case r.Method == http.MethodPost && r.URL.Path == "/api/indicators":
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			writeErr(w, http.StatusBadRequest, "InvalidRequestBody", "Invalid request body.")
			return
		}
		f.Posts = append(f.Posts, Post{Path: "indicators", Body: body})
		for _, k := range []string{"indicatorValue", "indicatorType", "action", "title", "description"} {
			if v, _ := body[k].(string); v == "" {
				writeErr(w, http.StatusBadRequest, "InvalidInput", "Parameter "+k+" is missing.")
				return
			}
		}
		typ, val := body["indicatorType"].(string), body["indicatorValue"].(string)
		if !slices.Contains([]string{"FileSha1", "FileSha256", "FileMd5", "CertificateThumbprint", "IpAddress", "DomainName", "Url"}, typ) {
			writeErr(w, http.StatusBadRequest, "InvalidInput", "Invalid indicatorType "+typ+".")
			return
		}
		if typ == "IpAddress" && strings.Contains(val, "/") {
			writeErr(w, http.StatusBadRequest, "InvalidInput", "CIDR notation is not supported.")
			return
		}
		in := &mde.Indicator{}
		if i := slices.IndexFunc(f.Indicators, func(x *mde.Indicator) bool {
			return x.IndicatorType == typ && strings.EqualFold(x.IndicatorValue, val)
		}); i >= 0 {
			in = f.Indicators[i] // submit or update
		} else {
			in.ID = fmt.Sprint(len(f.Indicators) + 1000)
			in.CreatedBy = "app-1"
			f.Indicators = append(f.Indicators, in)
		}
		raw, _ := json.Marshal(body)
		json.Unmarshal(raw, in)
		json.NewEncoder(w).Encode(in)
	case r.Method == http.MethodDelete:
		id := strings.TrimPrefix(r.URL.Path, "/api/indicators/")
		i := slices.IndexFunc(f.Indicators, func(x *mde.Indicator) bool { return x.ID == id })
		if i < 0 {
			writeErr(w, http.StatusNotFound, "ResourceNotFound", "Indicator "+id+" was not found")
			return
		}
		f.Deletes = append(f.Deletes, id)
		f.Indicators = slices.Delete(f.Indicators, i, i+1)
		w.WriteHeader(http.StatusNoContent)
	default:
		writeErr(w, http.StatusNotFound, "NotFound", "no route")
	}
}

// liveCommands checks a live response body's Commands: a non-empty list of
// RunScript, GetFile or PutFile commands, each with its params as key and
// value pairs, a RunScript naming its ScriptName.
func liveCommands(v any) bool {
	cmds, ok := v.([]any)
	if !ok || len(cmds) == 0 {
		return false
	}
	for _, c := range cmds {
		m, _ := c.(map[string]any)
		typ, _ := m["type"].(string)
		params, _ := m["params"].([]any)
		if !slices.Contains([]string{"RunScript", "GetFile", "PutFile"}, typ) || len(params) == 0 {
			return false
		}
		script := false
		for _, p := range params {
			kv, _ := p.(map[string]any)
			if k, _ := kv["key"].(string); k == "ScriptName" {
				v, _ := kv["value"].(string)
				script = v != ""
			}
		}
		if typ == "RunScript" && !script {
			return false
		}
	}
	return true
}

// page answers a list with one page of it: all of it, or PageSize items
// from $skip with an @odata.nextLink (absolute, as the API writes it) to
// the rest.
func page[T any](f *Fake, w http.ResponseWriter, r *http.Request, all []T) {
	skip, _ := strconv.Atoi(r.URL.Query().Get("$skip"))
	skip = min(max(skip, 0), len(all))
	body := map[string]any{"@odata.context": "https://api.security.microsoft.com/api/$metadata", "value": all[skip:]}
	if f.PageSize > 0 && len(all)-skip > f.PageSize {
		body["value"] = all[skip : skip+f.PageSize]
		q := r.URL.Query()
		q.Set("$skip", strconv.Itoa(skip+f.PageSize))
		body["@odata.nextLink"] = "http://" + r.Host + r.URL.Path + "?" + q.Encode()
	}
	json.NewEncoder(w).Encode(body)
}
