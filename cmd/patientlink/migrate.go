package main

import (
	"fmt"
	"io"
	"strconv"

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
		return fmt.Errorf("usage: patientlink migrate up|down [N]|version")
	}
	switch args[0] {
	case "up":
		if err := schema.Up(dbURL); err != nil {
			return err
		}
	case "down":
		steps := 0
		if len(args) > 1 {
			if steps, err = strconv.Atoi(args[1]); err != nil || steps < 1 {
				return fmt.Errorf("migrate down takes a number of steps ≥ 1, or nothing for all")
			}
		}
		if err := schema.Down(dbURL, steps); err != nil {
			return err
		}
	case "version":
	default:
		return fmt.Errorf("usage: patientlink migrate up|down [N]|version")
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
