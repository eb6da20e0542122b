// Package nativestack runs AIR's production stack as native processes on
// one machine, for the tests that prove it and the scale-out benchmark:
// the Temporal server and its SQL tool built from go.mod's
// go.temporal.io/server, Temporal's databases set up on PostgreSQL by the
// very script docker-compose.yml's temporal-schema job runs, the server
// started with the environment of compose's temporal service (the server
// image runs `temporal-server start` on the template built into the
// binary, so the same variables mean the same configuration), and AIR's
// worker binary in production mode, as many api and worker processes as a
// test wants. Every process can be killed with SIGKILL and started again.
//
// It needs PostgreSQL at TEST_DATABASE_URL (over TCP) and the go command;
// without TEST_DATABASE_URL its tests skip, and under CI they fail.
package nativestack

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/lib/pq" // the admin connection that creates and drops databases
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
)

// Stack is a Temporal server on PostgreSQL, set up as compose sets it up,
// with the binaries to run AIR against it.
type Stack struct {
	Bins     Binaries
	PG       *Postgres
	Compose  *Compose
	Temporal *Temporal
}

// Start builds the binaries, sets Temporal's databases up and starts the
// server; everything is stopped and dropped when the test ends. It skips
// the test without TEST_DATABASE_URL, and fails it under CI.
func Start(t testing.TB) *Stack {
	t.Helper()
	pg := OpenPostgres(t)
	c, err := LoadCompose(filepath.Join(moduleRoot(t), "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	s := &Stack{Bins: Build(t), PG: pg, Compose: c}
	s.Temporal = StartTemporal(t, s.Bins, c, pg)
	return s
}

// Binaries are the programs the stack runs, built from this module.
type Binaries struct {
	TemporalServer, SQLTool, Worker string
}

// Build builds the Temporal server, temporal-sql-tool and AIR's worker at
// the versions go.mod pins (go.mod's tool block keeps their modules in
// go.sum), with one go command: the module and build caches are shared
// with the rest of the test run.
func Build(t testing.TB) Binaries {
	t.Helper()
	dir := t.TempDir()
	start := time.Now()
	cmd := exec.Command("go", "build", "-o", dir+string(filepath.Separator),
		"go.temporal.io/server/cmd/server", "go.temporal.io/server/cmd/tools/sql", "github.com/airsoc/air/worker")
	cmd.Dir = moduleRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the stack: %v\n%s", err, out)
	}
	b := Binaries{TemporalServer: filepath.Join(dir, "temporal-server"), SQLTool: filepath.Join(dir, "temporal-sql-tool"),
		Worker: filepath.Join(dir, "worker")}
	// The names the images give them, which the compose scripts call.
	for from, to := range map[string]string{"server": b.TemporalServer, "sql": b.SQLTool} {
		if err := os.Rename(filepath.Join(dir, from), to); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("built temporal-server, temporal-sql-tool and worker in %s", time.Since(start).Round(time.Second))
	return b
}

// moduleRoot is the directory of go.mod.
func moduleRoot(t testing.TB) string {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(out)) == "" || strings.TrimSpace(string(out)) == os.DevNull {
		t.Fatalf("go env GOMOD: %v %s", err, out)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}

// Postgres is the PostgreSQL server at TEST_DATABASE_URL, where the stack
// makes databases of its own, named with a prefix unique to the test.
type Postgres struct {
	Host, Port, User, Password string
	// Prefix starts every database the test makes (native_…).
	Prefix string
	base   *url.URL
	admin  *sql.DB
}

// OpenPostgres connects to TEST_DATABASE_URL; without it the test skips,
// or fails under CI.
func OpenPostgres(t testing.TB) *Postgres {
	t.Helper()
	raw := os.Getenv("TEST_DATABASE_URL")
	if raw == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("TEST_DATABASE_URL is not set under CI: the native production stack must run")
		}
		t.Skip("TEST_DATABASE_URL not set: the native production stack needs PostgreSQL")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Hostname() == "" {
		t.Fatalf("TEST_DATABASE_URL %q: want postgres://user@host:port/db (Temporal's SQL tool connects over TCP): %v", raw, err)
	}
	admin, err := sql.Open("postgres", raw)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	if err := admin.Ping(); err != nil {
		t.Fatalf("PostgreSQL at TEST_DATABASE_URL: %v", err)
	}
	p := &Postgres{Host: u.Hostname(), Port: u.Port(), User: u.User.Username(), base: u, admin: admin,
		Prefix: fmt.Sprintf("native_%d_%d", time.Now().Unix(), rand.IntN(1e6))}
	p.Password, _ = u.User.Password()
	if p.Port == "" {
		p.Port = "5432"
	}
	return p
}

// URL is TEST_DATABASE_URL pointed at database name.
func (p *Postgres) URL(name string) string {
	u := *p.base
	u.Path = "/" + name
	return u.String()
}

// CreateDatabase makes a fresh database, dropped when the test ends.
func (p *Postgres) CreateDatabase(t testing.TB, name string) string {
	t.Helper()
	p.DropOnCleanup(t, name)
	if _, err := p.admin.Exec(`CREATE DATABASE ` + name); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	return p.URL(name)
}

// DropOnCleanup drops the databases when the test ends, connections and
// all (registered before the processes that use them start, so that it
// runs after they stop).
func (p *Postgres) DropOnCleanup(t testing.TB, names ...string) {
	t.Cleanup(func() {
		for _, n := range names {
			if _, err := p.admin.Exec(`DROP DATABASE IF EXISTS ` + n + ` WITH (FORCE)`); err != nil {
				t.Logf("drop database %s: %v", n, err)
			}
		}
	})
}

// Temporal is a Temporal server process on PostgreSQL.
type Temporal struct {
	// Address is the frontend's host:port.
	Address string
	bin     string
	env     []string
	proc    *Proc
	// owner is the test the server lives as long as: a restart from a
	// subtest must outlive that subtest.
	owner testing.TB
}

// StartTemporal sets Temporal's two databases up with compose's schema
// script and starts the server with the temporal service's environment,
// both pointed at pg, on free loopback ports.
func StartTemporal(t testing.TB, bins Binaries, c *Compose, pg *Postgres) *Temporal {
	t.Helper()
	conn := map[string]string{"POSTGRES_SEEDS": pg.Host, "DB_PORT": pg.Port, "POSTGRES_USER": pg.User,
		"POSTGRES_PWD": pg.Password, "DBNAME": pg.Prefix + "_temporal", "VISIBILITY_DBNAME": pg.Prefix + "_visibility"}
	pg.DropOnCleanup(t, conn["DBNAME"], conn["VISIBILITY_DBNAME"])
	SetUpSchemas(t, bins, c, conn)

	s := &Temporal{bin: bins.TemporalServer, owner: t}
	over := map[string]string{
		// The image binds every interface of its container and derives the
		// broadcast address; here the server keeps to loopback.
		"BIND_ON_IP": "127.0.0.1", "TEMPORAL_BROADCAST_ADDRESS": "127.0.0.1",
		// The image's default dynamic config path does not exist here.
		"DYNAMIC_CONFIG_FILE_PATH": filepath.Join(t.TempDir(), "dynamicconfig.yaml"),
		// Small connection pools: the test shares one PostgreSQL (100
		// connections by default) with the rest of the suite, run in
		// parallel packages; the image's defaults (20 and 10 per service)
		// took 55 of them.
		"SQL_MAX_CONNS": "6", "SQL_MAX_IDLE_CONNS": "6", "SQL_VIS_MAX_CONNS": "3", "SQL_VIS_MAX_IDLE_CONNS": "3",
	}
	if err := os.WriteFile(over["DYNAMIC_CONFIG_FILE_PATH"], []byte("{}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for k, v := range conn {
		over[k] = v
	}
	// A port found free may be taken by the time the server binds it
	// (other processes share the machine): then try other ports.
	for attempt := 1; ; attempt++ {
		ports := freeLowPorts(t, 9)
		for i, k := range []string{"FRONTEND_GRPC_PORT", "FRONTEND_MEMBERSHIP_PORT", "FRONTEND_HTTP_PORT",
			"HISTORY_GRPC_PORT", "HISTORY_MEMBERSHIP_PORT", "MATCHING_GRPC_PORT", "MATCHING_MEMBERSHIP_PORT",
			"WORKER_GRPC_PORT", "WORKER_MEMBERSHIP_PORT"} {
			over[k] = strconv.Itoa(ports[i])
		}
		s.env = env(c.ServerEnv, over)
		s.Address = "127.0.0.1:" + over["FRONTEND_GRPC_PORT"]
		err := s.start(t)
		if err == nil {
			return s
		}
		if attempt == 3 || !strings.Contains(s.proc.Tail(), "address already in use") {
			t.Fatalf("%v\n%s", err, s.proc.Tail())
		}
		t.Logf("temporal server: a port was taken, trying others (%v)", err)
	}
}

// SetUpSchemas runs compose's temporal-schema script with the Connection
// variables in conn and temporal-sql-tool on PATH.
func SetUpSchemas(t testing.TB, bins Binaries, c *Compose, conn map[string]string) {
	t.Helper()
	start := time.Now()
	over := map[string]string{"PATH": filepath.Dir(bins.SQLTool) + ":/usr/local/bin:/usr/bin:/bin"}
	for k, v := range conn {
		over[k] = v
	}
	cmd := exec.Command("/bin/sh", "-ec", c.SchemaScript)
	cmd.Env = env(c.SchemaEnv, over)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("temporal-schema's script: %v\n%s", err, out)
	}
	t.Logf("Temporal's schemas set up by compose's script in %s", time.Since(start).Round(100*time.Millisecond))
}

// Start starts the server (again), on the same ports, and waits until
// its frontend answers.
func (s *Temporal) Start(t testing.TB) {
	t.Helper()
	if err := s.start(t); err != nil {
		t.Fatalf("%v\n%s", err, s.proc.Tail())
	}
}

func (s *Temporal) start(t testing.TB) error {
	t.Helper()
	start := time.Now()
	s.proc = startProc(t, s.owner, "temporal", s.bin, []string{"start"}, s.env)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for {
		c, err := client.DialContext(ctx, client.Options{HostPort: s.Address, Logger: sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
		if err == nil {
			_, err = c.CheckHealth(ctx, &client.CheckHealthRequest{})
			c.Close()
			if err == nil {
				break
			}
		}
		if s.proc.Exited() || ctx.Err() != nil {
			s.proc.Stop()
			return fmt.Errorf("temporal server did not come up: %w", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("temporal server on %s answers after %s", s.Address, time.Since(start).Round(100*time.Millisecond))
	return nil
}

// Kill kills the server with SIGKILL and waits for it to be gone.
func (s *Temporal) Kill(t testing.TB) { s.proc.Kill(t) }

// FreePort returns a loopback port nothing listens on now.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// freeLowPorts returns n distinct loopback ports below 32768 that nothing
// listens on now: Temporal keeps its membership ports in a PostgreSQL
// smallint, and the kernel's ephemeral ports (FreePort) lie above.
func freeLowPorts(t testing.TB, n int) []int {
	t.Helper()
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	var ports []int
	for try := 0; len(ports) < n; try++ {
		if try == 1000 {
			t.Fatal("no free ports below 32768")
		}
		port := 20000 + rand.IntN(12000)
		if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			held = append(held, l) // held until all are chosen, so that none repeats
			ports = append(ports, port)
		}
	}
	return ports
}

// Proc is a process of the stack, its output in a log file.
type Proc struct {
	Name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// StartProc starts bin; it is stopped (SIGTERM, then SIGKILL) when the
// test ends, and its log's tail is printed if the test failed.
func StartProc(t testing.TB, name, bin string, args, env []string) *Proc {
	t.Helper()
	return startProc(t, t, name, bin, args, env)
}

// startProc is StartProc for a process that lives as long as owner, t
// being the (sub)test that starts it.
func startProc(t, owner testing.TB, name, bin string, args, env []string) *Proc {
	t.Helper()
	f, err := os.CreateTemp(owner.TempDir(), name+"-*.log")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proc{Name: name, cmd: exec.Command(bin, args...), log: f.Name(), done: make(chan struct{})}
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = f, f
	if err := p.cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.cmd.Wait()
		f.Close()
		close(p.done)
	}()
	owner.Cleanup(func() {
		p.Stop()
		if owner.Failed() {
			owner.Logf("%s's log ends:\n%s", name, p.Tail())
		}
	})
	return p
}

// Stop asks the process to end (SIGTERM) and waits for it, killing it
// after 15 s.
func (p *Proc) Stop() {
	if p.Exited() {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// Kill sends SIGKILL and waits for the process to be gone.
func (p *Proc) Kill(t testing.TB) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil && !p.Exited() {
		t.Fatalf("kill %s: %v", p.Name, err)
	}
	<-p.done
}

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Tail is the end of the process's log.
func (p *Proc) Tail() string {
	b, _ := os.ReadFile(p.log)
	if len(b) > 6000 {
		b = b[len(b)-6000:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return string(b)
}
