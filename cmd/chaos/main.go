// Command chaos runs patientlink's reliability suite (internal/chaos):
// real patientlink processes under bounded load and injected faults, each
// scenario ending with an accounting check of every acknowledged request.
//
//	go run ./cmd/chaos --profile full|ci [--scenario N] [--report FILE]
//	go run ./cmd/chaos --pg-stop    # stop the suite's PostgreSQL after a killed run
//
// It exits 1 when a scenario fails. Logs of every process are kept in the
// run directory it prints when something failed.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/patientlink/patientlink/internal/chaos"
	"github.com/patientlink/patientlink/internal/harness"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	fs.SetOutput(stderr)
	profile := fs.String("profile", "ci", "full or ci")
	scenario := fs.Int("scenario", 0, "run only scenario N (1-8)")
	report := fs.String("report", "", "write the markdown results table to FILE")
	pgDir := fs.String("pg-dir", filepath.Join(".data", "chaos-pg"), "data directory of the suite's private PostgreSQL")
	pgPort := fs.Int("pg-port", chaos.DefaultPGPort, "port of the suite's private PostgreSQL")
	keep := fs.Bool("keep", false, "keep the run directory (process logs) even when everything passed")
	timeout := fs.Duration("timeout", 0, "give up after this long (default 15m for ci, 45m for full)")
	pgStop := fs.Bool("pg-stop", false, "only stop the suite's PostgreSQL (left running by a killed run) and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	root, err := harness.ModuleRoot(wd)
	if err != nil {
		return err
	}
	if *pgStop {
		return harness.NewCluster(harness.InModule(root, *pgDir), *pgPort, stderr).Stop(ctx)
	}
	p, ok := chaos.Profiles[*profile]
	if !ok {
		return fmt.Errorf("--profile must be full or ci")
	}
	if *timeout == 0 {
		*timeout = map[string]time.Duration{"ci": 15 * time.Minute, "full": 45 * time.Minute}[p.Name]
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	dir, err := os.MkdirTemp("", "patientlink-chaos-")
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "chaos: profile %s, run directory %s\n", p.Name, dir)
	bin, err := harness.Build(ctx, root, dir, nil)
	if err != nil {
		return err
	}
	opts := chaos.Options{
		Profile: p, Bin: bin, Dir: dir, PGPort: *pgPort, Log: stderr,
		PGDir: harness.InModule(root, *pgDir),
	}
	if *report != "" {
		opts.ReportDir = filepath.Dir(*report)
	}
	if *scenario != 0 {
		opts.Scenarios = []int{*scenario}
	}
	start := time.Now()
	results, runErr := chaos.Run(ctx, opts)

	var table bytes.Buffer
	fmt.Fprintf(&table, "Profile `%s`, %s, %s.\n\n", p.Name, time.Now().UTC().Format("2006-01-02 15:04 MST"), time.Since(start).Round(time.Second))
	if err := chaos.WriteReport(&table, results); err != nil {
		return err
	}
	_, _ = stdout.Write(table.Bytes())
	if *report != "" {
		if err := os.WriteFile(*report, table.Bytes(), 0o644); err != nil {
			return fmt.Errorf("error writing the report: %w", err)
		}
	}

	var failed []string
	for _, r := range results {
		if !r.Passed() {
			failed = append(failed, fmt.Sprint(r.N))
		}
	}
	sort.Strings(failed)
	switch {
	case runErr != nil && !errors.Is(runErr, context.Canceled):
		fmt.Fprintf(stderr, "chaos: logs kept in %s\n", dir)
		return runErr
	case runErr != nil:
		fmt.Fprintf(stderr, "chaos: interrupted; logs kept in %s\n", dir)
		return runErr
	case len(failed) > 0:
		fmt.Fprintf(stderr, "chaos: logs kept in %s\n", dir)
		return fmt.Errorf("scenario(s) %s failed", strings.Join(failed, ", "))
	case *keep:
		fmt.Fprintf(stderr, "chaos: logs kept in %s\n", dir)
	default:
		_ = os.RemoveAll(dir)
	}
	return nil
}
