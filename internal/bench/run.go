package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/patientlink/patientlink/internal/harness"
)

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
	sim    *harness.Process
	svc    *service
	env    harness.Env
	report *Report
	plan   []Phase // the phases to run, in order (Options.plan)
	nsvc   int

	capNoted bool
}

// Run benchmarks the service and writes results under opts.OutDir; the
// table goes to stdout, progress to log.
func Run(ctx context.Context, opts Options, stdout, log io.Writer) (*Report, error) {
	r := &runner{opts: opts, log: log, plan: opts.plan()}
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
	conclude(r.report)
	r.report.Seconds = time.Since(r.report.Started).Seconds()
	if err := r.write(); err != nil {
		return nil, err
	}
	printReport(stdout, r.report)
	return r.report, nil
}

// runs reports whether the plan has p.
func (r *runner) runs(p Phase) bool { return slices.Contains(r.plan, p) }

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
	r.report.Commit = GitDescribe(r.opts.ModuleDir)

	r.logf("building ./cmd/patientlink")
	overlay := map[string]string{pprofOverlayFile: pprofOverlay}
	if r.bin, err = harness.Build(ctx, r.opts.ModuleDir, tmp, overlay); err != nil {
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

	simAddr, err := harness.FreeAddr()
	if err != nil {
		return err
	}
	r.env = harness.ServiceEnv(r.db.url, "http://"+simAddr).With(harness.Env{
		"PATIENTLINK_RATE_LIMIT":         "0",
		"PATIENTLINK_MAX_INFLIGHT":       "100000",
		"PATIENTLINK_RECONCILE_INTERVAL": "0",
		"PATIENTLINK_LOG_FORMAT":         "json",
	})
	r.logf("migrating")
	if _, err := harness.RunCommand(ctx, r.bin, r.env.Environ(), "migrate", "up"); err != nil {
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
	patients, err := ReadPopulation(ctx, r.bin, r.opts.Patients)
	if err != nil {
		return err
	}
	wl := &Workload{Patients: patients, RunID: "bench-" + stamp}
	for k := range r.opts.Customers {
		c, err := harness.CreateCustomer(ctx, r.bin, r.env, fmt.Sprintf("bench customer %d", k), r.recv.URL(k))
		if err != nil {
			return err
		}
		r.recv.SetSecret(k, c.WebhookSecret)
		wl.Customers = append(wl.Customers, c)
	}
	r.gen = &Generator{Workload: wl, Receiver: r.recv, Client: NewClient(4096)}

	r.logf("starting the index simulator on %s", simAddr)
	r.sim = &harness.Process{Name: "index-sim", Bin: r.bin, Args: []string{"index-sim", "--addr", simAddr, "--size", fmt.Sprint(r.opts.Patients)},
		Env: harness.Env{}.Environ(), LogPath: filepath.Join(r.dir, "index-sim.log")}
	if err := r.sim.Start(); err != nil {
		return err
	}
	if err := harness.WaitTCP(ctx, simAddr, 60*time.Second); err != nil {
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

// ensureService runs serve with role and settings, restarting it if it
// runs otherwise.
func (r *runner) ensureService(ctx context.Context, role string, s ServiceSettings) error {
	if r.svc != nil && r.svc.role == role && r.svc.settings == s && r.svc.Alive() {
		return nil
	}
	r.stopService()
	var addrs [3]string // API, operator, pprof fallback
	for i := range addrs {
		var err error
		if addrs[i], err = harness.FreeAddr(); err != nil {
			return err
		}
	}
	addr, opAddr, fallback := addrs[0], addrs[1], addrs[2]
	r.nsvc++
	env := r.env.With(s.env()).With(harness.Env{"PATIENTLINK_ADDR": addr, "PATIENTLINK_OPERATOR_ADDR": opAddr, "LINKBENCH_PPROF_ADDR": fallback})
	logPath := filepath.Join(r.dir, fmt.Sprintf("serve-%d-%s.log", r.nsvc, role))
	p := &harness.Process{Name: "serve", Bin: r.bin, Args: []string{"serve", "--role", role}, Env: env.Environ(), LogPath: logPath}
	if err := p.Start(); err != nil {
		return err
	}
	svc := &service{Process: p, role: role, settings: s, addr: addr, started: time.Now()}
	if err := harness.WaitHTTP(ctx, "http://"+addr+"/healthz", 60*time.Second, p.Alive); err != nil {
		p.Stop(5 * time.Second)
		return fmt.Errorf("serve --role %s: %w (see %s)", role, err, logPath)
	}
	for _, base := range []string{"http://" + opAddr, "http://" + fallback} {
		if harness.WaitHTTP(ctx, base+"/debug/pprof/", 3*time.Second, nil) == nil {
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
		r.svc.Stop(30 * time.Second)
		r.svc = nil
	}
	if r.gen != nil {
		r.gen.Client.CloseIdleConnections()
	}
}

func (r *runner) cleanup() {
	r.stopService()
	if r.sim != nil {
		r.sim.Stop(10 * time.Second)
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

// GitDescribe names the commit measured (read-only git), +dirty when the
// work tree has changes.
func GitDescribe(dir string) string {
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
