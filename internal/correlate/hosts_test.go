package correlate

import (
	"slices"
	"testing"

	"github.com/airsoc/air/internal/domain"
)

func TestHostAliases(t *testing.T) {
	t.Parallel()
	dev := func(key string, attrs ...string) domain.Entity {
		e := domain.Entity{Key: domain.EntityKey(key), Kind: domain.KindDevice}
		if len(attrs) > 0 {
			e.Attrs = map[string]string{}
			for i := 0; i+1 < len(attrs); i += 2 {
				e.Attrs[attrs[i]] = attrs[i+1]
			}
		}
		return e
	}
	const id = "device:73e7e2de709dff64ef64b1d0c30e67fab63279db"
	fqdn, short, other := dev("device:ws-042.corp.example"), dev("device:ws-042"), dev("device:ws-042.lab.example")
	byID := dev(id, "deviceDnsName", "WS-042.corp.example.", "hostName", "WS-042")
	tests := []struct {
		name  string
		self  domain.Entity
		known []domain.Entity
		want  []domain.EntityKey
	}{
		{"short finds its unique FQDN", short, []domain.Entity{short, fqdn}, []domain.EntityKey{fqdn.Key}},
		{"FQDN finds its short name", fqdn, []domain.Entity{short, fqdn}, []domain.EntityKey{short.Key}},
		{"two FQDNs: the short name is ambiguous", short, []domain.Entity{fqdn, other}, nil},
		{"two FQDNs are two devices", fqdn, []domain.Entity{short, other}, nil},
		{"device id goes by its names", byID, []domain.Entity{fqdn, short, other}, []domain.EntityKey{short.Key, fqdn.Key}},
		{"FQDN finds the device id", fqdn, []domain.Entity{byID}, []domain.EntityKey{id}},
		{"short finds the device id through the FQDN", short, []domain.Entity{byID, fqdn}, []domain.EntityKey{id, fqdn.Key}},
		{"other labels are no alias", dev("device:ws-043"), []domain.Entity{fqdn, short}, nil},
		{"no device", domain.Entity{Key: "user:bob@x", Kind: domain.KindUser}, []domain.Entity{fqdn}, nil},
		{"device id without names", dev("device:0000000000000000000000000000000000000001"), []domain.Entity{fqdn}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := HostAliases(tt.self, tt.known)
			want := slices.Sorted(slices.Values(tt.want))
			if !slices.Equal(got, want) {
				t.Errorf("HostAliases(%s) = %v, want %v", tt.self.Key, got, want)
			}
		})
	}
}
