package workflow

import (
	"context"
	"errors"
	"time"

	"github.com/patientlink/patientlink/internal/index"
	"github.com/patientlink/patientlink/internal/metrics"
)

// instrumentedIndex records each search's latency and outcome.
type instrumentedIndex struct {
	searcher Searcher
	metrics  *metrics.Metrics
}

func (i instrumentedIndex) Search(ctx context.Context, q index.Query) (index.Response, error) {
	start := time.Now()
	resp, err := i.searcher.Search(ctx, q)
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
	i.metrics.IndexCall(outcome, time.Since(start))
	return resp, err
}
