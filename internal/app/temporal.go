package app

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"go.temporal.io/sdk/client"
)

// TemporalTLS is how the service authenticates to a Temporal frontend
// outside -dev: TLS with a client certificate (mTLS), an API key, or both.
// Anyone who reaches an unauthenticated frontend can start, signal and
// update workflows and poll AIR's task queue (docs/security.md).
type TemporalTLS struct {
	// CAFile holds the CA certificates that sign the frontend's
	// certificate; empty means the system's roots.
	CAFile string
	// CertFile and KeyFile are the client certificate and key (mTLS).
	CertFile, KeyFile string
	// ServerName overrides the name checked in the frontend's certificate.
	ServerName string
	// APIKeyFile holds an API key sent with every call (Temporal Cloud,
	// or a frontend with an authorizer); it implies TLS.
	APIKeyFile string
	// Insecure allows a frontend that is neither on loopback nor
	// authenticated (mTLS or API key): the operator accepts the risk.
	Insecure bool
}

// enabled reports whether any TLS setting was given.
func (t TemporalTLS) enabled() bool {
	return t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" || t.ServerName != "" || t.APIKeyFile != ""
}

// authenticated reports whether the settings authenticate AIR to the
// frontend: a client certificate or an API key.
func (t TemporalTLS) authenticated() bool {
	return t.CertFile != "" || t.APIKeyFile != ""
}

// check refuses a production connection that anyone on the network could
// share: a frontend off loopback without mTLS or an API key, unless
// Insecure says the operator knows.
func (t TemporalTLS) check(address string) error {
	if (t.CertFile == "") != (t.KeyFile == "") {
		return errors.New("temporal TLS: -temporal-tls-cert and -temporal-tls-key go together")
	}
	if t.authenticated() || t.Insecure || loopback(address) {
		return nil
	}
	return fmt.Errorf("temporal frontend %s is not on loopback and AIR is not authenticated to it: "+
		"anyone who reaches it could forge analysts' decisions or poll AIR's task queue. "+
		"Give a client certificate (-temporal-tls-cert/-temporal-tls-key, mTLS) or an API key (-temporal-api-key-file), "+
		"or -insecure-temporal to accept the risk (see docs/security.md)", address)
}

// loopback reports whether host:port names this machine only.
func loopback(address string) bool {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		host = address
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// apply sets the connection and credentials of client options.
func (t TemporalTLS) apply(o *client.Options) error {
	if !t.enabled() {
		return nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return fmt.Errorf("temporal TLS CA: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return fmt.Errorf("temporal TLS CA %s: no PEM certificate in it", t.CAFile)
		}
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return fmt.Errorf("temporal TLS client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	o.ConnectionOptions.TLS = cfg
	if t.APIKeyFile != "" {
		key, err := os.ReadFile(t.APIKeyFile)
		if err != nil {
			return fmt.Errorf("temporal API key: %w", err)
		}
		k := strings.TrimSpace(string(key))
		if k == "" {
			return fmt.Errorf("temporal API key file %s is empty", t.APIKeyFile)
		}
		o.Credentials = client.NewAPIKeyStaticCredentials(k)
	}
	return nil
}
