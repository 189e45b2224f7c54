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
	if !r.opts.runs(PhasePgbench) {
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

// conclude computes the ratios and checks the targets.
func (r *runner) conclude() {
	rep := r.report
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
	if p := rep.phase(PhaseAckAPI); p != nil {
		ackRatio = add("acknowledgements/s, serve --role api ÷ pgbench ack.sql", p.Ack.PerSec, a.Latency.PerSec)
	}
	if p := rep.phase(PhaseAckAll); p != nil {
		add("acknowledgements/s, serve --role all ÷ pgbench ack.sql", p.Ack.PerSec, a.Latency.PerSec)
	}
	if p := rep.phase(PhaseE2E); p != nil {
		e2eRatio = add("links/s end to end ÷ pgbench ack.sql+link_worker.sql", p.E2E.PerSec, b.Latency.PerSec)
	}
	rep.Targets = append(rep.Targets, Target{Goal: "acknowledgement throughput ≥ 0.8 × pgbench ceiling", Got: fmt.Sprintf("%.2f × (role api)", ackRatio), Met: ackRatio >= 0.8})
	for _, c := range []struct {
		phase Phase
		role  string
	}{{PhaseOpenAPI, "role api"}, {PhaseOpenAck, "role all"}} {
		if p := rep.phase(c.phase); p != nil {
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
