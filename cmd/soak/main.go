// Command soak runs patientlink's soak (internal/soak): half an hour at
// half the measured peak, two api and two worker processes, 5 % index and
// receiver failures, sampled every 10 s and judged against the pass
// criteria of docs/reliability.md.
//
//	go run ./cmd/soak [--duration 30m] [--rate N] [--out DIR] [--report FILE] [--pg-port N]
//	go run ./cmd/soak --pg-stop    # stop the soak's PostgreSQL after a killed run
//
// It exits 1 when a criterion fails.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/patientlink/patientlink/internal/harness"
	"github.com/patientlink/patientlink/internal/soak"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o := soak.DefaultOptions()
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&o.Duration, "duration", o.Duration, "how long the steady load runs")
	fs.Float64Var(&o.Rate, "rate", 0, "links per second to offer (default: half the peak, measured first)")
	fs.StringVar(&o.OutDir, "out", "", "directory for report.md, samples.csv, samples.json, soak.png and logs/ (default .data/soak/<time>)")
	fs.StringVar(&o.Report, "report", "", "write the markdown report to FILE (default OUT/report.md)")
	fs.StringVar(&o.PGDir, "pg-dir", o.PGDir, "data directory of the soak's private PostgreSQL")
	fs.IntVar(&o.PGPort, "pg-port", o.PGPort, "port of the soak's private PostgreSQL")
	fs.DurationVar(&o.PeakFor, "peak-for", o.PeakFor, "how long the closed loop that measures the peak runs")
	fs.DurationVar(&o.Every, "every", o.Every, "time between two samples")
	timeout := fs.Duration("timeout", 0, "give up after this long (default: the duration + 20m)")
	pgStop := fs.Bool("pg-stop", false, "only stop the soak's PostgreSQL (left running by a killed run) and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.Duration < time.Minute || o.Every <= 0 || o.Duration < 6*o.Every || o.Rate < 0 {
		return errors.New("--duration must be at least a minute and six samples long, --every positive, --rate not negative")
	}
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	if o.ModuleDir, err = harness.ModuleRoot(wd); err != nil {
		return err
	}
	o.PGDir = harness.InModule(o.ModuleDir, o.PGDir)
	if *pgStop {
		return harness.NewCluster(o.PGDir, o.PGPort, stderr).Stop(ctx)
	}
	if o.OutDir == "" {
		o.OutDir = filepath.Join(".data", "soak", time.Now().UTC().Format("20060102-150405"))
	}
	o.OutDir = harness.InModule(o.ModuleDir, o.OutDir)
	if *timeout == 0 {
		*timeout = o.Duration + 20*time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	o.Log = stderr

	rep, err := soak.Run(ctx, o)
	if err != nil {
		return err
	}
	rep.Markdown(stdout)
	fmt.Fprintf(stderr, "soak: report, samples and plot in %s\n", o.OutDir)
	if !rep.Passed() {
		return errors.New("a criterion failed")
	}
	return nil
}
