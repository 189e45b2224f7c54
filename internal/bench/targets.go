package bench

import (
	"fmt"
	"strings"
)

// Target statuses.
const (
	targetMet         = "met"
	targetNotMet      = "not met"
	targetNotMeasured = "not measured"
)

// conclude computes the ratios to the pgbench ceilings and checks issue
// 17's targets. Every ratio divides two figures of the same run.
func conclude(rep *Report) {
	ratio := func(what string, ours, ceiling float64) float64 {
		r := 0.0
		if ceiling > 0 {
			r = round3(ours / ceiling)
		}
		rep.Ratios = append(rep.Ratios, Ratio{What: what, Ours: round3(ours), Ceiling: round3(ceiling), Ratio: r})
		return r
	}
	target := func(goal string, measured bool, got string, met bool) {
		t := Target{Goal: goal, Got: got, Met: measured && met, Status: targetNotMet}
		switch {
		case !measured:
			t.Got, t.Status = "–", targetNotMeasured
		case met:
			t.Status = targetMet
		}
		rep.Targets = append(rep.Targets, t)
	}
	var ack, link float64 // the ceilings, runs/s; 0 when pgbench did not run
	if pb := rep.Pgbench[ScriptAck]; pb != nil {
		ack = pb.Latency.PerSec
	}
	if pb := rep.Pgbench[ScriptLink]; pb != nil {
		link = pb.Latency.PerSec
	}
	// ofAck is a phase's patients/s over ack.sql's, when both ran.
	ofAck := func(p *PhaseResult, what string) (float64, bool) {
		if p == nil || ack == 0 {
			return 0, false
		}
		return ratio(what+" ÷ pgbench ack.sql", p.PerPatient.PerSec, ack), true
	}

	if p := rep.phase(PhaseAckAPI); p != nil && ack > 0 {
		ratio("acknowledgements/s, serve --role api ÷ pgbench ack.sql", p.Ack.PerSec, ack)
	}
	if p := rep.phase(PhaseAckAll); p != nil && ack > 0 {
		ratio("acknowledgements/s, serve --role all ÷ pgbench ack.sql", p.Ack.PerSec, ack)
	}
	if p := rep.phase(PhaseE2E); p != nil && link > 0 {
		ratio("links/s end to end ÷ pgbench ack.sql+link_worker.sql", p.E2E.PerSec, link)
	}

	// PostgreSQL's CPU per acknowledged patient, ours over ack.sql's: the
	// figure a busy neighbour moves least, where throughput is noisy.
	if pb := rep.Pgbench[ScriptAck]; pb != nil && pb.Latency.Count > 0 {
		perRun := pb.Resources.Cores["postgres"] * pb.Window * 1000 / float64(pb.Latency.Count)
		for _, p := range append([]*PhaseResult{rep.phase(PhaseAckAPI)}, rep.phases(PhaseBulkAck)...) {
			if p != nil && p.PerPatient.PostgresCPUMS > 0 {
				ratio("PostgreSQL CPU ms per patient, "+p.Name+" ÷ pgbench ack.sql", p.PerPatient.PostgresCPUMS, perRun)
			}
		}
	}

	bulks := rep.phases(PhaseBulkAck)
	for _, p := range bulks {
		r, ok := ofAck(p, fmt.Sprintf("patients/s acknowledged, POST /links ×%d", p.Batch))
		if p.Batch >= 100 {
			target(fmt.Sprintf("bulk ack ×%d ≥ 5 × ack.sql patients/s", p.Batch), ok, fmt.Sprintf("%.2f ×", r), r >= 5)
		}
	}
	if len(bulks) == 0 {
		target("bulk ack ≥ 5 × ack.sql patients/s", false, "", false)
	}
	r, ok := ofAck(rep.phase(PhaseBulkE2E), "links/s end to end from POST /links")
	target("bulk end to end ≥ 0.5 × ack.sql", ok, fmt.Sprintf("%.2f ×", r), r >= 0.5)
	r, ok = ofAck(rep.phase(PhaseE2E), "links/s end to end from POST /link")
	target("single-request end to end ≥ 0.3 × ack.sql", ok, fmt.Sprintf("%.2f ×", r), r >= 0.3)

	for _, id := range []Phase{PhaseE2E, PhaseBulkE2E} {
		p := rep.phase(id)
		c := Cost{}
		if p != nil {
			c = p.PerPatient
		}
		what := strings.TrimSuffix(id.Name(), ", role all")
		target("tx/link ≤ 4 at saturation ("+what+")", p != nil && c.Count > 0, fmt.Sprintf("%.2f", c.Tx), c.Tx <= 4)
		target("WAL flushes/link ≤ 0.5 at saturation ("+what+")", p != nil && c.Count > 0, fmt.Sprintf("%.2f", c.WALSyncs), c.WALSyncs <= 0.5)
	}
	for _, c := range []struct {
		phase Phase
		role  string
	}{{PhaseOpenAPI, "role api"}, {PhaseOpenAck, "role all"}} {
		p := rep.phase(c.phase)
		got, met := "", false
		if p != nil {
			got, met = fmt.Sprintf("p99 %.1f ms at %.0f/s", p.Ack.P99MS, p.Rate), p.Ack.P99MS <= 20 && p.AckErrors.Total() == 0
		}
		target("single ack p99 ≤ 20 ms at half of peak ("+c.role+")", p != nil, got, met)
	}
	peak := 0.0
	for _, p := range append(append([]*PhaseResult{}, rep.Phases...), rep.Sweep...) {
		peak = max(peak, p.Resources.PeakRSSMB["serve"])
	}
	target("peak RSS of serve < 200 MB", peak > 0, fmt.Sprintf("%.0f MB", peak), peak < 200)
}
