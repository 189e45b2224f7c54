package soak

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/patientlink/patientlink/internal/bench"
	"github.com/patientlink/patientlink/internal/harness"
)

// Sample is what the soak saw over one interval (latencies, counts, CPU)
// and at its end (memory, PostgreSQL, River).
type Sample struct {
	At      time.Time `json:"at"`
	Elapsed float64   `json:"elapsed_s"` // since the load began
	Offered int       `json:"offered"`   // requests due in the interval
	Acks    int       `json:"acks"`
	Done    int       `json:"completed"` // webhooks received
	Errors  int       `json:"errors"`
	AckP50  float64   `json:"ack_p50_ms"`
	AckP99  float64   `json:"ack_p99_ms"`
	E2EP50  float64   `json:"e2e_p50_ms"`
	E2EP99  float64   `json:"e2e_p99_ms"`

	RSS        map[string]int64 `json:"rss_bytes"` // per process: api-1 … worker-2, index-sim
	Conns      map[string]int   `json:"pg_connections"`
	TableBytes int64            `json:"table_bytes"` // heap and TOAST of every table
	IndexBytes int64            `json:"index_bytes"`
	DeadTuples int64            `json:"dead_tuples"`
	Tables     map[string]Rel   `json:"tables"`
	Jobs       map[string]int   `json:"river_jobs"`         // by state
	DBError    string           `json:"db_error,omitempty"` // PostgreSQL could not be read: its figures are missing

	BusyCores float64 `json:"busy_cores"` // the whole machine
	OurCores  float64 `json:"our_cores"`  // the service, PostgreSQL, the simulator and the soak itself
	Load1     float64 `json:"load1"`
}

// Rel is one table's size and tuples.
type Rel struct {
	TableBytes int64 `json:"table_bytes"`
	IndexBytes int64 `json:"index_bytes"`
	Live       int64 `json:"live"`
	Dead       int64 `json:"dead"`
}

// Conns sums a sample's connections.
func (s Sample) ConnsTotal() int {
	n := 0
	for _, v := range s.Conns {
		n += v
	}
	return n
}

// Snapshot is what PostgreSQL and River were doing while no
// acknowledgement or no completion had come for a while.
type Snapshot struct {
	At       time.Time      `json:"at"`
	SinceAck float64        `json:"since_ack_s"`
	SinceEnd float64        `json:"since_completion_s"`
	Jobs     map[string]int `json:"river_jobs"`
	Activity []Backend      `json:"pg_stat_activity"`
}

// Backend is one non-idle row of pg_stat_activity.
type Backend struct {
	PID     int     `json:"pid"`
	App     string  `json:"application"`
	State   string  `json:"state"`
	Wait    string  `json:"wait"`
	XactAge float64 `json:"xact_age_s"`
	Query   string  `json:"query"` // the statement's first 160 characters: parameters are placeholders
}

// cpuMark is cumulative CPU at one moment.
type cpuMark struct {
	at      time.Time
	machine harness.MachineCPU
	ours    time.Duration
}

// run is what one soak produced.
type run struct {
	tracker   *tracker
	samples   []Sample
	snapshots []Snapshot
	load      LoadWindow
}

// LoadWindow is when the steady load ran.
type LoadWindow struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// Stall watching: a snapshot once nothing came for watchAfter, at most
// maxSnapshots, one per snapshotEvery.
const (
	watchEvery    = 500 * time.Millisecond
	watchAfter    = 2 * time.Second
	snapshotEvery = 2 * time.Second
	maxSnapshots  = 30
)

// soak offers rate links a second for dur, sampling every interval and
// watching for stalls, and returns once every request answered.
func (d *deployment) soak(ctx context.Context, rate float64, dur, every time.Duration) run {
	t := newTracker()
	d.gen.tracker.Store(t)
	start := time.Now()
	r := run{tracker: t, load: LoadWindow{Start: start, End: start.Add(dur)}}
	var wg sync.WaitGroup
	wg.Go(func() { r.snapshots = d.watchStalls(ctx, t, r.load.End) })
	// Samples until one interval past the end: the load's tail.
	wg.Go(func() { r.samples = d.sampleEvery(ctx, t, start, every, int(dur/every)+1) })
	d.gen.openLoop(ctx, t, rate, start, r.load.End)
	wg.Wait()
	return r
}

// sampleEvery takes sample 0 at start, then n more, one every interval.
func (d *deployment) sampleEvery(ctx context.Context, t *tracker, start time.Time, every time.Duration, n int) []Sample {
	// Sample 0 is where the load starts from: memory and PostgreSQL only.
	first := Sample{At: time.Now(), RSS: d.rss(), Load1: harness.LoadAverage()}
	if err := readDB(ctx, d.db, &first); err != nil {
		first.DBError = err.Error()
		d.logf("sample 0: reading PostgreSQL: %v", err)
	}
	out := []Sample{first}
	prev := d.cpu()
	var off0, a0, d0, e0 int
	for i := 1; i <= n && ctx.Err() == nil; i++ {
		sleepCtx(ctx, time.Until(start.Add(time.Duration(i)*every)))
		if ctx.Err() != nil {
			break
		}
		off1, a1, d1, e1 := t.counts()
		acks, dones := t.between(a0, a1, d0, d1)
		now := d.cpu()
		s := Sample{At: time.Now(), Elapsed: time.Since(start).Seconds(), Offered: off1 - off0, Acks: a1 - a0, Done: d1 - d0, Errors: e1 - e0}
		s.AckP50, s.AckP99 = percentiles(acks)
		s.E2EP50, s.E2EP99 = percentiles(dones)
		s.BusyCores = harness.BusyCores(prev.machine, now.machine, runtime.NumCPU())
		if secs := now.at.Sub(prev.at).Seconds(); secs > 0 {
			s.OurCores = (now.ours - prev.ours).Seconds() / secs
		}
		s.Load1 = harness.LoadAverage()
		s.RSS = d.rss()
		if err := readDB(ctx, d.db, &s); err != nil {
			s.DBError = err.Error()
			d.logf("sample %d: reading PostgreSQL: %v", i, err)
		}
		out = append(out, s)
		d.logf("%s: %d acks, %d completed, ack p99 %.0f ms, e2e p99 %.0f ms, %d connections, tables %s, %d dead tuples, River %v, cores busy %.2f (ours %.2f)",
			clock(s.Elapsed), s.Acks, s.Done, s.AckP99, s.E2EP99, s.ConnsTotal(), mb(s.TableBytes+s.IndexBytes), s.DeadTuples, s.Jobs, s.BusyCores, s.OurCores)
		prev, off0, a0, d0, e0 = now, off1, a1, d1, e1
	}
	return out
}

func percentiles(events []event) (p50, p99 float64) {
	if len(events) == 0 {
		return 0, 0
	}
	lat := make([]time.Duration, len(events))
	for i, e := range events {
		lat[i] = e.lat
	}
	slices.Sort(lat)
	return ms(bench.Percentile(lat, 50)), ms(bench.Percentile(lat, 99))
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// cpu is the machine's counters and the CPU of everything the soak runs.
func (d *deployment) cpu() cpuMark {
	m := cpuMark{at: time.Now(), machine: harness.ReadMachineCPU()}
	pids := []int{os.Getpid()}
	for _, p := range d.procs() {
		pids = append(pids, p.PID())
	}
	for _, pid := range pids {
		if c, _, err := harness.ProcCPU(pid, false); err == nil {
			m.ours += c
		}
	}
	if c, err := harness.PostgresCPU(d.postmaster); err == nil {
		m.ours += c
	}
	return m
}

// procs are the service's processes and the simulator.
func (d *deployment) procs() []*harness.Process {
	var out []*harness.Process
	for _, s := range d.services {
		out = append(out, s.Process)
	}
	return append(out, d.sim)
}

// rss is each process's resident memory.
func (d *deployment) rss() map[string]int64 {
	out := map[string]int64{}
	for _, p := range d.procs() {
		if _, rss, err := harness.ProcMem(p.PID()); err == nil {
			out[p.Name] = rss
		}
	}
	return out
}

// readDB fills in connections (not the soak's own), table and index
// sizes, dead tuples and River's jobs by state.
func readDB(ctx context.Context, db *pgxpool.Pool, s *Sample) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	s.Conns, s.Tables = map[string]int{}, map[string]Rel{}
	rows, err := db.Query(ctx, `SELECT coalesce(state, ''), count(*) FROM pg_stat_activity
		WHERE datname = current_database() AND backend_type = 'client backend' AND application_name <> $1 GROUP BY 1`, samplerApp)
	if err != nil {
		return err
	}
	for rows.Next() {
		var state string
		var n int
		if err := rows.Scan(&state, &n); err != nil {
			return err
		}
		s.Conns[state] = n
	}
	if err := rows.Err(); err != nil {
		return err
	}
	rows, err = db.Query(ctx, `SELECT relname, pg_table_size(relid), pg_indexes_size(relid), n_live_tup, n_dead_tup FROM pg_stat_user_tables`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var name string
		var r Rel
		if err := rows.Scan(&name, &r.TableBytes, &r.IndexBytes, &r.Live, &r.Dead); err != nil {
			return err
		}
		s.Tables[name] = r
		s.TableBytes += r.TableBytes
		s.IndexBytes += r.IndexBytes
		s.DeadTuples += r.Dead
	}
	if err := rows.Err(); err != nil {
		return err
	}
	s.Jobs, err = riverJobs(ctx, db)
	return err
}

// riverJobs counts River's jobs by state.
func riverJobs(ctx context.Context, db *pgxpool.Pool) (map[string]int, error) {
	out := map[string]int{}
	rows, err := db.Query(ctx, `SELECT state::text, count(*) FROM river_job GROUP BY 1`)
	if err != nil {
		return out, err
	}
	defer rows.Close()
	for rows.Next() {
		var state string
		var n int
		if err := rows.Scan(&state, &n); err != nil {
			return out, err
		}
		out[state] = n
	}
	return out, rows.Err()
}

// watchStalls takes a snapshot whenever no acknowledgement or no
// completion came for watchAfter while the load is offered.
func (d *deployment) watchStalls(ctx context.Context, t *tracker, end time.Time) []Snapshot {
	var out []Snapshot
	start, lastSnap := time.Now(), time.Time{}
	for ctx.Err() == nil && time.Now().Before(end) {
		sleepCtx(ctx, watchEvery)
		ack, done := t.last()
		if ack.IsZero() {
			ack = start
		}
		if done.IsZero() {
			done = start
		}
		if max(time.Since(ack), time.Since(done)) < watchAfter || time.Since(lastSnap) < snapshotEvery || len(out) >= maxSnapshots {
			continue
		}
		s := Snapshot{At: time.Now(), SinceAck: time.Since(ack).Seconds(), SinceEnd: time.Since(done).Seconds()}
		s.Jobs, _ = riverJobs(ctx, d.db)
		s.Activity, _ = activity(ctx, d.db)
		out = append(out, s)
		lastSnap = s.At
		d.logf("nothing for %.1fs (acknowledgement) / %.1fs (completion): snapshot of pg_stat_activity taken (%d backends busy)", s.SinceAck, s.SinceEnd, len(s.Activity))
	}
	return out
}

// activity is every non-idle backend of the database.
func activity(ctx context.Context, db *pgxpool.Pool) ([]Backend, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	rows, err := db.Query(ctx, `SELECT pid, application_name, state, coalesce(wait_event_type || ':' || wait_event, ''),
		coalesce(extract(epoch FROM now() - xact_start), 0)::float8, left(query, 160)
		FROM pg_stat_activity WHERE datname = current_database() AND state <> 'idle' AND pid <> pg_backend_pid()
		ORDER BY xact_start NULLS LAST`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Backend
	for rows.Next() {
		var b Backend
		if err := rows.Scan(&b.PID, &b.App, &b.State, &b.Wait, &b.XactAge, &b.Query); err != nil {
			return out, err
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// clock is elapsed seconds as m:ss.
func clock(secs float64) string {
	s := int(secs + 0.5)
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

func mb(b int64) string { return fmt.Sprintf("%.1f MB", float64(b)/(1<<20)) }
