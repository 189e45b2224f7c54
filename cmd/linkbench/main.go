// Command linkbench benchmarks patientlink (`make bench`): PostgreSQL, the
// service, the index simulator and a webhook receiver on 127.0.0.1, driven
// by closed- and open-loop link requests, with pgbench's replay of the same
// SQL as the ceiling. See BENCHMARKS.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/patientlink/patientlink/internal/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "linkbench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("linkbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	quick := fs.Bool("quick", false, "the ~2 minute profile: short phases, batch sizes 100 and 1000, no settings sweep")
	// Look for --quick first, so the other flags default to its profile.
	for _, a := range args {
		if a == "--quick" || a == "-quick" || a == "--quick=true" || a == "-quick=true" {
			*quick = true
		}
	}
	o := bench.DefaultOptions(*quick)
	fs.IntVar(&o.Concurrency, "c", o.Concurrency, "closed-loop clients acknowledging links (pgbench ack.sql runs at the same)")
	fs.IntVar(&o.E2EConcurrency, "e2e-c", o.E2EConcurrency, "clients that each wait for their webhook (pgbench of a whole link runs at the same)")
	only := fs.String("only", "", "run only these parts, comma-separated: "+phaseList(bench.Selectable))
	rates := fs.String("rate", "", "open-loop rates per second, comma-separated (default: half the measured peaks)")
	batches := fs.String("bulk-batches", intList(o.BulkBatches), "POST /links batch sizes of the bulk-ack phases, comma-separated (1 to 1000)")
	fs.IntVar(&o.BulkE2EBatch, "bulk-e2e-batch", o.BulkE2EBatch, "POST /links batch size of the bulk-e2e phase")
	fs.IntVar(&o.BulkConcurrency, "bulk-c", o.BulkConcurrency, "least clients posting batches (at batch 1, as many as -c)")
	fs.DurationVar(&o.Warmup, "warmup", o.Warmup, "warm-up of each phase, excluded from the figures")
	fs.DurationVar(&o.Duration, "duration", o.Duration, "measured time of each phase")
	fs.DurationVar(&o.SweepDuration, "sweep-duration", o.SweepDuration, "measured time of each settings-sweep phase")
	fs.DurationVar(&o.PgbenchDuration, "pgbench-duration", o.PgbenchDuration, "measured time of each pgbench run")
	fs.DurationVar(&o.DrainTimeout, "drain-timeout", o.DrainTimeout, "longest wait for a phase's outstanding webhooks")
	fs.IntVar(&o.MaxRequests, "max-requests", o.MaxRequests, "most requests of one phase")
	fs.BoolVar(&o.Sweep, "sweep", o.Sweep, "sweep River fetch settings, worker counts and pool sizes")
	fs.StringVar(&o.SweepMatch, "sweep-match", "", "sweep only the settings whose label contains one of these, |-separated (e.g. \"pool 10|pool 40\")")
	fs.IntVar(&o.ProfileSeconds, "profile-seconds", o.ProfileSeconds, "length of the service's CPU profiles")
	fs.IntVar(&o.Customers, "customers", o.Customers, "customers the requests are spread over")
	fs.IntVar(&o.Patients, "patients", o.Patients, "size of the simulator's population used")
	fs.BoolVar(&o.Verify, "verify", o.Verify, "verify each webhook's signature")
	fs.StringVar(&o.OutDir, "out", o.OutDir, "directory of the results")
	fs.StringVar(&o.PGDir, "pg-dir", o.PGDir, "data directory of the private PostgreSQL (when DATABASE_URL is unset)")
	fs.IntVar(&o.PGPort, "pg-port", o.PGPort, "port of the private PostgreSQL")
	fs.BoolVar(&o.KeepCluster, "keep-pg", false, "leave the private PostgreSQL running afterwards")
	fs.StringVar(&o.ModuleDir, "src", o.ModuleDir, "module whose ./cmd/patientlink is benchmarked")
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return nil
	} else if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	for _, part := range strings.Split(*rates, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		v, err := strconv.ParseFloat(part, 64)
		if err != nil || v <= 0 {
			return fmt.Errorf("--rate: %q is not a positive number", part)
		}
		o.Rates = append(o.Rates, v)
	}
	o.BulkBatches = nil
	for _, part := range strings.Split(*batches, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		v, err := strconv.Atoi(part)
		if err != nil || v < 1 || v > 1000 {
			return fmt.Errorf("--bulk-batches: %q is not a batch size from 1 to 1000", part)
		}
		o.BulkBatches = append(o.BulkBatches, v)
	}
	if o.BulkE2EBatch < 1 || o.BulkE2EBatch > 1000 || o.BulkConcurrency < 1 {
		return fmt.Errorf("--bulk-e2e-batch must be from 1 to 1000, --bulk-c positive")
	}
	if o.Concurrency < 1 || o.E2EConcurrency < 1 || o.Duration < time.Second || o.MaxRequests < 1 || o.Customers < 1 || o.Patients < 1 {
		return fmt.Errorf("-c, -e2e-c, --max-requests, --customers and --patients must be positive, --duration at least 1s")
	}
	for _, part := range strings.Split(*only, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		if !slices.Contains(bench.Selectable, bench.Phase(part)) {
			return fmt.Errorf("--only: %q is none of %s", part, phaseList(bench.Selectable))
		}
		o.Only = append(o.Only, bench.Phase(part))
	}
	o.DatabaseURL = getenv("DATABASE_URL")
	_, err := bench.Run(ctx, o, stdout, stderr)
	return err
}

func intList(vs []int) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = strconv.Itoa(v)
	}
	return strings.Join(parts, ",")
}

func phaseList(phases []bench.Phase) string {
	names := make([]string, len(phases))
	for i, p := range phases {
		names[i] = string(p)
	}
	return strings.Join(names, ",")
}
