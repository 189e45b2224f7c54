package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/patientlink/patientlink/internal/harness"
	"github.com/patientlink/patientlink/internal/pgcluster"
)

// benchDatabase is the database the harness makes afresh on its private
// cluster for every run.
const benchDatabase = "patientlink_bench"

// database is where the run's data lives.
type database struct {
	url        string // the benchmark database
	adminURL   string // another database of the same server, for sampling
	name       string
	cluster    *harness.Cluster // nil when DATABASE_URL was given
	postmaster int              // 0 when not on this machine
}

// privateCluster starts (or reuses) the harness's own cluster with
// pg_stat_statements loaded and makes a fresh benchmark database.
func privateCluster(ctx context.Context, dir string, port int, log io.Writer) (*database, error) {
	c := harness.NewCluster(dir, port, log)
	if err := c.Start(ctx); err != nil {
		return nil, err
	}
	// pg_stat_statements needs a restart to load; WAL timing is cheap.
	if err := c.Preload(ctx, "pg_stat_statements", "ALTER SYSTEM SET track_wal_io_timing = on"); err != nil {
		return nil, err
	}
	url, err := c.FreshDatabase(ctx, benchDatabase)
	if err != nil {
		return nil, err
	}
	db := &database{url: url, adminURL: c.AdminURL(), name: benchDatabase, cluster: c}
	db.postmaster = postmasterPID(ctx, db.url)
	return db, nil
}

// givenDatabase uses DATABASE_URL as it is (migrated up by the harness).
func givenDatabase(ctx context.Context, raw string) (*database, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return nil, errors.New("DATABASE_URL must be a postgres:// URL")
	}
	name := strings.TrimPrefix(u.Path, "/")
	admin := *u
	admin.Path = "/postgres"
	db := &database{url: raw, adminURL: admin.String(), name: name}
	if err := queryOne(ctx, raw, "SELECT 1", new(int)); err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	if queryOne(ctx, db.adminURL, "SELECT 1", new(int)) != nil {
		db.adminURL = raw // sampling from the same database then counts itself, a little
	}
	db.postmaster = postmasterPID(ctx, raw)
	return db, nil
}

// postmasterPID finds the server's postmaster when it runs on this
// machine: the parent of our own backend.
func postmasterPID(ctx context.Context, url string) int {
	var backend int
	if err := queryOne(ctx, url, "SELECT pg_backend_pid()", &backend); err != nil {
		return 0
	}
	_, ppid, err := harness.ProcCPU(backend, false)
	if err != nil {
		return 0
	}
	// Confirm: the postmaster's command line names postgres.
	if b, err := os.ReadFile("/proc/" + strconv.Itoa(ppid) + "/comm"); err != nil || !strings.Contains(string(b), "postgres") {
		return 0
	}
	return ppid
}

func queryOne(ctx context.Context, url, sql string, dst any) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	return conn.QueryRow(ctx, sql).Scan(dst)
}

// pgBin finds a PostgreSQL client program (pgbench) next to the server's.
func pgBin(name string) (string, error) {
	dir, err := pgcluster.BinDir()
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, name)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("%s not found in %s", name, dir)
	}
	return p, nil
}
