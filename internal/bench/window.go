package bench

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/patientlink/patientlink/internal/harness"
)

// snapshot is the cumulative counters at one moment.
type snapshot struct {
	at       time.Time
	serve    time.Duration
	sim      time.Duration
	postgres time.Duration
	harness  time.Duration
	machine  harness.MachineCPU
}

func (r *runner) snap() snapshot {
	s := snapshot{at: time.Now(), machine: harness.ReadMachineCPU()}
	if r.svc != nil {
		s.serve, _, _ = harness.ProcCPU(r.svc.PID(), false)
	}
	if r.sim != nil {
		s.sim, _, _ = harness.ProcCPU(r.sim.PID(), false)
	}
	if r.db.postmaster > 0 {
		s.postgres, _ = harness.PostgresCPU(r.db.postmaster)
	}
	s.harness, _, _ = harness.ProcCPU(os.Getpid(), false)
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
	if total := b.machine.Total - a.machine.Total; total > 0 {
		res.MachineBusy = round3(float64(b.machine.Busy-a.machine.Busy) / float64(total))
		res.IOWait = round3(float64(b.machine.IOWait-a.machine.IOWait) / float64(total))
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
			secs := max(1, min(r.opts.ProfileSeconds, int(time.Until(to).Seconds())-1))
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

func sleepFor(ctx context.Context, d time.Duration) { sleepUntil(ctx, time.Now().Add(d)) }
