package entity

import (
	"testing"
	"time"

	"github.com/airsoc/air/internal/domain"
)

func TestDevice(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name              string
		mde, dns, hostNam string
		want              domain.EntityKey
	}{
		{"mde id wins", "73E7E2DE709DFF64EF64B1D0C30E67FAB63279DB", "ws-042.corp.example", "WS-042", "device:73e7e2de709dff64ef64b1d0c30e67fab63279db"},
		{"fqdn lower, trailing dot", "", "WS-042.Corp.Example.", "", "device:ws-042.corp.example"},
		{"host name when no fqdn", "", "", " WS-042 ", "device:ws-042"},
		{"blank mde falls through", "  ", "ws-042.corp.example", "", "device:ws-042.corp.example"},
		{"nothing", "", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Device(tt.mde, tt.dns, tt.hostNam); got != tt.want {
				t.Errorf("Device(%q, %q, %q) = %q, want %q", tt.mde, tt.dns, tt.hostNam, got, tt.want)
			}
		})
	}
}

func TestShortHost(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"WS-042.corp.example.", "ws-042"},
		{"ws-042", "ws-042"},
		{" WS-042 ", "ws-042"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := ShortHost(tt.in); got != tt.want {
			t.Errorf("ShortHost(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestUser(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                      string
		upn, sid, account, domain string
		want                      domain.EntityKey
	}{
		{"upn lower", "Alice@Corp.Example", "S-1-5-21-1-2-3-1001", "alice", "CORP", "user:alice@corp.example"},
		{"sid upper", "", "s-1-5-21-1004336348-1177238915-682003330-512", "alice", "CORP", "user:S-1-5-21-1004336348-1177238915-682003330-512"},
		{"dns domain", "", "", "Alice", "Corp.Example", "user:alice@corp.example"},
		{"netbios domain", "", "", "Alice", "CORP", `user:corp\alice`},
		{"domain prefix stripped", "", "", `CORP\Alice`, "CORP", `user:corp\alice`},
		{"domain prefix used as domain", "", "", `CORP\Alice`, "", `user:corp\alice`},
		{"given domain wins over prefix", "", "", `OLD\Alice`, "corp.example", "user:alice@corp.example"},
		{"netbios with space", "", "", "SYSTEM", "NT AUTHORITY", `user:nt authority\system`},
		{"account alone is nobody", "", "", "administrator", "", ""},
		{"account alone that is a upn", "", "", "Alice@Corp.Example", "", "user:alice@corp.example"},
		{"domain alone", "", "", "", "CORP", ""},
		{"nothing", "", "", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := User(tt.upn, tt.sid, tt.account, tt.domain); got != tt.want {
				t.Errorf("User(%q, %q, %q, %q) = %q, want %q", tt.upn, tt.sid, tt.account, tt.domain, got, tt.want)
			}
		})
	}
}

func TestMailbox(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want domain.EntityKey
	}{
		{"Alice@Corp.Example", "mailbox:alice@corp.example"},
		{"SMTP:Alice@Corp.Example", "mailbox:alice@corp.example"},
		{" ", ""},
	}
	for _, tt := range tests {
		if got := Mailbox(tt.in); got != tt.want {
			t.Errorf("Mailbox(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestFile(t *testing.T) {
	t.Parallel()
	const (
		sha256 = "8963A19FB992AD9A76576C5638FD68292CFFB9AAAC29EB8285F9ABF6196A7DEC"
		sha1   = "5F1E8ACEDC065031AAD553B710838EB366CFEE9A"
		md5    = "D41D8CD98F00B204E9800998ECF8427E"
	)
	tests := []struct {
		name              string
		sha256, sha1, md5 string
		want              domain.EntityKey
	}{
		{"sha256 wins", sha256, sha1, md5, "file:8963a19fb992ad9a76576c5638fd68292cffb9aaac29eb8285f9abf6196a7dec"},
		{"sha1 next", "", sha1, md5, "file:5f1e8acedc065031aad553b710838eb366cfee9a"},
		{"md5 last", "", "", md5, "file:d41d8cd98f00b204e9800998ecf8427e"},
		{"bad sha256 skipped", "N/A", sha1, "", "file:5f1e8acedc065031aad553b710838eb366cfee9a"},
		{"wrong length skipped", sha1, "", "", ""},
		{"none", "", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := File(tt.sha256, tt.sha1, tt.md5); got != tt.want {
				t.Errorf("File(%q, %q, %q) = %q, want %q", tt.sha256, tt.sha1, tt.md5, got, tt.want)
			}
		})
	}
}

func TestProcess(t *testing.T) {
	t.Parallel()
	created := time.Date(2021, 8, 12, 12, 43, 19, 77257700, time.UTC)
	tests := []struct {
		name    string
		dev     string
		pid     int64
		created time.Time
		want    domain.EntityKey
	}{
		{"all present", "73E7E2DE709DFF64EF64B1D0C30E67FAB63279DB", 4780, created, "process:73e7e2de709dff64ef64b1d0c30e67fab63279db:4780:2021-08-12T12:43:19.0772577Z"},
		{"other zone same instant", "73e7e2de709dff64ef64b1d0c30e67fab63279db", 4780, created.In(time.FixedZone("x", 7200)), "process:73e7e2de709dff64ef64b1d0c30e67fab63279db:4780:2021-08-12T12:43:19.0772577Z"},
		{"no device", "", 4780, created, ""},
		{"no time", "dev", 4780, time.Time{}, ""},
		{"negative pid", "dev", -1, created, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Process(tt.dev, tt.pid, tt.created); got != tt.want {
				t.Errorf("Process(%q, %d, %v) = %q, want %q", tt.dev, tt.pid, tt.created, got, tt.want)
			}
		})
	}
}

func TestIP(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want domain.EntityKey
	}{
		{"10.0.0.1", "ip:10.0.0.1"},
		{" 10.0.0.1 ", "ip:10.0.0.1"},
		{"2001:DB8::1", "ip:2001:db8::1"},
		{"2001:0db8:0:0:0:0:0:1", "ip:2001:db8::1"},
		{"::ffff:10.0.0.1", "ip:10.0.0.1"},
		{"fe80::cfe4:80b:615c:38fb%eth0", "ip:fe80::cfe4:80b:615c:38fb"},
		{"::1", "ip:::1"},
		{"", ""},
		{"not-an-ip", ""},
		{"10.0.0.1:443", ""},
		{"10.0.0.0/8", ""},
	}
	for _, tt := range tests {
		if got := IP(tt.in); got != tt.want {
			t.Errorf("IP(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	// The brief's equivalences, stated directly.
	for _, pair := range [][2]string{{"2001:DB8::1", "2001:0db8:0:0:0:0:0:1"}, {"::ffff:10.0.0.1", "10.0.0.1"}} {
		if a, b := IP(pair[0]), IP(pair[1]); a != b || a == "" {
			t.Errorf("IP(%q) = %q, IP(%q) = %q, want equal and non-empty", pair[0], a, pair[1], b)
		}
	}
}

func TestURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want domain.EntityKey
	}{
		{"http://127.0.0.1/1.exe", "url:http://127.0.0.1/1.exe"},
		{"HTTP://Evil.Example:80/Path?Q=1#frag", "url:http://evil.example/Path?Q=1"},
		{"https://evil.example:443", "url:https://evil.example/"},
		{"https://evil.example:80/", "url:https://evil.example:80/"},
		{"http://evil.example:8080/a", "url:http://evil.example:8080/a"},
		{"http://evil.example:080/a", "url:http://evil.example/a"},
		{"https://evil.example?x=1", "url:https://evil.example/?x=1"},
		{"https://Evil.Example./a%2Fb", "url:https://evil.example/a%2Fb"},
		{"http://[2001:DB8::1]:80/x", "url:http://[2001:db8::1]/x"},
		{"http://[::ffff:10.0.0.1]/x", "url:http://10.0.0.1/x"},
		{"http://user@evil.example/x", "url:http://user@evil.example/x"},
		{"evil.example/dl", "url:http://evil.example/dl"},
		{"", ""},
		{"mailto:a@b.example", ""},
		{"/relative/path", ""},
		{"http://bad host/", ""},
		{"A://::", ""},
		{"..", ""},
		{"http://evil.example:99999999999/", ""},
	}
	for _, tt := range tests {
		if got := URL(tt.in); got != tt.want {
			t.Errorf("URL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestMessage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want domain.EntityKey
	}{
		{"6A6F2C3B-1C2D-4E5F-8A9B-0C1D2E3F4A5B", "message:6a6f2c3b-1c2d-4e5f-8a9b-0c1d2e3f4a5b"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := Message(tt.in); got != tt.want {
			t.Errorf("Message(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestOtherKinds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		got  domain.EntityKey
		want domain.EntityKey
	}{
		{"registry key", RegistryKey("HKEY_LOCAL_MACHINE", `SYSTEM\CONTROLSET001\Control\`), `registryKey:hkey_local_machine\system\controlset001\control`},
		{"registry key without hive", RegistryKey("", `Software\Run`), `registryKey:software\run`},
		{"registry key without path", RegistryKey("HKLM", ""), ""},
		{"registry value", RegistryValue("HKLM", `Software\Run`, "Evil"), `registryValue:hklm\software\run\evil`},
		{"registry value without key", RegistryValue("HKLM", "", "Evil"), ""},
		{"cloud app", CloudApp(11161), "cloudApp:11161"},
		{"cloud app zero", CloudApp(0), ""},
		{"oauth app", OAuthApp("00000003-0000-0000-C000-000000000000"), "oauthApp:00000003-0000-0000-c000-000000000000"},
		{"oauth app empty", OAuthApp(""), ""},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, tt.got, tt.want)
		}
	}
}

func TestSplit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in       domain.EntityKey
		wantKind domain.EntityKind
		wantID   string
		wantOK   bool
	}{
		{"ip:2001:db8::1", domain.KindIP, "2001:db8::1", true},
		{`user:corp\alice`, domain.KindUser, `corp\alice`, true},
		{"device:", "", "", false},
		{":x", "", "", false},
		{"nocolon", "", "", false},
	}
	for _, tt := range tests {
		kind, id, ok := Split(tt.in)
		if kind != tt.wantKind || id != tt.wantID || ok != tt.wantOK {
			t.Errorf("Split(%q) = %q, %q, %v, want %q, %q, %v", tt.in, kind, id, ok, tt.wantKind, tt.wantID, tt.wantOK)
		}
	}
}

// TestSameEntityDifferentSpellings states SPEC's normalisation rules as
// pairs of spellings that must give one key (or, for short host names, one
// label to compare at correlation time).
func TestSameEntityDifferentSpellings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		a, b domain.EntityKey
	}{
		{"UPN is case-insensitive", User("Alice@Corp.Example", "", "", ""), User("alice@corp.example", "", "", "")},
		{"account@dns-domain is the UPN form", User("", "", "ALICE", "Corp.Example"), User("alice@corp.example", "", "", "")},
		{"SID is case-insensitive", User("", "s-1-5-21-1-2-3-1107", "", ""), User("", "S-1-5-21-1-2-3-1107", "", "")},
		{"NetBIOS prefix or domain field", User("", "", `CORP\alice`, ""), User("", "", "Alice", "corp")},
		{"host name case and trailing dot", Device("", "WS-042.Corp.Example.", ""), Device("", "ws-042.corp.example", "")},
		{"Defender id case", Device("ABCDEF0123456789ABCDEF0123456789ABCDEF01", "", ""), Device("abcdef0123456789abcdef0123456789abcdef01", "", "")},
		{"mailbox case and SMTP prefix", Mailbox("SMTP:Bob@Corp.Example"), Mailbox("bob@corp.example")},
		{"IPv6 spellings", IP("2001:0DB8:0000:0000:0000:0000:0000:0001"), IP("2001:db8::1")},
		{"IPv4-mapped IPv6", IP("::FFFF:192.0.2.7"), IP("192.0.2.7")},
		{"URL scheme, host, default port, fragment", URL("HTTPS://Evil.Example:443/Pay?x=1#top"), URL("https://evil.example/Pay?x=1")},
		{"file hash case", File("4C1A7E9F2B3D5C6E8F0A1B2C3D4E5F60718293A4B5C6D7E8F9A0B1C2D3E4F5A6", "", ""), File("4c1a7e9f2b3d5c6e8f0a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5a6", "", "")},
	}
	for _, tt := range tests {
		if tt.a != tt.b || tt.a == "" {
			t.Errorf("%s: %q and %q, want one non-empty key", tt.name, tt.a, tt.b)
		}
	}
	// WS-042 and ws-042.corp.example compare by their first label; the
	// store unifies them when the label is unique in the tenant.
	if ShortHost("WS-042") != ShortHost("ws-042.corp.example.") {
		t.Errorf("short host labels differ")
	}
	// Different things stay different.
	for _, pair := range [][2]domain.EntityKey{
		{URL("https://evil.example/Pay"), URL("https://evil.example/pay")},     // paths are case-sensitive
		{User("", "", "administrator", ""), User("", "", "administrator", "")}, // no domain: no key at all
		{Device("", "ws-042.corp.example", ""), Device("", "ws-042.lab.example", "")},
	} {
		if pair[0] == pair[1] && pair[0] != "" {
			t.Errorf("%q and %q should differ", pair[0], pair[1])
		}
	}
}
