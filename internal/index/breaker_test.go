package index

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const (
	openLog   = "index unavailable, circuit open"
	closedLog = "index available again, circuit closed"
)

// switchable answers 503 while down is set, 200 otherwise.
func switchable(down *atomic.Bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			answer(503, ``)(w, r)
			return
		}
		answer(200, `{"results":[]}`)(w, r)
	}
}

func TestBreakerOpensAfterConsecutiveFailures(t *testing.T) {
	t.Parallel()

	down := &atomic.Bool{}
	down.Store(true)
	bundle := setup(t, switchable(down), Options{BreakerFailures: 3, BreakerCooldown: time.Minute})
	ctx := context.Background()

	for range 3 {
		_, err := bundle.client.Search(ctx, testQuery)
		require.True(t, IsTemporary(err))
		require.NotErrorIs(t, err, ErrCircuitOpen)
	}
	require.True(t, bundle.client.BreakerOpen())
	require.Equal(t, int64(3), bundle.hits.Load())

	// Open: refused without calling the index.
	for range 10 {
		_, err := bundle.client.Search(ctx, testQuery)
		require.ErrorIs(t, err, ErrCircuitOpen)
		require.True(t, IsTemporary(err))
	}
	require.Equal(t, int64(3), bundle.hits.Load())
	require.Equal(t, 1, bundle.logs.count(openLog))
	require.Contains(t, bundle.logs.buf.String(), "cooldown=1m0s")
}

func TestBreakerCountsOnlyConsecutiveFailures(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name       string
		between    http.HandlerFunc
		wantClosed bool
	}{
		{name: "a success resets the count", between: answer(200, `{"results":[]}`), wantClosed: true},
		{name: "a 4xx resets the count", between: answer(400, ``), wantClosed: true},
		{name: "a 5xx adds to it", between: answer(500, ``), wantClosed: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var calls atomic.Int64
			bundle := setup(t, func(w http.ResponseWriter, r *http.Request) {
				if calls.Add(1) == 3 {
					tt.between(w, r)
					return
				}
				answer(503, ``)(w, r)
			}, Options{BreakerFailures: 3})

			for range 4 {
				_, _ = bundle.client.Search(context.Background(), testQuery)
			}
			require.Equal(t, !tt.wantClosed, bundle.client.BreakerOpen())
		})
	}
}

func TestBreakerHalfOpenProbe(t *testing.T) {
	t.Parallel()

	down := &atomic.Bool{}
	down.Store(true)
	bundle := setup(t, switchable(down), Options{BreakerFailures: 2, BreakerCooldown: 10 * time.Second})
	ctx := context.Background()

	for range 2 {
		_, _ = bundle.client.Search(ctx, testQuery)
	}
	require.True(t, bundle.client.BreakerOpen())

	// A failed probe keeps it open for another cooldown, without a new log line.
	bundle.clock.Advance(11 * time.Second)
	_, err := bundle.client.Search(ctx, testQuery)
	require.NotErrorIs(t, err, ErrCircuitOpen)
	require.True(t, bundle.client.BreakerOpen())
	_, err = bundle.client.Search(ctx, testQuery)
	require.ErrorIs(t, err, ErrCircuitOpen)
	require.Equal(t, int64(3), bundle.hits.Load())

	// A successful probe closes it.
	down.Store(false)
	bundle.clock.Advance(11 * time.Second)
	_, err = bundle.client.Search(ctx, testQuery)
	require.NoError(t, err)
	require.False(t, bundle.client.BreakerOpen())
	_, err = bundle.client.Search(ctx, testQuery)
	require.NoError(t, err)

	require.Equal(t, 1, bundle.logs.count(openLog))
	require.Equal(t, 1, bundle.logs.count(closedLog))
}

func TestBreakerLetsOneProbeThrough(t *testing.T) {
	t.Parallel()

	down := &atomic.Bool{}
	down.Store(true)
	release := make(chan struct{})
	var probing atomic.Bool
	bundle := setup(t, func(w http.ResponseWriter, r *http.Request) {
		if probing.Load() {
			<-release // hold the probe so others see the half-open state
		}
		switchable(down)(w, r)
	}, Options{BreakerFailures: 1, BreakerCooldown: time.Second})
	releaseProbe := sync.OnceFunc(func() { close(release) })
	t.Cleanup(releaseProbe) // runs before the server closes, even on failure
	ctx := context.Background()

	_, _ = bundle.client.Search(ctx, testQuery)
	require.True(t, bundle.client.BreakerOpen())

	down.Store(false)
	probing.Store(true)
	bundle.clock.Advance(2 * time.Second)
	probeDone := make(chan error)
	go func() {
		_, err := bundle.client.Search(ctx, testQuery)
		probeDone <- err
	}()
	require.Eventually(t, func() bool { return bundle.hits.Load() == 2 }, time.Second, time.Millisecond)

	_, err := bundle.client.Search(ctx, testQuery)
	require.ErrorIs(t, err, ErrCircuitOpen)

	releaseProbe()
	require.NoError(t, <-probeDone)
	require.False(t, bundle.client.BreakerOpen())
	require.Equal(t, int64(2), bundle.hits.Load())
}

func TestBreakerLogsOnceUnderConcurrency(t *testing.T) {
	t.Parallel()

	down := &atomic.Bool{}
	down.Store(true)
	bundle := setup(t, switchable(down), Options{BreakerFailures: 5, BreakerCooldown: time.Second})
	ctx := context.Background()

	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			for range 4 {
				_, _ = bundle.client.Search(ctx, testQuery)
			}
		})
	}
	wg.Wait()
	require.True(t, bundle.client.BreakerOpen())

	down.Store(false)
	bundle.clock.Advance(2 * time.Second)
	for range 50 {
		wg.Go(func() {
			for range 4 {
				_, _ = bundle.client.Search(ctx, testQuery)
			}
		})
	}
	wg.Wait()
	require.False(t, bundle.client.BreakerOpen())

	require.Equal(t, 1, bundle.logs.count(openLog))
	require.Equal(t, 1, bundle.logs.count(closedLog))
	require.Equal(t, 2, bundle.logs.count("\n"), "no other log lines")
}
