package bench

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// phaseSpec is one load phase to run.
type phaseSpec struct {
	id       Phase
	name     string // display name; "": id.Name()
	role     string // serve --role
	settings ServiceSettings
	load     LoadSpec
	profile  bool // take CPU (and, end to end, heap) profiles
}

// phases runs the load phases of the plan in order.
func (r *runner) phases(ctx context.Context) error {
	o := r.opts
	def := o.Settings
	closed := LoadSpec{Mode: "closed", Concurrency: o.Concurrency, Warmup: o.Warmup, Duration: o.Duration, MaxRequests: o.MaxRequests}
	e2e := LoadSpec{Mode: "e2e", Concurrency: o.E2EConcurrency, Warmup: o.Warmup, Duration: o.Duration, MaxRequests: o.MaxRequests, E2ETimeout: o.E2ETimeout}
	open := func(rate float64) LoadSpec {
		return LoadSpec{Mode: "open", Rate: max(rate, 1), Warmup: o.Warmup, Duration: o.Duration, MaxRequests: o.MaxRequests, MaxInFlight: 4096}
	}
	bulk := func(spec LoadSpec, batch int) LoadSpec {
		spec.Batch, spec.Concurrency = batch, o.bulkClients(batch)
		return spec
	}
	// The plan runs a phase only after what it needs (Phase.needs), so the
	// results the later phases read are there.
	var ackAPI, ackAll, e2ePhase *PhaseResult
	var err error

	// 1. The acknowledgement alone: serve --role api, no workers.
	if r.runs(PhaseAckAPI) {
		if ackAPI, err = r.phase(ctx, phaseSpec{id: PhaseAckAPI, role: "api", settings: def, load: closed, profile: true}); err != nil {
			return err
		}
	}
	// The same at half that rate: latency under load, not saturation.
	if r.runs(PhaseOpenAPI) {
		if _, err := r.phase(ctx, phaseSpec{id: PhaseOpenAPI, role: "api", settings: def, load: open(ackAPI.Ack.PerSec / 2)}); err != nil {
			return err
		}
	}
	// 2. Workers drain what it queued, with nothing else to do.
	if r.runs(PhaseDrain) {
		if err := r.ensureService(ctx, "all", def); err != nil {
			return err
		}
		r.report.Phases = append(r.report.Phases, r.drainPhase(ctx, ackAPI))
	}
	// 3. Bulk acknowledgements, one phase per batch size, no workers.
	if r.runs(PhaseBulkAck) {
		for _, b := range o.BulkBatches {
			if _, err := r.phase(ctx, phaseSpec{id: PhaseBulkAck, name: bulkAckName(b), role: "api", settings: def, load: bulk(closed, b), profile: true}); err != nil {
				return err
			}
		}
	}
	// 4. Acknowledgements at saturation while the workers keep up as they can.
	if r.runs(PhaseAckAll) {
		if ackAll, err = r.phase(ctx, phaseSpec{id: PhaseAckAll, role: "all", settings: def, load: closed, profile: true}); err != nil {
			return err
		}
	}
	// 5. Whole links: each client waits for its webhook, or its batch's.
	if r.runs(PhaseE2E) {
		if e2ePhase, err = r.phase(ctx, phaseSpec{id: PhaseE2E, role: "all", settings: def, load: e2e, profile: true}); err != nil {
			return err
		}
	}
	if r.runs(PhaseBulkE2E) {
		if _, err := r.phase(ctx, phaseSpec{id: PhaseBulkE2E, role: "all", settings: def, load: bulk(e2e, o.BulkE2EBatch), profile: true}); err != nil {
			return err
		}
	}
	// 6. Open loop at fixed rates: latency under load, not at saturation.
	var opens []phaseSpec
	if r.runs(PhaseOpenAck) {
		opens = append(opens, phaseSpec{id: PhaseOpenAck, load: open(ackAll.Ack.PerSec / 2)})
	}
	if r.runs(PhaseOpenE2E) {
		opens = append(opens, phaseSpec{id: PhaseOpenE2E, load: open(e2ePhase.E2E.PerSec / 2)})
	}
	if r.runs(PhaseOpenRate) {
		for _, rate := range o.Rates {
			opens = append(opens, phaseSpec{id: PhaseOpenRate, name: openRateName(rate), load: open(rate)})
		}
	}
	for _, spec := range opens {
		spec.role, spec.settings = "all", def
		if _, err := r.phase(ctx, spec); err != nil {
			return err
		}
	}
	// 7. River settings, worker counts and pool sizes, on whole links.
	if r.runs(PhaseSweep) {
		sweep := e2e
		sweep.Duration = o.SweepDuration
		sweep.Warmup = min(o.Warmup, 3*time.Second)
		for _, s := range sweepSettings(def) {
			if !o.sweeps(s) {
				continue
			}
			p, err := r.phase(ctx, phaseSpec{id: PhaseSweep, name: sweepName(s), role: "all", settings: s, load: sweep})
			if err != nil {
				return err
			}
			r.report.Phases = r.report.Phases[:len(r.report.Phases)-1]
			r.report.Sweep = append(r.report.Sweep, p)
		}
		r.report.Sweep = append([]*PhaseResult{e2ePhase}, r.report.Sweep...)
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

func describeSpec(s LoadSpec) string {
	switch {
	case s.Mode == "open":
		return fmt.Sprintf("open loop at %.0f/s for %s (+%s warm-up)", s.Rate, s.Duration, s.Warmup)
	case s.Mode == "e2e" && s.Batch > 0:
		return fmt.Sprintf("%d clients each posting a batch of %d and waiting for its webhooks, %s (+%s warm-up)", s.Concurrency, s.Batch, s.Duration, s.Warmup)
	case s.Mode == "e2e":
		return fmt.Sprintf("%d clients each waiting for its webhook, %s (+%s warm-up)", s.Concurrency, s.Duration, s.Warmup)
	case s.Batch > 0:
		return fmt.Sprintf("closed loop at %d clients posting batches of %d for %s (+%s warm-up)", s.Concurrency, s.Batch, s.Duration, s.Warmup)
	}
	return fmt.Sprintf("closed loop at %d clients for %s (+%s warm-up)", s.Concurrency, s.Duration, s.Warmup)
}

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
