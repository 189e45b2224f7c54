// Package soak is `make soak` (cmd/soak): patientlink under a steady load
// for half an hour — two api and two worker processes, an index simulator
// failing 5 % of searches, a webhook receiver failing 5 % of deliveries —
// sampled every 10 s and judged against the pass criteria of
// docs/reliability.md (stalls, p99 drift, RSS growth, table growth per
// link, every acknowledged link COMPLETED). It writes a markdown report,
// the samples as CSV and JSON, and a plot of the series.
package soak

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/patientlink/patientlink/internal/bench"
	"github.com/patientlink/patientlink/internal/harness"
)

// DefaultPGPort is the soak's private cluster: apart from the
// development (54329), benchmark (54331) and chaos (54333) clusters.
const DefaultPGPort = 54334

// Options configure Run.
type Options struct {
	ModuleDir string
	OutDir    string // report.md, samples.csv, samples.json, soak.png, logs/
	Report    string // the markdown report's path; "": OutDir/report.md
	PGDir     string
	PGPort    int

	Duration        time.Duration // of the steady load
	Rate            float64       // links/s; 0: half the peak measured first
	PeakFor         time.Duration // the closed loop that measures the peak
	PeakClients     int
	Every           time.Duration // between two samples
	DrainFor        time.Duration // longest wait for the work to end after the load
	IndexErrorRate  float64       // share of searches the index simulator fails
	WebhookFailRate float64       // share of deliveries the receiver fails
	Customers       int
	Patients        int // the index's population, and the patients linked per customer

	Log io.Writer `json:"-"` // progress lines
}

// DefaultOptions are the soak: 30 minutes at half the measured
// peak, 5 % index and receiver failures.
func DefaultOptions() Options {
	return Options{
		ModuleDir: ".", PGDir: filepath.Join(".data", "soak-pg"), PGPort: DefaultPGPort,
		Duration: 30 * time.Minute, PeakFor: 20 * time.Second, PeakClients: 64, Every: 10 * time.Second,
		DrainFor: 5 * time.Minute, IndexErrorRate: 0.05, WebhookFailRate: 0.05, Customers: 4, Patients: 100_000,
	}
}

// Run runs the soak and writes its outputs; the report is returned even
// when a criterion failed (Report.Passed says so). An error means the soak
// itself could not run.
func Run(ctx context.Context, o Options) (*Report, error) {
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.Report == "" {
		o.Report = filepath.Join(o.OutDir, "report.md")
	}
	if err := os.MkdirAll(filepath.Join(o.OutDir, "logs"), 0o755); err != nil {
		return nil, err
	}
	rep := &Report{Started: time.Now().UTC(), Options: o, Cores: runtime.NumCPU(), LoadBefore: harness.LoadAverage()}
	d, err := deploy(ctx, o)
	defer d.close()
	if err != nil {
		return nil, err
	}
	rep.Commit = bench.GitDescribe(o.ModuleDir)

	rate := o.Rate
	if rate == 0 {
		d.logf("measuring the peak: %d clients, closed loop to the webhook, for %s", o.PeakClients, o.PeakFor)
		rep.Peak = d.peak(ctx, o.PeakFor, o.PeakClients)
		rate = rep.Peak / 2
		d.logf("peak %.1f links/s end to end; soaking at half: %.1f/s", rep.Peak, rate)
		if rate < 1 {
			return nil, fmt.Errorf("measured peak %.2f links/s: too low to soak at half of it", rep.Peak)
		}
		if _, ok := d.waitIdle(ctx, 2*time.Minute); !ok {
			d.logf("the peak's work had not drained after 2m; soaking anyway")
		}
	}
	rep.Rate = rate
	if need := int(rate*o.Duration.Seconds()) + int(d.workload.Issued()); need > d.workload.Capacity() {
		return nil, fmt.Errorf("%d links would reuse patients (capacity %d customers × %d patients): raise Customers", need, o.Customers, o.Patients)
	}

	d.logf("soaking at %.1f links/s for %s, a sample every %s", rate, o.Duration, o.Every)
	run := d.soak(ctx, rate, o.Duration, o.Every)
	rep.Samples, rep.Snapshots, rep.Load = run.samples, run.snapshots, run.load
	d.logf("load over; draining (at most %s)", o.DrainFor)
	rep.DrainTook, rep.Drained = d.waitIdle(ctx, o.DrainFor)
	if rep.Final, err = d.account(ctx, run.tracker.ids()); err != nil {
		return nil, err
	}
	rep.Receiver = d.recv.Stats()
	rep.LoadAfter = harness.LoadAverage()
	rep.judge(run.tracker, o)
	rep.Took = time.Since(rep.Started)
	if err := rep.write(o); err != nil {
		return nil, err
	}
	return rep, nil
}
