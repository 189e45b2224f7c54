package bench

import (
	"fmt"
	"slices"
)

// Phase identifies a part of a run. Results, ratios and reports find a
// phase by its Phase; its display name (Name) is only for people.
type Phase string

// The phases, in the order a run measures them.
const (
	PhaseAckAPI   Phase = "ack-api"   // acknowledgements at saturation, serve --role api
	PhaseOpenAPI  Phase = "open-api"  // open loop at half of PhaseAckAPI's peak, role api
	PhaseDrain    Phase = "drain"     // workers alone work off PhaseAckAPI's backlog
	PhaseBulkAck  Phase = "bulk-ack"  // POST /links at saturation, once per batch size, role api
	PhaseAckAll   Phase = "ack-all"   // acknowledgements at saturation, role all
	PhaseE2E      Phase = "e2e"       // whole links, each client waiting for its webhook
	PhaseBulkE2E  Phase = "bulk-e2e"  // whole links from POST /links, each client waiting for its batch's webhooks
	PhaseOpen     Phase = "open"      // every open-loop phase (for --only)
	PhaseOpenAck  Phase = "open-ack"  // open loop at half of PhaseAckAll's peak
	PhaseOpenE2E  Phase = "open-e2e"  // open loop at half of PhaseE2E's peak
	PhaseOpenRate Phase = "open-rate" // open loop at a --rate
	PhaseSweep    Phase = "sweep"     // PhaseE2E under other service settings
	PhasePgbench  Phase = "pgbench"   // the ceilings: pgbench replays of the SQL
)

// Selectable are the phases --only accepts, in run order; PhaseOpen
// selects every open-loop phase.
var Selectable = []Phase{PhaseAckAPI, PhaseDrain, PhaseBulkAck, PhaseAckAll, PhaseE2E, PhaseBulkE2E, PhaseOpen, PhaseSweep, PhasePgbench}

// runOrder is every phase that runs, in the order it runs.
var runOrder = []Phase{PhaseAckAPI, PhaseOpenAPI, PhaseDrain, PhaseBulkAck, PhaseAckAll, PhaseE2E, PhaseBulkE2E,
	PhaseOpenAck, PhaseOpenE2E, PhaseOpenRate, PhaseSweep, PhasePgbench}

// displayNames name the phases that run once.
var displayNames = map[Phase]string{
	PhaseAckAPI:  "ack, role api",
	PhaseOpenAPI: "open, role api, ½ peak ack",
	PhaseDrain:   "drain (workers only)",
	PhaseAckAll:  "ack, role all",
	PhaseE2E:     "end-to-end, role all",
	PhaseBulkE2E: "bulk end-to-end, role all",
	PhaseOpenAck: "open, ½ peak ack",
	PhaseOpenE2E: "open, ½ peak end-to-end",
}

// Name is the phase's display name.
func (p Phase) Name() string {
	if n, ok := displayNames[p]; ok {
		return n
	}
	return string(p)
}

// openRateName, sweepName and bulkAckName name the phases that run once
// per rate, setting or batch size.
func openRateName(rate float64) string   { return fmt.Sprintf("open %.0f/s", rate) }
func sweepName(s ServiceSettings) string { return "sweep: " + s.Label() }
func bulkAckName(batch int) string       { return fmt.Sprintf("bulk ack ×%d, role api", batch) }

// selectedBy is the --only phase that runs p.
func (p Phase) selectedBy() Phase {
	switch p {
	case PhaseOpenAPI, PhaseOpenAck, PhaseOpenE2E, PhaseOpenRate:
		return PhaseOpen
	}
	return p
}

// needs lists what p cannot run without: the peak it takes half of, the
// backlog it drains, the defaults row a sweep is read against.
func (p Phase) needs() []Phase {
	switch p {
	case PhaseOpenAPI, PhaseDrain:
		return []Phase{PhaseAckAPI}
	case PhaseOpenAck:
		return []Phase{PhaseAckAll}
	case PhaseOpenE2E, PhaseSweep:
		return []Phase{PhaseE2E}
	}
	return nil
}

// selects reports whether the options ask for p itself, before what p
// needs is added.
func (o Options) selects(p Phase) bool {
	chosen := func(q Phase) bool { return len(o.Only) == 0 || slices.Contains(o.Only, q) }
	rates := len(o.Rates) > 0
	switch p {
	case PhaseOpenAPI: // with --rate, only when its peak is measured anyway
		return chosen(PhaseOpen) && (!rates || chosen(PhaseAckAPI))
	case PhaseOpenAck, PhaseOpenE2E:
		return chosen(PhaseOpen) && !rates
	case PhaseOpenRate:
		return chosen(PhaseOpen) && rates
	case PhaseSweep: // named in --only, it runs in the quick profile too
		return (o.Sweep && len(o.Only) == 0) || slices.Contains(o.Only, PhaseSweep)
	case PhaseBulkAck:
		return chosen(p) && len(o.BulkBatches) > 0
	}
	return chosen(p.selectedBy())
}

// plan lists the phases a run measures, in run order: those selected and
// what they need, so every --only combination measures something.
func (o Options) plan() []Phase {
	want := map[Phase]bool{}
	var add func(Phase)
	add = func(p Phase) {
		if want[p] {
			return
		}
		want[p] = true
		for _, q := range p.needs() {
			add(q)
		}
	}
	for _, p := range runOrder {
		if o.selects(p) {
			add(p)
		}
	}
	var out []Phase
	for _, p := range runOrder {
		if want[p] {
			out = append(out, p)
		}
	}
	return out
}
