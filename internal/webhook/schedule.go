package webhook

import (
	"fmt"
	"strings"
	"time"
)

// DefaultScheduleSpec is the Standard Webhooks retry schedule: about three
// days of attempts, which rides out a customer's weekend outage.
const DefaultScheduleSpec = "0s,5s,5m,30m,2h,5h,10h,14h,20h,24h"

// DefaultSchedule is DefaultScheduleSpec parsed. Do not modify it.
var DefaultSchedule = mustSchedule(DefaultScheduleSpec)

// jitter spreads retries of many events that failed together.
const jitter = 0.10

// Schedule parses a comma-separated list of Go durations: the delay before
// each attempt, the first delivery included.
func Schedule(spec string) ([]time.Duration, error) {
	parts := strings.Split(spec, ",")
	out := make([]time.Duration, 0, len(parts))
	for i, p := range parts {
		p = strings.TrimSpace(p)
		d, err := time.ParseDuration(p)
		if err != nil {
			return nil, fmt.Errorf("error parsing retry schedule entry %d: %w", i+1, err)
		}
		if d < 0 {
			return nil, fmt.Errorf("error parsing retry schedule entry %d: %s is negative", i+1, p)
		}
		out = append(out, d)
	}
	return out, nil
}

func mustSchedule(spec string) []time.Duration {
	s, err := Schedule(spec)
	if err != nil {
		panic(err)
	}
	return s
}

// Backoff returns the delay before attempt number attempt (1-based: attempt 1
// is the first delivery and waits schedule[0]), or false when the schedule is
// exhausted. rnd (nil for none) adds ±10% jitter. A Retry-After from the
// previous answer wins when it is longer, capped at 24h. An attempt below 1
// counts as 1, so a caller's off-by-one delivers rather than drops.
func Backoff(schedule []time.Duration, attempt int, retryAfter time.Duration, rnd func() float64) (time.Duration, bool) {
	attempt = max(attempt, 1)
	if attempt > len(schedule) {
		return 0, false
	}
	d := schedule[attempt-1]
	if rnd != nil {
		f := min(max(rnd(), 0), 1)
		d += time.Duration((2*f - 1) * jitter * float64(d))
	}
	return max(d, min(retryAfter, maxRetryAfter)), true
}
