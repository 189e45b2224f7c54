package bench

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestBatchPlot(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "batch.png")
	ok, err := writeBatchPlot(&Report{}, path)
	require.NoError(t, err)
	require.False(t, ok, "no bulk phase, no plot")

	rep := &Report{Pgbench: map[string]*PgbenchResult{ScriptAck: {Latency: Summary{PerSec: 1300}}}}
	rep.Phases = append(rep.Phases, &PhaseResult{ID: PhaseAckAPI, Concurrency: 32, Ack: Summary{PerSec: 900}})
	for b, v := range map[int]float64{1: 700, 10: 2500, 100: 6100, 1000: 7400} {
		rep.Phases = append(rep.Phases, &PhaseResult{ID: PhaseBulkAck, Batch: b, PerPatient: Cost{PerSec: v}})
	}
	ok, err = writeBatchPlot(rep, path)
	require.NoError(t, err)
	require.True(t, ok)
	if dst := os.Getenv("LINKBENCH_KEEP_PLOT"); dst != "" {
		b, _ := os.ReadFile(path)
		_ = os.WriteFile(dst, b, 0o644)
	}
}
