package chaos

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/patientlink/patientlink/internal/pgcluster"
)

// DefaultPGPort is the chaos suite's private cluster: not the development
// cluster's 54329, because scenario 3 stops it.
const DefaultPGPort = 54333

// cluster is the suite's private PostgreSQL.
type cluster struct {
	pg *pgcluster.Cluster
}

func newCluster(dir string, port int, log io.Writer) *cluster {
	return &cluster{pg: &pgcluster.Cluster{Dir: dir, Port: port, Log: log}}
}

func (c *cluster) start(ctx context.Context) error { return c.pg.Start(ctx) }

// StopCluster stops the suite's cluster if it runs: the clean-up of a run
// that was killed before it could stop it.
func StopCluster(ctx context.Context, dir string, port int, log io.Writer) error {
	return newCluster(dir, port, log).stop(ctx)
}

// stop stops the cluster cleanly (the end of the run).
func (c *cluster) stop(ctx context.Context) error { return c.pg.Stop(ctx) }

// url is database name's connection string.
func (c *cluster) url(name string) string { return c.pg.URL(name) }

// createDatabase makes a fresh database, dropping one of the same name.
func (c *cluster) createDatabase(ctx context.Context, name string) (string, error) {
	conn, err := pgx.Connect(ctx, c.url("postgres"))
	if err != nil {
		return "", fmt.Errorf("error connecting to the chaos cluster: %w", err)
	}
	defer conn.Close(ctx)
	ident := pgx.Identifier{name}.Sanitize()
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
		return "", fmt.Errorf("error dropping %s: %w", name, err)
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+ident); err != nil {
		return "", fmt.Errorf("error creating %s: %w", name, err)
	}
	return c.url(name), nil
}

// killImmediate stops the server the way `pg_ctl stop -m immediate` does:
// SIGQUIT to the postmaster, which drops every connection at once without a
// checkpoint (the next start runs crash recovery). It returns once the port
// refuses connections.
func (c *cluster) killImmediate(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, c.url("postgres"))
	if err != nil {
		return fmt.Errorf("error connecting to find the data directory: %w", err)
	}
	var dataDir string
	err = conn.QueryRow(ctx, "SHOW data_directory").Scan(&dataDir)
	conn.Close(ctx)
	if err != nil {
		return fmt.Errorf("error reading data_directory: %w", err)
	}
	pidFile, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		return fmt.Errorf("error reading postmaster.pid: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(pidFile), "\n", 2)[0]))
	if err != nil || pid <= 1 {
		return fmt.Errorf("postmaster.pid has no pid")
	}
	if err := syscall.Kill(pid, syscall.SIGQUIT); err != nil {
		return fmt.Errorf("error signalling the postmaster: %w", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if syscall.Kill(pid, 0) != nil && !c.accepting() {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("postmaster %d still running 30s after SIGQUIT", pid)
}

// accepting reports whether something listens on the cluster's port.
func (c *cluster) accepting() bool {
	conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", c.pg.Port), 200*time.Millisecond)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}
