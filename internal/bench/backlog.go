package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// A phase whose service runs workers starts with empty link and webhook
// queues. Otherwise a backlog an earlier phase left (an api-only phase
// acknowledges without processing; a drain gives up after
// --drain-timeout) takes the workers, and end-to-end clients waiting for
// their own webhooks see none: `--only ack-api,e2e` measured 0 links/s.
//
// The backlog is cancelled, not drained or left behind with a fresh
// database: draining it takes minutes (an api phase queues tens of
// thousands of links, the workers finish a few hundred a second) and the
// drain phase measures that already; a database per phase would measure
// every phase on empty tables, unlike a full run, and set up customers
// again. Cancelling is one transaction while no service runs, so no worker
// holds a job or a workflow it touches.

// queuedJobs counts the link and webhook jobs waiting to run.
func queuedJobs(ctx context.Context, pool *pgxpool.Pool) (int, error) {
	var n int
	err := pool.QueryRow(ctx, `SELECT count(*) FROM river_job
		WHERE queue IN ('link', 'webhook') AND state IN ('available', 'pending', 'retryable', 'scheduled')`).Scan(&n)
	return n, err
}

// backlogCancelled is what cancelBacklog ended.
type backlogCancelled struct {
	Jobs      int64 // link and webhook jobs, whatever their state
	Workflows int64 // workflows still to be processed, moved to FAILED
}

// cancelBacklog cancels every unfinished link and webhook job and fails
// the workflows still waiting to be processed, as `workflow stop` would
// (FAILED, reason operator_stop, a history event; no customer event, so no
// webhook). Workflows past their outcome keep it, undelivered. Call it
// with no service running.
func cancelBacklog(ctx context.Context, pool *pgxpool.Pool) (backlogCancelled, error) {
	var c backlogCancelled
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE river_job SET state = 'cancelled', finalized_at = now()
			WHERE queue IN ('link', 'webhook') AND state NOT IN ('cancelled', 'completed', 'discarded')`)
		if err != nil {
			return fmt.Errorf("error cancelling jobs: %w", err)
		}
		c.Jobs = tag.RowsAffected()
		tag, err = tx.Exec(ctx, `
			WITH old AS (
			    SELECT id, status FROM workflows
			    WHERE status IN ('RECEIVED', 'IN_PROGRESS', 'REQUESTED') FOR UPDATE
			), w AS (
			    UPDATE workflows AS wf
			    SET status = 'FAILED', reason = 'operator_stop', updated_at = now(), ended_at = now()
			    FROM old WHERE wf.id = old.id
			    RETURNING wf.id, wf.customer_id, wf.request_type, wf.attempt, old.status AS from_status
			)
			INSERT INTO workflow_events (workflow_id, customer_id, request_type, from_status, to_status, reason, attempt, actor)
			SELECT id, customer_id, request_type, from_status, 'FAILED', 'operator_stop', attempt, 'linkbench' FROM w`)
		if err != nil {
			return fmt.Errorf("error failing workflows: %w", err)
		}
		c.Workflows = tag.RowsAffected()
		return nil
	})
	return c, err
}

// settle gives the next phase, name, empty queues: when jobs wait, it
// stops the service and cancels them (cancelBacklog).
func (r *runner) settle(ctx context.Context, name string) error {
	n, err := queuedJobs(ctx, r.pool)
	if err != nil || n == 0 {
		return err
	}
	r.clearBacklog(ctx, "before "+name)
	return nil
}

// clearBacklog stops the service and cancels the backlog, noting what it
// cancelled and why; the tables are vacuumed so the next phase does not
// pay for the dead rows.
func (r *runner) clearBacklog(ctx context.Context, why string) backlogCancelled {
	start := time.Now()
	r.stopService()
	c, err := cancelBacklog(ctx, r.pool)
	if err != nil {
		r.note(fmt.Sprintf("%s: %v", why, err))
		return c
	}
	if _, err := r.pool.Exec(ctx, "VACUUM (ANALYZE) river_job, workflows"); err != nil {
		r.logf("vacuum after cancelling: %v", err)
	}
	r.note(fmt.Sprintf("%s: %d queued jobs cancelled, %d unprocessed workflows failed (%.0fs)", why, c.Jobs, c.Workflows, time.Since(start).Seconds()))
	return c
}
