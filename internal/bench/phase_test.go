package bench

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestOnlySelectsByPhase(t *testing.T) {
	t.Parallel()
	o := Options{Only: []Phase{PhaseOpen, PhaseDrain}}
	for _, p := range []Phase{PhaseOpenAPI, PhaseOpenAck, PhaseOpenE2E, PhaseOpenRate, PhaseDrain} {
		require.True(t, o.runs(p), p)
	}
	for _, p := range []Phase{PhaseAckAPI, PhaseAckAll, PhaseE2E, PhaseSweep, PhasePgbench} {
		require.False(t, o.runs(p), p)
	}
	require.True(t, Options{}.runs(PhaseSweep), "no --only: everything runs")
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
