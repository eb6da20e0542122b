package correlate

import (
	"strings"
	"testing"
	"time"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/entity"
)

const (
	mdeID = "3f2a9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b"
	oid   = "8d1c2b3a-4e5f-4a6b-9c7d-0e1f2a3b4c5d"
)

// aliasDevice is device evidence keyed as entity.Device keys it, with the
// identifiers it names as Graph attributes.
func aliasDevice(mde, dns, host, ip string) domain.Evidence {
	at := map[string]string{}
	for k, v := range map[string]string{"mdeDeviceId": mde, "deviceDnsName": dns, "hostName": host, "lastIpAddress": ip} {
		if v != "" {
			at[k] = v
		}
	}
	return domain.Evidence{Type: "deviceEvidence", Entity: &domain.Entity{Key: entity.Device(mde, dns, host),
		Kind: domain.KindDevice, Attrs: at}}
}

func aliasUser(upn, sid, account, dom, objectID string) domain.Evidence {
	at := map[string]string{}
	for k, v := range map[string]string{"upn": upn, "sid": sid, "accountName": account, "domainName": dom, "azureAdUserId": objectID} {
		if v != "" {
			at[k] = v
		}
	}
	return domain.Evidence{Type: "userEvidence", Entity: &domain.Entity{Key: entity.User(upn, sid, account, dom),
		Kind: domain.KindUser, Attrs: at}}
}

func aliasIP(ip string) domain.Evidence {
	return domain.Evidence{Type: "ipEvidence", Entity: &domain.Entity{Key: entity.IP(ip), Kind: domain.KindIP}}
}

// TestAliases correlates alerts one ingest at a time (Memory, as `starter
// correlate` does) and checks which end in one incident.
func TestAliases(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	at := func(id string, d time.Duration, evs ...domain.Evidence) *domain.Alert {
		tm := t0.Add(d)
		return &domain.Alert{ID: id, Title: "detection " + id, CreatedDateTime: tm, LastUpdateDateTime: tm,
			LastActivityDateTime: &tm, Evidence: evs}
	}
	// Wide gaps, so that only the aliases decide.
	wide := Rules{Window: 72 * time.Hour, LinkGap: 72 * time.Hour}
	tests := []struct {
		name   string
		rules  Rules
		alerts []*domain.Alert
		// groups: alert ids that end in one incident, one group per incident
		groups  [][]string
		mergeBy string // a merge's explanation contains this
	}{
		{"an alert naming MDE id and FQDN merges their incidents", Rules{}, []*domain.Alert{
			at("mde", 0, aliasDevice(mdeID, "", "", "")),
			at("fqdn", 5*time.Minute, aliasDevice("", "WS-042.corp.example", "", "")),
			at("both", 10*time.Minute, aliasDevice(mdeID, "ws-042.corp.example", "WS-042", "")),
		}, [][]string{{"mde", "fqdn", "both"}}, "device " + mdeID + " (MDE id) is ws-042.corp.example (FQDN) — named together in alert both"},
		{"the alias links alerts that come after it", Rules{}, []*domain.Alert{
			at("both", 0, aliasDevice(mdeID, "ws-042.corp.example", "", "")),
			at("fqdn", 5*time.Minute, aliasDevice("", "ws-042.corp.example", "", "")),
			at("short", 6*time.Minute, aliasDevice("", "", "WS-042", "")),
			at("mde", 7*time.Minute, aliasDevice(mdeID, "", "", "")),
		}, [][]string{{"both", "fqdn", "short", "mde"}}, ""},
		{"an IP stands for the device within its window", wide, []*domain.Alert{
			at("dev", 0, aliasDevice(mdeID, "", "", "10.1.2.3")),
			at("fw", 2*time.Hour, aliasIP("10.1.2.3")),
		}, [][]string{{"dev", "fw"}}, ""},
		{"an IP alias outside its window does not link", wide, []*domain.Alert{
			at("dev", 0, aliasDevice(mdeID, "", "", "10.1.2.3")),
			at("fw", 30*time.Hour, aliasIP("10.1.2.3")),
		}, [][]string{{"dev"}, {"fw"}}, ""},
		{"an IP seen with two devices links neither", wide, []*domain.Alert{
			at("dev1", 0, aliasDevice(mdeID, "", "", "10.1.2.3")),
			at("dev2", time.Hour, aliasDevice("", "ws-043.corp.example", "", "10.1.2.3")),
			at("fw", 2*time.Hour, aliasIP("10.1.2.3")),
		}, [][]string{{"dev1"}, {"dev2"}, {"fw"}}, ""},
		{"a public IP is never an alias", wide, []*domain.Alert{
			at("dev", 0, aliasDevice(mdeID, "", "", "203.0.113.7")),
			at("fw", time.Hour, aliasIP("203.0.113.7")),
		}, [][]string{{"dev"}, {"fw"}}, ""},
		{"UPN, SID, DOMAIN\\account and Entra object id are one user", Rules{}, []*domain.Alert{
			at("upn", 0, aliasUser("Alice@corp.example", "", "", "", "")),
			at("sid", time.Minute, aliasUser("", "S-1-5-21-1-2-3-1104", "", "", "")),
			at("acct", 2*time.Minute, aliasUser("", "", "alice", "CORP", "")),
			at("sid+oid", 3*time.Minute, aliasUser("", "s-1-5-21-1-2-3-1104", "", "", oid)),
			at("upn+oid+acct", 4*time.Minute, aliasUser("alice@corp.example", "", "alice", "CORP", strings.ToUpper(oid))),
		}, [][]string{{"upn", "sid", "acct", "sid+oid", "upn+oid+acct"}}, "(Entra object id)"},
		{"a stop-listed alias does not link", Rules{StopList: []string{"device:ws-042.corp.example"}}, []*domain.Alert{
			at("mde", 0, aliasDevice(mdeID, "", "", "")),
			at("fqdn", 5*time.Minute, aliasDevice("", "ws-042.corp.example", "", "")),
			at("both", 10*time.Minute, aliasDevice(mdeID, "ws-042.corp.example", "", "")),
		}, [][]string{{"mde", "both"}, {"fqdn"}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := NewMemory(tt.rules)
			for _, a := range tt.alerts {
				if _, err := m.Ingest([]*domain.Alert{a}); err != nil {
					t.Fatal(err)
				}
			}
			incOf := map[int64]string{}
			for _, g := range tt.groups {
				inc := m.IncidentOf(g[0])
				if other, ok := incOf[inc]; ok {
					t.Errorf("%s and %s are in one incident %d, want apart", g[0], other, inc)
				}
				incOf[inc] = g[0]
				for _, id := range g[1:] {
					if got := m.IncidentOf(id); got != inc {
						t.Errorf("%s is in incident %d, want %d with %s (why: %v)", id, got, inc, g[0], m.Explained[id].Reasons)
					}
				}
			}
			if tt.mergeBy != "" {
				var whys []string
				for _, mg := range m.Merges {
					whys = append(whys, mg.Why)
				}
				if !strings.Contains(strings.Join(whys, "\n"), tt.mergeBy) {
					t.Errorf("merges explained as %q, want one with %q", whys, tt.mergeBy)
				}
			}
		})
	}
}

func TestNames(t *testing.T) {
	t.Parallel()
	keys := func(ns []entity.Name) []string {
		var out []string
		for _, n := range ns {
			out = append(out, string(n.Key)+" "+n.What)
		}
		return out
	}
	dev := aliasDevice(mdeID, "WS-042.corp.example.", "WS-042", "10.20.4.42").Entity
	dev.Attrs["ipInterfaces"] = "10.20.4.42,fe80::1,127.0.0.1,::1,192.168.1.9"
	got := strings.Join(keys(entity.Names(*dev)), "|")
	want := "device:" + mdeID + " MDE id|device:ws-042.corp.example FQDN|device:ws-042 host name|ip:10.20.4.42 IP|ip:192.168.1.9 IP"
	if got != want {
		t.Errorf("device names = %s, want %s", got, want)
	}
	usr := aliasUser("alice@corp.example", "S-1-5-21-1", "alice", "CORP", oid).Entity
	got = strings.Join(keys(entity.Names(*usr)), "|")
	want = "user:alice@corp.example UPN|user:S-1-5-21-1 SID|user:corp\\alice account|user:" + oid + " Entra object id"
	if got != want {
		t.Errorf("user names = %s, want %s", got, want)
	}
	if n := entity.Names(*aliasDevice("", "ws-1.corp.example", "", "").Entity); n != nil {
		t.Errorf("a device with one name has names %v, want none", n)
	}
}
