package soak

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/patientlink/patientlink/internal/bench"
	"github.com/patientlink/patientlink/internal/harness"
)

// soakDatabase is made afresh on the soak's cluster for every run.
const soakDatabase = "patientlink_soak"

// samplerApp names the soak's own connections, which the connection
// counts leave out.
const samplerApp = "soak-sampler"

// serviceEnv is the service's configuration in the soak: the product's
// defaults but for what a load generator on loopback needs, and a webhook
// retry schedule short enough that a delivery failed twice by the
// receiver (0.25 %) does not wait five minutes past the drain.
var serviceEnv = harness.Env{
	"PATIENTLINK_RATE_LIMIT":             "0",
	"PATIENTLINK_WEBHOOK_RETRY_SCHEDULE": "0s,1s,2s,5s,10s,10s,10s,10s,10s,10s",
	"PATIENTLINK_LOG_FORMAT":             "json",
	"PATIENTLINK_LOG_LEVEL":              "info",
}

// deployment is everything the soak runs: the cluster, the index
// simulator and the service's processes, the receiver and the load's
// customers.
type deployment struct {
	o          Options
	tmp        string
	bin        string
	cluster    *harness.Cluster
	postmaster int
	db         *pgxpool.Pool // the sampler's, application_name soak-sampler
	dbURL      string
	sim        *harness.Process
	services   []*harness.Service
	apis       []string
	recv       *bench.Receiver
	workload   *bench.Workload
	gen        *generator
	closers    []func()
}

func (d *deployment) logf(format string, args ...any) {
	fmt.Fprintf(d.o.Log, "soak: "+format+"\n", args...)
}

// deploy builds the binary and starts everything; the caller closes the
// deployment, even when deploy fails.
func deploy(ctx context.Context, o Options) (*deployment, error) {
	d := &deployment{o: o}
	var err error
	if d.tmp, err = os.MkdirTemp("", "patientlink-soak-"); err != nil {
		return d, err
	}
	d.closers = append(d.closers, func() { os.RemoveAll(d.tmp) })
	d.logf("building ./cmd/patientlink")
	if d.bin, err = harness.Build(ctx, o.ModuleDir, d.tmp, nil); err != nil {
		return d, err
	}
	d.cluster = harness.NewCluster(o.PGDir, o.PGPort, o.Log)
	if err := d.cluster.Start(ctx); err != nil {
		return d, err
	}
	d.closers = append(d.closers, func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := d.cluster.Stop(stopCtx); err != nil {
			d.logf("stopping PostgreSQL: %v", err)
		}
	})
	if d.dbURL, err = d.cluster.FreshDatabase(ctx, soakDatabase); err != nil {
		return d, err
	}
	if d.postmaster, err = d.cluster.PostmasterPID(ctx); err != nil {
		return d, err
	}
	simAddr, err := harness.FreeAddr()
	if err != nil {
		return d, err
	}
	env := harness.ServiceEnv(d.dbURL, "http://"+simAddr).With(serviceEnv)
	if _, err := harness.RunCommand(ctx, d.bin, env.Environ(), "migrate", "up"); err != nil {
		return d, err
	}
	if d.db, err = pgxpool.New(ctx, d.dbURL+"&pool_max_conns=3&application_name="+samplerApp); err != nil {
		return d, err
	}
	d.closers = append(d.closers, d.db.Close)

	if d.recv, err = bench.NewReceiver(true); err != nil {
		return d, err
	}
	d.recv.FailRate = o.WebhookFailRate
	d.closers = append(d.closers, d.recv.Close)
	d.logf("reading %d patients of the simulator's population", o.Patients)
	patients, err := bench.ReadPopulation(ctx, d.bin, o.Patients)
	if err != nil {
		return d, err
	}
	d.workload = &bench.Workload{Patients: patients, RunID: "soak-" + time.Now().UTC().Format("20060102-150405")}
	for k := range o.Customers {
		c, err := harness.CreateCustomer(ctx, d.bin, env, fmt.Sprintf("soak customer %d", k), d.recv.URL(k))
		if err != nil {
			return d, err
		}
		d.recv.SetSecret(k, c.WebhookSecret)
		d.workload.Customers = append(d.workload.Customers, c)
	}

	logs := filepath.Join(o.OutDir, "logs")
	d.sim = &harness.Process{Name: "index-sim", Bin: d.bin, LogPath: filepath.Join(logs, "index-sim.log"), Env: harness.Env{}.Environ(),
		Args: []string{"index-sim", "--addr", simAddr, "--size", fmt.Sprint(o.Patients), "--error-rate", fmt.Sprint(o.IndexErrorRate)}}
	if err := d.sim.Start(); err != nil {
		return d, err
	}
	d.closers = append(d.closers, func() { d.sim.Stop(10 * time.Second) })
	if err := harness.WaitTCP(ctx, simAddr, time.Minute); err != nil {
		return d, err
	}
	for _, role := range []string{"api", "api", "worker", "worker"} {
		addr, err := harness.FreeAddr()
		if err != nil {
			return d, err
		}
		name := fmt.Sprintf("%s-%d", role, 1+len(d.services)%2)
		s := harness.NewService(d.bin, name, role, addr, logs, env)
		if err := s.Start(); err != nil {
			return d, err
		}
		d.services = append(d.services, s)
		if role == "api" {
			d.apis = append(d.apis, "http://"+addr)
		}
	}
	d.closers = append(d.closers, func() {
		for _, s := range d.services {
			s.Stop(30 * time.Second)
		}
	})
	for _, s := range d.services {
		if err := s.WaitReady(ctx, time.Minute); err != nil {
			return d, err
		}
	}
	d.gen = newGenerator(d.workload, d.apis, d.recv)
	d.logf("deployed: %d api + %d worker processes, index simulator (%.0f%% errors), receiver (%.0f%% failures), %d customers",
		2, 2, 100*o.IndexErrorRate, 100*o.WebhookFailRate, o.Customers)
	return d, nil
}

// close stops everything deploy started, in reverse order.
func (d *deployment) close() {
	for i := len(d.closers) - 1; i >= 0; i-- {
		d.closers[i]()
	}
}

// pending counts workflows not in an end state.
func (d *deployment) pending(ctx context.Context) (int, error) {
	var n int
	err := d.db.QueryRow(ctx, `SELECT count(*) FROM workflows WHERE status NOT IN ('COMPLETED', 'FAILED')`).Scan(&n)
	return n, err
}

// waitIdle waits, up to limit, until no workflow is pending; it returns
// how long that took and whether it happened.
func (d *deployment) waitIdle(ctx context.Context, limit time.Duration) (time.Duration, bool) {
	start := time.Now()
	for time.Since(start) < limit && ctx.Err() == nil {
		if n, err := d.pending(ctx); err == nil && n == 0 {
			return time.Since(start), true
		}
		sleepCtx(ctx, 500*time.Millisecond)
	}
	return time.Since(start), false
}

// Final is what became of every link the soak's load had acknowledged.
type Final struct {
	Acknowledged int            `json:"acknowledged"`
	ByStatus     map[string]int `json:"by_status"`
	FailedWhy    map[string]int `json:"failed_reasons,omitempty"`
	Missing      int            `json:"missing"` // acknowledged, yet not in the database
}

// account reads the status of every acknowledged workflow.
func (d *deployment) account(ctx context.Context, ids []string) (Final, error) {
	f := Final{Acknowledged: len(ids), ByStatus: map[string]int{}, FailedWhy: map[string]int{}}
	rows, err := d.db.Query(ctx, `SELECT w.status, coalesce(w.reason, ''), count(*) FROM unnest($1::uuid[]) AS a(id)
		JOIN workflows AS w ON w.id = a.id GROUP BY 1, 2`, ids)
	if err != nil {
		return f, fmt.Errorf("error reading the acknowledged workflows: %w", err)
	}
	defer rows.Close()
	found := 0
	for rows.Next() {
		var status, reason string
		var n int
		if err := rows.Scan(&status, &reason, &n); err != nil {
			return f, err
		}
		f.ByStatus[status] += n
		if status == "FAILED" {
			f.FailedWhy[reason] += n
		}
		found += n
	}
	f.Missing = len(ids) - found
	return f, rows.Err()
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
