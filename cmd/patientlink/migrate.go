package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/patientlink/patientlink/internal/config"
	"github.com/patientlink/patientlink/internal/schema"
)

func runMigrate(args []string, getenv func(string) string, stdout io.Writer) error {
	cfg, err := config.Load(getenv, config.SectionDatabase)
	if err != nil {
		return err
	}
	dbURL := cfg.Database.URL
	if len(args) == 0 {
		return errors.New(migrateUsage)
	}
	switch args[0] {
	case "up":
		if err := schema.Up(dbURL); err != nil {
			return err
		}
	case "down":
		if err := migrateDown(dbURL, args[1:]); err != nil {
			return err
		}
	case "version":
	default:
		return errors.New(migrateUsage)
	}
	version, dirty, err := schema.Version(dbURL)
	if err != nil {
		return err
	}
	latest, _ := schema.Latest()
	fmt.Fprintf(stdout, "schema version %d (latest %d)", version, latest)
	if dirty {
		fmt.Fprint(stdout, " DIRTY: a migration failed half-way; fix it and force the version")
	}
	fmt.Fprintln(stdout)
	return nil
}

const migrateUsage = "usage: patientlink migrate up | down --to N | down --all --yes | version"

// migrateDown reverts to version N (--to N), or everything (--all --yes).
// Nothing else: migrating down drops tables, and below the history's
// migrations the history itself.
func migrateDown(dbURL string, args []string) error {
	fs := flag.NewFlagSet("migrate down", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	to := fs.Int("to", -1, "the version to go down to")
	all := fs.Bool("all", false, "revert every migration (drops all data, history included)")
	yes := fs.Bool("yes", false, "confirm --all")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		return fmt.Errorf("migrate down needs --to N or --all --yes (%s)", migrateUsage)
	}
	switch {
	case *all && *yes && *to < 0:
		return schema.Down(dbURL, 0)
	case *all:
		return errors.New("migrate down --all drops every table, the history included: add --yes to confirm")
	case *to >= 0:
		version, _, err := schema.Version(dbURL)
		if err != nil {
			return err
		}
		if uint(*to) >= version {
			return fmt.Errorf("the schema is at version %d: --to %d is not below it", version, *to)
		}
		return schema.DownTo(dbURL, uint(*to))
	}
	return fmt.Errorf("migrate down needs --to N or --all --yes: without them it would drop everything, the history included (%s)", migrateUsage)
}
