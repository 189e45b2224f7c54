package workflow

import (
	"context"
	"crypto/rand"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/patientlink/patientlink/internal/link"
	"github.com/patientlink/patientlink/internal/pgtest"
	"github.com/patientlink/patientlink/internal/postgres"
	"github.com/patientlink/patientlink/internal/seal"
)

type committerBundle struct {
	pool     *pgxpool.Pool
	store    *postgres.Store
	customer link.Customer
}

func setupCommitter(t *testing.T) *committerBundle {
	t.Helper()
	pool, _ := pgtest.Pool(t)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	keyring, err := seal.NewKeyring(key)
	require.NoError(t, err)
	store := postgres.New(pool, nil).WithSealer(keyring)
	customer, err := store.CustomerCreate(context.Background(), link.Customer{ID: uuid.New(), Name: "Clinic", WebhookSecret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"})
	require.NoError(t, err)
	return &committerBundle{pool: pool, store: store, customer: customer}
}

// workflow acknowledges a link request (no job): RECEIVED.
func (b *committerBundle) workflow(t *testing.T) link.Workflow {
	t.Helper()
	return b.workflowWithID(t, uuid.New())
}

func (b *committerBundle) workflowWithID(t *testing.T, id uuid.UUID) link.Workflow {
	t.Helper()
	_, _, err := b.store.Acknowledge(context.Background(), postgres.Intake{
		CustomerID: b.customer.ID, WorkflowID: id, PatientID: uuid.New(), RequestType: link.RequestLink,
		IdempotencyKey: id.String(), RequestHash: []byte{1}, IdempotencyTTL: time.Hour,
		Response: postgres.Response{Status: 202, Body: []byte(`{}`)},
	}, func(context.Context, pgx.Tx) error { return nil })
	require.NoError(t, err)
	wf, err := b.store.Workflow(context.Background(), id)
	require.NoError(t, err)
	return wf
}

// start is an item: IN_PROGRESS and an event with the given id, counting
// its runs.
func (b *committerBundle) start(wf link.Workflow, eventID func() string, runs *atomic.Int32) txFunc {
	return func(ctx context.Context, tx pgx.Tx) error {
		runs.Add(1)
		if _, err := b.store.TransitionTx(ctx, tx, wf, postgres.Transition{To: link.StateInProgress}); err != nil {
			return err
		}
		_, err := b.store.CreateEventTx(ctx, tx, postgres.NewEvent{ID: eventID(), Type: "test.started", Workflow: wf, Data: map[string]any{}})
		return err
	}
}

func fixedID(id string) func() string { return func() string { return id } }

func freshID() string { return "msg_" + uuid.NewString() }

// inOneGroup runs n commits so that they queue into one group: an item
// holds the committer's one slot (maxGroups 1) until all n are queued.
func inOneGroup(t *testing.T, c *committer, n int, commit func(i int) error) []error {
	t.Helper()
	require.Equal(t, 1, c.maxGroups)
	gate := make(chan struct{})
	gateDone := make(chan error, 1)
	go func() {
		gateDone <- c.commit(context.Background(), uuid.Nil, func(context.Context, pgx.Tx) error { <-gate; return nil })
	}()
	require.Eventually(t, func() bool { c.mu.Lock(); defer c.mu.Unlock(); return c.running == 1 && len(c.queue) == 0 },
		10*time.Second, time.Millisecond)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = commit(i) })
	}
	require.Eventually(t, func() bool { return c.queued() == n }, 10*time.Second, time.Millisecond)
	close(gate)
	wg.Wait()
	require.NoError(t, <-gateDone)
	return errs
}

func TestCommitterItemFailureDoesNotFailNeighbours(t *testing.T) {
	t.Parallel()
	b := setupCommitter(t)
	ctx := context.Background()
	c := newCommitter(b.store)
	c.maxGroups = 1 // one group at a time, so the four below queue into one

	// An event id already taken: an item that writes it again is a unique
	// violation.
	var setupRuns atomic.Int32
	require.NoError(t, c.commit(ctx, uuid.Nil, b.start(b.workflow(t), fixedID("msg_taken"), &setupRuns)))

	// Ids in lock order: the group writes ok1, then flaky, which fails there
	// and aborts it; broken and ok2 are not reached before all go alone.
	ids := []uuid.UUID{uuid.New(), uuid.New(), uuid.New(), uuid.New()}
	slices.SortFunc(ids, func(a, b uuid.UUID) int { return slices.Compare(a[:], b[:]) })
	ok1, flaky, broken, ok2 := b.workflowWithID(t, ids[0]), b.workflowWithID(t, ids[1]), b.workflowWithID(t, ids[2]), b.workflowWithID(t, ids[3])
	var runs [4]atomic.Int32
	var flakyCalls atomic.Int32
	flakyID := func() string { // taken the first time (in the group), fresh alone
		if flakyCalls.Add(1) == 1 {
			return "msg_taken"
		}
		return freshID()
	}
	items := []struct {
		wf link.Workflow
		fn txFunc
	}{
		{ok1, b.start(ok1, freshID, &runs[0])},
		{broken, b.start(broken, fixedID("msg_taken"), &runs[1])}, // fails alone too
		{flaky, b.start(flaky, flakyID, &runs[2])},
		{ok2, b.start(ok2, freshID, &runs[3])},
	}
	errs := inOneGroup(t, c, len(items), func(i int) error { return c.commit(ctx, items[i].wf.ID, items[i].fn) })

	var pgErr *pgconn.PgError
	require.ErrorAs(t, errs[1], &pgErr, "the broken item gets its own failure")
	require.Equal(t, "23505", pgErr.Code)
	for _, i := range []int{0, 2, 3} {
		require.NoError(t, errs[i], "item %d", i)
	}
	require.Equal(t, int32(2), runs[0].Load(), "ok1 ran in the group, then alone")
	require.Equal(t, int32(2), runs[2].Load(), "flaky failed in the group, then committed alone")
	require.Equal(t, int32(1), runs[1].Load(), "broken ran alone only")
	require.Equal(t, int32(1), runs[3].Load(), "ok2 ran alone only")
	for _, wf := range []link.Workflow{ok1, flaky, ok2} {
		got, err := b.store.Workflow(ctx, wf.ID)
		require.NoError(t, err)
		require.Equal(t, link.StateInProgress, got.Status, "a neighbour of the failure committed")
		_, err = b.store.LatestEvent(ctx, wf.ID)
		require.NoError(t, err, "with its event")
	}
	got, err := b.store.Workflow(ctx, broken.ID)
	require.NoError(t, err)
	require.Equal(t, link.StateReceived, got.Status, "the failed item wrote nothing")
	_, err = b.store.LatestEvent(ctx, broken.ID)
	require.ErrorIs(t, err, link.ErrNotFound)
	require.Equal(t, 0, c.queued())
	require.Equal(t, 0, c.running, "the last turn ended")
}

func TestCommitterIdleItemCommitsAtOnce(t *testing.T) {
	t.Parallel()
	b := setupCommitter(t)
	ctx := context.Background()
	c := newCommitter(b.store)
	wf := b.workflow(t)
	var runs atomic.Int32

	// No other item comes: the call returns only if it committed alone.
	require.NoError(t, c.commit(ctx, wf.ID, b.start(wf, freshID, &runs)))

	got, err := b.store.Workflow(ctx, wf.ID)
	require.NoError(t, err)
	require.Equal(t, link.StateInProgress, got.Status)
	require.Equal(t, int32(1), runs.Load(), "one run, in its own transaction")
	require.Equal(t, 0, c.running, "its turn ended")
}

func TestCommitterManyConcurrentItems(t *testing.T) {
	t.Parallel()
	b := setupCommitter(t)
	ctx := context.Background()
	c := newCommitter(b.store)
	c.maxItems = 5 // several groups, and lead handed on

	const n = 60
	wfs := make([]link.Workflow, n)
	for i := range wfs {
		wfs[i] = b.workflow(t)
	}
	var runs atomic.Int32
	var failures atomic.Int32
	var wg sync.WaitGroup
	for _, wf := range wfs {
		wg.Go(func() {
			if err := c.commit(ctx, wf.ID, b.start(wf, freshID, &runs)); err != nil {
				failures.Add(1)
				t.Error(err)
			}
		})
	}
	wg.Wait()
	require.Zero(t, failures.Load())
	for _, wf := range wfs {
		got, err := b.store.Workflow(ctx, wf.ID)
		require.NoError(t, err)
		assert.Equal(t, link.StateInProgress, got.Status)
	}
	require.Equal(t, 0, c.queued())
	require.Equal(t, 0, c.running)
}

// Jobs queued by a group's items are inserted with the group, and only
// those of items that committed.
func TestCommitterInsertsJobsWithTheirItems(t *testing.T) {
	t.Parallel()
	b := setupCommitter(t)
	ctx := context.Background()
	client, err := river.NewClient(riverpgxv5.New(b.pool), &river.Config{}) // insert-only
	require.NoError(t, err)
	c := newCommitter(b.store)
	c.maxGroups = 1
	var inserts atomic.Int32
	c.insertMany = func(ctx context.Context, tx pgx.Tx, jobs []river.InsertManyParams) error {
		inserts.Add(1)
		_, err := client.InsertManyTx(ctx, tx, jobs)
		return err
	}
	wfs := []link.Workflow{b.workflow(t), b.workflow(t), b.workflow(t)}
	errs := inOneGroup(t, c, len(wfs), func(i int) error {
		wf := wfs[i]
		return c.commit(ctx, wf.ID, func(ctx context.Context, tx pgx.Tx) error {
			assert.True(t, deferInsert(ctx, DeliverArgs{WorkflowID: wf.ID, EventID: "msg_" + wf.ID.String()}))
			if i == 1 {
				return errors.New("forced failure") // after queueing its job
			}
			return nil
		})
	})

	require.NoError(t, errs[0])
	require.Error(t, errs[1])
	require.NoError(t, errs[2])
	var n int
	require.NoError(t, b.pool.QueryRow(ctx, "SELECT count(*) FROM river_job WHERE kind = 'webhook.deliver'").Scan(&n))
	require.Equal(t, 2, n, "the jobs of the two items that committed")
	for _, i := range []int{0, 2} {
		require.NoError(t, b.pool.QueryRow(ctx, "SELECT count(*) FROM river_job WHERE args->>'workflow_id' = $1", wfs[i].ID.String()).Scan(&n))
		require.Equal(t, 1, n)
	}
	require.Equal(t, int32(2), inserts.Load(), "one insert per committed item alone, after the group failed")
	require.False(t, deferInsert(ctx, DeliverArgs{}), "outside an item, callers insert their own")
}
