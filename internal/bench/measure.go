package bench

import (
	"context"
	"fmt"
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
	if err := r.ensureService(ctx, role, s); err != nil {
		return nil, err
	}
	if w := r.gen.Workload; w.Issued() > int64(w.Capacity()) && !r.capNoted {
		// Past customers × patients, patients repeat and links end CONFLICT.
		r.capNoted = true
		r.note(fmt.Sprintf("more than %d requests (customers × patients): later links end CONFLICT", w.Capacity()))
	}
	r.logf("phase %q: %s", name, describeSpec(spec))
	p := &PhaseResult{ID: ps.id, Name: name, Mode: spec.Mode, Role: role, Settings: s, Concurrency: spec.Concurrency, Rate: round3(spec.Rate),
		AckErrors: Counts{}, E2EErrors: Counts{}, States: Counts{}}
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
		if hwm, _, err := harness.ProcMem(r.svc.PID()); err == nil {
			p.Resources.PeakRSSMB["serve"] = round3(float64(hwm) / (1 << 20))
		}
	}
	if r.sim != nil {
		if hwm, _, err := harness.ProcMem(r.sim.PID()); err == nil {
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
