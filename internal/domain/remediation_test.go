package domain

import "testing"

func TestRemediationOf(t *testing.T) {
	dev := Entity{Key: "device:ws1", Kind: KindDevice}
	file := Entity{Key: "file:abc", Kind: KindFile}
	user := Entity{Key: "user:bob", Kind: KindUser}
	ip := Entity{Key: "ip:10.0.0.1", Kind: KindIP}
	alerts := []Alert{
		{Evidence: []Evidence{{Entity: &file, RemediationStatus: "prevented"}, {Entity: &user, RemediationStatus: "none"}}},
		{Evidence: []Evidence{{Entity: &ip, RemediationStatus: "blocked"}}},
	}
	for _, tc := range []struct {
		name string
		acts []Action
		want map[EntityKey]RemediationStatus
	}{
		{"evidence only", nil, map[EntityKey]RemediationStatus{dev.Key: "none", file.Key: "prevented", user.Key: "none", ip.Key: "blocked"}},
		{"pending wins over a success", []Action{{TargetKey: dev.Key, Status: ActionSucceeded}, {TargetKey: dev.Key, Status: ActionPending}},
			map[EntityKey]RemediationStatus{dev.Key: "pendingApproval"}},
		{"running", []Action{{TargetKey: dev.Key, Status: ActionApproved}}, map[EntityKey]RemediationStatus{dev.Key: "running"}},
		{"actions override evidence", []Action{{TargetKey: file.Key, Status: ActionFailed}}, map[EntityKey]RemediationStatus{file.Key: "unremediated"}},
		{"rejected is declined", []Action{{TargetKey: user.Key, Status: ActionRejected}}, map[EntityKey]RemediationStatus{user.Key: "declined"}},
		{"an undo is no remediation", []Action{{TargetKey: dev.Key, Status: ActionSucceeded, UndoOf: "a1"}}, map[EntityKey]RemediationStatus{dev.Key: "none"}},
		{"succeeded", []Action{{TargetKey: dev.Key, Status: ActionSucceeded}, {TargetKey: dev.Key, Status: ActionExpired}},
			map[EntityKey]RemediationStatus{dev.Key: "remediated"}},
	} {
		got := RemediationOf([]Entity{dev, file, user, ip}, alerts, tc.acts)
		for k, want := range tc.want {
			if got[k] != want {
				t.Errorf("%s: %s is %q, want %q", tc.name, k, got[k], want)
			}
		}
	}
}
