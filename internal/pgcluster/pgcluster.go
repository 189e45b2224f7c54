// Package pgcluster starts and stops a private PostgreSQL cluster from the
// server binaries on this machine: the default database of `make run` and
// of the tests when DATABASE_URL is unset.
package pgcluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Cluster is a data directory served on 127.0.0.1:Port.
type Cluster struct {
	Dir  string // data directory
	Port int
	Log  io.Writer // progress lines; nil discards them
}

// DefaultPort is where the private cluster listens; not 5432, so it never
// meets a system Postgres.
const DefaultPort = 54329

// PortEnv overrides DefaultPort, e.g. for a second checkout on one machine.
const PortEnv = "PATIENTLINK_DEV_PG_PORT"

// Port is DefaultPort unless getenv(PortEnv) names another.
func Port(getenv func(string) string) int {
	if p, err := strconv.Atoi(getenv(PortEnv)); err == nil && p > 0 && p < 65536 {
		return p
	}
	return DefaultPort
}

// URL is the connection string of database name on the cluster.
func (c *Cluster) URL(name string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.Port, name)
}

// BinDir finds the server binaries through pg_config.
func BinDir() (string, error) {
	out, err := exec.Command("pg_config", "--bindir").Output()
	if err == nil {
		dir := strings.TrimSpace(string(out))
		if _, err := os.Stat(filepath.Join(dir, "postgres")); err == nil {
			return dir, nil
		}
	}
	return "", errors.New("PostgreSQL server binaries not found (pg_config --bindir): install them, e.g. `apt-get install postgresql` on Debian, or set DATABASE_URL")
}

// Start initialises the cluster if needed and starts it unless it already
// runs; starting twice is harmless, and concurrent callers (parallel test
// binaries) are serialised by a lock file.
func (c *Cluster) Start(ctx context.Context) error {
	bin, err := BinDir()
	if err != nil {
		return err
	}
	dir, err := c.dataDir()
	if err != nil {
		return err
	}
	unlock, err := lockFile(dir + ".lock")
	if err != nil {
		return err
	}
	defer unlock()

	owner, err := serverUser()
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(dir, "PG_VERSION")); err != nil {
		c.logf("initialising PostgreSQL cluster in %s", dir)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("error creating data directory: %w", err)
		}
		if err := owner.chown(dir); err != nil {
			return err
		}
		if err := owner.run(ctx, filepath.Join(bin, "initdb"), "-D", dir, "-U", "postgres",
			"--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync"); err != nil {
			return fmt.Errorf("initdb: %w", err)
		}
	}
	if owner.run(ctx, filepath.Join(bin, "pg_ctl"), "status", "-D", dir) == nil {
		return nil
	}
	if ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", c.Port)); err != nil {
		return fmt.Errorf("port %d is in use (another checkout's cluster? `make db-stop` there, or set %s)", c.Port, PortEnv)
	} else {
		_ = ln.Close()
	}
	c.logf("starting PostgreSQL on 127.0.0.1:%d", c.Port)
	opts := strings.Join([]string{
		"-c listen_addresses=127.0.0.1",
		"-p " + strconv.Itoa(c.Port),
		"-c unix_socket_directories=''",
		"-c max_connections=1000", // parallel test packages each open pools
		"-c shared_buffers=256MB",
		"-c log_min_messages=warning",
		// Commit times of history rows: the chaos suite's linearizability
		// check takes a mapping change as a write at its commit.
		"-c track_commit_timestamp=on",
	}, " ")
	err = owner.run(ctx, filepath.Join(bin, "pg_ctl"), "start", "-w", "-t", "60", "-D", dir,
		"-l", filepath.Join(dir, "server.log"), "-o", opts)
	if err != nil {
		tail, _ := os.ReadFile(filepath.Join(dir, "server.log"))
		return fmt.Errorf("pg_ctl start: %w\n%s", err, lastLines(string(tail), 15))
	}
	return nil
}

// Stop stops the cluster if it runs.
func (c *Cluster) Stop(ctx context.Context) error {
	bin, err := BinDir()
	if err != nil {
		return err
	}
	dir, err := c.dataDir()
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(dir, "PG_VERSION")); err != nil {
		return nil
	}
	owner, err := serverUser()
	if err != nil {
		return err
	}
	if owner.run(ctx, filepath.Join(bin, "pg_ctl"), "status", "-D", dir) != nil {
		return nil
	}
	return owner.run(ctx, filepath.Join(bin, "pg_ctl"), "stop", "-w", "-m", "fast", "-D", dir)
}

// dataDir is c.Dir, or, when the server's user cannot reach it (a checkout
// under /root, say), a directory of the same name's hash under /tmp.
func (c *Cluster) dataDir() (string, error) {
	abs, err := filepath.Abs(c.Dir)
	if err != nil {
		return "", err
	}
	owner, err := serverUser()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
		return "", err
	}
	if owner.canReach(filepath.Dir(abs)) {
		return abs, nil
	}
	sum := sha256.Sum256([]byte(abs))
	alt := filepath.Join(os.TempDir(), "patientlink-pg-"+hex.EncodeToString(sum[:6]), "pg")
	c.logf("%s is not reachable by user %s; using %s", abs, owner.name, alt)
	return alt, os.MkdirAll(filepath.Dir(alt), 0o755)
}

func (c *Cluster) logf(format string, args ...any) {
	if c.Log != nil {
		_, _ = fmt.Fprintf(c.Log, "pgcluster: "+format+"\n", args...)
	}
}

// osUser runs the server: ourselves, or an unprivileged account when we are
// root, because postgres refuses to run as root.
type osUser struct {
	name     string
	uid, gid uint32
	switched bool
}

func serverUser() (osUser, error) {
	if os.Geteuid() != 0 {
		return osUser{name: "current user", uid: uint32(os.Geteuid()), gid: uint32(os.Getegid())}, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		return osUser{name: name, uid: uint32(uid), gid: uint32(gid), switched: true}, nil
	}
	return osUser{}, errors.New("running as root and found no unprivileged user (postgres or nobody) to run PostgreSQL")
}

func (u osUser) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if u.switched {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: u.uid, Gid: u.gid}}
		cmd.Dir = "/"
	}
	return cmd
}

func (u osUser) run(ctx context.Context, name string, args ...string) error {
	out, err := u.command(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", filepath.Base(name), err, lastLines(string(out), 10))
	}
	return nil
}

func (u osUser) chown(dir string) error {
	if !u.switched {
		return nil
	}
	if err := os.Chown(dir, int(u.uid), int(u.gid)); err != nil {
		return fmt.Errorf("error handing %s to %s: %w", dir, u.name, err)
	}
	return nil
}

func (u osUser) canReach(dir string) bool {
	if !u.switched {
		return true
	}
	return u.command(context.Background(), "test", "-x", dir).Run() == nil
}

func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("error opening lock file: %w", err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			_ = f.Close()
			return nil, fmt.Errorf("timed out waiting for %s", path)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); _ = f.Close() }, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// CreateDatabase creates database name unless it exists.
func (c *Cluster) CreateDatabase(ctx context.Context, name string) error {
	bin, err := BinDir()
	if err != nil {
		return err
	}
	psql := func(sql string) ([]byte, error) {
		return exec.CommandContext(ctx, filepath.Join(bin, "psql"), "-X", "-q", "-t", "-A",
			"-v", "ON_ERROR_STOP=1", c.URL("postgres"), "-c", sql).CombinedOutput()
	}
	out, err := psql(fmt.Sprintf("SELECT 1 FROM pg_database WHERE datname = '%s'", name))
	if err != nil {
		return fmt.Errorf("psql: %w: %s", err, out)
	}
	if strings.TrimSpace(string(out)) == "1" {
		return nil
	}
	if out, err := psql(fmt.Sprintf("CREATE DATABASE %q", name)); err != nil {
		return fmt.Errorf("error creating database %s: %w: %s", name, err, out)
	}
	return nil
}
