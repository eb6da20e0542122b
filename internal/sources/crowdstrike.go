package sources

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/airsoc/air/internal/domain"
)

// crowdStrikePoller reads Falcon alerts: GET /alerts/queries/alerts/v2
// (FQL filter on updated_timestamp, sorted ascending, offset paging) for
// composite ids, then POST /alerts/entities/alerts/v2 for the alerts.
// API scope: Alerts (read). Tokens come from /oauth2/token (client
// credentials) and are refreshed before they expire.
type crowdStrikePoller struct {
	v        *vendor
	overlap  time.Duration
	pageSize int
}

type csQuery struct {
	Meta struct {
		Pagination struct {
			Offset int `json:"offset"`
			Limit  int `json:"limit"`
			Total  int `json:"total"`
		} `json:"pagination"`
	} `json:"meta"`
	Resources []string `json:"resources"`
	Errors    []struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"errors"`
}

func (c *crowdStrikePoller) Poll(ctx context.Context, cp Checkpoint) (Page, error) {
	offset := 0
	if cp.Cursor != "" {
		n, err := strconv.Atoi(cp.Cursor)
		if err != nil || n < 0 {
			return Page{}, &PermanentError{Body: fmt.Sprintf("checkpoint cursor %q is not an offset", cp.Cursor)}
		}
		offset = n
	}
	q := url.Values{
		"filter": {fmt.Sprintf("updated_timestamp:>='%s'", cp.Since.Add(-c.overlap).UTC().Format(time.RFC3339))},
		"sort":   {"updated_timestamp.asc"},
		"limit":  {strconv.Itoa(c.pageSize)},
		"offset": {strconv.Itoa(offset)},
	}
	b, _, err := c.v.do(ctx, http.MethodGet, c.v.url("/alerts/queries/alerts/v2", q), nil, "")
	if err != nil {
		return Page{}, err
	}
	var ids csQuery
	if err := json.Unmarshal(b, &ids); err != nil {
		return Page{}, fmt.Errorf("decode Falcon alert ids: %w", err)
	}
	if len(ids.Errors) > 0 {
		return Page{}, fmt.Errorf("Falcon alert query: %s (code %d)", ids.Errors[0].Message, ids.Errors[0].Code)
	}
	var items []json.RawMessage
	if len(ids.Resources) > 0 {
		body, _ := json.Marshal(map[string][]string{"composite_ids": ids.Resources})
		b, _, err := c.v.do(ctx, http.MethodPost, c.v.url("/alerts/entities/alerts/v2", nil), bytes.NewReader(body), "application/json")
		if err != nil {
			return Page{}, err
		}
		var ents struct {
			Resources []json.RawMessage `json:"resources"`
		}
		if err := json.Unmarshal(b, &ents); err != nil {
			return Page{}, fmt.Errorf("decode Falcon alerts: %w", err)
		}
		items = ents.Resources
	}
	alerts, problems := decodeItems(items, decodeFalconAlert)
	cursor := ""
	if next := offset + len(ids.Resources); len(ids.Resources) > 0 && next < ids.Meta.Pagination.Total {
		cursor = strconv.Itoa(next)
	}
	return Page{Alerts: alerts, Problems: problems, Next: cp.Advance(newestUpdate(alerts), cursor), More: cursor != ""}, nil
}

type falconAlert struct {
	CompositeID      string     `json:"composite_id"`
	DisplayName      string     `json:"display_name"`
	Name             string     `json:"name"`
	Description      string     `json:"description"`
	SeverityName     string     `json:"severity_name"`
	Status           string     `json:"status"`
	Tactic           string     `json:"tactic"`
	TechniqueID      string     `json:"technique_id"`
	Product          string     `json:"product"`
	Pattern          any        `json:"pattern_id"`
	CreatedTimestamp *time.Time `json:"created_timestamp"`
	UpdatedTimestamp *time.Time `json:"updated_timestamp"`
	Timestamp        *time.Time `json:"timestamp"`
	AssignedToName   string     `json:"assigned_to_name"`
	Device           *struct {
		DeviceID   string `json:"device_id"`
		Hostname   string `json:"hostname"`
		LocalIP    string `json:"local_ip"`
		ExternalIP string `json:"external_ip"`
	} `json:"device"`
	UserName string `json:"user_name"`
	SHA256   string `json:"sha256"`
	Filename string `json:"filename"`
	Filepath string `json:"filepath"`
	Cmdline  string `json:"cmdline"`
}

// decodeFalconAlert maps a Falcon alert onto the Graph alert shape.
func decodeFalconAlert(raw json.RawMessage) (*domain.Alert, error) {
	var f falconAlert
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, &domain.Error{Kind: domain.KindInvalid, Message: "not a Falcon alert: " + err.Error()}
	}
	if f.CompositeID == "" {
		return nil, domain.Invalid("composite_id", "required")
	}
	sev := strings.ToLower(f.SeverityName)
	if sev == "critical" {
		sev = "high"
	}
	status := map[string]string{"new": "new", "reopened": "new", "in_progress": "inProgress", "closed": "resolved"}[f.Status]
	if status == "" {
		status = "unknown"
	}
	g := map[string]any{
		"id": "cs-" + f.CompositeID, "providerAlertId": f.CompositeID, "title": firstOf(f.DisplayName, f.Name),
		"description": f.Description, "severity": sev, "status": status, "category": strings.ReplaceAll(f.Tactic, " ", ""),
		"serviceSource": "crowdStrikeFalcon", "detectionSource": "crowdStrikeFalcon", "productName": "CrowdStrike Falcon " + f.Product,
		"detectorId": firstOf(fmt.Sprint(f.Pattern), f.Name), "assignedTo": nilIfEmpty(f.AssignedToName),
		"createdDateTime": f.CreatedTimestamp, "lastUpdateDateTime": f.UpdatedTimestamp, "lastActivityDateTime": f.Timestamp,
	}
	if f.TechniqueID != "" {
		g["mitreTechniques"] = []string{f.TechniqueID}
	}
	var ev []map[string]any
	if d := f.Device; d != nil && (d.DeviceID != "" || d.Hostname != "") {
		// Falcon's device id is its own, not an MDE id: the host name keys it.
		ev = append(ev, map[string]any{"@odata.type": "#microsoft.graph.security.deviceEvidence",
			"deviceDnsName": nilIfEmpty(d.Hostname), "hostName": nilIfEmpty(d.Hostname), "lastIpAddress": nilIfEmpty(d.LocalIP),
			"roles": []string{"compromised"}})
	}
	if f.UserName != "" {
		ev = append(ev, map[string]any{"@odata.type": "#microsoft.graph.security.userEvidence",
			"userAccount": map[string]any{"accountName": f.UserName}})
	}
	if f.SHA256 != "" {
		ev = append(ev, map[string]any{"@odata.type": "#microsoft.graph.security.fileEvidence",
			"fileDetails": map[string]any{"sha256": f.SHA256, "fileName": nilIfEmpty(f.Filename), "filePath": nilIfEmpty(f.Filepath)}})
	}
	g["evidence"] = ev
	return decodeAsGraph(g, raw)
}

func firstOf(ss ...string) string {
	for _, s := range ss {
		if s != "" && s != "<nil>" {
			return s
		}
	}
	return ""
}

// falconWriter writes back to Falcon alerts: it reads the alert (POST
// /alerts/entities/alerts/v2) to find changes made in Falcon meanwhile,
// then sends every change in one PATCH /alerts/entities/alerts/v3 with
// action_parameters update_status (new, in_progress, closed),
// assign_to_user_id and append_comment. API scope: Alerts (read and
// write). Falcon alerts carry no classification or determination; AIR's
// are not written.
type falconWriter struct{ v *vendor }

func (f *falconWriter) WriteBack(ctx context.Context, id string, ch Change) (WriteResult, error) {
	body, _ := json.Marshal(map[string][]string{"composite_ids": {id}})
	b, _, err := f.v.do(ctx, http.MethodPost, f.v.url("/alerts/entities/alerts/v2", nil), bytes.NewReader(body), "application/json")
	if err != nil {
		return WriteResult{Outcome: Failed}, err
	}
	var ents struct {
		Resources []map[string]any `json:"resources"`
	}
	if err := json.Unmarshal(b, &ents); err != nil {
		return WriteResult{Outcome: Failed}, fmt.Errorf("decode Falcon alert: %w", err)
	}
	if len(ents.Resources) == 0 {
		return WriteResult{Outcome: Failed}, &PermanentError{Status: http.StatusNotFound, Body: "Falcon has no alert " + id}
	}
	cur := ents.Resources[0]
	want, before := map[string]string{}, map[string]string{}
	if ch.Status != "" {
		want["status"], before["status"] = falconStatus(ch.Status), falconStatus(ch.Before["status"])
	}
	if ch.AssignedTo != "" {
		want["assigned_to_uid"], before["assigned_to_uid"] = ch.AssignedTo, ch.Before["assignedTo"]
	}
	set, res := reconcile(cur, parseTime(cur["updated_timestamp"]), ch.Seen, want, before)
	var params []map[string]string
	for _, k := range slices.Sorted(maps.Keys(set)) {
		name := map[string]string{"status": "update_status", "assigned_to_uid": "assign_to_user_id"}[k]
		params = append(params, map[string]string{"name": name, "value": set[k].(string)})
	}
	if ch.Comment != "" {
		params = append(params, map[string]string{"name": "append_comment", "value": ch.Comment})
		res.Written = append(res.Written, "comment")
	}
	if len(params) == 0 {
		return res, nil
	}
	jb, _ := json.Marshal(map[string]any{"composite_ids": []string{id}, "action_parameters": params})
	if _, _, err := f.v.do(ctx, http.MethodPatch, f.v.url("/alerts/entities/alerts/v3", nil), bytes.NewReader(jb), "application/json"); err != nil {
		return WriteResult{Outcome: Failed}, err
	}
	return res, nil
}

// falconStatus spells a Graph alert status as Falcon's.
func falconStatus(s string) string {
	switch s {
	case "inProgress":
		return "in_progress"
	case "resolved":
		return "closed"
	}
	return s
}
