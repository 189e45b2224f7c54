package webhook_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/patientlink/patientlink/internal/webhook"
)

func TestSchedule(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name    string
		spec    string
		want    []time.Duration
		wantErr bool
	}{
		{name: "one", spec: "0s", want: []time.Duration{0}},
		{name: "spaces", spec: " 1s , 2m ,3h", want: []time.Duration{time.Second, 2 * time.Minute, 3 * time.Hour}},
		{name: "empty", spec: "", wantErr: true},
		{name: "empty entry", spec: "1s,,2s", wantErr: true},
		{name: "trailing comma", spec: "1s,", wantErr: true},
		{name: "no unit", spec: "5", wantErr: true},
		{name: "negative", spec: "1s,-5s", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := webhook.Schedule(tt.spec)
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestDefaultSchedule(t *testing.T) {
	t.Parallel()

	require.Equal(t, []time.Duration{
		0, 5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour,
		5 * time.Hour, 10 * time.Hour, 14 * time.Hour, 20 * time.Hour, 24 * time.Hour,
	}, webhook.DefaultSchedule)
}

func TestBackoff(t *testing.T) {
	t.Parallel()

	sched := []time.Duration{0, 10 * time.Second, time.Hour}
	fixed := func(f float64) func() float64 { return func() float64 { return f } }
	tests := []struct {
		name       string
		attempt    int
		retryAfter time.Duration
		rnd        func() float64
		want       time.Duration
		wantOK     bool
	}{
		{name: "first delivery", attempt: 1, want: 0, wantOK: true},
		{name: "second attempt", attempt: 2, want: 10 * time.Second, wantOK: true},
		{name: "last attempt", attempt: 3, want: time.Hour, wantOK: true},
		{name: "exhausted", attempt: 4, wantOK: false},
		{name: "exhausted ignores retry-after", attempt: 4, retryAfter: time.Minute, wantOK: false},
		{name: "attempt zero counts as first", attempt: 0, want: 0, wantOK: true},
		{name: "lowest jitter", attempt: 2, rnd: fixed(0), want: 9 * time.Second, wantOK: true},
		{name: "middle jitter", attempt: 2, rnd: fixed(0.5), want: 10 * time.Second, wantOK: true},
		{name: "highest jitter", attempt: 2, rnd: fixed(1), want: 11 * time.Second, wantOK: true},
		{name: "rnd out of range is clamped", attempt: 2, rnd: fixed(7), want: 11 * time.Second, wantOK: true},
		{name: "no jitter on zero delay", attempt: 1, rnd: fixed(1), want: 0, wantOK: true},
		{name: "longer retry-after wins", attempt: 2, retryAfter: time.Minute, want: time.Minute, wantOK: true},
		{name: "shorter retry-after loses", attempt: 3, retryAfter: time.Minute, want: time.Hour, wantOK: true},
		{name: "retry-after capped at 24h", attempt: 2, retryAfter: 100 * time.Hour, want: 24 * time.Hour, wantOK: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := webhook.Backoff(sched, tt.attempt, tt.retryAfter, tt.rnd)
			require.Equal(t, tt.wantOK, ok)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestBackoffJitterBounds(t *testing.T) {
	t.Parallel()

	r := rand.New(rand.NewPCG(1, 2))
	for attempt, base := range webhook.DefaultSchedule {
		for range 200 {
			got, ok := webhook.Backoff(webhook.DefaultSchedule, attempt+1, 0, r.Float64)
			require.True(t, ok)
			require.GreaterOrEqual(t, got, base-base/10)
			require.LessOrEqual(t, got, base+base/10)
		}
	}
	_, ok := webhook.Backoff(webhook.DefaultSchedule, len(webhook.DefaultSchedule)+1, 0, r.Float64)
	require.False(t, ok)
}
