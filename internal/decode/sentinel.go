package decode

import (
	"encoding/json"
	"slices"
	"strings"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/graph"
)

// sentinelSources maps SecurityAlert.ProductName to Graph's serviceSource.
var sentinelSources = map[string]string{
	"azure sentinel":     "microsoftSentinel",
	"microsoft sentinel": "microsoftSentinel",
	"microsoft defender advanced threat protection": "microsoftDefenderForEndpoint",
	"microsoft defender for endpoint":               "microsoftDefenderForEndpoint",
	"office 365 advanced threat protection":         "microsoftDefenderForOffice365",
	"microsoft defender for office 365":             "microsoftDefenderForOffice365",
	"azure advanced threat protection":              "microsoftDefenderForIdentity",
	"microsoft defender for identity":               "microsoftDefenderForIdentity",
	"microsoft cloud app security":                  "microsoftDefenderForCloudApps",
	"microsoft defender for cloud apps":             "microsoftDefenderForCloudApps",
	"azure active directory identity protection":    "azureAdIdentityProtection",
	"azure security center":                         "microsoftDefenderForCloud",
	"microsoft defender for cloud":                  "microsoftDefenderForCloud",
	"microsoft 365 defender":                        "microsoft365Defender",
}

func sentinelSeverity(s string) domain.Severity {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "high":
		return domain.SeverityHigh
	case "medium":
		return domain.SeverityMedium
	case "low":
		return domain.SeverityLow
	case "informational":
		return domain.SeverityInformational
	}
	return domain.SeverityUnknown
}

func sentinelStatus(s string) domain.AlertStatus {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "inprogress", "in progress":
		return domain.AlertInProgress
	case "resolved", "dismissed", "closed":
		return domain.AlertResolved
	}
	return domain.AlertNew
}

// DecodeSentinel decodes one Microsoft Sentinel SecurityAlert row (the Log
// Analytics table, as exported or streamed) into an alert. Entities,
// ExtendedProperties and Techniques are JSON documents inside strings, as
// the table keeps them; Entities' $id/$ref references are resolved. The id
// is SystemAlertId; TimeGenerated orders updates of one alert (Sentinel
// appends a row per update). Its error names the field.
func DecodeSentinel(raw json.RawMessage) (*domain.Alert, error) {
	a, _, err := decodeSentinel(raw)
	if err != nil {
		return nil, err
	}
	return a, nil
}

func decodeSentinel(raw []byte) (*domain.Alert, string, *domain.Error) {
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, "", domain.Invalid("", "want a SecurityAlert row object")
	}
	n := newNode(m, "", nil)
	a := &domain.Alert{Raw: json.RawMessage(slices.Clone(raw))}
	a.ID = strings.TrimSpace(n.str("SystemAlertId"))
	if a.ID == "" && n.failed() == nil {
		n.fail(domain.Invalid("SystemAlertId", "required"))
	}
	a.ProviderAlertID = firstNonEmpty(n.str("VendorOriginalId"), a.ID)
	a.Title = firstNonEmpty(n.str("AlertName"), n.str("DisplayName"))
	a.Description = n.str("Description")
	a.Severity = sentinelSeverity(n.str("AlertSeverity"))
	a.Status = sentinelStatus(n.str("Status"))
	a.ProductName = firstNonEmpty(n.str("ProductComponentName"), n.str("ProductName"))
	prod := n.str("ProductName")
	a.ServiceSource = sentinelSources[strings.ToLower(strings.TrimSpace(prod))]
	if a.ServiceSource == "" {
		a.ServiceSource = prod
	}
	a.DetectionSource = firstNonEmpty(n.str("ProviderName"), "microsoftSentinel")
	a.DetectorID = firstNonEmpty(n.str("AlertType"), a.Title)
	a.RecommendedActions = remediation(n.str("RemediationSteps"))
	for _, t := range strings.Split(n.str("Tactics"), ",") {
		if t = strings.TrimSpace(t); t != "" && !strings.EqualFold(t, "unknown") {
			a.Category = t
			break
		}
	}
	if techs := n.str("Techniques"); strings.HasPrefix(strings.TrimSpace(techs), "[") {
		var ts []string
		if err := json.Unmarshal([]byte(techs), &ts); err != nil {
			n.fail(domain.Invalid("Techniques", "want a JSON array of technique ids in the string: %v", err))
		}
		a.MitreTechniques = ts
	}

	gen := n.datetime("TimeGenerated")
	a.FirstActivityDateTime = n.datetime("StartTime")
	a.LastActivityDateTime = n.datetime("EndTime")
	created := firstTime(gen, n.datetime("ProcessingEndTime"), a.FirstActivityDateTime)
	if created == nil && n.failed() == nil {
		n.fail(domain.Invalid("TimeGenerated", "required"))
	}
	if created != nil {
		a.CreatedDateTime = *created
		a.LastUpdateDateTime = *created
	}
	if a.Status == domain.AlertResolved {
		a.ResolvedDateTime = created
	}
	if n.failed() == nil {
		a.Evidence = sentinelEntities(n)
	}
	if err := n.failed(); err != nil {
		return nil, a.ID, err
	}
	return a, a.ID, nil
}

// remediation flattens RemediationSteps, a JSON array of strings inside a
// string, into text; anything else is kept as sent.
func remediation(s string) string {
	var steps []string
	if json.Unmarshal([]byte(s), &steps) == nil {
		return strings.Join(steps, "\n")
	}
	return s
}

// sentinelEntities reads the Entities string: a JSON array of entity objects
// with a Type, which may reference each other with {"$ref": "<$id>"}.
func sentinelEntities(n *node) []domain.Evidence {
	s := strings.TrimSpace(n.str("Entities"))
	if s == "" {
		return nil
	}
	if off := graph.TooDeep([]byte(s), graph.MaxDepth); off >= 0 {
		n.fail(domain.Invalid("Entities", "nests deeper than %d levels at %s", graph.MaxDepth, graph.Where([]byte(s), off)))
		return nil
	}
	var list []any
	if err := json.Unmarshal([]byte(s), &list); err != nil {
		n.fail(domain.Invalid("Entities", "want a JSON array of entities in the string: %v", err))
		return nil
	}
	byID := map[string]*node{}
	var ents []*node
	var walk func(v any, path string)
	walk = func(v any, path string) {
		switch o := v.(type) {
		case map[string]any:
			e := newNode(o, path, n.errs)
			if id, ok := o["$id"].(string); ok {
				byID[id] = e
			}
			if _, ok := o["Type"]; ok {
				ents = append(ents, e)
			}
			keys := make([]string, 0, len(o))
			for k := range o {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				walk(o[k], path+"."+k)
			}
		case []any:
			for _, e := range o {
				walk(e, path)
			}
		}
	}
	for _, e := range list {
		walk(e, "Entities")
	}
	deref := func(e *node) *node {
		if e == nil {
			return nil
		}
		if r, ok := e.m["$ref"].(string); ok {
			return byID[r]
		}
		return e
	}
	var out []domain.Evidence
	add1 := func(ev domain.Evidence, ok bool) { out = keep(out, ev, ok) }
	seen := map[*node]bool{}
	for _, e := range ents {
		if seen[e] {
			continue
		}
		seen[e] = true
		switch typ := strings.ToLower(e.str("Type")); typ {
		case "host":
			dev := device{mde: e.str("MdatpDeviceId"), host: e.str("HostName"), os: e.str("OSFamily")}
			if d := e.str("DnsDomain"); d != "" && dev.host != "" {
				dev.dns = dev.host + "." + d
			}
			dev.dns = firstNonEmpty(e.str("FQDN"), dev.dns)
			add1(dev.evidence(domain.VerdictUnknown))
		case "account":
			acc := account{name: e.str("Name"), domain: e.str("NTDomain"), sid: e.str("Sid"),
				aadID: e.str("AadUserId"), display: e.str("DisplayName")}
			if sfx := e.str("UPNSuffix"); sfx != "" && acc.name != "" {
				acc.upn = acc.name + "@" + sfx
			}
			if acc.domain == "" {
				acc.domain = e.str("DnsDomain")
			}
			add1(acc.evidence(domain.VerdictUnknown))
		case "ip":
			country := ""
			if loc := e.obj("Location"); loc != nil {
				country = loc.str("CountryCode")
			}
			add1(ipEvidence(e.str("Address"), country, domain.VerdictUnknown))
		case "url":
			add1(urlEvidence(e.str("Url"), domain.VerdictUnknown))
		case "file":
			f := file{name: e.str("Name"), path: e.str("Directory")}
			for _, h := range e.objs("FileHashes") {
				h = deref(h)
				seen[h] = true
				switch strings.ToUpper(h.str("Algorithm")) {
				case "SHA256":
					f.sha256 = h.str("Value")
				case "SHA1":
					f.sha1 = h.str("Value")
				case "MD5":
					f.md5 = h.str("Value")
				}
			}
			add1(f.evidence(domain.VerdictUnknown))
		case "filehash":
			h := e.str("Value")
			switch strings.ToUpper(e.str("Algorithm")) {
			case "SHA256":
				add1(file{sha256: h}.evidence(domain.VerdictUnknown))
			case "SHA1":
				add1(file{sha1: h}.evidence(domain.VerdictUnknown))
			case "MD5":
				add1(file{md5: h}.evidence(domain.VerdictUnknown))
			}
		case "process":
			p := process{cmd: e.str("CommandLine"), created: e.datetime("CreationTimeUtc")}
			if pid, ok := e.num("ProcessId"); ok {
				p.pid, p.hasPID = int64(pid), true
			}
			if img := deref(e.obj("ImageFile")); img != nil {
				p.image = img.str("Name")
			}
			if h := deref(e.obj("Host")); h != nil {
				p.mde = h.str("MdatpDeviceId")
			}
			add1(p.evidence(domain.VerdictUnknown))
		case "mailbox":
			add1(mailboxEvidence(e.str("MailboxPrimaryAddress"), e.str("DisplayName"), e.str("Upn"), domain.VerdictUnknown))
		case "mailmessage":
			msg := message{nmid: e.str("NetworkMessageId"), imid: e.str("InternetMessageId"), subject: e.str("Subject"),
				senderIP: e.str("SenderIP"), recipient: e.str("Recipient"), p1: e.str("P1Sender"), p2: e.str("P2Sender"),
				action: e.str("DeliveryAction"), location: e.str("DeliveryLocation")}
			add1(msg.evidence(domain.VerdictUnknown))
		case "registry-key":
			add1(registryEvidence(e.str("Hive"), e.str("Key"), "", "", domain.VerdictUnknown))
		case "registry-value":
			k := deref(e.obj("Key"))
			add1(registryEvidence(k.str("Hive"), k.str("Key"), firstNonEmpty(e.str("Name"), "(default)"), e.str("ValueType"), domain.VerdictUnknown))
		case "cloud-application":
			id, _ := e.num("AppId")
			add1(cloudAppEvidence(int64(id), e.str("Name"), domain.VerdictUnknown))
		case "oauth-application":
			add1(oauthAppEvidence(e.str("OAuthAppId"), e.str("Name"), domain.VerdictUnknown))
		default:
			// Kept verbatim in Raw; reported as an unknown evidence type.
			out = append(out, typeOnly("sentinel."+typ))
		}
	}
	return out
}
