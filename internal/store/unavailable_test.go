package store

import (
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"

	"github.com/lib/pq"
)

func TestIsUnavailable(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"refused dial", fmt.Errorf("ingest: %w", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}), true},
		{"bad connection", fmt.Errorf("query: %w", driver.ErrBadConn), true},
		{"shutting down", &pq.Error{Code: "57P01", Message: "terminating connection due to administrator command"}, true},
		{"starting up", &pq.Error{Code: "57P03", Message: "the database system is starting up"}, true},
		{"connection failure", &pq.Error{Code: "08006"}, true},
		{"unique violation", &pq.Error{Code: "23505"}, false},
		{"syntax", &pq.Error{Code: "42601"}, false},
		{"plain", errors.New("incident 4 not found"), false},
		{"nil", nil, false},
	} {
		if got := IsUnavailable(c.err); got != c.want {
			t.Errorf("%s: IsUnavailable(%v) = %v, want %v", c.name, c.err, got, c.want)
		}
	}
}
