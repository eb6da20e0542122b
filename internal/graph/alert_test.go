package graph

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/entity"
)

func decodeOne(t *testing.T, doc string) *domain.Alert {
	t.Helper()
	a, err := DecodeAlert(json.RawMessage(doc))
	if err != nil {
		t.Fatalf("DecodeAlert(%s): %v", doc, err)
	}
	return a
}

func TestDecodeAlertDefaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		doc          string
		wantSeverity domain.Severity
		wantStatus   domain.AlertStatus
		wantClass    string
		wantDeterm   string
		wantAssigned string
		wantMitre    []string
	}{
		{"missing enums", `{"id":"a"}`, domain.SeverityUnknown, domain.AlertNew, "", "", "", nil},
		{"null enums and strings", `{"id":"a","severity":null,"status":null,"classification":null,"determination":null,"assignedTo":null,"mitreTechniques":null}`,
			domain.SeverityUnknown, domain.AlertNew, "", "", "", nil},
		{"unknownFutureValue reads as unset", `{"id":"a","severity":"unknownFutureValue","status":"unknownFutureValue"}`,
			domain.SeverityUnknown, domain.AlertNew, "", "", "", nil},
		{"values kept", `{"id":"a","severity":"informational","status":"resolved","classification":"truePositive","determination":"malware","assignedTo":"bob@corp.example","mitreTechniques":["T1059.001","T1204"]}`,
			domain.SeverityInformational, domain.AlertResolved, "truePositive", "malware", "bob@corp.example", []string{"T1059.001", "T1204"}},
		{"in progress", `{"id":"a","status":"inProgress","severity":"medium"}`, domain.SeverityMedium, domain.AlertInProgress, "", "", "", nil},
		// Read as encoding/json reads them: the last of repeated keys,
		// escapes in keys and values, null elements as "", bytes that are
		// not UTF-8 as U+FFFD.
		{"repeated key: the last counts", `{"id":"a","severity":"severe","severity":"high","status":"new","status":null}`,
			domain.SeverityHigh, domain.AlertNew, "", "", "", nil},
		{"escapes", `{"\u0069d":"a","severity":"h\u0069gh","classific\u0061tion":"tab\there","mitreTechniques":["T\u00e9",null]}`,
			domain.SeverityHigh, domain.AlertNew, "tab\there", "", "", []string{"T\u00e9", ""}},
		{"not UTF-8", "{\"id\":\"a\",\"assignedTo\":\"b\xffo\xc3b\",\"mitreTechniques\":[\"\xe9\"]}",
			domain.SeverityUnknown, domain.AlertNew, "", "", "b\uFFFDo\uFFFDb", []string{"\uFFFD"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := decodeOne(t, tt.doc)
			if a.Severity != tt.wantSeverity || a.Status != tt.wantStatus {
				t.Errorf("severity, status = %q, %q; want %q, %q", a.Severity, a.Status, tt.wantSeverity, tt.wantStatus)
			}
			if a.Classification != tt.wantClass || a.Determination != tt.wantDeterm || a.AssignedTo != tt.wantAssigned {
				t.Errorf("classification, determination, assignedTo = %q, %q, %q; want %q, %q, %q",
					a.Classification, a.Determination, a.AssignedTo, tt.wantClass, tt.wantDeterm, tt.wantAssigned)
			}
			if !slices.Equal(a.MitreTechniques, tt.wantMitre) {
				t.Errorf("mitreTechniques = %v, want %v", a.MitreTechniques, tt.wantMitre)
			}
		})
	}
}

func TestDecodeAlertTimes(t *testing.T) {
	t.Parallel()
	at := func(s string) time.Time { return mustTime(t, s) }
	ptr := func(s string) *time.Time { v := at(s); return &v }
	tests := []struct {
		name                       string
		doc                        string
		wantCreated, wantUpdated   time.Time
		wantFirst, wantLast, wantR *time.Time
	}{
		{
			"graph's seven digits",
			`{"id":"a","createdDateTime":"2021-04-27T12:19:27.7211305Z","lastUpdateDateTime":"2021-05-02T14:19:01.3266667Z","firstActivityDateTime":"2021-04-26T07:45:50.116Z","lastActivityDateTime":"2021-05-02T07:56:58Z","resolvedDateTime":"2021-05-03T00:00:00Z"}`,
			at("2021-04-27T12:19:27.7211305Z"), at("2021-05-02T14:19:01.3266667Z"),
			ptr("2021-04-26T07:45:50.116Z"), ptr("2021-05-02T07:56:58Z"), ptr("2021-05-03T00:00:00Z"),
		},
		{
			"nulls",
			`{"id":"a","createdDateTime":"2021-04-27T12:19:27Z","lastUpdateDateTime":null,"firstActivityDateTime":null,"lastActivityDateTime":null,"resolvedDateTime":null}`,
			at("2021-04-27T12:19:27Z"), at("2021-04-27T12:19:27Z"), nil, nil, nil,
		},
		{
			"created from lastUpdate",
			`{"id":"a","lastUpdateDateTime":"2021-05-02T14:19:01Z","firstActivityDateTime":"2021-04-26T07:45:50Z"}`,
			at("2021-05-02T14:19:01Z"), at("2021-05-02T14:19:01Z"), ptr("2021-04-26T07:45:50Z"), nil, nil,
		},
		{
			"created from first activity",
			`{"id":"a","firstActivityDateTime":"2021-04-26T07:45:50Z"}`,
			at("2021-04-26T07:45:50Z"), at("2021-04-26T07:45:50Z"), ptr("2021-04-26T07:45:50Z"), nil, nil,
		},
		{
			"no times at all",
			`{"id":"a"}`,
			time.Time{}, time.Time{}, nil, nil, nil,
		},
		{
			"offset converted to UTC",
			`{"id":"a","createdDateTime":"2021-04-27T14:19:27.5+02:00"}`,
			at("2021-04-27T12:19:27.5Z"), at("2021-04-27T12:19:27.5Z"), nil, nil, nil,
		},
		{
			"zero time reads as unset",
			`{"id":"a","createdDateTime":"2021-04-27T12:19:27Z","resolvedDateTime":"0001-01-01T00:00:00Z"}`,
			at("2021-04-27T12:19:27Z"), at("2021-04-27T12:19:27Z"), nil, nil, nil,
		},
	}
	eqPtr := func(a, b *time.Time) bool {
		if a == nil || b == nil {
			return a == b
		}
		return a.Equal(*b)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := decodeOne(t, tt.doc)
			if !a.CreatedDateTime.Equal(tt.wantCreated) || !a.LastUpdateDateTime.Equal(tt.wantUpdated) {
				t.Errorf("created, updated = %v, %v; want %v, %v", a.CreatedDateTime, a.LastUpdateDateTime, tt.wantCreated, tt.wantUpdated)
			}
			if !eqPtr(a.FirstActivityDateTime, tt.wantFirst) || !eqPtr(a.LastActivityDateTime, tt.wantLast) || !eqPtr(a.ResolvedDateTime, tt.wantR) {
				t.Errorf("first, last, resolved = %v, %v, %v; want %v, %v, %v",
					a.FirstActivityDateTime, a.LastActivityDateTime, a.ResolvedDateTime, tt.wantFirst, tt.wantLast, tt.wantR)
			}
			if loc := a.CreatedDateTime.Location(); !a.CreatedDateTime.IsZero() && loc != time.UTC {
				t.Errorf("created location = %v, want UTC", loc)
			}
		})
	}
}

// ev wraps one evidence item in an alert.
func ev(item string) string { return `{"id":"a","evidence":[` + item + `]}` }

func TestDecodeEvidence(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		item        string
		wantType    string
		wantVerdict domain.Verdict
		wantRemed   domain.RemediationStatus
		wantRoles   []string
		want        *domain.Entity // nil: no entity
	}{
		{
			"device by fqdn", `{"@odata.type":"#microsoft.graph.security.deviceEvidence","verdict":"suspicious","remediationStatus":"remediated","roles":["compromised"],"deviceDnsName":"WS-042.Corp.Example","osPlatform":"Windows11","rbacGroupName":"Workstations"}`,
			"deviceEvidence", domain.VerdictSuspicious, "remediated", []string{"compromised"},
			&domain.Entity{Key: "device:ws-042.corp.example", Kind: domain.KindDevice, Name: "WS-042.Corp.Example", Verdict: domain.VerdictSuspicious,
				Attrs: map[string]string{"deviceDnsName": "WS-042.Corp.Example", "osPlatform": "Windows11", "deviceGroup": "Workstations"}},
		},
		{
			"null verdict and status", `{"@odata.type":"#microsoft.graph.security.deviceEvidence","verdict":null,"remediationStatus":null,"roles":null,"hostName":"WS-042"}`,
			"deviceEvidence", domain.VerdictUnknown, "none", nil,
			&domain.Entity{Key: "device:ws-042", Kind: domain.KindDevice, Name: "WS-042", Verdict: domain.VerdictUnknown,
				Attrs: map[string]string{"hostName": "WS-042"}},
		},
		{
			"user by netbios account", `{"@odata.type":"#microsoft.graph.security.userEvidence","verdict":"malicious","userAccount":{"accountName":"Alice","domainName":"CORP","userPrincipalName":null,"userSid":null}}`,
			"userEvidence", domain.VerdictMalicious, "none", nil,
			&domain.Entity{Key: `user:corp\alice`, Kind: domain.KindUser, Name: `CORP\Alice`, Verdict: domain.VerdictMalicious,
				Attrs: map[string]string{"accountName": "Alice", "domainName": "CORP"}},
		},
		{
			"user without account", `{"@odata.type":"#microsoft.graph.security.userEvidence","userAccount":null}`,
			"userEvidence", domain.VerdictUnknown, "none", nil, nil,
		},
		{
			"mailbox", `{"@odata.type":"#microsoft.graph.security.mailboxEvidence","primaryAddress":"Alice@Corp.Example","displayName":"Alice Martin","userAccount":{"userPrincipalName":"alice@corp.example"}}`,
			"mailboxEvidence", domain.VerdictUnknown, "none", nil,
			&domain.Entity{Key: "mailbox:alice@corp.example", Kind: domain.KindMailbox, Name: "Alice@Corp.Example", Verdict: domain.VerdictUnknown,
				Attrs: map[string]string{"primaryAddress": "Alice@Corp.Example", "displayName": "Alice Martin", "upn": "alice@corp.example"}},
		},
		{
			"file by sha1", `{"@odata.type":"#microsoft.graph.security.fileEvidence","mdeDeviceId":"dev1","fileDetails":{"fileName":"x.exe","sha1":"5F1E8ACEDC065031AAD553B710838EB366CFEE9A","sha256":null}}`,
			"fileEvidence", domain.VerdictUnknown, "none", nil,
			&domain.Entity{Key: "file:5f1e8acedc065031aad553b710838eb366cfee9a", Kind: domain.KindFile, Name: "x.exe", Verdict: domain.VerdictUnknown,
				Attrs: map[string]string{"fileName": "x.exe", "sha1": "5F1E8ACEDC065031AAD553B710838EB366CFEE9A", "mdeDeviceId": "dev1"}},
		},
		{
			"file without hashes", `{"@odata.type":"#microsoft.graph.security.fileEvidence","fileDetails":{"fileName":"x.exe"}}`,
			"fileEvidence", domain.VerdictUnknown, "none", nil, nil,
		},
		{
			"process without creation time", `{"@odata.type":"#microsoft.graph.security.processEvidence","processId":42,"mdeDeviceId":"dev1"}`,
			"processEvidence", domain.VerdictUnknown, "none", nil, nil,
		},
		{
			"ip v6 canonicalised", `{"@odata.type":"#microsoft.graph.security.ipEvidence","ipAddress":"2001:0DB8:0:0:0:0:0:1","countryLetterCode":"US"}`,
			"ipEvidence", domain.VerdictUnknown, "none", nil,
			&domain.Entity{Key: "ip:2001:db8::1", Kind: domain.KindIP, Name: "2001:db8::1", Verdict: domain.VerdictUnknown,
				Attrs: map[string]string{"ipAddress": "2001:0DB8:0:0:0:0:0:1", "countryLetterCode": "US"}},
		},
		{
			"empty ip has no entity", `{"@odata.type":"#microsoft.graph.security.ipEvidence","ipAddress":"","verdict":"suspicious"}`,
			"ipEvidence", domain.VerdictSuspicious, "none", nil, nil,
		},
		{
			"url", `{"@odata.type":"#microsoft.graph.security.urlEvidence","url":"HTTPS://Evil.Example:443/x#y"}`,
			"urlEvidence", domain.VerdictUnknown, "none", nil,
			&domain.Entity{Key: "url:https://evil.example/x", Kind: domain.KindURL, Name: "HTTPS://Evil.Example:443/x#y", Verdict: domain.VerdictUnknown,
				Attrs: map[string]string{"url": "HTTPS://Evil.Example:443/x#y"}},
		},
		{
			"analyzed message", `{"@odata.type":"#microsoft.graph.security.analyzedMessageEvidence","verdict":"malicious","networkMessageId":"6A6F2C3B-1C2D-4E5F-8A9B-0C1D2E3F4A5B","internetMessageId":"<abc@mail.example>","subject":"Invoice","senderIp":"198.51.100.7","recipientEmailAddress":"alice@corp.example","p1Sender":{"emailAddress":"billing@evil.example","displayName":"Billing"},"p2Sender":"billing@evil.example","deliveryAction":"delivered","deliveryLocation":"inbox","urls":["https://evil.example/x"]}`,
			"analyzedMessageEvidence", domain.VerdictMalicious, "none", nil,
			&domain.Entity{Key: "message:6a6f2c3b-1c2d-4e5f-8a9b-0c1d2e3f4a5b", Kind: domain.KindMessage, Name: "Invoice", Verdict: domain.VerdictMalicious,
				Attrs: map[string]string{"networkMessageId": "6A6F2C3B-1C2D-4E5F-8A9B-0C1D2E3F4A5B", "internetMessageId": "<abc@mail.example>",
					"subject": "Invoice", "senderIp": "198.51.100.7", "recipientEmailAddress": "alice@corp.example",
					"p1Sender": "billing@evil.example", "p2Sender": "billing@evil.example", "deliveryAction": "delivered", "deliveryLocation": "inbox"}},
		},
		{
			"registry value", `{"@odata.type":"#microsoft.graph.security.registryValueEvidence","registryHive":"HKEY_CURRENT_USER","registryKey":"Software\\Microsoft\\Windows\\CurrentVersion\\Run","registryValueName":"Updater","registryValueType":"String"}`,
			"registryValueEvidence", domain.VerdictUnknown, "none", nil,
			&domain.Entity{Key: `registryValue:hkey_current_user\software\microsoft\windows\currentversion\run\updater`, Kind: entity.KindRegistryValue,
				Name: `HKEY_CURRENT_USER\Software\Microsoft\Windows\CurrentVersion\Run\Updater`, Verdict: domain.VerdictUnknown,
				Attrs: map[string]string{"registryHive": "HKEY_CURRENT_USER", "registryKey": `Software\Microsoft\Windows\CurrentVersion\Run`,
					"registryValueName": "Updater", "registryValueType": "String"}},
		},
		{
			"cloud app", `{"@odata.type":"#microsoft.graph.security.cloudApplicationEvidence","appId":11161,"displayName":"Office 365","instanceName":"Office 365"}`,
			"cloudApplicationEvidence", domain.VerdictUnknown, "none", nil,
			&domain.Entity{Key: "cloudApp:11161", Kind: entity.KindCloudApp, Name: "Office 365", Verdict: domain.VerdictUnknown,
				Attrs: map[string]string{"appId": "11161", "displayName": "Office 365", "instanceName": "Office 365"}},
		},
		{
			"oauth app", `{"@odata.type":"#microsoft.graph.security.oauthApplicationEvidence","appId":"5E3CE6C0-2B1F-4285-8D4B-75EE78787346","displayName":"Mail Helper","publisher":"Unknown"}`,
			"oauthApplicationEvidence", domain.VerdictUnknown, "none", nil,
			&domain.Entity{Key: "oauthApp:5e3ce6c0-2b1f-4285-8d4b-75ee78787346", Kind: entity.KindOAuthApp, Name: "Mail Helper", Verdict: domain.VerdictUnknown,
				Attrs: map[string]string{"appId": "5E3CE6C0-2B1F-4285-8D4B-75EE78787346", "displayName": "Mail Helper", "publisher": "Unknown"}},
		},
		{
			"mail cluster kept without entity", `{"@odata.type":"#microsoft.graph.security.mailClusterEvidence","verdict":"suspicious","clusterBy":"Subject","networkMessageIds":["a","b"]}`,
			"mailClusterEvidence", domain.VerdictSuspicious, "none", nil, nil,
		},
		{
			"unknown type kept", `{"@odata.type":"#microsoft.graph.security.kubernetesPodEvidence","verdict":"malicious","name":"evil-pod"}`,
			"kubernetesPodEvidence", domain.VerdictMalicious, "none", nil, nil,
		},
		{
			"no type", `{"verdict":"malicious"}`,
			"", domain.VerdictMalicious, "none", nil, nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := decodeOne(t, ev(tt.item))
			if len(a.Evidence) != 1 {
				t.Fatalf("evidence = %+v, want one item", a.Evidence)
			}
			e := a.Evidence[0]
			if e.Type != tt.wantType || e.Verdict != tt.wantVerdict || e.RemediationStatus != tt.wantRemed || !slices.Equal(e.Roles, tt.wantRoles) {
				t.Errorf("type, verdict, remediation, roles = %q, %q, %q, %v; want %q, %q, %q, %v",
					e.Type, e.Verdict, e.RemediationStatus, e.Roles, tt.wantType, tt.wantVerdict, tt.wantRemed, tt.wantRoles)
			}
			switch {
			case tt.want == nil && e.Entity != nil:
				t.Errorf("entity = %+v, want none", *e.Entity)
			case tt.want != nil && e.Entity == nil:
				t.Errorf("entity = nil, want %+v", *tt.want)
			case tt.want != nil:
				got := *e.Entity
				if got.Key != tt.want.Key || got.Kind != tt.want.Kind || got.Name != tt.want.Name || got.Verdict != tt.want.Verdict || !mapsEqual(got.Attrs, tt.want.Attrs) {
					t.Errorf("entity = %+v, want %+v", got, *tt.want)
				}
			}
		})
	}
}

func TestDecodeAlertErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		doc        string
		wantField  string
		wantReason string // substring
	}{
		{"missing id", `{"severity":"high"}`, "id", "required"},
		{"empty id", `{"id":""}`, "id", "required"},
		{"blank id", `{"id":"  "}`, "id", "required"},
		{"null id", `{"id":null}`, "id", "required"},
		{"numeric id", `{"id":17}`, "id", "want a string, got number"},
		{"severity number", `{"id":"a","severity":5}`, "severity", "want a string, got number"},
		{"severity unknown", `{"id":"a","severity":"severe"}`, "severity", `unknown value "severe", want one of unknown, informational, low, medium, high`},
		{"severity is case-sensitive", `{"id":"a","severity":"High"}`, "severity", `unknown value "High"`},
		{"status unknown", `{"id":"a","status":"closed"}`, "status", `unknown value "closed", want one of new, inProgress, resolved`},
		{"classification object", `{"id":"a","classification":{}}`, "classification", "want a string, got object"},
		{"title array", `{"id":"a","title":["x"]}`, "title", "want a string, got array"},
		{"bad time", `{"id":"a","createdDateTime":"yesterday"}`, "createdDateTime", `want an RFC 3339 date-time such as 2021-04-27T12:19:27.7211305Z, got "yesterday"`},
		{"time without zone", `{"id":"a","lastActivityDateTime":"2021-04-27T12:19:27"}`, "lastActivityDateTime", "RFC 3339"},
		{"time number", `{"id":"a","resolvedDateTime":1619525967}`, "resolvedDateTime", "want a string, got number"},
		{"mitre string", `{"id":"a","mitreTechniques":"T1059"}`, "mitreTechniques", "want an array of strings, got string"},
		{"mitre element", `{"id":"a","mitreTechniques":["T1059",7]}`, "mitreTechniques[1]", "want a string, got number"},
		{"evidence object", `{"id":"a","evidence":{}}`, "evidence", "want an array, got object"},
		{"evidence element", `{"id":"a","evidence":[{"@odata.type":"#microsoft.graph.security.ipEvidence"},7]}`, "evidence[1]", "want an object, got number"},
		{"evidence null element", `{"id":"a","evidence":[null]}`, "evidence[0]", "want an object, got null"},
		{"evidence verdict", ev(`{"@odata.type":"#microsoft.graph.security.ipEvidence","verdict":"evil"}`), "evidence[0].verdict", `unknown value "evil"`},
		{"evidence remediation", ev(`{"@odata.type":"#microsoft.graph.security.ipEvidence","remediationStatus":"fixed"}`), "evidence[0].remediationStatus", `unknown value "fixed", want one of none, remediated`},
		{"evidence roles", ev(`{"roles":"compromised"}`), "evidence[0].roles", "want an array of strings, got string"},
		{"evidence type", ev(`{"@odata.type":1}`), "evidence[0].@odata.type", "want a string, got number"},
		{"evidence field", ev(`{"@odata.type":"#microsoft.graph.security.deviceEvidence","deviceDnsName":{"x":1}}`), "evidence[0].deviceDnsName", "want a string, got object"},
		{"nested account", ev(`{"@odata.type":"#microsoft.graph.security.userEvidence","userAccount":"alice"}`), "evidence[0].userAccount", "want an object, got string"},
		{"nested account field", ev(`{"@odata.type":"#microsoft.graph.security.userEvidence","userAccount":{"userPrincipalName":5}}`), "evidence[0].userAccount.userPrincipalName", "want a string, got number"},
		{"nested file field", ev(`{"@odata.type":"#microsoft.graph.security.fileEvidence","fileDetails":{"sha256":true}}`), "evidence[0].fileDetails.sha256", "want a string, got boolean"},
		{"process id", ev(`{"@odata.type":"#microsoft.graph.security.processEvidence","processId":"4780"}`), "evidence[0].processId", "want an integer, got string"},
		{"process id fraction", ev(`{"@odata.type":"#microsoft.graph.security.processEvidence","processId":1.5}`), "evidence[0].processId", "want an integer, got number"},
		{"process time", ev(`{"@odata.type":"#microsoft.graph.security.processEvidence","processId":1,"processCreationDateTime":"now"}`), "evidence[0].processCreationDateTime", "RFC 3339"},
		{"repeated key: the last counts", `{"id":"a","severity":"high","severity":"severe"}`, "severity", `unknown value "severe"`},
		{"escaped enum", `{"id":"a","status":"n\u0065wish"}`, "status", `unknown value "newish"`},
		{"second evidence's nested field", `{"id":"a","evidence":[{},{"@odata.type":"#microsoft.graph.security.userEvidence","userAccount":{"accountName":[]}}]}`,
			"evidence[1].userAccount.accountName", "want a string, got array"},
		{"sender", ev(`{"@odata.type":"#microsoft.graph.security.analyzedMessageEvidence","p1Sender":{"emailAddress":1}}`), "evidence[0].p1Sender.emailAddress", "want a string, got number"},
		{"process id overflow", ev(`{"@odata.type":"#microsoft.graph.security.processEvidence","processId":99999999999999999999}`), "evidence[0].processId", "want an integer, got number"},
		{"process id exponent", ev(`{"@odata.type":"#microsoft.graph.security.processEvidence","processId":1e3}`), "evidence[0].processId", "want an integer, got number"},
		{"first problem wins", `{"severity":"severe","status":"closed"}`, "id", "required"},
		{"array", `[]`, "", "want an object, got array"},
		{"null", `null`, "", "want an object, got null"},
		{"not json", `{"id":`, "", "invalid JSON: unexpected end of JSON input"},
		{"bad literal", `{"id":"a","title":nul}`, "", "invalid JSON: invalid character '}' in literal null (expecting 'l')"},
		{"bad escape", `{"id":"a","title":"\x"}`, "", `invalid JSON: invalid character 'x' in string escape code`},
		{"control character", "{\"id\":\"a\",\"title\":\"a\tb\"}", "", `invalid JSON: invalid character '\t' in string literal`},
		{"trailing comma", `{"id":"a",}`, "", "invalid JSON: invalid character '}' looking for beginning of object key string"},
		{"leading zero", `{"id":"a","n":01}`, "", "invalid JSON: invalid character '1' after object key:value pair"},
		{"after the object", `{"id":"a"} x`, "", "invalid JSON: invalid character 'x' after top-level value"},
		{"too deep and broken", `{"id":"a","x":` + strings.Repeat("[", maxDepth) + `}`, "", "alert nests deeper than 64 levels at byte offset 77"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, err := DecodeAlert(json.RawMessage(tt.doc))
			if err == nil {
				t.Fatalf("DecodeAlert = %+v, want an error", a)
			}
			if a != nil {
				t.Errorf("DecodeAlert returned an alert with its error")
			}
			var de *domain.Error
			if !errors.As(err, &de) || de.Kind != domain.KindInvalid {
				t.Fatalf("error %v (%T) is not a *domain.Error of kind invalid", err, err)
			}
			if de.Field != tt.wantField || !strings.Contains(de.Message, tt.wantReason) {
				t.Errorf("error field, message = %q, %q; want %q, containing %q", de.Field, de.Message, tt.wantField, tt.wantReason)
			}
		})
	}
}

// nested returns an alert whose additionalData nests n arrays deep, so that
// the document's depth is n+1.
func nested(n int) string {
	return `{"id":"deep","additionalData":` + strings.Repeat("[", n) + strings.Repeat("]", n) + `}`
}

func TestDepthLimit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		body      string
		wantIDs   []string
		wantID    string
		wantField string
		wantWhy   string
	}{
		{"at the limit", nested(maxDepth - 1), []string{"deep"}, "", "", ""},
		{"one too deep", nested(maxDepth), []string{}, "deep", "", "alert nests deeper than 64 levels at byte offset 93 (line 1, column 94)"},
		{"deep inside a page", `{"value":[` + nested(maxDepth) + `,{"id":"ok"}]}`, []string{"ok"}, "deep", "", "nests deeper than 64 levels"},
		{"brackets in strings do not count", `{"id":"s","title":"` + strings.Repeat("[{", 200) + `"}`, []string{"s"}, "", "", ""},
		{"escaped quotes in strings", `{"id":"s","title":"\"[[[[\\\"` + strings.Repeat("[", 100) + `"}`, []string{"s"}, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			alerts, problems, err := decodeString(t, tt.body)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if got := ids(alerts); !slices.Equal(got, tt.wantIDs) {
				t.Errorf("ids = %v, want %v", got, tt.wantIDs)
			}
			switch {
			case tt.wantWhy == "" && len(problems) != 0:
				t.Errorf("problems = %+v, want none", problems)
			case tt.wantWhy != "" && (len(problems) != 1 || problems[0].ID != tt.wantID || problems[0].Field != tt.wantField || !strings.Contains(problems[0].Reason, tt.wantWhy)):
				t.Errorf("problems = %+v, want one with id %q, field %q mentioning %q", problems, tt.wantID, tt.wantField, tt.wantWhy)
			}
		})
	}
}

func TestUnknownEvidenceTypes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		doc  string
		want []string
	}{
		{"none", ev(`{"@odata.type":"#microsoft.graph.security.ipEvidence","ipAddress":"10.0.0.1"}`), nil},
		{"known types without entities are known", ev(`{"@odata.type":"#microsoft.graph.security.mailClusterEvidence"},{"@odata.type":"#microsoft.graph.security.ipEvidence","ipAddress":""}`), nil},
		{"distinct, in order", ev(`{"@odata.type":"#microsoft.graph.security.kubernetesPodEvidence"},{"@odata.type":"#microsoft.graph.security.ipEvidence"},{"@odata.type":"#microsoft.graph.security.amazonResourceEvidence"},{"@odata.type":"#microsoft.graph.security.kubernetesPodEvidence"}`),
			[]string{"kubernetesPodEvidence", "amazonResourceEvidence"}},
		{"missing type", ev(`{"verdict":"unknown"}`), []string{""}},
		{"no evidence", `{"id":"a"}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := UnknownEvidenceTypes(decodeOne(t, tt.doc)); !slices.Equal(got, tt.want) {
				t.Errorf("UnknownEvidenceTypes = %q, want %q", got, tt.want)
			}
		})
	}
	if got := UnknownEvidenceTypes(nil); got != nil {
		t.Errorf("UnknownEvidenceTypes(nil) = %q, want nil", got)
	}
}
