package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/patientlink/patientlink/internal/harness"
)

// ceilings replays the SQL with pgbench at the same concurrencies, with the
// service stopped.
func (r *runner) ceilings(ctx context.Context) error {
	if !r.runs(PhasePgbench) {
		return nil
	}
	pgbench, err := pgBin("pgbench")
	if err != nil {
		return err
	}
	customer, err := harness.CreateCustomer(ctx, r.bin, r.env, "pgbench", "http://127.0.0.1:9/unused")
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
	notify := func(id Phase, insertsPerLink float64, fallback int) int {
		p := r.report.phase(id)
		if p == nil || !r.stmts {
			return fallback
		}
		for _, st := range p.Statements {
			if st.Name == "PGNotifyMany" {
				return min(100, int(st.PerLink/insertsPerLink*100+0.5))
			}
		}
		return 0
	}
	r.report.NotifyPct = map[string]int{ScriptAck: notify(PhaseAckAPI, 1, 1), ScriptLink: notify(PhaseE2E, 2, 50)}
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
