package bench

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestConcludeJudgesTargetsAgainstTheSameRun(t *testing.T) {
	t.Parallel()
	phase := func(id Phase, batch int, c Cost) *PhaseResult {
		return &PhaseResult{ID: id, Batch: batch, PerPatient: c, Resources: Resources{PeakRSSMB: map[string]float64{"serve": c.ServeRSSMB}}}
	}
	rep := &Report{
		Phases: []*PhaseResult{
			phase(PhaseBulkAck, 10, Cost{PerSec: 4000}),
			phase(PhaseBulkAck, 100, Cost{PerSec: 9000}),
			phase(PhaseBulkAck, 1000, Cost{PerSec: 11000, PostgresCPUMS: 0.05}),
			phase(PhaseE2E, 0, Cost{Count: 100, PerSec: 700, Tx: 4, WALSyncs: 0.7, ServeRSSMB: 90}),
		},
		Pgbench: map[string]*PgbenchResult{ScriptAck: {Latency: Summary{PerSec: 2000, Count: 20000}, Window: 10,
			Resources: Resources{Cores: map[string]float64{"postgres": 1}}}},
	}
	conclude(rep)
	got := map[string]string{}
	for _, tg := range rep.Targets {
		got[tg.Goal] = tg.Got + " " + tg.Status
	}
	require.Equal(t, map[string]string{
		"bulk ack ×100 ≥ 5 × ack.sql patients/s":                 "4.50 × not met",
		"bulk ack ×1000 ≥ 5 × ack.sql patients/s":                "5.50 × met",
		"bulk end to end ≥ 0.5 × ack.sql":                        "– not measured",
		"single-request end to end ≥ 0.3 × ack.sql":              "0.35 × met",
		"tx/link ≤ 4 at saturation (end-to-end)":                 "4.00 met",
		"WAL flushes/link ≤ 0.5 at saturation (end-to-end)":      "0.70 not met",
		"tx/link ≤ 4 at saturation (bulk end-to-end)":            "– not measured",
		"WAL flushes/link ≤ 0.5 at saturation (bulk end-to-end)": "– not measured",
		"single ack p99 ≤ 20 ms at half of peak (role api)":      "– not measured",
		"single ack p99 ≤ 20 ms at half of peak (role all)":      "– not measured",
		"peak RSS of serve < 200 MB":                             "90 MB met",
	}, got)
	require.Len(t, rep.Ratios, 5, "PostgreSQL CPU of ×1000, three bulk batch sizes and single-request end to end, over ack.sql")
	require.Equal(t, Ratio{What: "PostgreSQL CPU ms per patient, " + rep.Phases[2].Name + " ÷ pgbench ack.sql", Ours: 0.05, Ceiling: 0.5, Ratio: 0.1}, rep.Ratios[0])
}
