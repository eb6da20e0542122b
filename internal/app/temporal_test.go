package app

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/airsoc/air/internal/devserver"
	"github.com/airsoc/air/workflows"
)

func TestTemporalTransportCheck(t *testing.T) {
	for _, tc := range []struct {
		name    string
		addr    string
		tls     TemporalTLS
		refused string
	}{
		{"loopback", "127.0.0.1:7233", TemporalTLS{}, ""},
		{"localhost", "localhost:7233", TemporalTLS{}, ""},
		{"ipv6 loopback", "[::1]:7233", TemporalTLS{}, ""},
		{"remote plaintext", "temporal:7233", TemporalTLS{}, "not on loopback"},
		{"remote server-only TLS", "10.0.0.5:7233", TemporalTLS{CAFile: "ca.pem"}, "not on loopback"},
		{"remote mTLS", "temporal:7233", TemporalTLS{CertFile: "c.pem", KeyFile: "k.pem"}, ""},
		{"remote API key", "temporal.example:7233", TemporalTLS{APIKeyFile: "key"}, ""},
		{"remote insecure by choice", "temporal:7233", TemporalTLS{Insecure: true}, ""},
		{"cert without key", "127.0.0.1:7233", TemporalTLS{CertFile: "c.pem"}, "go together"},
	} {
		err := tc.tls.check(tc.addr)
		switch {
		case tc.refused == "" && err != nil:
			t.Errorf("%s: refused: %v", tc.name, err)
		case tc.refused != "" && (err == nil || !strings.Contains(err.Error(), tc.refused)):
			t.Errorf("%s: err %v, want %q", tc.name, err, tc.refused)
		}
	}
	cfg := Config{TemporalAddress: "temporal:7233", DatabaseURL: "x.db", MessageKeyFile: "k", ConnectorsChosen: true}
	if err := cfg.defaults(); err == nil || !strings.Contains(err.Error(), "-insecure-temporal") {
		t.Errorf("production config with a remote plaintext frontend: %v, want refused naming -insecure-temporal", err)
	}
	cfg = Config{TemporalAddress: "127.0.0.1:7233", DatabaseURL: "x.db", ConnectorsChosen: true}
	if err := cfg.defaults(); err == nil || !strings.Contains(err.Error(), "AIR_MESSAGE_KEY_FILE") {
		t.Errorf("production config without a message key: %v, want refused naming AIR_MESSAGE_KEY_FILE", err)
	}
	cfg = Config{TemporalAddress: "127.0.0.1:7233", DatabaseURL: "x.db", MessageKeyFile: "k"}
	if err := cfg.defaults(); err == nil || !strings.Contains(err.Error(), "-connectors lab") {
		t.Errorf("production config without connectors: %v, want refused naming -connectors lab", err)
	}
	cfg = Config{Dev: true, TemporalCompression: "brotli"}
	if err := cfg.defaults(); err == nil || !strings.Contains(err.Error(), `temporal compression "brotli"`) {
		t.Errorf("unknown -temporal-compression: %v, want refused naming it", err)
	}
}

// TestTemporalRefusesClientsWithoutCertificate runs a Temporal frontend
// that requires mTLS: AIR's client with its certificate starts, signals and
// polls; a client holding no certificate (or speaking plaintext) has its
// signals, updates and task-queue polls refused, and nothing it sent
// reaches the workflow's history.
func TestTemporalRefusesClientsWithoutCertificate(t *testing.T) {
	dir := t.TempDir()
	files := writeTestPKI(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := devserver.Start(ctx, devserver.Config{TLS: &devserver.TLSFiles{CAFile: files.ca, CertFile: files.serverCert, KeyFile: files.serverKey}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()

	dial := func(tlsCfg TemporalTLS) client.Client {
		t.Helper()
		o := client.Options{HostPort: srv.HostPort(), Logger: quietSDKLogger{}}
		if err := tlsCfg.apply(&o); err != nil {
			t.Fatal(err)
		}
		c, err := client.NewLazyClient(o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		return c
	}
	good := dial(TemporalTLS{CAFile: files.ca, CertFile: files.clientCert, KeyFile: files.clientKey, ServerName: "127.0.0.1"})
	run, err := good.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "mtls-probe", TaskQueue: "mtls-probe"}, workflows.IncidentWorkflow, workflows.IncidentInput{IncidentID: 1})
	if err != nil {
		t.Fatalf("client with a certificate: start: %v", err)
	}
	if err := good.SignalWorkflow(ctx, run.GetID(), "", workflows.SignalIncidentChanged, workflows.IncidentChange{Field: workflows.FieldAssignedTo, To: "ana", By: "ana"}); err != nil {
		t.Fatalf("client with a certificate: signal: %v", err)
	}

	for name, c := range map[string]client.Client{
		"no certificate": dial(TemporalTLS{CAFile: files.ca, ServerName: "127.0.0.1"}),
		"plaintext":      dial(TemporalTLS{}),
	} {
		short, stop := context.WithTimeout(ctx, 10*time.Second)
		err := c.SignalWorkflow(short, run.GetID(), "", workflows.SignalIncidentChanged, workflows.IncidentChange{Field: workflows.FieldStatus, To: "resolved", By: "mallory"})
		refused(t, name+": signal", err)
		_, err = c.UpdateWorkflow(short, client.UpdateWorkflowOptions{WorkflowID: run.GetID(), UpdateName: workflows.UpdateDecide,
			Args: []any{workflows.DecideRequest{ActionID: "x", By: "mallory"}}, WaitForStage: client.WorkflowUpdateStageAccepted})
		refused(t, name+": update", err)
		_, err = c.WorkflowService().PollWorkflowTaskQueue(short, &workflowservice.PollWorkflowTaskQueueRequest{
			Namespace: "default", TaskQueue: &taskqueuepb.TaskQueue{Name: "mtls-probe", Kind: enumspb.TASK_QUEUE_KIND_NORMAL}, Identity: "mallory"})
		refused(t, name+": task-queue poll", err)
		stop()
	}

	// The history holds the start and the one signal AIR sent, nothing else.
	var signals []string
	it := good.GetWorkflowHistory(ctx, run.GetID(), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if s := ev.GetWorkflowExecutionSignaledEventAttributes(); s != nil {
			signals = append(signals, s.GetSignalName())
		}
		if ev.GetWorkflowTaskStartedEventAttributes() != nil {
			t.Errorf("a workflow task was handed out: %v", ev)
		}
	}
	if len(signals) != 1 {
		t.Errorf("signals in history %v, want only the certified client's one", signals)
	}
}

// refused fails unless err is the transport refusing the call: not a
// timeout (an update or a long poll with no worker also ends in one).
// A server that refuses the handshake may close the connection while the
// client still writes: a broken pipe or a reset is the same refusal (seen
// under load, when the full test suite runs).
func refused(t *testing.T, what string, err error) {
	t.Helper()
	transport := err != nil && (strings.Contains(err.Error(), "connection error") ||
		strings.Contains(err.Error(), "broken pipe") || strings.Contains(err.Error(), "connection reset"))
	if !transport || errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("%s: %v, want refused by the transport (a connection error)", what, err)
	}
}

type pki struct{ ca, serverCert, serverKey, clientCert, clientKey string }

// writeTestPKI writes a CA, a server certificate for 127.0.0.1 (usable for
// client auth by the server's own workers) and a client certificate.
func writeTestPKI(t *testing.T, dir string) pki {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "AIR test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	p := pki{ca: filepath.Join(dir, "ca.pem")}
	writePEM(t, p.ca, "CERTIFICATE", caDER)
	issue := func(name string, serial int64) (string, string) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
			KeyUsage:    x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		cert, kf := filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
		writePEM(t, cert, "CERTIFICATE", der)
		writePEM(t, kf, "PRIVATE KEY", keyDER)
		return cert, kf
	}
	p.serverCert, p.serverKey = issue("server", 2)
	p.clientCert, p.clientKey = issue("air", 3)
	return p
}

func writePEM(t *testing.T, path, kind string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

type quietSDKLogger struct{}

func (quietSDKLogger) Debug(string, ...any) {}
func (quietSDKLogger) Info(string, ...any)  {}
func (quietSDKLogger) Warn(string, ...any)  {}
func (quietSDKLogger) Error(string, ...any) {}
