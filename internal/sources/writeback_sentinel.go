package sources

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// sentinelAPIVersion is the Azure Resource Manager API version of the
// Microsoft.SecurityInsights calls (a stable one).
const sentinelAPIVersion = "2024-03-01"

// sentinelWriter writes AIR's changes to the Microsoft Sentinel incidents
// that hold an alert (SecurityAlert rows themselves are read-only). It finds
// them with the Log Analytics query API (SecurityIncident rows whose
// AlertIds name the alert's SystemAlertId), then reads and writes each
// through Azure Resource Manager:
//
//	GET  …/Microsoft.SecurityInsights/incidents/{id}             etag, properties
//	POST …/incidents/{id}/alerts                                 its alerts (systemAlertId)
//	PUT  …/incidents/{id}  If-Match: etag                        status, classification, owner
//	PUT  …/incidents/{id}/comments/{commentId}                   the comment, under an id derived from it
//
// Permissions: Data.Read on the workspace (as the poller) and the Microsoft
// Sentinel Responder role on it for Resource Manager. A PUT refused with
// 412 (the incident changed between read and write) is retried by the
// write-back workflow, which reads it again.
type sentinelWriter struct {
	la        *vendor // Log Analytics
	workspace string
	arm       *vendor // Azure Resource Manager
	incidents string  // path of the workspace's incidents collection
}

// armBase is Azure Resource Manager's public-cloud root and token scope.
const armBase = "https://management.azure.com"

func newSentinelWriter(ctx context.Context, s Settings, o Options, p *sentinelPoller) (*sentinelWriter, error) {
	secret, err := readSecret(o.Env, s.ClientSecretEnv, s.ClientSecretFile)
	if err != nil {
		return nil, fmt.Errorf("source %s: client secret: %w", s.Name, err)
	}
	base := s.ManagementURL
	if base == "" {
		base = armBase
	}
	tokenURL := s.TokenURL
	if tokenURL == "" {
		tokenURL = "https://login.microsoftonline.com/" + s.TenantID + "/oauth2/v2.0/token"
	}
	client := oauthClient(ctx, o.HTTPClient, tokenURL, s.ClientID, secret, []string{armBase + "/.default"}, false)
	arm, err := newVendor(base, client, max(s.RatePerMinute, 60))
	if err != nil {
		return nil, fmt.Errorf("source %s: managementURL: %w", s.Name, err)
	}
	if o.Now != nil {
		arm.now = o.Now
	}
	return &sentinelWriter{la: p.v, workspace: p.workspace, arm: arm,
		incidents: "/subscriptions/" + url.PathEscape(s.SubscriptionID) + "/resourceGroups/" + url.PathEscape(s.ResourceGroup) +
			"/providers/Microsoft.OperationalInsights/workspaces/" + url.PathEscape(s.WorkspaceName) +
			"/providers/Microsoft.SecurityInsights/incidents/"}, nil
}

// kqlString quotes s as a KQL string literal.
func kqlString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", `\r`).Replace(s) + `"`
}

func (w *sentinelWriter) WriteBack(ctx context.Context, alertID string, ch Change) (WriteResult, error) {
	names, err := w.incidentsOf(ctx, alertID)
	if err != nil {
		return WriteResult{Outcome: Failed}, err
	}
	res := WriteResult{Outcome: WrittenBack}
	if len(names) == 0 {
		res.Skipped = "no Sentinel incident holds the alert yet"
		return res, nil
	}
	for _, name := range names {
		part, err := w.writeIncident(ctx, name, ch)
		if err != nil {
			return WriteResult{Outcome: Failed, Incidents: res.Incidents}, err
		}
		res.merge("incident "+name, part)
	}
	return res, nil
}

// incidentsOf names the Sentinel incidents (their ARM names) holding the
// alert, newest row of each.
func (w *sentinelWriter) incidentsOf(ctx context.Context, alertID string) ([]string, error) {
	q := "SecurityIncident | where AlertIds has " + kqlString(alertID) +
		" | summarize arg_max(TimeGenerated, *) by IncidentName | project IncidentName | order by IncidentName asc"
	body, _ := json.Marshal(map[string]string{"query": q})
	b, _, err := w.la.doWith(ctx, http.MethodPost, w.la.url("/v1/workspaces/"+w.workspace+"/query", nil), body, nil)
	if err != nil {
		return nil, err
	}
	var ans laAnswer
	if err := json.Unmarshal(b, &ans); err != nil {
		return nil, fmt.Errorf("decode Log Analytics answer: %w", err)
	}
	var names []string
	for _, t := range ans.Tables {
		for _, row := range t.Rows {
			if len(row) > 0 {
				if s, ok := row[0].(string); ok && s != "" {
					names = append(names, s)
				}
			}
		}
	}
	return names, nil
}

type sentinelIncident struct {
	Etag       string         `json:"etag"`
	Properties map[string]any `json:"properties"`
}

func (w *sentinelWriter) writeIncident(ctx context.Context, name string, ch Change) (WriteResult, error) {
	path := w.incidents + url.PathEscape(name)
	q := url.Values{"api-version": {sentinelAPIVersion}}
	b, _, err := w.arm.do(ctx, http.MethodGet, w.arm.url(path, q), nil, "")
	if err != nil {
		return WriteResult{}, err
	}
	var inc sentinelIncident
	if err := json.Unmarshal(b, &inc); err != nil || inc.Properties == nil {
		return WriteResult{}, fmt.Errorf("decode Sentinel incident %s: %v", name, err)
	}
	ids, err := w.alertsOf(ctx, path, q)
	if err != nil {
		return WriteResult{}, err
	}
	if f := foreign(ids, ch.Siblings); len(f) > 0 {
		return heldElsewhere(f), nil
	}
	cur := sentinelFields(inc.Properties)
	want := sentinelChange(ch.fields())
	before := sentinelChange(ch.Before)
	updated := parseTime(inc.Properties["lastModifiedTimeUtc"])
	set, res := reconcile(cur, updated, ch.Seen, want, before)
	if len(set) > 0 {
		// PUT replaces the incident: send its properties with AIR's
		// changes over them; Sentinel requires a classification to close.
		props := inc.Properties
		for f, v := range set {
			switch f {
			case "owner":
				owner, _ := props["owner"].(map[string]any)
				if owner == nil {
					owner = map[string]any{}
				}
				owner["assignedTo"] = v
				owner["email"], owner["userPrincipalName"] = v, v
				props["owner"] = owner
			default:
				props[f] = v
			}
		}
		if props["status"] == "Closed" && fmt.Sprint(valueOr(props["classification"])) == "" {
			props["classification"] = "Undetermined"
		}
		jb, _ := json.Marshal(map[string]any{"etag": inc.Etag, "properties": props})
		if _, _, err := w.arm.doWith(ctx, http.MethodPut, w.arm.url(path, q), jb, http.Header{"If-Match": {inc.Etag}}); err != nil {
			return WriteResult{}, err
		}
	}
	if ch.Comment != "" {
		// The comment's id is derived from its text and incident, so a
		// retried write-back puts the same comment again, not a second one.
		sum := sha256.Sum256([]byte(name + "\x00" + ch.Comment))
		id := hex.EncodeToString(sum[:16])
		id = id[:8] + "-" + id[8:12] + "-" + id[12:16] + "-" + id[16:20] + "-" + id[20:32]
		jb, _ := json.Marshal(map[string]any{"properties": map[string]string{"message": ch.Comment}})
		if _, _, err := w.arm.doWith(ctx, http.MethodPut, w.arm.url(path+"/comments/"+id, q), jb, nil); err != nil {
			return WriteResult{}, err
		}
		res.Written = append(res.Written, "comment")
	}
	return res, nil
}

// alertsOf lists the SystemAlertIds of an incident's alerts.
func (w *sentinelWriter) alertsOf(ctx context.Context, path string, q url.Values) ([]string, error) {
	b, _, err := w.arm.do(ctx, http.MethodPost, w.arm.url(path+"/alerts", q), nil, "")
	if err != nil {
		return nil, err
	}
	var ans struct {
		Value []struct {
			Name       string `json:"name"`
			Properties struct {
				SystemAlertID string `json:"systemAlertId"`
			} `json:"properties"`
		} `json:"value"`
	}
	if err := json.Unmarshal(b, &ans); err != nil {
		return nil, fmt.Errorf("decode Sentinel incident alerts: %w", err)
	}
	ids := make([]string, 0, len(ans.Value))
	for _, a := range ans.Value {
		ids = append(ids, firstOf(a.Properties.SystemAlertID, a.Name))
	}
	return ids, nil
}

// sentinelFields reads an incident's writable fields under the names
// sentinelChange gives them.
func sentinelFields(p map[string]any) map[string]any {
	out := map[string]any{"status": p["status"], "classification": p["classification"],
		"classificationReason": p["classificationReason"]}
	if o, ok := p["owner"].(map[string]any); ok {
		out["owner"] = firstOf(str(o["assignedTo"]), str(o["userPrincipalName"]), str(o["email"]))
	}
	return out
}

func str(v any) string { s, _ := v.(string); return s }

// sentinelChange spells a change (Graph alert words) in Sentinel's:
// statuses New, Active, Closed; classifications TruePositive,
// FalsePositive, BenignPositive, Undetermined, each but the last with a
// reason.
func sentinelChange(f map[string]string) map[string]string {
	out := map[string]string{}
	switch f["status"] {
	case "new":
		out["status"] = "New"
	case "inProgress":
		out["status"] = "Active"
	case "resolved":
		out["status"] = "Closed"
	}
	switch f["classification"] {
	case "truePositive":
		out["classification"], out["classificationReason"] = "TruePositive", "SuspiciousActivity"
	case "falsePositive":
		out["classification"], out["classificationReason"] = "FalsePositive", "IncorrectAlertLogic"
		if f["determination"] == "notEnoughDataToValidate" {
			out["classificationReason"] = "InaccurateData"
		}
	case "informationalExpectedActivity":
		out["classification"], out["classificationReason"] = "BenignPositive", "SuspiciousButExpected"
	case "unknown":
		out["classification"] = "Undetermined"
	}
	if v, ok := f["assignedTo"]; ok {
		out["owner"] = v
	}
	return out
}
