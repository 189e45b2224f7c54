package workflow_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/patientlink/patientlink/internal/link"
	"github.com/patientlink/patientlink/internal/workflow"
)

// A bulk request's patients are processed like single ones: each ends with
// its outcome, one event delivered once, and the batch counts them.
func TestBatchProcessedToTheEnd(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	ctx := context.Background()
	pop := b.sim.Population()
	const known, unknown = 60, 40
	var items []workflow.BatchItem
	for i := range known + unknown {
		p := link.Patient{ID: uuid.NewString(), FullName: "Nobody Atall", DOB: "1901-01-01"}
		if i < known {
			p.FullName, p.DOB = pop[i].FullName, pop[i].DOB
		}
		items = append(items, workflow.BatchItem{Request: link.Request{Patient: p}})
	}
	render := func(id uuid.UUID, results []workflow.BatchResult) ([]byte, error) {
		return json.Marshal(map[string]any{"batch": id, "results": len(results)})
	}
	rc, err := b.svc.AcknowledgeBatch(ctx, b.customer, items, "bulk", render)
	require.NoError(t, err)
	var answer struct {
		Batch uuid.UUID `json:"batch"`
	}
	require.NoError(t, json.Unmarshal(rc.Body, &answer))

	require.EventuallyWithT(t, func(c *assert.CollectT) {
		batch, err := b.svc.Batch(ctx, b.customer.ID, answer.Batch)
		if assert.NoError(c, err) {
			assert.Empty(c, batch.Pending)
			assert.Equal(c, known+unknown, batch.ByStatus[link.StateCompleted])
		}
	}, 60*time.Second, 20*time.Millisecond)

	batch, err := b.svc.Batch(ctx, b.customer.ID, answer.Batch)
	require.NoError(t, err)
	require.Equal(t, known+unknown, batch.Accepted())
	require.Equal(t, unknown, batch.ByOutcome[link.StateNoResults])
	require.Positive(t, batch.ByOutcome[link.StateLinked])
	require.Equal(t, known+unknown, count(t, b.pool, "SELECT count(*) FROM events e JOIN workflows w ON w.id = e.workflow_id WHERE w.batch_id = $1 AND e.delivery_status = 'delivered'", answer.Batch))
	require.Zero(t, count(t, b.pool, "SELECT count(*) FROM (SELECT workflow_id FROM events GROUP BY workflow_id HAVING count(*) > 1) AS x"), "one event per outcome")
	seen := map[string]bool{}
	for _, e := range b.sink.Events() {
		seen[e.ID] = true
	}
	require.Len(t, seen, known+unknown, "every event received")

	_, err = b.svc.Batch(ctx, uuid.New(), answer.Batch)
	require.ErrorIs(t, err, link.ErrNotFound, "another customer's batch")
}
