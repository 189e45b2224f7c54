package bench

import (
	"path/filepath"
	"strings"
	"time"
)

// Options configure a run. DefaultOptions gives the two profiles.
type Options struct {
	ModuleDir   string `json:"-"`
	OutDir      string `json:"-"`
	DatabaseURL string `json:"-"`
	PGDir       string `json:"pg_dir"`
	PGPort      int    `json:"pg_port"`
	KeepCluster bool   `json:"keep_cluster"`

	Profile         string        `json:"profile"` // quick or full
	Concurrency     int           `json:"concurrency"`
	E2EConcurrency  int           `json:"e2e_concurrency"`
	Rates           []float64     `json:"rates"` // open loop; empty: half the peaks
	Warmup          time.Duration `json:"warmup"`
	Duration        time.Duration `json:"duration"`
	SweepDuration   time.Duration `json:"sweep_duration"`
	MaxRequests     int           `json:"max_requests_per_phase"`
	DrainTimeout    time.Duration `json:"drain_timeout"`
	E2ETimeout      time.Duration `json:"e2e_timeout"`
	PgbenchDuration time.Duration `json:"pgbench_duration"`
	Sweep           bool          `json:"sweep"`
	ProfileSeconds  int           `json:"profile_seconds"`
	Customers       int           `json:"customers"`
	Patients        int           `json:"patients"`
	Verify          bool          `json:"verify_signatures"`
	Settings        ServiceSettings
	BulkBatches     []int   `json:"bulk_batches"`          // POST /links batch sizes of the bulk-ack phases
	BulkE2EBatch    int     `json:"bulk_e2e_batch"`        // batch size of the bulk-e2e phase
	BulkConcurrency int     `json:"bulk_concurrency"`      // least clients of a bulk phase (see bulkClients)
	Only            []Phase `json:"only,omitempty"`        // of Selectable; empty: all
	SweepMatch      string  `json:"sweep_match,omitempty"` // run only sweep settings whose label contains one of these (|-separated)
}

func (o Options) sweeps(s ServiceSettings) bool {
	if o.SweepMatch == "" {
		return true
	}
	for _, m := range strings.Split(o.SweepMatch, "|") {
		if m != "" && strings.Contains(s.Label(), m) {
			return true
		}
	}
	return false
}

// bulkClients is how many clients post batches of batch patients at once:
// at batch 1 as many as single requests need to saturate (Concurrency),
// never fewer than BulkConcurrency; a few large requests already keep the
// cores busy, and more would only queue for them.
func (o Options) bulkClients(batch int) int {
	return max(o.BulkConcurrency, (o.Concurrency+batch-1)/max(batch, 1))
}

// DefaultOptions is the full run (about eleven minutes) or, quick, about
// two (each more on a loaded machine).
func DefaultOptions(quick bool) Options {
	o := Options{
		ModuleDir: ".", OutDir: "bench-results", PGDir: filepath.Join(".data", "bench-pg"), PGPort: 54331,
		Profile: "full", Concurrency: 32, E2EConcurrency: 64,
		Warmup: 5 * time.Second, Duration: 20 * time.Second, SweepDuration: 12 * time.Second,
		MaxRequests: 200_000, DrainTimeout: 45 * time.Second, E2ETimeout: 30 * time.Second,
		PgbenchDuration: 20 * time.Second, Sweep: true, ProfileSeconds: 10,
		Customers: 8, Patients: 100_000, Verify: true, Settings: DefaultSettings(),
		BulkBatches: []int{1, 10, 100, 1000}, BulkE2EBatch: 100, BulkConcurrency: 4,
	}
	if quick {
		o.Profile = "quick"
		o.Warmup, o.Duration, o.SweepDuration = 2*time.Second, 6*time.Second, 6*time.Second
		o.DrainTimeout, o.PgbenchDuration, o.Sweep, o.ProfileSeconds = 20*time.Second, 6*time.Second, false, 4
		o.BulkBatches = []int{100, 1000}
	}
	return o
}
