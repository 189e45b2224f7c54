package bench

import (
	"context"
	"fmt"
	"time"
)

// drain waits (bounded) until the webhooks of ids arrived. What is left
// the next phase with workers cancels (runner.settle).
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
		r.note(fmt.Sprintf("drain stopped with %d webhooks outstanding after %.0fs", last, d.Seconds))
	}
	return d
}

// drainPhase measures how fast the workers, with no intake, work off the
// backlog an api-only phase left.
func (r *runner) drainPhase(ctx context.Context, after *PhaseResult) *PhaseResult {
	name := PhaseDrain.Name()
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
	p := &PhaseResult{ID: PhaseDrain, Name: name, Mode: "drain", Role: "all", Settings: r.svc.settings, AckErrors: Counts{}, E2EErrors: Counts{}, States: Counts{}}
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
	p.DB = db1.sub(db0)
	r.account(p, "link", p.Links, p.E2E)
	if r.stmts {
		p.Statements, _ = readStatements(ctx, r.pool, p.Links, 20)
	}
	r.logf("  drained %d in %.1fs (%.0f/s)", p.Drain.Drained, p.Drain.Seconds, p.Drain.PerSec)
	return p
}
