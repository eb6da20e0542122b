package entity

import (
	"strings"
	"testing"
)

// FuzzURL checks that URL never panics and is idempotent: normalising a
// normalised URL changes nothing, or two alerts could disagree on a key
// depending on which system normalised first.
func FuzzURL(f *testing.F) {
	for _, s := range []string{"http://127.0.0.1/1.exe", "HTTPS://Evil.Example:443?x#y", "evil.example/dl",
		"http://[::ffff:10.0.0.1]:80/", "http://u:p@x/a b", "//x/y", "http://x:080"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k := URL(s)
		if k == "" {
			return
		}
		id, ok := strings.CutPrefix(string(k), "url:")
		if !ok {
			t.Fatalf("URL(%q) = %q, want a url: key", s, k)
		}
		if again := URL(id); again != k {
			t.Fatalf("URL(%q) = %q, but URL(%q) = %q", s, k, id, again)
		}
	})
}

// FuzzIP checks that IP is idempotent.
func FuzzIP(f *testing.F) {
	for _, s := range []string{"10.0.0.1", "2001:DB8::1", "::ffff:10.0.0.1", "fe80::1%eth0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k := IP(s)
		if k == "" {
			return
		}
		if again := IP(strings.TrimPrefix(string(k), "ip:")); again != k {
			t.Fatalf("IP(%q) = %q, but IP of that = %q", s, k, again)
		}
	})
}
