package bench

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/patientlink/patientlink/internal/harness"
)

// phase runs one load phase against serve --role ps.role.
func (r *runner) phase(ctx context.Context, ps phaseSpec) (*PhaseResult, error) {
	name, role, s, spec := ps.name, ps.role, ps.settings, ps.load
	if name == "" {
		name = ps.id.Name()
	}
	if role != "api" {
		if err := r.settle(ctx, name); err != nil {
			return nil, err
		}
	}
	if err := r.ensureService(ctx, role, s); err != nil {
		return nil, err
	}
	if spec.Batch > 0 {
		if ok, err := r.gen.hasBulk(ctx); err != nil {
			return nil, err
		} else if !ok {
			r.note(fmt.Sprintf("%q skipped: this build has no POST /links", name))
			return nil, nil
		}
	}
	if w := r.gen.Workload; w.Issued() > int64(w.Capacity()) && !r.capNoted {
		// Past customers × patients, patients repeat and links end CONFLICT.
		r.capNoted = true
		r.note(fmt.Sprintf("more than %d requests (customers × patients): later links end CONFLICT", w.Capacity()))
	}
	r.logf("phase %q: %s", name, describeSpec(spec))
	p := &PhaseResult{ID: ps.id, Name: name, Mode: spec.Mode, Role: role, Settings: s, Concurrency: spec.Concurrency, Batch: spec.Batch,
		Rate: round3(spec.Rate), AckErrors: Counts{}, E2EErrors: Counts{}, States: Counts{}}
	if r.stmts {
		resetStatements(ctx, r.pool)
	}
	start := time.Now()
	w := r.watchWindow(ctx, name, start.Add(spec.Warmup), start.Add(spec.Warmup+spec.Duration), ps.profile)
	res := r.gen.Run(ctx, spec)
	<-w.done
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}

	// What was acknowledged, and what of it fell in the window.
	var all, inWindow []string
	acked := map[string]linkRecord{}
	var done float64
	for _, rec := range res.records {
		if rec.err == "" {
			all = append(all, rec.wf)
			acked[rec.wf] = rec
			done += ackedInWindow(rec, res.windowStart, res.windowEnd, spec.Batch > 0)
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
	completions := int(math.Round(done))
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
	p.DB = w.db1.sub(w.db0)
	p.Waits = w.waits
	p.Resources = resourcesBetween(w.start, w.end)
	// Per acknowledgement where workers are absent or fall behind (closed
	// loop), per whole link where the webhooks keep up.
	if spec.Mode == "e2e" || (spec.Mode == "open" && role != "api") {
		r.account(p, "link", hooksInWindow, p.E2E)
	} else {
		r.account(p, "ack", completions, p.Ack)
	}
	if r.stmts {
		p.Statements, _ = readStatements(ctx, r.pool, p.Links, 20)
	}
	if w.profile != "" {
		p.Profiles = append(p.Profiles, w.profile)
		p.CPUTop = r.renderProfile(ctx, w.profile)
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
	r.logf("  ack %.0f/s p99 %.1f ms; webhooks %.0f/s; errors %d; tx/%s %.1f; CPU busy %.0f%%",
		p.Ack.PerSec, p.Ack.P99MS, p.E2E.PerSec, p.AckErrors.Total()+p.E2EErrors.Total(), p.PerPatient.Unit, p.PerPatient.Tx, 100*p.Resources.MachineBusy)
	return p, nil
}

// ackedInWindow is how much of rec's acknowledgement falls in the window:
// 1 or 0 by the time of its 202, or, spread, the share of its request's
// time inside the window. A bulk request acknowledges its patients over
// its whole duration, seconds at 1,000 patients, so counting them all at
// the 202 would make a short window measure a few requests' luck.
func ackedInWindow(rec linkRecord, from, to time.Time, spread bool) float64 {
	in := !rec.acked.Before(from) && !rec.acked.After(to)
	took := rec.acked.Sub(rec.sent)
	if !spread || took <= 0 {
		if in {
			return 1
		}
		return 0
	}
	start, end := rec.sent, rec.acked
	if start.Before(from) {
		start = from
	}
	if end.After(to) {
		end = to
	}
	return max(0, float64(end.Sub(start))/float64(took))
}

// account fills p.PerPatient: n units (acknowledgements or whole links)
// inside the window, lat their latencies; p.DB and p.Resources are the
// window's. It reads serve's peak RSS, so call it before serve stops.
func (r *runner) account(p *PhaseResult, unit string, n int, lat Summary) {
	if r.svc != nil {
		if hwm, _, err := harness.ProcMem(r.svc.PID()); err == nil {
			p.Resources.PeakRSSMB["serve"] = round3(float64(hwm) / (1 << 20))
		}
	}
	if r.sim != nil {
		if hwm, _, err := harness.ProcMem(r.sim.PID()); err == nil {
			p.Resources.PeakRSSMB["index-sim"] = round3(float64(hwm) / (1 << 20))
		}
	}
	c := Cost{Unit: unit, Count: n, PerSec: round3(lat.PerSec), P50MS: lat.P50MS, P99MS: lat.P99MS, ServeRSSMB: p.Resources.PeakRSSMB["serve"]}
	if n > 0 {
		per := func(v float64) float64 { return round3(v / float64(n)) }
		c.Tx, c.WALSyncs = per(float64(p.DB.XactCommit)), per(float64(p.DB.WALSync))
		c.PostgresCPUMS = per(p.Resources.Cores["postgres"] * p.Window * 1000)
		c.ServeCPUMS = per(p.Resources.Cores["serve"] * p.Window * 1000)
	}
	p.PerPatient = c
}

// renderProfile writes a profile's -top (and, for CPU, -cum) renderings
// next to it; for a CPU profile it returns its top functions.
func (r *runner) renderProfile(ctx context.Context, path string, extra ...string) *CPUTop {
	top, err := pprofTop(ctx, r.bin, path, extra...)
	if err != nil {
		r.logf("%v", err)
		return nil
	}
	_ = os.WriteFile(strings.TrimSuffix(path, ".pprof")+".top.txt", []byte(top), 0o644)
	if len(extra) > 0 {
		return nil
	}
	cum, err := pprofTop(ctx, r.bin, path, "-cum")
	if err != nil {
		return nil
	}
	_ = os.WriteFile(strings.TrimSuffix(path, ".pprof")+".cum.txt", []byte(cum), 0o644)
	// Closures are left out: the middleware and the handlers' wrappers
	// would fill the list with the whole request's share.
	ours := func(fn string) bool {
		return strings.HasPrefix(fn, "github.com/patientlink/") && !strings.Contains(fn, ".func")
	}
	return &CPUTop{Flat: parseTop(top, 5, func(string) bool { return true }), Ours: parseTop(cum, 5, ours)}
}
