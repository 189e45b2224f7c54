// Package chaos is patientlink's reliability suite: each scenario deploys
// real patientlink processes (api and worker roles) against a private
// PostgreSQL cluster, an index simulator and a webhook receiver on
// 127.0.0.1, injects one kind of fault (kill -9, a stopped database, a
// failing index, a receiver outage, duplicate storms) under bounded load,
// and ends with an accounting check of every acknowledged request.
//
// The suite runs only through cmd/chaos (make chaos); the package's own
// tests check the accounting and reporting logic and start nothing.
package chaos

import (
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/patientlink/patientlink/internal/harness"
)

// Profile sizes a run.
type Profile struct {
	Name      string
	Scenarios []int // run by default

	WorkerKillLinks int // scenario 1
	WorkerKills     int
	APIKillLinks    int // scenario 2
	APIKills        int
	DBDownLinks     int // scenario 3: links sent at a steady pace around the outage
	DBDown          time.Duration
	IndexLinks      int // scenario 4: sent while the index fails 30% / times out 10%
	IndexDown       time.Duration
	WebhookLinks    int // scenario 5
	WebhookDown     time.Duration
	StormKeys       int // scenario 6: keys, each sent StormCopies times at once
	StormCopies     int
	OperatorLinks   int // scenario 7: links sent while an operator acts
	OperatorActions int
	BulkLinks       int // scenario 8: links sent in bulk requests of BulkSize
	BulkSize        int
	BulkKills       int

	Settle time.Duration // longest wait for the last workflows to end
}

// Profiles are the sizes cmd/chaos knows.
var Profiles = map[string]Profile{
	"full": {
		Name: "full", Scenarios: []int{1, 2, 3, 4, 5, 6, 7, 8},
		WorkerKillLinks: 5000, WorkerKills: 12,
		APIKillLinks: 2000, APIKills: 12,
		DBDownLinks: 1500, DBDown: 20 * time.Second,
		IndexLinks: 1000, IndexDown: 2 * time.Minute,
		WebhookLinks: 500, WebhookDown: 5 * time.Minute,
		StormKeys: 50, StormCopies: 20,
		OperatorLinks: 1000, OperatorActions: 300,
		BulkLinks: 10000, BulkSize: 250, BulkKills: 12,
		Settle: 4 * time.Minute,
	},
	"ci": {
		Name: "ci", Scenarios: []int{1, 2, 3, 6, 8},
		WorkerKillLinks: 1000, WorkerKills: 5,
		APIKillLinks: 600, APIKills: 6,
		DBDownLinks: 800, DBDown: 20 * time.Second,
		IndexLinks: 300, IndexDown: 30 * time.Second,
		WebhookLinks: 200, WebhookDown: 45 * time.Second,
		StormKeys: 20, StormCopies: 20,
		OperatorLinks: 300, OperatorActions: 100, // not in the profile: --scenario 7
		BulkLinks: 3000, BulkSize: 100, BulkKills: 6,
		Settle: 3 * time.Minute,
	},
}

// Options configure Run.
type Options struct {
	Profile   Profile
	Scenarios []int  // empty: the profile's
	Bin       string // the patientlink binary (harness.Build)
	Dir       string // run directory for logs; kept when a scenario fails
	PGDir     string // the private cluster's data directory
	PGPort    int
	Log       io.Writer // progress lines
	ReportDir string    // where a failing mappings check writes its HTML; "": the scenario's directory
}

// Result is one scenario's outcome.
type Result struct {
	N        int
	Name     string
	Load     string
	Faults   string
	Tally    Tally
	Checked  Checked       // the checkers on the scenario's history
	Recovery time.Duration // last fault cleared → every workflow ended; <0 when they did not
	Notes    []string      // measurements worth reading
	Failures []string      // scenario-specific promises broken
	Err      error         // the harness itself failed
	Took     time.Duration
}

// Passed reports whether the scenario ran and kept every promise.
func (r Result) Passed() bool {
	return r.Err == nil && r.Tally.OK() && len(r.Failures) == 0 && len(r.Checked.Violations) == 0
}

func (r *Result) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}
func (r *Result) fail(format string, args ...any) {
	r.Failures = append(r.Failures, fmt.Sprintf(format, args...))
}

// scenario runs against a deployed stage and fills in the result.
type scenario struct {
	name  string
	stage func(p Profile) stageOpts
	run   func(ctx context.Context, s *suite, st *stage, p Profile, r *Result) error
}

var scenarios = map[int]scenario{
	1: {"kill -9 workers", stageWorkerKill, runWorkerKill},
	2: {"kill -9 an api process", stageAPIKill, runAPIKill},
	3: {"PostgreSQL stopped", stageDBDown, runDBDown},
	4: {"index errors, timeouts, outage", stageIndex, runIndex},
	5: {"webhook receiver down", stageWebhook, runWebhook},
	6: {"duplicate storms", stageStorm, runStorm},
	7: {"operator chaos", stageOperator, runOperator},
	8: {"bulk requests under kill -9", stageBulk, runBulk},
}

// Run runs the scenarios in order, each in a deployment of its own, and
// returns their results. An error means the suite could not run at all.
func Run(ctx context.Context, o Options) ([]Result, error) {
	if o.Log == nil {
		o.Log = io.Discard
	}
	list := o.Scenarios
	if len(list) == 0 {
		list = o.Profile.Scenarios
	}
	for _, n := range list {
		if _, ok := scenarios[n]; !ok {
			return nil, fmt.Errorf("no scenario %d (1 to %d)", n, len(scenarios))
		}
	}
	if o.PGPort == 0 {
		o.PGPort = DefaultPGPort
	}
	s := &suite{bin: o.Bin, dir: o.Dir, htmlDir: o.ReportDir, log: o.Log, pg: harness.NewCluster(o.PGDir, o.PGPort, o.Log)}
	if err := s.pg.Start(ctx); err != nil {
		return nil, fmt.Errorf("error starting the chaos cluster: %w", err)
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := s.pg.Stop(stopCtx); err != nil {
			fmt.Fprintf(o.Log, "chaos: stopping the cluster: %v\n", err)
		}
	}()

	var results []Result
	for _, n := range list {
		if ctx.Err() != nil {
			break
		}
		results = append(results, s.runOne(ctx, n, o.Profile))
	}
	return results, ctx.Err()
}

func (s *suite) runOne(ctx context.Context, n int, p Profile) Result {
	sc := scenarios[n]
	r := Result{N: n, Name: sc.name, Recovery: -1}
	start := time.Now()
	fmt.Fprintf(s.log, "chaos: scenario %d: %s\n", n, sc.name)
	// Postgres may be down after an interrupted scenario 3.
	if err := s.pg.Start(ctx); err != nil {
		r.Err = err
		return r
	}
	st, err := s.newStage(ctx, n, sc.stage(p))
	defer st.close()
	if err != nil {
		r.Err = fmt.Errorf("error deploying: %w", err)
	} else if err := sc.run(ctx, s, st, p, &r); err != nil {
		r.Err = err
	}
	r.Took = time.Since(start)
	status := "PASS"
	if !r.Passed() {
		status = "FAIL"
	}
	fmt.Fprintf(s.log, "chaos: scenario %d %s in %s: acknowledged %d, completed %d, failed %s, lost %d, duplicated %d\n",
		n, status, r.Took.Round(time.Second), r.Tally.Acknowledged, r.Tally.Completed, r.Tally.FailedSummary(), r.Tally.Lost, r.Tally.Duplicated)
	fmt.Fprintf(s.log, "chaos:   %s\n", r.Checked.Line())
	for _, v := range r.Checked.Violations[:min(5, len(r.Checked.Violations))] {
		fmt.Fprintf(s.log, "chaos:   violation (%s): %s\n", v.Checker, v.What)
	}
	for _, line := range append(slices.Clone(r.Failures), r.Tally.Problems...) {
		fmt.Fprintf(s.log, "chaos:   %s\n", line)
	}
	if r.Err != nil {
		fmt.Fprintf(s.log, "chaos:   error: %v\n", r.Err)
	}
	return r
}

// settle waits for every workflow to end, then runs the accounting check.
// faultEnd is when the last fault was cleared.
func (st *stage) settle(ctx context.Context, p Profile, r *Result, reqs []*Request, faultEnd time.Time, allowedFailures ...string) error {
	at, ok := waitSettled(ctx, st.db, time.Now().Add(p.Settle))
	if ok {
		r.Recovery = at.Sub(faultEnd)
	} else {
		r.fail("workflows still pending %s after the load and faults ended", p.Settle)
	}
	// A COMPLETED workflow's notification was accepted before it completed;
	// a short grace lets in-flight duplicates land in the counters.
	time.Sleep(200 * time.Millisecond)
	snap, err := LoadSnapshot(ctx, st.db)
	if err != nil {
		return err
	}
	r.Tally = Account(reqs, snap, st.sink.Events(), st.sink.Stats(), allowedFailures)
	if err := st.check(ctx, reqs, r); err != nil {
		return err
	}
	var reconciled int
	if err := st.db.QueryRow(ctx, `SELECT count(*) FROM workflow_events WHERE reason = 'reconcile'`).Scan(&reconciled); err == nil && reconciled > 0 {
		r.note("reconciliation put %d workflow(s) back to work", reconciled)
	}
	return nil
}
