package workflow

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/patientlink/patientlink/internal/postgres"
)

// txFunc writes one item's changes in tx. It may run twice (in a group that
// failed, then alone), so it reads what it decides on under its locks.
type txFunc func(ctx context.Context, tx pgx.Tx) error

// committer is group commit for the workers' writes (a job's start, its
// outcome, a delivery's claim and result): items of concurrent jobs are
// written in one transaction, one commit and one WAL flush for the group.
// It never waits to fill a group: whoever finds no group running commits
// what is queued at once (alone when idle), and items that arrive
// meanwhile queue for the next group. A group that fails for any reason
// is rolled back and each of its items retried alone, so one item's
// unique violation, deadlock or refused transition never fails the others.
//
// There are no goroutines of its own: a caller leads a group, then hands
// the lead to the first item still queued, whose caller runs the next.
type committer struct {
	store     *postgres.Store
	maxItems  int // per group
	maxGroups int // running at once (each holds a connection)
	// insertMany inserts the River jobs a transaction's items queued, in
	// one statement before it commits; nil: items insert their own.
	insertMany func(ctx context.Context, tx pgx.Tx, jobs []river.InsertManyParams) error

	mu      sync.Mutex
	queue   []*commitItem
	running int
}

type commitItem struct {
	ctx  context.Context
	key  uuid.UUID // the workflow: groups lock workflows in key order
	fn   txFunc
	done chan error    // the item's result
	lead chan struct{} // this item's caller runs the next group
	led  bool          // lead was sent (under mu): at most once
}

// Group sizes: maxItems bounds the time a group holds its rows; maxGroups
// bounds connections and lets a group write while another commits.
const (
	groupMaxItems  = 32
	groupMaxActive = 4
	groupTimeout   = 30 * time.Second
)

func newCommitter(store *postgres.Store) *committer {
	return &committer{store: store, maxItems: groupMaxItems, maxGroups: groupMaxActive}
}

// commit writes fn's changes, with those of other items queued meanwhile,
// and returns once they are committed (or failed alone).
func (c *committer) commit(ctx context.Context, key uuid.UUID, fn txFunc) error {
	it := &commitItem{ctx: ctx, key: key, fn: fn, done: make(chan error, 1), lead: make(chan struct{}, 1)}
	c.mu.Lock()
	c.queue = append(c.queue, it)
	lead := c.running < c.maxGroups
	if lead {
		c.running++
	}
	c.mu.Unlock()
	if lead {
		c.runGroup()
	}
	for {
		select {
		case err := <-it.done:
			// Led while queued, then taken by another group: the turn
			// handed to this caller is still to be run.
			select {
			case <-it.lead:
				c.runGroup()
			default:
			}
			return err
		case <-it.lead:
			c.runGroup()
		}
	}
}

// queued is how many items wait for a group.
func (c *committer) queued() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.queue)
}

// runGroup commits the items at the head of the queue, then passes the
// lead on to the next queued item, or ends its turn.
func (c *committer) runGroup() {
	c.mu.Lock()
	n := min(len(c.queue), c.maxItems)
	group := slices.Clone(c.queue[:n])
	c.queue = c.queue[n:]
	c.mu.Unlock()

	c.write(group)

	c.mu.Lock()
	defer c.mu.Unlock()
	for _, next := range c.queue {
		if !next.led {
			next.led = true
			next.lead <- struct{}{} // buffered, sent once: never blocks
			return
		}
	}
	c.running-- // nobody is left to lead
}

func (c *committer) write(group []*commitItem) {
	if len(group) == 0 {
		return
	}
	if len(group) == 1 {
		group[0].done <- c.alone(group[0])
		return
	}
	slices.SortFunc(group, func(a, b *commitItem) int { return slices.Compare(a.key[:], b.key[:]) })
	ctx, cancel := context.WithTimeout(context.Background(), groupTimeout)
	defer cancel()
	err := c.store.WithTx(ctx, func(tx pgx.Tx) error { return c.runItems(ctx, tx, group) })
	if err == nil {
		for _, it := range group {
			it.done <- nil
		}
		return
	}
	for _, it := range group { // each alone: only its own failure is its own
		it.done <- c.alone(it)
	}
}

// alone writes the item in a transaction of its own.
func (c *committer) alone(it *commitItem) error {
	return c.store.WithTx(it.ctx, func(tx pgx.Tx) error { return c.runItems(it.ctx, tx, []*commitItem{it}) })
}

// runItems runs items in tx, then inserts the jobs they queued.
func (c *committer) runItems(ctx context.Context, tx pgx.Tx, items []*commitItem) error {
	var jobs *jobInserts
	if c.insertMany != nil {
		jobs = &jobInserts{}
	}
	for _, it := range items {
		if err := it.fn(itemContext{Context: ctx, values: it.ctx, jobs: jobs}, tx); err != nil {
			return err
		}
	}
	if jobs == nil || len(jobs.params) == 0 {
		return nil
	}
	return c.insertMany(ctx, tx, jobs.params)
}

// jobInserts are the River jobs queued by a transaction's items: one
// InsertManyTx for a group instead of an InsertTx per item.
type jobInserts struct {
	params []river.InsertManyParams
}

type jobInsertsKey struct{}

// deferInsert queues args for the committer's InsertManyTx when ctx is an
// item's; false: the caller inserts it itself.
func deferInsert(ctx context.Context, args river.JobArgs) bool {
	jobs, ok := ctx.Value(jobInsertsKey{}).(*jobInserts)
	if !ok {
		return false
	}
	jobs.params = append(jobs.params, river.InsertManyParams{Args: args})
	return true
}

// itemContext is an item's context (its values: River's client and job for
// JobCompleteTx) with the group's deadline instead of its own, so a job
// cancelled while queued does not fail the group it is in; and where its
// jobs are queued.
type itemContext struct {
	context.Context
	values context.Context
	jobs   *jobInserts
}

func (c itemContext) Value(key any) any {
	if _, ok := key.(jobInsertsKey); ok && c.jobs != nil {
		return c.jobs
	}
	return c.values.Value(key)
}
