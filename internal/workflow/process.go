package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/patientlink/patientlink/internal/index"
	"github.com/patientlink/patientlink/internal/link"
	"github.com/patientlink/patientlink/internal/postgres"
)

// completeJob ends the job in tx, with what it recorded. Only REQUESTED
// needs this: a re-run after it would search again. Every other end of a
// job is a no-op when run again (the workflow has left the state it starts
// from; the event is no longer due), so River's completer, which batches
// completions of many jobs in one statement, ends those jobs after Work
// returns: one statement fewer per job in the outcome's transaction.
func completeJob[T river.JobArgs](ctx context.Context, tx pgx.Tx, job *river.Job[T]) error {
	_, err := river.JobCompleteTx[*riverpgxv5.Driver](ctx, tx, job)
	return err
}

// Process works one link.process job: IN_PROGRESS, then the index search
// and the outcome (or REQUESTED for an async search), or the de-link.
// River delivers at least once, so every step is safe to repeat: the start
// moves only a pending workflow, and an outcome is recorded only from
// IN_PROGRESS or REQUESTED, under the workflow's row lock.
func (s *Service) Process(ctx context.Context, job *river.Job[ProcessArgs]) error {
	log := s.d.Logger.With("workflow_id", job.Args.WorkflowID, "job_id", job.ID, "attempt", job.Attempt)
	// Starts share transactions with other jobs' writes too (the
	// committer). A missing workflow is an answer, not a failure of the
	// group, so it comes back beside the error.
	var st postgres.Started
	var startErr error
	err := s.commit.commit(ctx, job.Args.WorkflowID, func(ctx context.Context, tx pgx.Tx) error {
		st, startErr = s.d.Store.StartWorkflowTx(ctx, tx, job.Args.WorkflowID, job.Attempt)
		return ignoreNotFound(startErr)
	})
	if err == nil {
		err = startErr
	}
	if errors.Is(err, link.ErrNotFound) {
		log.Warn("link.process for a missing workflow; dropping the job")
		return nil
	}
	if err != nil {
		return err
	}
	if !st.Started {
		return nil // a repeat, or someone else moved it on: nothing left to do
	}
	wf := st.Workflow

	if wf.RequestType == link.RequestDelink {
		return s.recordDelink(ctx, wf, job)
	}

	query, reason := s.query(wf, st)
	if reason != "" {
		return s.fail(ctx, wf, job, reason)
	}
	resp, err := s.d.Index.Search(ctx, query)
	switch {
	case errors.Is(err, index.ErrCircuitOpen):
		// The index is down and the breaker says so: wait without using up
		// an attempt.
		return river.JobSnooze(5 * time.Second)
	case index.IsTemporary(err):
		if job.Attempt >= job.MaxAttempts {
			return s.fail(ctx, wf, job, string(link.ReasonIndexUnavailable))
		}
		return fmt.Errorf("index search: %w", err)
	case err != nil:
		log.Warn("index refused the search", "error", err)
		return s.fail(ctx, wf, job, link.ReasonIndexRejected.With(err.Error()))
	case resp.Async():
		return s.commit.commit(ctx, wf.ID, func(ctx context.Context, tx pgx.Tx) error {
			if _, err := s.d.Store.TransitionTx(ctx, tx, wf, postgres.Transition{To: link.StateRequested, SearchID: resp.SearchID, Attempt: job.Attempt}); err != nil {
				return ignoreRace(err)
			}
			return completeJob(ctx, tx, job)
		})
	}
	return s.recordResults(ctx, wf, toMatches(resp.Results), job.Attempt)
}

// RecordSearchResults applies the index's answer to an async search (its
// callback). Applied once; repeats change nothing. An unknown search id is
// link.ErrNotFound: the index may call back before REQUESTED commits.
func (s *Service) RecordSearchResults(ctx context.Context, searchID string, results []index.Result) error {
	wf, err := s.d.Store.WorkflowBySearchID(ctx, searchID)
	if err != nil {
		return err
	}
	return s.recordResults(ctx, wf, toMatches(results), wf.Attempt)
}

// query opens the sealed payload into an index query. A reason comes back
// when the payload can never be read: the workflow must fail, not retry.
func (s *Service) query(wf link.Workflow, st postgres.Started) (index.Query, string) {
	if st.KeyID == "" {
		return index.Query{}, string(link.ReasonPayloadMissing)
	}
	plain, err := s.d.Keyring.Open(st.KeyID, st.Sealed, wf.ID[:])
	if err != nil {
		return index.Query{}, string(link.ReasonPayloadUnreadable)
	}
	var req link.Request
	if err := json.Unmarshal(plain, &req); err != nil {
		return index.Query{}, string(link.ReasonPayloadUnreadable)
	}
	dob, _ := link.ParseDOB(req.Patient.DOB)
	q := index.Query{FullName: req.Patient.FullName, DOB: dob.Format(time.DateOnly)}
	if c := req.Patient.Contact; c != nil {
		q.Email, q.Phone = c.Email, c.Phone
	}
	return q, ""
}

// recordResults records the outcome of a search in one transaction (shared
// with other outcomes by the committer): the mapping (LINKED) and its
// history, the decision with its explanation, a review for an uncertain
// outcome, the workflow's outcome and history and the customer's event. A
// workflow no longer awaiting a result is left alone: repeats are no-ops.
func (s *Service) recordResults(ctx context.Context, wf link.Workflow, results []link.Match, attempt int) error {
	decision := s.d.Policy.Decide(results)
	return s.commit.commit(ctx, wf.ID, func(ctx context.Context, tx pgx.Tx) error {
		locked, err := s.d.Store.LockWorkflowTx(ctx, tx, wf.ID)
		if err != nil {
			return err
		}
		if locked.Status != link.StateInProgress && locked.Status != link.StateRequested {
			return nil
		}
		rec := postgres.DecisionRecord{Workflow: locked, Decision: decision, Outcome: decision.Outcome, Rule: decision.Rule}
		if decision.Outcome == link.StateLinked {
			rec.InternalPatientID = decision.Best.ID
			linked, err := s.d.Store.LinkPatientTx(ctx, tx, locked, decision.Best, link.LinkAuto, "")
			if err != nil {
				return err
			}
			if !linked { // another of the customer's patients holds it
				rec.Outcome, rec.Rule = link.StateConflict, link.RuleInternalPatientTaken
				holder, err := s.d.Store.MappingHolderTx(ctx, tx, locked.CustomerID, decision.Best.ID)
				if err != nil && !errors.Is(err, link.ErrNotFound) {
					return err
				}
				rec.ConflictPatientID = holder
			}
		}
		if err := s.d.Store.RecordDecisionTx(ctx, tx, rec); err != nil {
			return err
		}
		if rec.Outcome == link.StateAmbiguous || rec.Outcome == link.StateConflict {
			if err := s.d.Store.CreateReviewTx(ctx, tx, locked, rec.Outcome, decision.Candidates); err != nil {
				return err
			}
		}
		details := outcomeDetails{Rule: rec.Rule, ConflictPatientID: rec.ConflictPatientID}
		if rec.Outcome == link.StateLinked {
			details.InternalPatientID = rec.InternalPatientID
		}
		return s.recordOutcomeTx(ctx, tx, locked, rec.Outcome, details, attempt)
	})
}

func (s *Service) recordDelink(ctx context.Context, wf link.Workflow, job *river.Job[ProcessArgs]) error {
	return s.commit.commit(ctx, wf.ID, func(ctx context.Context, tx pgx.Tx) error {
		locked, err := s.d.Store.LockWorkflowTx(ctx, tx, wf.ID)
		if err != nil {
			return err
		}
		if locked.Status != link.StateInProgress {
			return nil
		}
		found, err := s.d.Store.DelinkPatientTx(ctx, tx, locked)
		if err != nil {
			return err
		}
		if !found { // nothing written yet: fail it in the same transaction
			return s.failTx(ctx, tx, locked, job, string(link.ReasonNotLinked))
		}
		return s.recordOutcomeTx(ctx, tx, locked, link.StateDeLinked, outcomeDetails{}, job.Attempt)
	})
}

// recordOutcomeTx moves the workflow to its outcome and records the event
// that tells the customer, inside tx.
func (s *Service) recordOutcomeTx(ctx context.Context, tx pgx.Tx, wf link.Workflow, outcome link.State, details outcomeDetails, attempt int) error {
	wf, err := s.d.Store.TransitionTx(ctx, tx, wf, postgres.Transition{To: outcome, Outcome: outcome, Attempt: attempt})
	if err != nil {
		return err
	}
	if _, err := s.notifyTx(ctx, tx, wf, details); err != nil {
		return err
	}
	s.d.Logger.Info("workflow outcome recorded", "workflow_id", wf.ID, "outcome", outcome, "attempt", attempt)
	return nil
}

// fail moves the workflow to FAILED with reason and records the event that
// tells the customer, in one transaction.
func (s *Service) fail(ctx context.Context, wf link.Workflow, job *river.Job[ProcessArgs], reason string) error {
	return s.commit.commit(ctx, wf.ID, func(ctx context.Context, tx pgx.Tx) error {
		return s.failTx(ctx, tx, wf, job, reason)
	})
}

// failTx is fail inside tx.
func (s *Service) failTx(ctx context.Context, tx pgx.Tx, wf link.Workflow, job *river.Job[ProcessArgs], reason string) error {
	s.d.Logger.Warn("workflow failed", "workflow_id", wf.ID, "job_id", job.ID, "attempt", job.Attempt, "reason", reason)
	failed, err := s.d.Store.TransitionTx(ctx, tx, wf, postgres.Transition{To: link.StateFailed, Reason: reason, Attempt: job.Attempt})
	if err != nil {
		return ignoreRace(err)
	}
	_, err = s.notifyTx(ctx, tx, failed, outcomeDetails{})
	return err
}

// ignoreRace treats a refused transition as done: another worker got there
// first, and River completes the job when the worker returns nil.
func ignoreRace(err error) error {
	var terr *link.TransitionError
	if errors.As(err, &terr) {
		return nil
	}
	return err
}

func ignoreNotFound(err error) error {
	if errors.Is(err, link.ErrNotFound) {
		return nil
	}
	return err
}

func toMatches(results []index.Result) []link.Match {
	out := make([]link.Match, len(results))
	for i, r := range results {
		out[i] = link.Match{ID: r.ID, Score: r.Score, Matched: r.Matched}
	}
	return out
}
