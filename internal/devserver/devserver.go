// Package devserver runs a complete Temporal server inside the AIR process.
//
// It backs `worker -dev` (file-backed, so workflows survive a restart just as
// AIR's own SQLite store does) and the end-to-end tests (in memory). It is a
// real Temporal server — frontend, history, matching and worker services on
// loopback ports — configured with SQLite persistence, not a fake.
//
// temporaltest offers the same in memory only, and its configuration helper is
// an internal package; this package configures the public temporal.NewServer
// API directly.
package devserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/metrics"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"
)

// Config describes an embedded server. The zero value is an in-memory server on
// random loopback ports with the namespace "default".
type Config struct {
	// DatabaseFile persists Temporal's state in this SQLite file. Empty means
	// in memory: state is lost when the process ends.
	DatabaseFile string
	// FrontendPort is the gRPC port clients dial; 0 picks a free one.
	FrontendPort int
	// Namespace is created at start when missing; empty means "default".
	Namespace string
	// Logger receives the server's own logs; nil discards them.
	Logger log.Logger
	// TLS, when set, serves the frontend over mutual TLS only: a client
	// must present a certificate signed by TLS.CAFile. The server's own
	// system workers use TLS.CertFile as their client certificate.
	TLS *TLSFiles
}

// sqliteTuning are the pragmas of the embedded server's SQLite file: a
// write-ahead log (readers do not wait for the writer, a commit appends
// instead of rewriting pages), fsync at checkpoints only (a crash of the
// machine may lose the last commits, not corrupt the file: -dev's
// contract), and a wait instead of "database is locked" when the schema
// tool and the server meet.
var sqliteTuning = map[string]string{"journal_mode": "wal", "synchronous": "normal", "busy_timeout": "10000"}

// TLSFiles are PEM files: the CA that signs both ends, and the server's
// certificate (valid for 127.0.0.1, usable for client auth too) and key.
type TLSFiles struct {
	CAFile, CertFile, KeyFile string
}

// Server is a running embedded Temporal server.
type Server struct {
	srv       temporal.Server
	hostPort  string
	namespace string
	tls       *tls.Config // the client side of TLS, when the frontend requires it
}

// Start configures and starts the server. It returns once the frontend accepts
// connections or ctx ends.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Namespace == "" {
		cfg.Namespace = "default"
	}
	if cfg.Logger == nil {
		cfg.Logger = log.NewNoopLogger()
	}
	ports, err := freePorts(8)
	if err != nil {
		return nil, err
	}
	if cfg.FrontendPort != 0 {
		ports[0] = cfg.FrontendPort
	}
	const host = "127.0.0.1"
	hostPort := fmt.Sprintf("%s:%d", host, ports[0])

	sqlCfg := config.SQL{
		PluginName:        sqliteplugin.PluginName,
		ConnectAttributes: map[string]string{},
		DatabaseName:      cfg.DatabaseFile,
	}
	if cfg.DatabaseFile == "" {
		sqlCfg.ConnectAttributes["mode"] = "memory"
		sqlCfg.ConnectAttributes["cache"] = "shared"
		sqlCfg.DatabaseName = fmt.Sprintf("air-%d", rand.Int64())
	} else {
		sqlCfg.ConnectAttributes["mode"] = "rwc"
		// Temporal's SQLite plugin turns every attribute that is not a
		// URI parameter into a pragma under its own name: "journal_mode",
		// not the mattn-style "_journal_mode" (that one is an unknown
		// pragma, which SQLite ignores without a word, leaving a rollback
		// journal with a full fsync on every commit).
		for k, v := range sqliteTuning {
			sqlCfg.ConnectAttributes[k] = v
		}
		if err := os.MkdirAll(filepath.Dir(cfg.DatabaseFile), 0o755); err != nil {
			return nil, fmt.Errorf("create temporal state directory: %w", err)
		}
		if _, err := os.Stat(cfg.DatabaseFile); errors.Is(err, os.ErrNotExist) {
			if err := sqlite.SetupSchema(&sqlCfg); err != nil {
				return nil, fmt.Errorf("set up temporal schema in %s: %w", cfg.DatabaseFile, err)
			}
		}
	}
	ns, err := sqlite.NewNamespaceConfig("active", cfg.Namespace, false, nil)
	if err != nil {
		return nil, fmt.Errorf("namespace %q: %w", cfg.Namespace, err)
	}
	if err := sqlite.CreateNamespaces(&sqlCfg, ns); err != nil {
		return nil, fmt.Errorf("create namespace %q: %w", cfg.Namespace, err)
	}

	service := func(grpc int, membership int) config.Service {
		return config.Service{RPC: config.RPC{GRPCPort: grpc, MembershipPort: membership, BindOnIP: host}}
	}
	sc := &config.Config{
		Global: config.Global{
			Membership: config.Membership{MaxJoinDuration: 30 * time.Second, BroadcastAddress: host},
			Metrics: &metrics.Config{Prometheus: &metrics.PrometheusConfig{
				ListenAddress: fmt.Sprintf("%s:%d", host, ports[1]), HandlerPath: "/metrics",
			}},
		},
		Persistence: config.Persistence{
			DefaultStore:     sqliteplugin.PluginName,
			VisibilityStore:  sqliteplugin.PluginName,
			NumHistoryShards: 1,
			DataStores:       map[string]config.DataStore{sqliteplugin.PluginName: {SQL: &sqlCfg}},
		},
		ClusterMetadata: &cluster.Config{
			FailoverVersionIncrement: 10,
			MasterClusterName:        "active",
			CurrentClusterName:       "active",
			ClusterInformation: map[string]cluster.ClusterInformation{
				"active": {Enabled: true, InitialFailoverVersion: 1, RPCAddress: hostPort},
			},
		},
		DCRedirectionPolicy: config.DCRedirectionPolicy{Policy: "noop"},
		Services: map[string]config.Service{
			"frontend": service(ports[0], ports[2]),
			"history":  service(ports[3], ports[4]),
			"matching": service(ports[5], ports[6]),
			"worker":   service(ports[7], 0),
		},
		Archival: config.Archival{
			History:    config.HistoryArchival{State: "disabled"},
			Visibility: config.VisibilityArchival{State: "disabled"},
		},
		NamespaceDefaults: config.NamespaceDefaults{Archival: config.ArchivalNamespaceDefaults{
			History:    config.HistoryArchivalNamespaceDefaults{State: "disabled"},
			Visibility: config.VisibilityArchivalNamespaceDefaults{State: "disabled"},
		}},
		PublicClient: config.PublicClient{HostPort: hostPort},
	}
	if t := cfg.TLS; t != nil {
		ct := config.ClientTLS{RootCAFiles: []string{t.CAFile}, ServerName: host}
		sc.Global.TLS = config.RootTLS{
			Frontend: config.GroupTLS{
				Server: config.ServerTLS{CertFile: t.CertFile, KeyFile: t.KeyFile, ClientCAFiles: []string{t.CAFile}, RequireClientAuth: true},
				Client: ct,
			},
			SystemWorker: config.WorkerTLS{CertFile: t.CertFile, KeyFile: t.KeyFile, Client: ct},
		}
	}
	membership, err := freePorts(1)
	if err != nil {
		return nil, err
	}
	sc.Services["worker"] = service(ports[7], membership[0])

	dc := dynamicconfig.StaticClient{
		// Single-process server: no need to wait for other hosts.
		dynamicconfig.ForceSearchAttributesCacheRefreshOnRead.Key(): []dynamicconfig.ConstrainedValue{{Value: true}},
		// Eager workflow start saves a round trip through matching for each new incident.
		dynamicconfig.EnableEagerWorkflowStart.Key(): []dynamicconfig.ConstrainedValue{{Value: true}},
	}
	srv, err := temporal.NewServer(
		temporal.WithConfig(sc),
		temporal.ForServices(temporal.DefaultServices),
		temporal.WithLogger(cfg.Logger),
		temporal.WithDynamicConfigClient(dc),
	)
	if err != nil {
		return nil, fmt.Errorf("configure temporal server: %w", err)
	}
	if err := srv.Start(); err != nil {
		return nil, fmt.Errorf("start temporal server: %w", err)
	}
	s := &Server{srv: srv, hostPort: hostPort, namespace: cfg.Namespace}
	if cfg.TLS != nil {
		if s.tls, err = cfg.TLS.clientConfig(); err != nil {
			_ = srv.Stop()
			return nil, err
		}
	}
	if err := s.waitReady(ctx); err != nil {
		_ = srv.Stop()
		return nil, err
	}
	return s, nil
}

// waitReady polls the frontend until a client can describe the namespace.
func (s *Server) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		c, err := client.Dial(client.Options{HostPort: s.hostPort, Namespace: s.namespace, Logger: quietLogger{},
			ConnectionOptions: client.ConnectionOptions{TLS: s.tls}})
		if err == nil {
			_, err = c.CheckHealth(ctx, &client.CheckHealthRequest{})
			if err == nil {
				_, err = c.WorkflowService().DescribeNamespace(ctx, describeNamespace(s.namespace))
			}
			c.Close()
			if err == nil {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("temporal server not ready: %w", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// HostPort is the frontend address clients dial.
func (s *Server) HostPort() string { return s.hostPort }

// Namespace is the namespace created at start.
func (s *Server) Namespace() string { return s.namespace }

// Stop shuts the server down.
func (s *Server) Stop() error { return s.srv.Stop() }

// freePorts finds n free loopback ports. They are closed again before the
// server binds them, so they are drawn below the kernel's ephemeral range
// (32768 and up on Linux): there, no outgoing connection of this or another
// process (a test's clients, a second dev server starting beside this one)
// takes one as its source port in between. A port that is busy is skipped;
// after many misses the kernel's own choice serves.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	for tries := 0; len(ports) < n; tries++ {
		addr := "127.0.0.1:0"
		if tries < 50*n {
			addr = fmt.Sprintf("127.0.0.1:%d", lowPortMin+rand.IntN(lowPortMax-lowPortMin))
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			if tries < 50*n {
				continue
			}
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// The range freePorts draws from: registered ports below Linux's ephemeral
// range.
const (
	lowPortMin = 20000
	lowPortMax = 32000
)

// clientConfig is a client's TLS configuration presenting the server's own
// certificate, which the CA signed for client auth too.
func (t *TLSFiles) clientConfig() (*tls.Config, error) {
	pem, err := os.ReadFile(t.CAFile)
	if err != nil {
		return nil, fmt.Errorf("temporal TLS CA: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("temporal TLS CA %s: no PEM certificate", t.CAFile)
	}
	cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("temporal TLS certificate: %w", err)
	}
	return &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cert}, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}, nil
}
