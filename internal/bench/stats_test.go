package bench

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestPercentile(t *testing.T) {
	t.Parallel()
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one value", []time.Duration{7}, 99, 7},
		{"p50 of 1..100", hundred, 50, 50 * time.Millisecond},
		{"p95 of 1..100", hundred, 95, 95 * time.Millisecond},
		{"p99 of 1..100", hundred, 99, 99 * time.Millisecond},
		{"p100 is the max", hundred, 100, 100 * time.Millisecond},
		{"tiny p is the min", hundred, 0.001, time.Millisecond},
		{"nearest rank rounds up", []time.Duration{1, 2, 3, 4}, 50, 2},
		{"nearest rank rounds up past half", []time.Duration{1, 2, 3, 4, 5}, 50, 3},
		{"p99 of ten is the max", []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 99, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := Percentile(tt.sorted, tt.p)
			require.Equal(t, tt.want, got, "got %v; want %v", got, tt.want)
		})
	}
}

func TestSummarize(t *testing.T) {
	t.Parallel()
	d := []time.Duration{4 * time.Millisecond, time.Millisecond, 3 * time.Millisecond, 2 * time.Millisecond}
	s := Summarize(d, 8, 2*time.Second)
	require.Equal(t, Summary{Count: 4, PerSec: 4, MeanMS: 2.5, P50MS: 2, P95MS: 4, P99MS: 4, MaxMS: 4}, s)
	require.Equal(t, Summary{PerSec: 0}, Summarize(nil, 0, time.Second))
}

func TestCDFKeepsTail(t *testing.T) {
	t.Parallel()
	d := make([]time.Duration, 10000)
	for i := range d {
		d[i] = time.Duration(i+1) * time.Microsecond
	}
	pts := CDF(d, 50)
	require.LessOrEqual(t, len(pts), 51)
	last := pts[len(pts)-1]
	require.Equal(t, [2]float64{10, 100}, last)
	for i := 1; i < len(pts); i++ {
		require.GreaterOrEqual(t, pts[i][0], pts[i-1][0])
		require.Greater(t, pts[i][1], pts[i-1][1])
	}
}

func TestCountsSorted(t *testing.T) {
	t.Parallel()
	c := Counts{}
	for _, k := range []string{"http 503", "timeout", "http 503", "http 500", "timeout", "http 503"} {
		c.Add(k)
	}
	require.Equal(t, []string{"http 503", "timeout", "http 500"}, c.Sorted())
	require.Equal(t, 6, c.Total())
}
