package bench

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPlan(t *testing.T) {
	t.Parallel()
	full, quick := DefaultOptions(false), DefaultOptions(true)
	with := func(o Options, only ...Phase) Options {
		o.Only = only
		return o
	}
	withRates := func(o Options) Options {
		o.Rates = []float64{50}
		return o
	}
	for _, tc := range []struct {
		name string
		o    Options
		want []Phase
	}{
		{"full", full, []Phase{PhaseAckAPI, PhaseOpenAPI, PhaseDrain, PhaseBulkAck, PhaseAckAll, PhaseE2E, PhaseBulkE2E,
			PhaseOpenAck, PhaseOpenE2E, PhaseSweep, PhasePgbench}},
		{"quick: no sweep", quick, []Phase{PhaseAckAPI, PhaseOpenAPI, PhaseDrain, PhaseBulkAck, PhaseAckAll, PhaseE2E, PhaseBulkE2E,
			PhaseOpenAck, PhaseOpenE2E, PhasePgbench}},
		{"rates replace the half-peak phases of role all", withRates(full), []Phase{PhaseAckAPI, PhaseOpenAPI, PhaseDrain, PhaseBulkAck,
			PhaseAckAll, PhaseE2E, PhaseBulkE2E, PhaseOpenRate, PhaseSweep, PhasePgbench}},
		{"drain needs the api phase's backlog", with(quick, PhaseDrain), []Phase{PhaseAckAPI, PhaseDrain}},
		{"open needs the peaks it halves", with(quick, PhaseOpen), []Phase{PhaseAckAPI, PhaseOpenAPI, PhaseAckAll, PhaseE2E, PhaseOpenAck, PhaseOpenE2E}},
		{"open at given rates needs no peak", withRates(with(quick, PhaseOpen)), []Phase{PhaseOpenRate}},
		{"a selected sweep runs in quick, after its defaults row", with(quick, PhaseSweep), []Phase{PhaseE2E, PhaseSweep}},
		{"run order, not --only order", with(quick, PhaseE2E, PhaseAckAPI), []Phase{PhaseAckAPI, PhaseE2E}},
		{"bulk alone", with(quick, PhaseBulkE2E, PhaseBulkAck), []Phase{PhaseBulkAck, PhaseBulkE2E}},
	} {
		require.Equal(t, tc.want, tc.o.plan(), tc.name)
	}
}

// Every pair of --only phases plans both (or what stands for them), each
// after what it needs.
func TestPlanOfEveryPair(t *testing.T) {
	t.Parallel()
	for _, quick := range []bool{false, true} {
		for _, a := range Selectable {
			for _, b := range Selectable {
				o := DefaultOptions(quick)
				o.Only = []Phase{a, b}
				plan := o.plan()
				for _, sel := range o.Only {
					require.True(t, slices.ContainsFunc(plan, func(p Phase) bool { return p.selectedBy() == sel }), "%s,%s: %v lacks %s", a, b, plan, sel)
				}
				for i, p := range plan {
					for _, need := range p.needs() {
						require.Contains(t, plan[:i], need, "%s,%s: %s before %s", a, b, need, p)
					}
				}
			}
		}
	}
}

// Display names may change freely, but two phases never share one.
func TestPhaseNamesAreDistinct(t *testing.T) {
	t.Parallel()
	seen := map[string]Phase{}
	for id, name := range displayNames {
		require.NotContains(t, seen, name, "%s and %s", id, seen[name])
		seen[name] = id
	}
}
