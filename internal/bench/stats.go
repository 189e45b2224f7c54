// Package bench is the benchmark harness behind `make bench`
// (cmd/linkbench): it starts PostgreSQL, the service, the index simulator
// and a webhook receiver on loopback, drives POST /link in closed and open
// loops, replays the same SQL with pgbench for a ceiling, and reports
// throughput, latency, errors and resources.
package bench

import (
	"math"
	"slices"
	"sort"
	"time"
)

// Summary describes a set of latencies measured over a window.
type Summary struct {
	Count  int     `json:"count"`
	PerSec float64 `json:"per_sec"`
	MeanMS float64 `json:"mean_ms"`
	P50MS  float64 `json:"p50_ms"`
	P95MS  float64 `json:"p95_ms"`
	P99MS  float64 `json:"p99_ms"`
	MaxMS  float64 `json:"max_ms"`
}

// Percentile is the nearest-rank percentile p (0 < p ≤ 100) of sorted
// durations: the smallest value such that at least p% of the values are at
// or below it. Zero for no values.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(n)))
	rank = min(max(rank, 1), n)
	return sorted[rank-1]
}

// Summarize sorts d in place and summarises it; completions counts what
// finished inside window, for the rate.
func Summarize(d []time.Duration, completions int, window time.Duration) Summary {
	slices.Sort(d)
	s := Summary{Count: len(d)}
	if window > 0 {
		s.PerSec = float64(completions) / window.Seconds()
	}
	if len(d) == 0 {
		return s
	}
	var sum time.Duration
	for _, v := range d {
		sum += v
	}
	s.MeanMS = ms(sum / time.Duration(len(d)))
	s.P50MS = ms(Percentile(d, 50))
	s.P95MS = ms(Percentile(d, 95))
	s.P99MS = ms(Percentile(d, 99))
	s.MaxMS = ms(d[len(d)-1])
	return s
}

func ms(d time.Duration) float64 {
	return math.Round(float64(d)/float64(time.Microsecond)) / 1000
}

// CDF turns sorted durations into at most points (latency ms, percentile)
// pairs for plotting, always keeping the tail.
func CDF(sorted []time.Duration, points int) [][2]float64 {
	n := len(sorted)
	if n == 0 || points < 2 {
		return nil
	}
	var out [][2]float64
	// Denser towards the tail: percentiles 100·(1 − 10^(−k·4/points)).
	seen := -1
	for i := 0; i < points; i++ {
		q := 1 - math.Pow(10, -4*float64(i)/float64(points-1)) // 0 … 0.9999
		idx := min(int(q*float64(n)), n-1)
		if idx == seen {
			continue
		}
		seen = idx
		out = append(out, [2]float64{float64(sorted[idx]) / float64(time.Millisecond), 100 * float64(idx+1) / float64(n)})
	}
	if seen != n-1 {
		out = append(out, [2]float64{float64(sorted[n-1]) / float64(time.Millisecond), 100})
	}
	return out
}

// Counts is a tally by kind (error kinds, outcomes), sortable for tables.
type Counts map[string]int

// Add counts one of kind.
func (c Counts) Add(kind string) { c[kind]++ }

// Total is the sum of all kinds.
func (c Counts) Total() int {
	n := 0
	for _, v := range c {
		n += v
	}
	return n
}

// Sorted lists the kinds, most frequent first.
func (c Counts) Sorted() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if c[keys[i]] != c[keys[j]] {
			return c[keys[i]] > c[keys[j]]
		}
		return keys[i] < keys[j]
	})
	return keys
}
