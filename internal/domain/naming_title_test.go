package domain

import "testing"

func TestAddHeadline(t *testing.T) {
	t.Parallel()
	type step struct {
		title string
		rank  int
	}
	for _, tt := range []struct {
		name     string
		steps    []step
		want     []string
		wantRank int
	}{
		{"first title", []step{{"Web shell dropped", 2}}, []string{"Web shell dropped"}, 2},
		{"more severe replaces", []step{{"Port scan", 1}, {"Web shell dropped", 3}}, []string{"Web shell dropped"}, 3},
		{"less severe ignored", []step{{"Web shell dropped", 3}, {"Port scan", 1}}, []string{"Web shell dropped"}, 3},
		{"as severe joins once", []step{{"A", 2}, {"B", 2}, {"A", 2}}, []string{"A", "B"}, 2},
		{"bounded", []step{{"A", 2}, {"B", 2}, {"C", 2}, {"D", 2}}, []string{"A", "B", "C"}, 2},
		{"empty and spaced titles", []step{{"  ", 4}, {" Web  shell\n dropped ", 0}}, []string{"Web shell dropped"}, 0},
	} {
		var h []string
		rank := 0
		for _, s := range tt.steps {
			h, rank = AddHeadline(h, rank, s.title, s.rank)
		}
		if len(h) != len(tt.want) || rank != tt.wantRank {
			t.Errorf("%s: got %q rank %d, want %q rank %d", tt.name, h, rank, tt.want, tt.wantRank)
			continue
		}
		for i := range h {
			if h[i] != tt.want[i] {
				t.Errorf("%s: got %q, want %q", tt.name, h, tt.want)
			}
		}
	}
}

func TestIncidentTitle(t *testing.T) {
	t.Parallel()
	long := ""
	for range 30 {
		long += "abcde "
	}
	for _, tt := range []struct {
		headline []string
		asset    string
		more     int
		kind     string
		want     string
	}{
		{nil, "srv-01", 0, "device", ""},
		{[]string{"Web shell dropped on server"}, "srv-01", 0, "device", "Web shell dropped on server — srv-01"},
		{[]string{"Credential dumping", "Suspicious PowerShell"}, "ws-042", 2, "device", "Credential dumping and Suspicious PowerShell — ws-042 and 2 more devices"},
		{[]string{"A", "B", "C"}, "", 0, "", "A, B and more"},
		{[]string{"Phish delivered"}, "bob@corp.example", 1, "mailbox", "Phish delivered — bob@corp.example and 1 more mailbox"},
		{[]string{"Phish delivered"}, "bob@corp.example", 3, "mailbox", "Phish delivered — bob@corp.example and 3 more mailboxes"},
	} {
		if got := IncidentTitle(tt.headline, tt.asset, tt.more, tt.kind); got != tt.want {
			t.Errorf("IncidentTitle(%q, %q, %d): got %q, want %q", tt.headline, tt.asset, tt.more, got, tt.want)
		}
	}
	if got := []rune(IncidentTitle([]string{long, long, long}, "a-very-long-host-name.corp.example", 99, "device")); len(got) > 256 {
		t.Errorf("a name of long titles has %d characters, want at most 256", len(got))
	}
}
