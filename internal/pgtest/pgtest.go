// Package pgtest gives each test its own PostgreSQL database, cloned from a
// template migrated once per schema version. The server is DATABASE_URL's,
// or the project's private cluster, started on first use.
package pgtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/patientlink/patientlink/internal/harness"
	"github.com/patientlink/patientlink/internal/pgcluster"
	"github.com/patientlink/patientlink/internal/schema"
	"github.com/patientlink/patientlink/migrations"
)

var (
	setupOnce sync.Once
	serverURL string // maintenance database URL on the server
	template  string
	setupErr  error
)

// URL creates a fresh, migrated database for t, dropped when t ends, and
// returns its connection string.
func URL(t testing.TB) string {
	t.Helper()
	setupOnce.Do(func() { setupErr = setup(context.Background()) })
	if setupErr != nil {
		t.Fatalf("pgtest: %v", setupErr)
	}
	ctx := context.Background()
	name := "test_" + randomHex(8)
	admin, err := pgx.Connect(ctx, serverURL)
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	defer func() { _ = admin.Close(ctx) }()
	if _, err := admin.Exec(ctx, fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s", name, template)); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), serverURL)
		if err != nil {
			return
		}
		defer func() { _ = conn.Close(context.Background()) }()
		_, _ = conn.Exec(context.Background(), fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", name))
	})
	return withDatabase(serverURL, name)
}

// Pool opens a pool on a fresh database. Commits skip the fsync wait: test
// data need not survive a crash of the machine.
func Pool(t testing.TB) (*pgxpool.Pool, string) {
	t.Helper()
	dbURL := URL(t)
	cfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 20
	cfg.ConnConfig.RuntimeParams["synchronous_commit"] = "off"
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool, dbURL
}

// ServerURL is the maintenance database of the test server, for tests that
// need to create roles or databases of their own.
func ServerURL(t testing.TB) string {
	t.Helper()
	setupOnce.Do(func() { setupErr = setup(context.Background()) })
	if setupErr != nil {
		t.Fatalf("pgtest: %v", setupErr)
	}
	return serverURL
}

func setup(ctx context.Context) error {
	serverURL = os.Getenv("DATABASE_URL")
	if serverURL == "" {
		root, err := repoRoot()
		if err != nil {
			return err
		}
		c := &pgcluster.Cluster{Dir: filepath.Join(root, ".data", "pg"), Port: pgcluster.Port(os.Getenv), Log: os.Stderr}
		if err := c.Start(ctx); err != nil {
			return err
		}
		serverURL = c.URL("postgres")
	}
	hash, err := migrationsHash()
	if err != nil {
		return err
	}
	template = "patientlink_template_" + hash
	return ensureTemplate(ctx)
}

// ensureTemplate migrates the template once across all test binaries: an
// advisory lock serialises the packages go test runs in parallel.
func ensureTemplate(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, serverURL)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer func() { _ = conn.Close(ctx) }()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock(727274)"); err != nil {
		return err
	}
	defer conn.Exec(ctx, "SELECT pg_advisory_unlock(727274)") //nolint:errcheck
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1 AND datistemplate)", template).Scan(&exists); err != nil {
		return err
	}
	if exists {
		return nil
	}
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+template); err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+template); err != nil {
		return err
	}
	if err := schema.Up(withDatabase(serverURL, template)); err != nil {
		return err
	}
	_, err = conn.Exec(ctx, "ALTER DATABASE "+template+" WITH IS_TEMPLATE true")
	return err
}

func migrationsHash() (string, error) {
	h := sha256.New()
	err := fs.WalkDir(migrations.FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(migrations.FS, path)
		h.Write([]byte(path))
		h.Write(b)
		return err
	})
	return hex.EncodeToString(h.Sum(nil))[:12], err
}

func withDatabase(serverURL, name string) string {
	u, _ := url.Parse(serverURL)
	u.Path = "/" + name
	return u.String()
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	return harness.ModuleRoot(dir)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
