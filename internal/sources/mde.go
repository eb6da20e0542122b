package sources

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/graph"
)

// mdePoller reads Defender for Endpoint alerts for tenants without Graph
// security: GET /api/alerts?$filter=lastUpdateTime ge …&$expand=evidence,
// paged by @odata.nextLink. Permission: Alert.Read.All (application).
// Each alert is mapped onto the Graph alert shape, so that entities are
// keyed the same whichever API brought them.
type mdePoller struct {
	v        *vendor
	overlap  time.Duration
	pageSize int
}

func (m *mdePoller) Poll(ctx context.Context, cp Checkpoint) (Page, error) {
	return odataPoll(ctx, m.v, "/api/alerts", "lastUpdateTime", cp, m.overlap, m.pageSize,
		url.Values{"$expand": {"evidence"}}, decodeMDEAlert)
}

// mdeAlert is the part of Defender for Endpoint's alert resource AIR reads.
type mdeAlert struct {
	ID                string     `json:"id"`
	IncidentID        any        `json:"incidentId"`
	AssignedTo        string     `json:"assignedTo"`
	Severity          string     `json:"severity"`
	Status            string     `json:"status"`
	Classification    string     `json:"classification"`
	Determination     string     `json:"determination"`
	DetectionSource   string     `json:"detectionSource"`
	DetectorID        string     `json:"detectorId"`
	Category          string     `json:"category"`
	Title             string     `json:"title"`
	Description       string     `json:"description"`
	AlertCreationTime *time.Time `json:"alertCreationTime"`
	FirstEventTime    *time.Time `json:"firstEventTime"`
	LastEventTime     *time.Time `json:"lastEventTime"`
	LastUpdateTime    *time.Time `json:"lastUpdateTime"`
	ResolvedTime      *time.Time `json:"resolvedTime"`
	MachineID         string     `json:"machineId"`
	ComputerDNSName   string     `json:"computerDnsName"`
	RBACGroupName     string     `json:"rbacGroupName"`
	ThreatFamilyName  string     `json:"threatFamilyName"`
	MitreTechniques   []string   `json:"mitreTechniques"`
	RelatedUser       *struct {
		UserName   string `json:"userName"`
		DomainName string `json:"domainName"`
	} `json:"relatedUser"`
	Evidence []struct {
		EntityType         string `json:"entityType"`
		SHA1               string `json:"sha1"`
		SHA256             string `json:"sha256"`
		FileName           string `json:"fileName"`
		FilePath           string `json:"filePath"`
		ProcessID          *int64 `json:"processId"`
		ProcessCommandLine string `json:"processCommandLine"`
		AccountName        string `json:"accountName"`
		DomainName         string `json:"domainName"`
		UserSID            string `json:"userSid"`
		AADUserID          string `json:"aadUserId"`
		UserPrincipalName  string `json:"userPrincipalName"`
		IPAddress          string `json:"ipAddress"`
		URL                string `json:"url"`
	} `json:"evidence"`
}

// decodeMDEAlert maps a Defender for Endpoint alert onto a Graph alert
// document and decodes that.
func decodeMDEAlert(raw json.RawMessage) (*domain.Alert, error) {
	var m mdeAlert
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, &domain.Error{Kind: domain.KindInvalid, Message: "not a Defender for Endpoint alert: " + err.Error()}
	}
	g := map[string]any{
		"id": "mde-" + m.ID, "providerAlertId": m.ID, "title": m.Title, "description": m.Description,
		"severity": lowerFirst(m.Severity), "status": mdeStatus(m.Status), "category": m.Category,
		"serviceSource": "microsoftDefenderForEndpoint", "detectionSource": lowerFirst(m.DetectionSource),
		"productName": "Microsoft Defender for Endpoint", "detectorId": m.DetectorID,
		"mitreTechniques": m.MitreTechniques, "threatFamilyName": nilIfEmpty(m.ThreatFamilyName),
		"assignedTo": nilIfEmpty(m.AssignedTo), "classification": nilIfEmpty(lowerFirst(m.Classification)),
		"determination":   nilIfEmpty(lowerFirst(m.Determination)),
		"createdDateTime": m.AlertCreationTime, "lastUpdateDateTime": m.LastUpdateTime,
		"firstActivityDateTime": m.FirstEventTime, "lastActivityDateTime": m.LastEventTime, "resolvedDateTime": m.ResolvedTime,
	}
	if m.IncidentID != nil {
		g["incidentId"] = fmt.Sprint(m.IncidentID)
	}
	var ev []map[string]any
	if m.MachineID != "" || m.ComputerDNSName != "" {
		ev = append(ev, map[string]any{"@odata.type": "#microsoft.graph.security.deviceEvidence",
			"mdeDeviceId": nilIfEmpty(m.MachineID), "deviceDnsName": nilIfEmpty(m.ComputerDNSName),
			"rbacGroupName": nilIfEmpty(m.RBACGroupName), "roles": []string{"compromised"}})
	}
	if u := m.RelatedUser; u != nil && u.UserName != "" {
		ev = append(ev, map[string]any{"@odata.type": "#microsoft.graph.security.userEvidence",
			"userAccount": map[string]any{"accountName": u.UserName, "domainName": nilIfEmpty(u.DomainName)}})
	}
	for _, e := range m.Evidence {
		switch strings.ToLower(e.EntityType) {
		case "file":
			ev = append(ev, map[string]any{"@odata.type": "#microsoft.graph.security.fileEvidence",
				"mdeDeviceId": nilIfEmpty(m.MachineID), "fileDetails": map[string]any{"sha1": nilIfEmpty(e.SHA1),
					"sha256": nilIfEmpty(e.SHA256), "fileName": nilIfEmpty(e.FileName), "filePath": nilIfEmpty(e.FilePath)}})
		case "process":
			ev = append(ev, map[string]any{"@odata.type": "#microsoft.graph.security.processEvidence",
				"mdeDeviceId": nilIfEmpty(m.MachineID), "processId": e.ProcessID, "processCommandLine": nilIfEmpty(e.ProcessCommandLine),
				"imageFile": map[string]any{"sha1": nilIfEmpty(e.SHA1), "sha256": nilIfEmpty(e.SHA256),
					"fileName": nilIfEmpty(e.FileName), "filePath": nilIfEmpty(e.FilePath)}})
		case "user":
			ev = append(ev, map[string]any{"@odata.type": "#microsoft.graph.security.userEvidence",
				"userAccount": map[string]any{"accountName": nilIfEmpty(e.AccountName), "domainName": nilIfEmpty(e.DomainName),
					"userSid": nilIfEmpty(e.UserSID), "azureAdUserId": nilIfEmpty(e.AADUserID), "userPrincipalName": nilIfEmpty(e.UserPrincipalName)}})
		case "ip":
			ev = append(ev, map[string]any{"@odata.type": "#microsoft.graph.security.ipEvidence", "ipAddress": e.IPAddress})
		case "url":
			ev = append(ev, map[string]any{"@odata.type": "#microsoft.graph.security.urlEvidence", "url": e.URL})
		}
	}
	g["evidence"] = ev
	return decodeAsGraph(g, raw)
}

// decodeAsGraph decodes a vendor alert mapped onto the Graph alert shape,
// so that its entities are keyed as Graph's would be, and keeps the
// vendor's own document as the raw alert.
func decodeAsGraph(g map[string]any, raw json.RawMessage) (*domain.Alert, error) {
	b, err := json.Marshal(g)
	if err != nil {
		return nil, err
	}
	a, err := graph.DecodeAlert(b)
	if err != nil {
		return nil, err
	}
	if raw != nil { // keep the vendor's own document
		a.Raw = raw
	}
	return a, nil
}

// mdeStatus maps New / InProgress / Resolved onto Graph's alert status.
func mdeStatus(s string) string {
	switch strings.ToLower(s) {
	case "inprogress":
		return "inProgress"
	case "resolved":
		return "resolved"
	case "new":
		return "new"
	}
	return "unknown"
}

func lowerFirst(s string) string {
	if s == "" {
		return ""
	}
	return strings.ToLower(s[:1]) + s[1:]
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}
