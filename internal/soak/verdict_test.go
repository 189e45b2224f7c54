package soak

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

// steady is a hand-made run: an acknowledgement and a completion every
// 100 ms for ten minutes, samples every 10 s with flat RSS and tables
// growing 1 kB per link; break_ spoils one thing.
func steady(break_ func(t *tracker, r *Report)) *Report {
	o := DefaultOptions()
	o.Duration = 10 * time.Minute
	t := newTracker()
	for i := range 6000 {
		at := t0.Add(time.Duration(i) * 100 * time.Millisecond)
		t.acks = append(t.acks, event{at, 5 * time.Millisecond})
		t.dones = append(t.dones, event{at.Add(50 * time.Millisecond), 50 * time.Millisecond})
		t.all = append(t.all, "w")
	}
	t.offered = 6000
	r := &Report{Options: o, Load: LoadWindow{Start: t0, End: t0.Add(o.Duration)},
		Final: Final{Acknowledged: 6000, ByStatus: map[string]int{"COMPLETED": 6000}}}
	for i := range 61 {
		s := Sample{At: t0.Add(time.Duration(i) * 10 * time.Second), Elapsed: float64(10 * i), Done: 100,
			RSS: map[string]int64{"api-1": 40 << 20, "worker-1": 60 << 20, "index-sim": 90 << 20}, TableBytes: int64(i) * 100 * 1000,
			AckP50: 5, AckP99: 5, E2EP50: 50, E2EP99: 50}
		if i == 0 {
			s.Done = 0
		}
		r.Samples = append(r.Samples, s)
	}
	break_(t, r)
	r.judge(t, o)
	return r
}

func failing(r *Report) []string {
	var out []string
	for _, c := range r.Criteria {
		if !c.Pass {
			out = append(out, c.Name)
		}
	}
	return out
}

func TestJudge(t *testing.T) {
	t.Parallel()
	ok := steady(func(*tracker, *Report) {})
	require.True(t, ok.Passed(), "%+v", ok.Criteria)
	require.Len(t, ok.Criteria, 5)
	require.Equal(t, 100*time.Millisecond, ok.Figures.AckGap.Length)
	require.InDelta(t, 1000, ok.Figures.PerLinkFirst, 1)

	tests := map[string]struct {
		break_ func(t *tracker, r *Report)
		want   string
	}{
		"a 6 s stall of acknowledgements": {func(t *tracker, r *Report) {
			var kept []event
			for _, e := range t.acks {
				if e.at.Before(t0.Add(3*time.Minute)) || e.at.After(t0.Add(3*time.Minute+6*time.Second)) {
					kept = append(kept, e)
				}
			}
			t.acks = kept
			r.Snapshots = []Snapshot{{At: t0.Add(3*time.Minute + 3*time.Second)}, {At: t0.Add(time.Minute)}}
		}, "no stall"},
		"nothing completes at the end": {func(t *tracker, _ *Report) { t.dones = t.dones[:5900] }, "no stall"},
		"p99 doubles in the last window": {func(t *tracker, _ *Report) {
			for i := range t.acks[5000:] {
				t.acks[5000+i].lat = 10 * time.Millisecond
			}
		}, "p99 steady"},
		"a worker's RSS grows 25 %": {func(_ *tracker, r *Report) {
			for _, s := range r.Samples[50:] {
				s.RSS["worker-1"] = 75 << 20
			}
		}, "RSS steady"},
		"tables grow faster per link": {func(_ *tracker, r *Report) {
			for i, s := range r.Samples[31:] {
				r.Samples[31+i].TableBytes = s.TableBytes + int64(i+1)*100*1000
			}
		}, "tables grow with the work"},
		"a sample without PostgreSQL's figures is left out, not read as empty": {func(_ *tracker, r *Report) {
			r.Samples[60].TableBytes, r.Samples[60].DBError = 0, "context deadline exceeded"
			r.Final.ByStatus = map[string]int{"COMPLETED": 5999, "LINKED": 1}
		}, "every acknowledged link COMPLETED"},
		"one link still pending": {func(_ *tracker, r *Report) {
			r.Final.ByStatus = map[string]int{"COMPLETED": 5999, "LINKED": 1}
		}, "every acknowledged link COMPLETED"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := steady(tt.break_)
			require.Equal(t, []string{tt.want}, failing(r))
			require.False(t, r.Passed())
		})
	}

	stalled := steady(tests["a 6 s stall of acknowledgements"].break_)
	require.Len(t, stalled.Figures.AckGap.Samples, 1, "the snapshot taken during the gap, not the other")
	var md strings.Builder
	stalled.Markdown(&md)
	require.Contains(t, md.String(), "| no stall | ")
	require.Contains(t, md.String(), "**FAIL**")
	require.Contains(t, md.String(), "Longest without an acknowledgement: 6.2s, from 3:00 into the load.")
}

// The index simulator's RSS is reported, not judged: it is not the service.
func TestJudgeLeavesTheSimulatorOut(t *testing.T) {
	t.Parallel()
	r := steady(func(_ *tracker, r *Report) {
		for _, s := range r.Samples[50:] {
			s.RSS["index-sim"] = 200 << 20
		}
	})
	require.True(t, r.Passed(), "%+v", r.Criteria)
	require.Contains(t, r.Criteria[2].Got, "index-sim 90.0 MB → 200.0 MB (+122%)")
}

func TestWritePlot(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "soak.png")
	require.NoError(t, writePlot(steady(func(*tracker, *Report) {}), path))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, "\x89PNG", string(b[:4]))
}

func TestWriteCSV(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	s := Sample{Elapsed: 10, Acks: 3, AckP99: 4.5, RSS: map[string]int64{"api-1": 3 << 20}, Conns: map[string]int{"active": 2, "idle": 5},
		TableBytes: 1 << 20, Jobs: map[string]int{"completed": 7}, BusyCores: 1.234}
	require.NoError(t, writeCSV(&b, []Sample{s}))
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	require.Len(t, lines, 2)
	require.Equal(t, "elapsed_s,offered,acks,completed,errors,ack_p50_ms,ack_p99_ms,e2e_p50_ms,e2e_p99_ms,rss_api-1_mb,pg_connections,pg_active,pg_idle_in_transaction,table_mb,index_mb,dead_tuples,jobs_available,jobs_running,jobs_retryable,jobs_scheduled,jobs_pending,jobs_completed,jobs_cancelled,jobs_discarded,busy_cores,our_cores,load1", lines[0])
	require.Equal(t, "10,0,3,0,0,0,4.5,0,0,3,7,2,0,1,0,0,0,0,0,0,0,7,0,0,1.23,0,0", lines[1])
}
