// Package schema applies the migrations in migrations/ with golang-migrate.
package schema

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"strconv"
	"strings"

	"github.com/golang-migrate/migrate/v4"
	_ "github.com/golang-migrate/migrate/v4/database/pgx/v5" // registers pgx5://
	"github.com/golang-migrate/migrate/v4/source/iofs"

	"github.com/patientlink/patientlink/migrations"
)

// Latest is the newest migration version in the embedded history; /readyz
// compares the database against it.
func Latest() (uint, error) {
	entries, err := fs.ReadDir(migrations.FS, ".")
	if err != nil {
		return 0, err
	}
	var latest uint
	for _, e := range entries {
		num, _, _ := strings.Cut(e.Name(), "_")
		n, err := strconv.ParseUint(num, 10, 32)
		if err != nil {
			continue
		}
		latest = max(latest, uint(n))
	}
	return latest, nil
}

// Up applies every pending migration.
func Up(databaseURL string) error {
	return run(databaseURL, func(m *migrate.Migrate) error { return m.Up() })
}

// Down reverts the given number of migrations; steps <= 0 reverts all.
func Down(databaseURL string, steps int) error {
	return run(databaseURL, func(m *migrate.Migrate) error {
		if steps <= 0 {
			return m.Down()
		}
		return m.Steps(-steps)
	})
}

// DownTo reverts migrations until the schema is at version (0: none
// applied is Down with steps 0).
func DownTo(databaseURL string, version uint) error {
	return run(databaseURL, func(m *migrate.Migrate) error {
		cur, _, err := m.Version()
		if err != nil {
			return err
		}
		entries, err := fs.ReadDir(migrations.FS, ".")
		if err != nil {
			return err
		}
		steps := 0
		seen := map[uint64]bool{}
		for _, e := range entries {
			num, _, _ := strings.Cut(e.Name(), "_")
			n, err := strconv.ParseUint(num, 10, 32)
			if err != nil || seen[n] {
				continue
			}
			seen[n] = true
			if uint(n) > version && uint(n) <= cur {
				steps++
			}
		}
		if steps == 0 {
			return migrate.ErrNoChange
		}
		return m.Steps(-steps)
	})
}

// Version reports the applied version and whether a migration failed
// half-way (dirty).
func Version(databaseURL string) (version uint, dirty bool, err error) {
	err = run(databaseURL, func(m *migrate.Migrate) error {
		version, dirty, err = m.Version()
		if errors.Is(err, migrate.ErrNilVersion) {
			return nil
		}
		return err
	})
	return version, dirty, err
}

func run(databaseURL string, fn func(*migrate.Migrate) error) error {
	src, err := iofs.New(migrations.FS, ".")
	if err != nil {
		return fmt.Errorf("error reading migrations: %w", err)
	}
	dbURL, err := driverURL(databaseURL)
	if err != nil {
		return err
	}
	m, err := migrate.NewWithSourceInstance("iofs", src, dbURL)
	if err != nil {
		return fmt.Errorf("error opening database for migrations: %w", err)
	}
	defer func() { _, _ = m.Close() }()
	if err := fn(m); err != nil && !errors.Is(err, migrate.ErrNoChange) {
		return fmt.Errorf("error migrating: %w", err)
	}
	return nil
}

// driverURL turns a postgres:// URL into golang-migrate's pgx5:// one.
func driverURL(databaseURL string) (string, error) {
	u, err := url.Parse(databaseURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", errors.New("DATABASE_URL must be a postgres:// URL")
	}
	u.Scheme = "pgx5"
	return u.String(), nil
}
