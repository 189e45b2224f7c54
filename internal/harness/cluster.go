package harness

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/patientlink/patientlink/internal/pgcluster"
)

// Cluster is a run's private PostgreSQL on 127.0.0.1: pgcluster's start and
// stop, plus the databases and faults the harnesses need.
type Cluster struct {
	pgcluster.Cluster
}

// NewCluster is the cluster of data directory dir on port; log gets
// progress lines (nil discards them).
func NewCluster(dir string, port int, log io.Writer) *Cluster {
	return &Cluster{pgcluster.Cluster{Dir: dir, Port: port, Log: log}}
}

// Addr is where the cluster listens.
func (c *Cluster) Addr() string { return fmt.Sprintf("127.0.0.1:%d", c.Port) }

// AdminURL is the maintenance database's connection string.
func (c *Cluster) AdminURL() string { return c.URL("postgres") }

// FreshDatabase drops database name if it exists, creates it empty and
// returns its connection string.
func (c *Cluster) FreshDatabase(ctx context.Context, name string) (string, error) {
	ident := pgx.Identifier{name}.Sanitize()
	if err := c.exec(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)", "CREATE DATABASE "+ident); err != nil {
		return "", fmt.Errorf("error making database %s afresh: %w", name, err)
	}
	return c.URL(name), nil
}

// Preload makes the server load library at start (shared_preload_libraries),
// restarting it when it does not yet; settings are ALTER SYSTEM statements
// applied with that restart.
func (c *Cluster) Preload(ctx context.Context, library string, settings ...string) error {
	conn, err := pgx.Connect(ctx, c.AdminURL())
	if err != nil {
		return err
	}
	var preload string
	err = conn.QueryRow(ctx, "SHOW shared_preload_libraries").Scan(&preload)
	conn.Close(ctx)
	if err != nil || strings.Contains(preload, library) {
		return err
	}
	stmts := append([]string{"ALTER SYSTEM SET shared_preload_libraries = '" + strings.ReplaceAll(library, "'", "''") + "'"}, settings...)
	if err := c.exec(ctx, stmts...); err != nil {
		return err
	}
	if c.Log != nil {
		fmt.Fprintf(c.Log, "pgcluster: restarting to load %s\n", library)
	}
	if err := c.Stop(ctx); err != nil {
		return err
	}
	return c.Start(ctx)
}

// exec runs statements in order on the maintenance database.
func (c *Cluster) exec(ctx context.Context, stmts ...string) error {
	conn, err := pgx.Connect(ctx, c.AdminURL())
	if err != nil {
		return fmt.Errorf("error connecting to %s: %w", c.Addr(), err)
	}
	defer conn.Close(ctx)
	for _, s := range stmts {
		if _, err := conn.Exec(ctx, s); err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
	}
	return nil
}

// PostmasterPID is the running server's postmaster, from the
// postmaster.pid of the data directory it reports.
func (c *Cluster) PostmasterPID(ctx context.Context) (int, error) {
	conn, err := pgx.Connect(ctx, c.AdminURL())
	if err != nil {
		return 0, fmt.Errorf("error connecting to find the data directory: %w", err)
	}
	var dataDir string
	err = conn.QueryRow(ctx, "SHOW data_directory").Scan(&dataDir)
	conn.Close(ctx)
	if err != nil {
		return 0, fmt.Errorf("error reading data_directory: %w", err)
	}
	pidFile, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		return 0, fmt.Errorf("error reading postmaster.pid: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(pidFile), "\n", 2)[0]))
	if err != nil || pid <= 1 {
		return 0, fmt.Errorf("postmaster.pid has no pid")
	}
	return pid, nil
}

// KillImmediate stops the server the way `pg_ctl stop -m immediate` does:
// SIGQUIT to the postmaster, which drops every connection at once without a
// checkpoint (the next start runs crash recovery). It returns once the port
// refuses connections.
func (c *Cluster) KillImmediate(ctx context.Context) error {
	pid, err := c.PostmasterPID(ctx)
	if err != nil {
		return err
	}
	if err := syscall.Kill(pid, syscall.SIGQUIT); err != nil {
		return fmt.Errorf("error signalling the postmaster: %w", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if syscall.Kill(pid, 0) != nil && !Listening(c.Addr()) {
			return nil
		}
		if err := sleep(ctx, pollEvery); err != nil {
			return err
		}
	}
	return fmt.Errorf("postmaster %d still running 30s after SIGQUIT", pid)
}
