package bench

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
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
	Only            []string `json:"only,omitempty"`        // phase keys to run; empty: all
	SweepMatch      string   `json:"sweep_match,omitempty"` // run only sweep settings whose label contains one of these (|-separated)
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

// PhaseKeys name the parts of a run, in order, for Options.Only.
var PhaseKeys = []string{"ack-api", "drain", "ack-all", "e2e", "open", "sweep", "pgbench"}

func (o Options) runs(key string) bool {
	if len(o.Only) == 0 {
		return true
	}
	for _, k := range o.Only {
		if k == key {
			return true
		}
	}
	return false
}

// DefaultOptions is the full run (at most about ten minutes) or, quick,
// about one minute.
func DefaultOptions(quick bool) Options {
	o := Options{
		ModuleDir: ".", OutDir: "bench-results", PGDir: filepath.Join(".data", "bench-pg"), PGPort: 54331,
		Profile: "full", Concurrency: 32, E2EConcurrency: 64,
		Warmup: 5 * time.Second, Duration: 20 * time.Second, SweepDuration: 12 * time.Second,
		MaxRequests: 200_000, DrainTimeout: 45 * time.Second, E2ETimeout: 30 * time.Second,
		PgbenchDuration: 20 * time.Second, Sweep: true, ProfileSeconds: 10,
		Customers: 8, Patients: 100_000, Verify: true, Settings: DefaultSettings(),
	}
	if quick {
		o.Profile = "quick"
		o.Warmup, o.Duration, o.SweepDuration = 2*time.Second, 6*time.Second, 6*time.Second
		o.DrainTimeout, o.PgbenchDuration, o.Sweep, o.ProfileSeconds = 20*time.Second, 6*time.Second, false, 4
	}
	return o
}

// Report is everything a run measured; it is written as results.json.
type Report struct {
	Started      time.Time                 `json:"started"`
	Seconds      float64                   `json:"seconds"`
	Command      string                    `json:"command"`
	Commit       string                    `json:"commit"`
	Go           string                    `json:"go"`
	Machine      machineInfo               `json:"machine"`
	Postgres     map[string]string         `json:"postgres"`
	Options      Options                   `json:"options"`
	AckSteps     []StepCost                `json:"ack_steps"`
	PayloadBytes int                       `json:"sealed_payload_bytes"`
	NotifyPct    map[string]int            `json:"notify_pct"`
	Phases       []*PhaseResult            `json:"phases"`
	Sweep        []*PhaseResult            `json:"sweep"`
	Pgbench      map[string]*PgbenchResult `json:"pgbench"`
	Ratios       []Ratio                   `json:"ratios"`
	Targets      []Target                  `json:"targets"`
	Receiver     ReceiverStats             `json:"receiver"`
	Notes        []string                  `json:"notes"`
	Dir          string                    `json:"dir"`
}

// PhaseResult is one load phase.
type PhaseResult struct {
	Name        string          `json:"name"`
	Mode        string          `json:"mode"`
	Role        string          `json:"role"`
	Settings    ServiceSettings `json:"settings"`
	Concurrency int             `json:"concurrency,omitempty"`
	Rate        float64         `json:"rate,omitempty"`
	Window      float64         `json:"window_s"`
	Requests    int             `json:"requests"`
	Ack         Summary         `json:"ack"`
	AckErrors   Counts          `json:"ack_errors"`
	E2E         Summary         `json:"e2e_webhook"`   // 202 → webhook received
	E2EDone     Summary         `json:"e2e_completed"` // RECEIVED → COMPLETED events
	E2EErrors   Counts          `json:"e2e_errors"`
	States      Counts          `json:"states"`
	Drain       *DrainResult    `json:"drain,omitempty"`
	Resources   Resources       `json:"resources"`
	DB          dbStats         `json:"db_delta"`
	Links       int             `json:"links"` // acknowledged in the phase, warm-up included
	TxPerLink   float64         `json:"tx_per_link"`
	SyncPerLink float64         `json:"wal_syncs_per_link"`
	Waits       []WaitShare     `json:"waits"`
	Statements  []StatementStat `json:"statements,omitempty"`
	Profiles    []string        `json:"profiles,omitempty"`

	ackLat, e2eLat []time.Duration
}

// Resources are CPU and memory while the window lasted.
type Resources struct {
	Cores       map[string]float64 `json:"cores"` // CPU seconds per second, by process
	MachineBusy float64            `json:"machine_busy"`
	IOWait      float64            `json:"iowait"`
	PeakRSSMB   map[string]float64 `json:"peak_rss_mb"` // VmHWM
	CPUPerLink  float64            `json:"serve_cpu_ms_per_link"`
}

// DrainResult is the wait for outstanding webhooks after a phase.
type DrainResult struct {
	Pending   int     `json:"pending"`
	Drained   int     `json:"drained"`
	Seconds   float64 `json:"seconds"`
	PerSec    float64 `json:"per_sec"`
	Cancelled int64   `json:"cancelled_jobs"`
}

// Ratio is one of our figures over its pgbench ceiling.
type Ratio struct {
	What    string  `json:"what"`
	Ours    float64 `json:"ours"`
	Ceiling float64 `json:"ceiling"`
	Ratio   float64 `json:"ratio"`
}

// Target is one goal of the benchmark and whether this run met it.
type Target struct {
	Goal string `json:"goal"`
	Got  string `json:"got"`
	Met  bool   `json:"met"`
}

type runner struct {
	opts   Options
	log    io.Writer
	dir    string
	tmp    string
	bin    string
	db     *database
	pool   *pgxpool.Pool
	admin  *pgxpool.Pool
	stmts  bool
	recv   *Receiver
	gen    *Generator
	sim    *proc
	svc    *service
	env    []string
	report *Report
	nsvc   int

	capNoted bool
}

// Run benchmarks the service and writes results under opts.OutDir; the
// table goes to stdout, progress to log.
func Run(ctx context.Context, opts Options, stdout, log io.Writer) (*Report, error) {
	r := &runner{opts: opts, log: log}
	r.report = &Report{Started: time.Now(), Command: strings.Join(os.Args, " "), Options: opts, Go: runtime.Version(),
		Pgbench: map[string]*PgbenchResult{}}
	defer r.cleanup()
	if err := r.setup(ctx); err != nil {
		return nil, err
	}
	if err := r.phases(ctx); err != nil {
		return nil, err
	}
	if err := r.ceilings(ctx); err != nil {
		return nil, err
	}
	r.report.Receiver = r.recv.Stats()
	r.conclude()
	r.report.Seconds = time.Since(r.report.Started).Seconds()
	if err := r.write(); err != nil {
		return nil, err
	}
	printReport(stdout, r.report)
	return r.report, nil
}

func (r *runner) logf(format string, args ...any) {
	fmt.Fprintf(r.log, "linkbench: "+format+"\n", args...)
}

func (r *runner) setup(ctx context.Context) error {
	stamp := r.report.Started.Format("20060102-150405")
	r.dir = filepath.Join(r.opts.OutDir, stamp)
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		return err
	}
	r.report.Dir = r.dir
	tmp, err := os.MkdirTemp("", "linkbench-")
	if err != nil {
		return err
	}
	r.tmp = tmp
	r.report.Commit = gitDescribe(r.opts.ModuleDir)

	r.logf("building ./cmd/patientlink")
	if r.bin, err = buildService(ctx, r.opts.ModuleDir, tmp); err != nil {
		return err
	}
	if r.opts.DatabaseURL == "" {
		r.logf("starting the private PostgreSQL in %s on 127.0.0.1:%d", r.opts.PGDir, r.opts.PGPort)
		r.db, err = privateCluster(ctx, r.opts.PGDir, r.opts.PGPort, r.log)
	} else {
		r.logf("using DATABASE_URL")
		r.db, err = givenDatabase(ctx, r.opts.DatabaseURL)
	}
	if err != nil {
		return err
	}
	fsyncDir := filepath.Dir(r.opts.PGDir)
	if r.db.cluster == nil {
		fsyncDir = r.dir
	}
	r.report.Machine = readMachineInfo(fsyncDir)

	secret := func() string {
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		return base64.StdEncoding.EncodeToString(b)
	}
	simAddr, err := freeAddr()
	if err != nil {
		return err
	}
	r.env = append(cleanEnviron(),
		"DATABASE_URL="+r.db.url,
		"PATIENTLINK_TOKEN_SECRET="+secret(),
		"PATIENTLINK_DATA_KEY="+secret(),
		"PATIENTLINK_INDEX_CALLBACK_SECRET="+secret(),
		"PATIENTLINK_INDEX_URL=http://"+simAddr,
		"PATIENTLINK_ALLOW_INSECURE_WEBHOOKS=true",
		"PATIENTLINK_RATE_LIMIT=0",
		"PATIENTLINK_MAX_INFLIGHT=100000",
		"PATIENTLINK_RECONCILE_INTERVAL=0",
		"PATIENTLINK_LOG_FORMAT=json",
	)
	r.logf("migrating")
	if err := runQuiet(ctx, r.bin, r.env, "migrate", "up"); err != nil {
		return err
	}
	if r.pool, err = pgxpool.New(ctx, r.db.url); err != nil {
		return err
	}
	if r.admin, err = pgxpool.New(ctx, r.db.adminURL); err != nil {
		return err
	}
	if _, err := r.pool.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"); err == nil {
		r.stmts = resetStatements(ctx, r.pool)
	}
	if !r.stmts {
		r.note("pg_stat_statements is not loaded on this server: no per-statement figures")
	}
	if r.report.Postgres, err = readSettings(ctx, r.pool); err != nil {
		return err
	}

	if r.recv, err = NewReceiver(r.opts.Verify); err != nil {
		return err
	}
	r.logf("reading %d patients of the simulator's population", r.opts.Patients)
	patients, err := readPopulation(ctx, r.bin, r.opts.Patients)
	if err != nil {
		return err
	}
	wl := &Workload{Patients: patients, RunID: "bench-" + stamp}
	for k := range r.opts.Customers {
		c, err := createCustomer(ctx, r.bin, r.env, fmt.Sprintf("bench customer %d", k), r.recv.URL(k))
		if err != nil {
			return err
		}
		r.recv.SetSecret(k, c.Secret)
		wl.Customers = append(wl.Customers, c)
	}
	r.gen = &Generator{Workload: wl, Receiver: r.recv, Client: NewClient(4096)}

	r.logf("starting the index simulator on %s", simAddr)
	r.sim, err = startProc("index-sim", r.bin, []string{"index-sim", "--addr", simAddr, "--size", fmt.Sprint(r.opts.Patients)},
		cleanEnviron(), filepath.Join(r.dir, "index-sim.log"))
	if err != nil {
		return err
	}
	if err := waitTCP(simAddr, 60*time.Second); err != nil {
		return err
	}

	r.logf("measuring the Go steps of an acknowledgement")
	if r.report.AckSteps, err = ackSteps(patients[0], 300*time.Millisecond); err != nil {
		return err
	}
	return nil
}

func (r *runner) note(s string) {
	r.report.Notes = append(r.report.Notes, s)
	r.logf("note: %s", s)
}

// cleanEnviron is our environment without the service's variables, so a
// developer's shell does not change the benchmark.
func cleanEnviron() []string {
	var out []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PATIENTLINK_") || strings.HasPrefix(kv, "DATABASE_URL=") || strings.HasPrefix(kv, "LINKBENCH_") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// ensureService runs serve with role and settings, restarting it if it
// runs otherwise.
func (r *runner) ensureService(ctx context.Context, role string, s ServiceSettings) error {
	if r.svc != nil && r.svc.role == role && r.svc.settings == s && !r.svc.exited() {
		return nil
	}
	r.stopService()
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	opAddr, err := freeAddr()
	if err != nil {
		return err
	}
	fallback, err := freeAddr()
	if err != nil {
		return err
	}
	r.nsvc++
	env := append(append([]string{}, r.env...), s.env()...)
	env = append(env, "PATIENTLINK_ADDR="+addr, "PATIENTLINK_OPERATOR_ADDR="+opAddr, "LINKBENCH_PPROF_ADDR="+fallback)
	logPath := filepath.Join(r.dir, fmt.Sprintf("serve-%d-%s.log", r.nsvc, role))
	p, err := startProc("serve", r.bin, []string{"serve", "--role", role}, env, logPath)
	if err != nil {
		return err
	}
	svc := &service{proc: p, role: role, settings: s, addr: addr, started: time.Now()}
	if err := waitHTTP(ctx, "http://"+addr+"/healthz", 60*time.Second, p); err != nil {
		p.stop(5 * time.Second)
		return err
	}
	for _, base := range []string{"http://" + opAddr, "http://" + fallback} {
		if waitHTTP(ctx, base+"/debug/pprof/", 3*time.Second, nil) == nil {
			svc.pprofBase = base
			break
		}
	}
	r.svc = svc
	r.gen.Workload.BaseURL = "http://" + addr
	r.gen.Client.CloseIdleConnections()
	r.logf("serve --role %s started (%s)", role, s.Label())
	return nil
}

func (r *runner) stopService() {
	if r.svc != nil {
		r.svc.stop(30 * time.Second)
		r.svc = nil
	}
	if r.gen != nil {
		r.gen.Client.CloseIdleConnections()
	}
}

func (r *runner) cleanup() {
	r.stopService()
	if r.sim != nil {
		r.sim.stop(10 * time.Second)
	}
	if r.recv != nil {
		r.recv.Close()
	}
	if r.pool != nil {
		r.pool.Close()
	}
	if r.admin != nil {
		r.admin.Close()
	}
	if r.db != nil && r.db.cluster != nil && !r.opts.KeepCluster {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if err := r.db.cluster.Stop(ctx); err != nil {
			r.logf("stopping PostgreSQL: %v", err)
		}
	}
	if r.tmp != "" {
		os.RemoveAll(r.tmp)
	}
}

// phases runs the load phases in order.
func (r *runner) phases(ctx context.Context) error {
	o := r.opts
	def := o.Settings
	closed := LoadSpec{Mode: "closed", Concurrency: o.Concurrency, Warmup: o.Warmup, Duration: o.Duration, MaxRequests: o.MaxRequests}
	e2e := LoadSpec{Mode: "e2e", Concurrency: o.E2EConcurrency, Warmup: o.Warmup, Duration: o.Duration, MaxRequests: o.MaxRequests, E2ETimeout: o.E2ETimeout}

	// 1. The acknowledgement alone: serve --role api, no workers.
	if o.runs("ack-api") {
		ackAPI, err := r.phase(ctx, "ack, role api", "api", def, closed, true)
		if err != nil {
			return err
		}
		// The same at half that rate: latency under load, not saturation.
		if o.runs("open") {
			spec := LoadSpec{Mode: "open", Rate: max(ackAPI.Ack.PerSec/2, 1), Warmup: o.Warmup, Duration: o.Duration, MaxRequests: o.MaxRequests, MaxInFlight: 4096}
			if _, err := r.phase(ctx, "open, role api, ½ peak ack", "api", def, spec, false); err != nil {
				return err
			}
		}
		// 2. Workers drain what it queued, with nothing else to do.
		if o.runs("drain") {
			if err := r.ensureService(ctx, "all", def); err != nil {
				return err
			}
			r.report.Phases = append(r.report.Phases, r.drainPhase(ctx, "drain (workers only)", ackAPI))
		}
	}
	// 3. Acknowledgements at saturation while the workers keep up as they can.
	var ackAll, e2ePhase *PhaseResult
	var err error
	if o.runs("ack-all") {
		if ackAll, err = r.phase(ctx, "ack, role all", "all", def, closed, false); err != nil {
			return err
		}
	}
	// 4. Whole links: each client waits for its webhook.
	if o.runs("e2e") {
		if e2ePhase, err = r.phase(ctx, "end-to-end, role all", "all", def, e2e, true); err != nil {
			return err
		}
	}
	// 5. Open loop at fixed rates: latency under load, not at saturation.
	rates := o.Rates
	names := make([]string, len(rates))
	for i, rate := range rates {
		names[i] = fmt.Sprintf("open %.0f/s", rate)
	}
	if len(rates) == 0 {
		if ackAll != nil {
			rates, names = append(rates, max(ackAll.Ack.PerSec/2, 1)), append(names, "open, ½ peak ack")
		}
		if e2ePhase != nil {
			rates, names = append(rates, max(e2ePhase.E2E.PerSec/2, 1)), append(names, "open, ½ peak end-to-end")
		}
	}
	for i, rate := range rates {
		if !o.runs("open") {
			break
		}
		spec := LoadSpec{Mode: "open", Rate: rate, Warmup: o.Warmup, Duration: o.Duration, MaxRequests: o.MaxRequests, MaxInFlight: 4096}
		if _, err := r.phase(ctx, names[i], "all", def, spec, false); err != nil {
			return err
		}
	}
	// 6. River settings, worker counts and pool sizes, on whole links.
	if o.Sweep && o.runs("sweep") {
		sweep := e2e
		sweep.Duration = o.SweepDuration
		sweep.Warmup = min(o.Warmup, 3*time.Second)
		for _, s := range sweepSettings(def) {
			if !o.sweeps(s) {
				continue
			}
			p, err := r.phase(ctx, "sweep: "+s.Label(), "all", s, sweep, false)
			if err != nil {
				return err
			}
			r.report.Phases = r.report.Phases[:len(r.report.Phases)-1]
			r.report.Sweep = append(r.report.Sweep, p)
		}
		if e2ePhase != nil {
			r.report.Sweep = append([]*PhaseResult{e2ePhase}, r.report.Sweep...)
		}
	}
	r.stopService()
	return nil
}

// sweepSettings varies one setting at a time from def.
func sweepSettings(def ServiceSettings) []ServiceSettings {
	var out []ServiceSettings
	add := func(f func(*ServiceSettings)) {
		s := def
		f(&s)
		out = append(out, s)
	}
	add(func(s *ServiceSettings) { s.FetchCooldown, s.FetchPollInterval = "100ms", "1s" }) // River's defaults
	add(func(s *ServiceSettings) { s.FetchCooldown = "50ms" })
	add(func(s *ServiceSettings) { s.FetchCooldown = "2ms" })
	add(func(s *ServiceSettings) { s.FetchPollInterval = "50ms" })
	add(func(s *ServiceSettings) { s.LinkWorkers, s.WebhookWorkers = 10, 10 })
	add(func(s *ServiceSettings) { s.LinkWorkers, s.WebhookWorkers = 100, 100 })
	add(func(s *ServiceSettings) { s.DBMaxConns = 10 })
	add(func(s *ServiceSettings) { s.DBMaxConns = 40 })
	add(func(s *ServiceSettings) { s.LogLevel = "warn" })
	return out
}

// snapshot is the cumulative counters at one moment.
type snapshot struct {
	at       time.Time
	serve    time.Duration
	sim      time.Duration
	postgres time.Duration
	harness  time.Duration
	machine  machineCPU
}

func (r *runner) snap() snapshot {
	s := snapshot{at: time.Now(), machine: readMachineCPU()}
	if r.svc != nil {
		s.serve, _, _ = procCPU(r.svc.pid(), false)
	}
	if r.sim != nil {
		s.sim, _, _ = procCPU(r.sim.pid(), false)
	}
	if r.db.postmaster > 0 {
		s.postgres, _ = postgresCPU(r.db.postmaster)
	}
	s.harness, _, _ = procCPU(os.Getpid(), false)
	return s
}

func resourcesBetween(a, b snapshot) Resources {
	secs := b.at.Sub(a.at).Seconds()
	res := Resources{Cores: map[string]float64{}, PeakRSSMB: map[string]float64{}}
	if secs <= 0 {
		return res
	}
	res.Cores["serve"] = round3((b.serve - a.serve).Seconds() / secs)
	res.Cores["index-sim"] = round3((b.sim - a.sim).Seconds() / secs)
	res.Cores["postgres"] = round3((b.postgres - a.postgres).Seconds() / secs)
	res.Cores["harness"] = round3((b.harness - a.harness).Seconds() / secs)
	if total := b.machine.total - a.machine.total; total > 0 {
		res.MachineBusy = round3(float64(b.machine.busy-a.machine.busy) / float64(total))
		res.IOWait = round3(float64(b.machine.iowait-a.machine.iowait) / float64(total))
		ours := res.Cores["serve"] + res.Cores["index-sim"] + res.Cores["postgres"] + res.Cores["harness"]
		res.Cores["other"] = round3(max(0, res.MachineBusy*float64(runtime.NumCPU())-ours))
	}
	return res
}

// window runs during the measurement window: CPU snapshots and sampling at
// its edges, and a CPU profile inside it.
type window struct {
	start, end snapshot
	db0, db1   dbStats
	waits      []WaitShare
	profile    string
	done       chan struct{}
}

func (r *runner) watchWindow(ctx context.Context, name string, from, to time.Time, profile bool) *window {
	w := &window{done: make(chan struct{})}
	go func() {
		defer close(w.done)
		sleepUntil(ctx, from)
		w.start = r.snap()
		w.db0, _ = readDBStats(ctx, r.pool)
		sampler := startSampler(ctx, r.admin, r.db.name, 50*time.Millisecond)
		var profDone chan struct{}
		if profile && r.svc != nil && r.svc.pprofBase != "" {
			profDone = make(chan struct{})
			secs := max(1, min(r.opts.ProfileSeconds, int(to.Sub(time.Now()).Seconds())-1))
			path := filepath.Join(r.dir, "cpu-"+slug(name)+".pprof")
			go func() {
				defer close(profDone)
				if err := r.svc.cpuProfile(ctx, secs, path); err != nil {
					r.logf("CPU profile of %s: %v", name, err)
					return
				}
				w.profile = path
			}()
		}
		sleepUntil(ctx, to)
		w.end = r.snap()
		w.db1, _ = readDBStats(ctx, r.pool)
		w.waits = sampler.Finish()
		if profDone != nil {
			<-profDone
		}
	}()
	return w
}

func sleepUntil(ctx context.Context, t time.Time) {
	d := time.Until(t)
	if d <= 0 {
		return
	}
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// phase runs one load phase against serve --role role.
func (r *runner) phase(ctx context.Context, name, role string, s ServiceSettings, spec LoadSpec, profile bool) (*PhaseResult, error) {
	if err := r.ensureService(ctx, role, s); err != nil {
		return nil, err
	}
	if w := r.gen.Workload; w.Issued() > int64(w.Capacity()) && !r.capNoted {
		// Past customers × patients, patients repeat and links end CONFLICT.
		r.capNoted = true
		r.note(fmt.Sprintf("more than %d requests (customers × patients): later links end CONFLICT", w.Capacity()))
	}
	r.logf("phase %q: %s", name, describeSpec(spec))
	p := &PhaseResult{Name: name, Mode: spec.Mode, Role: role, Settings: s, Concurrency: spec.Concurrency, Rate: round3(spec.Rate),
		AckErrors: Counts{}, E2EErrors: Counts{}, States: Counts{}}
	if r.stmts {
		resetStatements(ctx, r.pool)
	}
	start := time.Now()
	w := r.watchWindow(ctx, name, start.Add(spec.Warmup), start.Add(spec.Warmup+spec.Duration), profile)
	res := r.gen.Run(ctx, spec)
	<-w.done
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}

	// What was acknowledged, and what of it fell in the window.
	var all, inWindow []string
	acked := map[string]linkRecord{}
	completions := 0
	for _, rec := range res.records {
		if rec.err == "" {
			all = append(all, rec.wf)
			acked[rec.wf] = rec
			if !rec.acked.Before(res.windowStart) && !rec.acked.After(res.windowEnd) {
				completions++
			}
		}
		if rec.sent.Before(res.windowStart) || rec.sent.After(res.windowEnd) {
			continue
		}
		p.Requests++
		if rec.err != "" {
			p.AckErrors.Add(rec.err)
			continue
		}
		p.ackLat = append(p.ackLat, rec.acked.Sub(rec.sent))
		inWindow = append(inWindow, rec.wf)
	}
	p.Window = spec.Duration.Seconds()
	p.Links = len(all)
	p.Ack = Summarize(p.ackLat, completions, spec.Duration)

	// Webhooks: in e2e mode each client waited; otherwise wait for the
	// backlog (bounded), unless no worker runs.
	if role != "api" && spec.Mode != "e2e" {
		p.Drain = r.drain(ctx, all, time.Now())
	}
	hooksInWindow := 0
	for _, id := range all {
		if a, ok := r.recv.Arrival(id); ok && !a.at.Before(res.windowStart) && !a.at.After(res.windowEnd) {
			hooksInWindow++
		}
	}
	if role != "api" {
		for _, id := range inWindow {
			rec := acked[id]
			a, ok := r.recv.Arrival(id)
			switch {
			case ok:
				p.e2eLat = append(p.e2eLat, a.at.Sub(rec.acked))
			case rec.e2e != "":
				p.E2EErrors.Add(rec.e2e)
			default:
				p.E2EErrors.Add("no webhook after the drain")
			}
		}
		p.E2E = Summarize(p.e2eLat, hooksInWindow, spec.Duration)
		if done, err := completionLatencies(ctx, r.pool, inWindow); err == nil {
			lat := make([]time.Duration, 0, len(done))
			for _, d := range done {
				lat = append(lat, d)
			}
			p.E2EDone = Summarize(lat, 0, 0)
		}
	}
	if st, err := workflowStates(ctx, r.pool, inWindow); err == nil {
		p.States = st
	}
	// PostgreSQL's work in the window, per acknowledgement (no workers, or
	// acknowledging faster than they work) or per whole link.
	p.DB = w.db1.sub(w.db0)
	per := completions
	if spec.Mode == "e2e" || (spec.Mode == "open" && role != "api") {
		per = hooksInWindow
	}
	if per > 0 {
		p.TxPerLink = round3(float64(p.DB.XactCommit) / float64(per))
		p.SyncPerLink = round3(float64(p.DB.WALSync) / float64(per))
	}
	if r.stmts {
		p.Statements, _ = readStatements(ctx, r.pool, p.Links, 20)
	}
	p.Waits = w.waits
	p.Resources = resourcesBetween(w.start, w.end)
	r.finishResources(p, completions, hooksInWindow)
	if w.profile != "" {
		p.Profiles = append(p.Profiles, w.profile)
		r.renderProfile(ctx, w.profile)
		if spec.Mode == "e2e" {
			heap := filepath.Join(r.dir, "heap-"+slug(name)+".pprof")
			if err := r.svc.heapProfile(ctx, heap); err == nil {
				p.Profiles = append(p.Profiles, heap)
				r.renderProfile(ctx, heap, "-sample_index=inuse_space")
			}
		}
	}
	if other := p.Resources.Cores["other"]; other > 0.2 {
		r.note(fmt.Sprintf("%q: processes outside the benchmark used %.2f cores of %d while it measured: its figures are low", name, other, runtime.NumCPU()))
	}
	r.report.Phases = append(r.report.Phases, p)
	r.logf("  ack %.0f/s p99 %.1f ms; webhooks %.0f/s; errors %d; tx/link %.1f; CPU busy %.0f%%",
		p.Ack.PerSec, p.Ack.P99MS, p.E2E.PerSec, p.AckErrors.Total()+p.E2EErrors.Total(), p.TxPerLink, 100*p.Resources.MachineBusy)
	return p, nil
}

func (r *runner) finishResources(p *PhaseResult, acks, hooks int) {
	if r.svc != nil {
		if hwm, _, err := procMem(r.svc.pid()); err == nil {
			p.Resources.PeakRSSMB["serve"] = round3(float64(hwm) / (1 << 20))
		}
	}
	if r.sim != nil {
		if hwm, _, err := procMem(r.sim.pid()); err == nil {
			p.Resources.PeakRSSMB["index-sim"] = round3(float64(hwm) / (1 << 20))
		}
	}
	n := acks
	if p.Mode == "e2e" {
		n = hooks
	}
	if n > 0 {
		p.Resources.CPUPerLink = round3(p.Resources.Cores["serve"] * p.Window * 1000 / float64(n))
	}
}

func (r *runner) renderProfile(ctx context.Context, path string, extra ...string) {
	top, err := pprofTop(ctx, r.bin, path, extra...)
	if err != nil {
		r.logf("%v", err)
		return
	}
	_ = os.WriteFile(strings.TrimSuffix(path, ".pprof")+".top.txt", []byte(top), 0o644)
	if len(extra) == 0 {
		cum, err := pprofTop(ctx, r.bin, path, "-cum")
		if err == nil {
			_ = os.WriteFile(strings.TrimSuffix(path, ".pprof")+".cum.txt", []byte(cum), 0o644)
		}
	}
}

// drain waits (bounded) until the webhooks of ids arrived, then cancels
// jobs still waiting so the next phase starts clean.
func (r *runner) drain(ctx context.Context, ids []string, from time.Time) *DrainResult {
	pending := func() int {
		n := 0
		for _, id := range ids {
			if _, ok := r.recv.Arrival(id); !ok {
				n++
			}
		}
		return n
	}
	d := &DrainResult{Pending: pending()}
	last, lastChange := d.Pending, time.Now()
	deadline := from.Add(r.opts.DrainTimeout)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		n := pending()
		if n == 0 {
			last = 0
			break
		}
		if n != last {
			last, lastChange = n, time.Now()
		}
		if time.Since(lastChange) > 10*time.Second {
			break // stalled
		}
		sleepFor(ctx, 100*time.Millisecond)
	}
	d.Drained = d.Pending - last
	d.Seconds = round3(time.Since(from).Seconds())
	if d.Seconds > 0 {
		d.PerSec = round3(float64(d.Drained) / d.Seconds)
	}
	if last > 0 {
		tag, err := r.pool.Exec(ctx, `UPDATE river_job SET state = 'cancelled', finalized_at = now()
			WHERE state IN ('available', 'retryable', 'scheduled') AND queue IN ('link', 'webhook')`)
		if err == nil {
			d.Cancelled = tag.RowsAffected()
		}
		r.note(fmt.Sprintf("drain stopped with %d webhooks outstanding after %.0fs; %d queued jobs cancelled", last, d.Seconds, d.Cancelled))
	}
	return d
}

// drainPhase measures how fast the workers, with no intake, work off the
// backlog an api-only phase left.
func (r *runner) drainPhase(ctx context.Context, name string, after *PhaseResult) *PhaseResult {
	var ids []string
	// The api phase's acknowledged links are those in the database still
	// RECEIVED; the receiver has seen none of them.
	rows, err := r.pool.Query(ctx, `SELECT id::text FROM workflows WHERE status = 'RECEIVED'`)
	if err == nil {
		for rows.Next() {
			var id string
			if rows.Scan(&id) == nil {
				ids = append(ids, id)
			}
		}
		rows.Close()
	}
	r.logf("phase %q: %d links queued by %q", name, len(ids), after.Name)
	p := &PhaseResult{Name: name, Mode: "drain", Role: "all", Settings: r.svc.settings, AckErrors: Counts{}, E2EErrors: Counts{}, States: Counts{}}
	db0, _ := readDBStats(ctx, r.pool)
	if r.stmts {
		resetStatements(ctx, r.pool)
	}
	s0 := r.snap()
	sampler := startSampler(ctx, r.admin, r.db.name, 50*time.Millisecond)
	p.Drain = r.drain(ctx, ids, r.svc.started)
	p.Waits = sampler.Finish()
	s1 := r.snap()
	p.Resources = resourcesBetween(s0, s1)
	p.Window = p.Drain.Seconds
	p.Links = p.Drain.Drained
	p.E2E = Summary{Count: p.Drain.Drained, PerSec: p.Drain.PerSec}
	db1, _ := readDBStats(ctx, r.pool)
	r.finishResources(p, 0, 0)
	if p.Links > 0 {
		p.Resources.CPUPerLink = round3(p.Resources.Cores["serve"] * p.Window * 1000 / float64(p.Links))
	}
	p.DB = db1.sub(db0)
	if p.Links > 0 {
		p.TxPerLink = round3(float64(p.DB.XactCommit) / float64(p.Links))
		p.SyncPerLink = round3(float64(p.DB.WALSync) / float64(p.Links))
	}
	if r.stmts {
		p.Statements, _ = readStatements(ctx, r.pool, p.Links, 20)
	}
	r.logf("  drained %d in %.1fs (%.0f/s)", p.Drain.Drained, p.Drain.Seconds, p.Drain.PerSec)
	return p
}

// ceilings replays the SQL with pgbench at the same concurrencies, with the
// service stopped.
func (r *runner) ceilings(ctx context.Context) error {
	if !r.opts.runs("pgbench") {
		return nil
	}
	pgbench, err := pgBin("pgbench")
	if err != nil {
		return err
	}
	customer, err := createCustomer(ctx, r.bin, r.env, "pgbench", "http://127.0.0.1:9/unused")
	if err != nil {
		return err
	}
	payload := 0
	_ = r.pool.QueryRow(ctx, "SELECT coalesce(avg(octet_length(sealed)), 0)::int FROM request_payloads").Scan(&payload)
	if payload == 0 {
		payload = 300
	}
	r.report.PayloadBytes = payload
	// River NOTIFYs an insert at most once per queue per FetchCooldown: the
	// share of inserts that carry one, as measured in the matching phase.
	notify := func(phase string, insertsPerLink float64, fallback int) int {
		for _, p := range r.report.Phases {
			if p.Name != phase || !r.stmts {
				continue
			}
			for _, st := range p.Statements {
				if st.Name == "PGNotifyMany" {
					return min(100, int(st.PerLink/insertsPerLink*100+0.5))
				}
			}
			return 0
		}
		return fallback
	}
	r.report.NotifyPct = map[string]int{ScriptAck: notify("ack, role api", 1, 1), ScriptLink: notify("end-to-end, role all", 2, 50)}
	for _, c := range []struct {
		script  string
		clients int
		queue   string
	}{{ScriptAck, r.opts.Concurrency, "pgbench_ack"}, {ScriptLink, r.opts.E2EConcurrency, "pgbench_link"}} {
		vars := map[string]string{"customer": customer.ID, "payload_bytes": fmt.Sprint(payload),
			"notify_pct": fmt.Sprint(r.report.NotifyPct[c.script]), "queue": c.queue}
		r.logf("pgbench %s at %d clients for %s", c.script, c.clients, r.opts.PgbenchDuration)
		warm := min(r.opts.Warmup, 3*time.Second)
		start := time.Now()
		var s0, s1 snapshot
		var db0, db1 dbStats
		var waits []WaitShare
		done := make(chan struct{})
		go func() {
			defer close(done)
			sleepUntil(ctx, start.Add(warm))
			s0 = r.snap()
			db0, _ = readDBStats(ctx, r.pool)
			sampler := startSampler(ctx, r.admin, r.db.name, 50*time.Millisecond)
			sleepUntil(ctx, start.Add(warm+r.opts.PgbenchDuration))
			s1 = r.snap()
			db1, _ = readDBStats(ctx, r.pool)
			waits = sampler.Finish()
		}()
		res, err := runPgbench(ctx, pgbench, r.db.url, r.dir, c.script, c.clients, warm, r.opts.PgbenchDuration, vars)
		<-done
		if err != nil {
			return err
		}
		res.DB = db1.sub(db0)
		res.Resources = resourcesBetween(s0, s1)
		res.Waits = waits
		if res.Latency.Count > 0 {
			res.TxPerRun = round3(float64(res.DB.XactCommit) / float64(res.Latency.Count))
		}
		r.report.Pgbench[c.script] = &res
		r.logf("  %.0f runs/s, p99 %.1f ms", res.Latency.PerSec, res.Latency.P99MS)
	}
	_, _ = r.pool.Exec(ctx, "DELETE FROM river_job WHERE queue LIKE 'pgbench%'")
	return nil
}

// conclude computes the ratios and checks the targets.
func (r *runner) conclude() {
	rep := r.report
	find := func(name string) *PhaseResult {
		for _, p := range rep.Phases {
			if p.Name == name {
				return p
			}
		}
		return nil
	}
	add := func(what string, ours, ceiling float64) float64 {
		ratio := 0.0
		if ceiling > 0 {
			ratio = round3(ours / ceiling)
		}
		rep.Ratios = append(rep.Ratios, Ratio{What: what, Ours: round3(ours), Ceiling: round3(ceiling), Ratio: ratio})
		return ratio
	}
	a, b := rep.Pgbench[ScriptAck], rep.Pgbench[ScriptLink]
	if a == nil || b == nil {
		return
	}
	var ackRatio, e2eRatio float64
	if p := find("ack, role api"); p != nil {
		ackRatio = add("acknowledgements/s, serve --role api ÷ pgbench ack.sql", p.Ack.PerSec, a.Latency.PerSec)
	}
	if p := find("ack, role all"); p != nil {
		add("acknowledgements/s, serve --role all ÷ pgbench ack.sql", p.Ack.PerSec, a.Latency.PerSec)
	}
	if p := find("end-to-end, role all"); p != nil {
		e2eRatio = add("links/s end to end ÷ pgbench ack.sql+link_worker.sql", p.E2E.PerSec, b.Latency.PerSec)
	}
	rep.Targets = append(rep.Targets, Target{Goal: "acknowledgement throughput ≥ 0.8 × pgbench ceiling", Got: fmt.Sprintf("%.2f × (role api)", ackRatio), Met: ackRatio >= 0.8})
	for _, c := range []struct{ phase, role string }{{"open, role api, ½ peak ack", "role api"}, {"open, ½ peak ack", "role all"}} {
		if p := find(c.phase); p != nil {
			rep.Targets = append(rep.Targets, Target{Goal: "ack p99 ≤ 20 ms at half of peak throughput (" + c.role + ")",
				Got: fmt.Sprintf("p99 %.1f ms at %.0f/s", p.Ack.P99MS, p.Rate), Met: p.Ack.P99MS <= 20 && p.AckErrors.Total() == 0})
		}
	}
	rep.Targets = append(rep.Targets, Target{Goal: "end-to-end links/s ≥ 0.6 × pgbench ceiling of a whole link", Got: fmt.Sprintf("%.2f ×", e2eRatio), Met: e2eRatio >= 0.6})
	peak := 0.0
	for _, p := range append(append([]*PhaseResult{}, rep.Phases...), rep.Sweep...) {
		if p.Role == "all" {
			peak = max(peak, p.Resources.PeakRSSMB["serve"])
		}
	}
	rep.Targets = append(rep.Targets, Target{Goal: "peak RSS of serve --role all < 200 MB", Got: fmt.Sprintf("%.0f MB", peak), Met: peak > 0 && peak < 200})
}

func (r *runner) write() error {
	b, err := json.MarshalIndent(r.report, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(r.dir, "results.json"), b, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(r.opts.OutDir, "latest.json"), b, 0o644); err != nil {
		return err
	}
	if err := writePlot(r.report, filepath.Join(r.dir, "latency.png")); err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	if err := copyFile(filepath.Join(r.dir, "latency.png"), filepath.Join(r.opts.OutDir, "latency.png")); err != nil {
		return err
	}
	return nil
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, b, 0o644)
}

func sleepFor(ctx context.Context, d time.Duration) { sleepUntil(ctx, time.Now().Add(d)) }

func slug(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	return strings.Trim(b.String(), "-")
}

func describeSpec(s LoadSpec) string {
	switch s.Mode {
	case "open":
		return fmt.Sprintf("open loop at %.0f/s for %s (+%s warm-up)", s.Rate, s.Duration, s.Warmup)
	case "e2e":
		return fmt.Sprintf("%d clients each waiting for its webhook, %s (+%s warm-up)", s.Concurrency, s.Duration, s.Warmup)
	}
	return fmt.Sprintf("closed loop at %d clients for %s (+%s warm-up)", s.Concurrency, s.Duration, s.Warmup)
}

// gitDescribe names the commit benchmarked (read-only git).
func gitDescribe(dir string) string {
	out, err := exec.Command("git", "-C", dir, "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	commit := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "-C", dir, "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(st) > 0 {
		commit += "+dirty"
	}
	return commit
}
