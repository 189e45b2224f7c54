package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/patientlink/patientlink/internal/index"
	"github.com/patientlink/patientlink/internal/link"
	"github.com/patientlink/patientlink/internal/postgres"
	"github.com/patientlink/patientlink/internal/seal"
)

// Searcher searches the internal patient index.
type Searcher interface {
	Search(ctx context.Context, q index.Query) (index.Response, error)
}

// LinkProcessor turns acknowledged workflows into outcomes. The link.process
// worker and the async search callback both record through it.
type LinkProcessor struct {
	Store   *postgres.Store
	Index   Searcher
	Keyring *seal.Keyring
	Policy  link.Policy
	Logger  *slog.Logger
}

// Failure reasons recorded on FAILED workflows.
const (
	ReasonIndexRejected    = "index_rejected"
	ReasonIndexUnavailable = "index_unavailable"
	ReasonPayloadMissing   = "payload_missing"
	ReasonPayloadUnread    = "payload_unreadable"
	ReasonNotLinked        = "not_linked"
)

// LinkProcessWorker is the River worker for LinkProcessArgs.
type LinkProcessWorker struct {
	river.WorkerDefaults[LinkProcessArgs]
	Processor *LinkProcessor
	Retry     Backoff
}

// Backoff spaces retries of transient failures: Base doubled per attempt,
// capped at Max, with ±20% jitter so retries of many jobs spread out.
type Backoff struct {
	Base, Max time.Duration
}

// DefaultBackoff retries after about 1s, 2s, 4s … up to 5 minutes.
var DefaultBackoff = Backoff{Base: time.Second, Max: 5 * time.Minute}

func (b Backoff) next(attempt int) time.Duration {
	d := b.Base << min(attempt-1, 30)
	if d <= 0 || d > b.Max {
		d = b.Max
	}
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// NextRetry overrides River's attempt⁴ default, which waits hours by the
// tenth try.
func (w *LinkProcessWorker) NextRetry(job *river.Job[LinkProcessArgs]) time.Time {
	return time.Now().Add(w.Retry.next(job.Attempt))
}

// Work processes one workflow. River delivers at least once, so every step
// is safe to repeat: an outcome is recorded only from a pending state, under
// the workflow's row lock, in the transaction that completes the job.
func (w *LinkProcessWorker) Work(ctx context.Context, job *river.Job[LinkProcessArgs]) error {
	p := w.Processor
	log := p.Logger.With("workflow_id", job.Args.WorkflowID, "job_id", job.ID, "attempt", job.Attempt)
	wf, err := p.Store.Workflow(ctx, job.Args.WorkflowID)
	if errors.Is(err, link.ErrNotFound) {
		log.Warn("link.process for a missing workflow; dropping the job")
		return nil
	}
	if err != nil {
		return err
	}
	if !wf.Status.IsPending() || wf.Status.IsOutcome() {
		return nil // a repeat: the outcome is recorded already
	}
	wf, err = p.Store.TransitionNow(ctx, wf, postgres.Transition{To: link.StateInProgress, Attempt: job.Attempt})
	var terr *link.TransitionError
	if errors.As(err, &terr) {
		return nil // someone else moved it on
	}
	if err != nil {
		return err
	}

	if wf.RequestType == link.RequestDelink {
		return p.recordDelink(ctx, wf, job)
	}

	query, reason, err := p.query(ctx, wf)
	if err != nil {
		return err
	}
	if reason != "" {
		return p.fail(ctx, wf, job, reason)
	}
	resp, err := p.Index.Search(ctx, query)
	switch {
	case errors.Is(err, index.ErrCircuitOpen):
		// The index is down and the breaker says so: wait without using up
		// an attempt.
		return river.JobSnooze(5 * time.Second)
	case index.IsTemporary(err):
		if job.Attempt >= job.MaxAttempts {
			return p.fail(ctx, wf, job, ReasonIndexUnavailable)
		}
		return fmt.Errorf("index search: %w", err)
	case err != nil:
		log.Warn("index refused the search", "error", err)
		return p.fail(ctx, wf, job, fmt.Sprintf("%s: %v", ReasonIndexRejected, err))
	case resp.Async():
		return p.Store.WithTx(ctx, func(tx pgx.Tx) error {
			if _, err := p.Store.Transition(ctx, tx, wf, postgres.Transition{To: link.StateRequested, SearchID: resp.SearchID, Attempt: job.Attempt}); err != nil {
				return ignoreRace(err)
			}
			_, err := river.JobCompleteTx[*riverpgxv5.Driver](ctx, tx, job)
			return err
		})
	}
	return p.RecordResults(ctx, river.ClientFromContext[pgx.Tx](ctx), wf, toMatches(resp.Results), job.Attempt, func(ctx context.Context, tx pgx.Tx) error {
		_, err := river.JobCompleteTx[*riverpgxv5.Driver](ctx, tx, job)
		return err
	})
}

// query opens the sealed payload into an index query. A reason comes back
// when the payload can never be read: the workflow must fail, not retry.
func (p *LinkProcessor) query(ctx context.Context, wf link.Workflow) (index.Query, string, error) {
	keyID, sealed, err := p.Store.Payload(ctx, wf.ID)
	if errors.Is(err, link.ErrNotFound) {
		return index.Query{}, ReasonPayloadMissing, nil
	}
	if err != nil {
		return index.Query{}, "", err
	}
	plain, err := p.Keyring.Open(keyID, sealed, wf.ID[:])
	if err != nil {
		return index.Query{}, ReasonPayloadUnread, nil
	}
	var req link.Request
	if err := json.Unmarshal(plain, &req); err != nil {
		return index.Query{}, ReasonPayloadUnread, nil
	}
	dob, _ := link.ParseDOB(req.Patient.DOB)
	q := index.Query{FullName: req.Patient.FullName, DOB: dob.Format(time.DateOnly)}
	if c := req.Patient.Contact; c != nil {
		q.Email, q.Phone = c.Email, c.Phone
	}
	return q, "", nil
}

// Finish runs inside the outcome's transaction: the job's completion, so
// the outcome and the job's end commit together.
type Finish func(ctx context.Context, tx pgx.Tx) error

// RecordResults records the outcome of a search in one transaction: the
// mapping (LINKED) and its history, the workflow's outcome and history, the
// notification job and finish. A workflow no longer awaiting a result is
// left alone: repeats are no-ops.
func (p *LinkProcessor) RecordResults(ctx context.Context, client *river.Client[pgx.Tx], wf link.Workflow, results []link.Match, attempt int, finish Finish) error {
	outcome, best := p.Policy.Decide(results)
	return p.Store.WithTx(ctx, func(tx pgx.Tx) error {
		status, err := p.Store.LockWorkflow(ctx, tx, wf.ID)
		if err != nil {
			return err
		}
		if status != link.StateInProgress && status != link.StateRequested {
			return finishOnly(ctx, tx, finish)
		}
		if outcome == link.StateLinked {
			linked, err := p.Store.LinkPatient(ctx, tx, wf, best)
			if err != nil {
				return err
			}
			if !linked {
				outcome = link.StateConflict
			}
		}
		return p.recordOutcome(ctx, client, tx, wf, outcome, attempt, finish)
	})
}

func (p *LinkProcessor) recordDelink(ctx context.Context, wf link.Workflow, job *river.Job[LinkProcessArgs]) error {
	client := river.ClientFromContext[pgx.Tx](ctx)
	finish := func(ctx context.Context, tx pgx.Tx) error {
		_, err := river.JobCompleteTx[*riverpgxv5.Driver](ctx, tx, job)
		return err
	}
	err := p.Store.WithTx(ctx, func(tx pgx.Tx) error {
		status, err := p.Store.LockWorkflow(ctx, tx, wf.ID)
		if err != nil {
			return err
		}
		if status != link.StateInProgress {
			return finishOnly(ctx, tx, finish)
		}
		found, err := p.Store.DelinkPatient(ctx, tx, wf)
		if err != nil {
			return err
		}
		if !found {
			return errNotLinked
		}
		return p.recordOutcome(ctx, client, tx, wf, link.StateDeLinked, job.Attempt, finish)
	})
	if errors.Is(err, errNotLinked) {
		return p.fail(ctx, wf, job, ReasonNotLinked)
	}
	return err
}

var errNotLinked = errors.New("no LINKED mapping to de-link")

// recordOutcome moves the workflow to its outcome and queues the
// notification, inside tx.
func (p *LinkProcessor) recordOutcome(ctx context.Context, client *river.Client[pgx.Tx], tx pgx.Tx, wf link.Workflow, outcome link.State, attempt int, finish Finish) error {
	wf, err := p.Store.Transition(ctx, tx, wf, postgres.Transition{To: outcome, Outcome: outcome, Attempt: attempt})
	if err != nil {
		return err
	}
	if err := queueNotification(ctx, client, tx, wf); err != nil {
		return err
	}
	if err := finishOnly(ctx, tx, finish); err != nil {
		return err
	}
	p.Logger.Info("workflow outcome recorded", "workflow_id", wf.ID, "outcome", outcome, "attempt", attempt)
	return nil
}

// fail moves the workflow to FAILED with reason, queues the customer's
// notification of the failure and completes the job, in one transaction.
func (p *LinkProcessor) fail(ctx context.Context, wf link.Workflow, job *river.Job[LinkProcessArgs], reason string) error {
	p.Logger.Warn("workflow failed", "workflow_id", wf.ID, "job_id", job.ID, "attempt", job.Attempt, "reason", reason)
	client := river.ClientFromContext[pgx.Tx](ctx)
	return p.Store.WithTx(ctx, func(tx pgx.Tx) error {
		failed, err := p.Store.Transition(ctx, tx, wf, postgres.Transition{To: link.StateFailed, Reason: reason, Attempt: job.Attempt})
		if err != nil {
			return ignoreRace(err)
		}
		if err := renotify(ctx, p.Store, client, tx, failed); err != nil {
			return err
		}
		_, err = river.JobCompleteTx[*riverpgxv5.Driver](ctx, tx, job)
		return err
	})
}

// finishOnly runs finish, which is nil when no job is being worked (an
// async search callback).
func finishOnly(ctx context.Context, tx pgx.Tx, finish Finish) error {
	if finish == nil {
		return nil
	}
	return finish(ctx, tx)
}

// ignoreRace treats a refused transition as done: another worker got there
// first, and River completes the job when Work returns nil.
func ignoreRace(err error) error {
	var terr *link.TransitionError
	if errors.As(err, &terr) {
		return nil
	}
	return err
}

func toMatches(results []index.Result) []link.Match {
	out := make([]link.Match, len(results))
	for i, r := range results {
		out[i] = link.Match{ID: r.ID, Score: r.Score}
	}
	return out
}
