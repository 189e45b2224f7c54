package bench

import "fmt"

// Phase identifies a part of a run. Results, ratios and reports find a
// phase by its Phase; its display name (Name) is only for people.
type Phase string

// The phases, in the order a run measures them.
const (
	PhaseAckAPI   Phase = "ack-api"   // acknowledgements at saturation, serve --role api
	PhaseOpenAPI  Phase = "open-api"  // open loop at half of PhaseAckAPI's peak, role api
	PhaseDrain    Phase = "drain"     // workers alone work off PhaseAckAPI's backlog
	PhaseAckAll   Phase = "ack-all"   // acknowledgements at saturation, role all
	PhaseE2E      Phase = "e2e"       // whole links, each client waiting for its webhook
	PhaseOpen     Phase = "open"      // every open-loop phase (for --only)
	PhaseOpenAck  Phase = "open-ack"  // open loop at half of PhaseAckAll's peak
	PhaseOpenE2E  Phase = "open-e2e"  // open loop at half of PhaseE2E's peak
	PhaseOpenRate Phase = "open-rate" // open loop at a --rate
	PhaseSweep    Phase = "sweep"     // PhaseE2E under other service settings
	PhasePgbench  Phase = "pgbench"   // the ceilings: pgbench replays of the SQL
)

// Selectable are the phases --only accepts, in run order; PhaseOpen
// selects every open-loop phase.
var Selectable = []Phase{PhaseAckAPI, PhaseDrain, PhaseAckAll, PhaseE2E, PhaseOpen, PhaseSweep, PhasePgbench}

// displayNames name the phases that run once.
var displayNames = map[Phase]string{
	PhaseAckAPI:  "ack, role api",
	PhaseOpenAPI: "open, role api, ½ peak ack",
	PhaseDrain:   "drain (workers only)",
	PhaseAckAll:  "ack, role all",
	PhaseE2E:     "end-to-end, role all",
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

// openRateName and sweepName name the phases that run once per rate or
// per setting.
func openRateName(rate float64) string   { return fmt.Sprintf("open %.0f/s", rate) }
func sweepName(s ServiceSettings) string { return "sweep: " + s.Label() }

// selectedBy is the --only phase that runs p.
func (p Phase) selectedBy() Phase {
	switch p {
	case PhaseOpenAPI, PhaseOpenAck, PhaseOpenE2E, PhaseOpenRate:
		return PhaseOpen
	}
	return p
}
