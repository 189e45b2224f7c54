package jobs

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/patientlink/patientlink/internal/index"
	"github.com/patientlink/patientlink/internal/metrics"
	"github.com/patientlink/patientlink/internal/postgres"
)

// InstrumentedIndex records each search's latency and outcome.
type InstrumentedIndex struct {
	Searcher Searcher
	Metrics  *metrics.Metrics
}

// Search calls the index and records the call.
func (i InstrumentedIndex) Search(ctx context.Context, q index.Query) (index.Response, error) {
	start := time.Now()
	resp, err := i.Searcher.Search(ctx, q)
	outcome := "sync"
	switch {
	case errors.Is(err, index.ErrCircuitOpen):
		outcome = "circuit_open"
	case index.IsTemporary(err):
		outcome = "transient_error"
	case err != nil:
		outcome = "permanent_error"
	case resp.Async():
		outcome = "async"
	}
	i.Metrics.IndexCall(outcome, time.Since(start))
	return resp, err
}

// Gauges refreshes the pending-workflow and River queue gauges. Worker
// processes run it; the queries are small grouped counts over indexed
// columns.
type Gauges struct {
	Store   *postgres.Store
	Metrics *metrics.Metrics
	Logger  *slog.Logger
}

// Run refreshes every interval until ctx ends.
func (g Gauges) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		g.refresh(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (g Gauges) refresh(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if pending, err := g.Store.PendingByState(ctx); err == nil {
		g.Metrics.SetPending(pending)
	} else if ctx.Err() == nil {
		g.Logger.Warn("error refreshing pending gauge", "error", err)
	}
	if depth, err := g.Store.JobsByQueueState(ctx); err == nil {
		g.Metrics.SetQueueDepth(depth)
	}
}
