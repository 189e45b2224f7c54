package workflow_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/patientlink/patientlink/internal/indexsim"
	"github.com/patientlink/patientlink/internal/link"
	"github.com/patientlink/patientlink/internal/workflow"
)

// openReview waits for the review of a workflow's uncertain outcome.
func (b *testBundle) openReview(t *testing.T, workflowID uuid.UUID) link.Review {
	t.Helper()
	var id uuid.UUID
	require.NoError(t, b.pool.QueryRow(context.Background(), "SELECT id FROM reviews WHERE workflow_id = $1", workflowID).Scan(&id))
	rv, err := b.svc.Review(context.Background(), id)
	require.NoError(t, err)
	return rv
}

func (b *testBundle) rules(t *testing.T, workflowID uuid.UUID) []string {
	t.Helper()
	rows, err := b.pool.Query(context.Background(), "SELECT rule FROM decisions WHERE workflow_id = $1 ORDER BY id", workflowID)
	require.NoError(t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var r string
		require.NoError(t, rows.Scan(&r))
		out = append(out, r)
	}
	return out
}

// Must show: a planted twin is AMBIGUOUS with its candidates and the rule
// in history; a person links one of them: the mapping is MANUAL with the
// actor, the customer receives link.resolved, and the patient shows the link.
func TestAmbiguousTwinResolvedByAPerson(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{sim: indexsim.Config{AmbiguousRate: 0.2}})
	twin := findTwin(t, b.sim.Population())
	patient := uuid.New()
	wf := b.waitDone(t, b.submit(t, link.RequestLink, patient, twin.FullName, twin.DOB))
	require.Equal(t, link.StateAmbiguous, wf.Outcome)
	require.Equal(t, []string{"margin_too_small"}, b.rules(t, wf.ID))
	st := b.status(t, wf.ID)
	require.Equal(t, link.RuleMarginTooSmall, st.Rule)
	require.Equal(t, link.ReviewOpen, st.Review.Status)

	rv := b.openReview(t, wf.ID)
	require.GreaterOrEqual(t, len(rv.Candidates), 2)
	require.Equal(t, "exact", rv.Candidates[0].Matched["full_name"], "the match vector is kept")
	var explained string
	require.NoError(t, b.pool.QueryRow(context.Background(), "SELECT candidates::text FROM decisions WHERE workflow_id = $1", wf.ID).Scan(&explained))
	require.Contains(t, explained, rv.Candidates[1].ID)
	require.NotContains(t, explained, twin.FullName, "no demographics")

	chosen := rv.Candidates[1]
	_, err := b.svc.ResolveReview(context.Background(), rv.ID, workflow.ReviewDecision{Decision: link.DecideLink, InternalPatientID: chosen.ID, Actor: "operator:alice", Reason: "same phone on file"})
	require.NoError(t, err)

	m, err := b.store.Mapping(context.Background(), b.customer.ID, patient)
	require.NoError(t, err)
	require.Equal(t, link.MappingLinked, m.Status)
	require.Equal(t, chosen.ID, m.InternalPatientID)
	require.Equal(t, link.LinkManual, m.Source)
	require.Equal(t, 1, count(t, b.pool, "SELECT count(*) FROM patient_mappings WHERE customer_patient_id = $1 AND linked_by = 'operator:alice'", patient))
	require.Equal(t, []string{"margin_too_small", "manual_link"}, b.rules(t, wf.ID))
	require.Equal(t, 1, count(t, b.pool, "SELECT count(*) FROM action_history WHERE workflow_id = $1 AND action = 'resolve-review' AND actor = 'operator:alice'", wf.ID))

	require.EventuallyWithT(t, func(c *assert.CollectT) {
		var resolved []string
		for _, e := range b.sink.Events() {
			if e.Type == workflow.EventLinkResolved {
				resolved = append(resolved, string(e.Body))
			}
		}
		if assert.Len(c, resolved, 1) {
			assert.Contains(c, resolved[0], `"outcome":"LINKED"`)
			assert.Contains(c, resolved[0], chosen.ID)
		}
	}, 10*time.Second, 10*time.Millisecond)
	st = b.status(t, wf.ID)
	require.Equal(t, link.StateAmbiguous, st.Outcome, "the first outcome stays beside the resolution")
	require.Equal(t, link.ReviewResolved, st.Review.Status)
	require.Equal(t, link.DecideLink, st.Review.Decision)
	require.False(t, st.Review.ClosedAt.IsZero())
}

// Must show: every outcome kind leaves an explanation; CONFLICT names the
// customer's own patient that holds the match.
func TestEveryOutcomeIsExplained(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{sim: indexsim.Config{AmbiguousRate: 0.2}})
	known := findSingle(t, b.sim.Population())
	first := uuid.New()
	linked := b.waitDone(t, b.submit(t, link.RequestLink, first, known.FullName, known.DOB))
	require.Equal(t, []string{"auto_link"}, b.rules(t, linked.ID))
	none := b.waitDone(t, b.submit(t, link.RequestLink, uuid.New(), "Nobody Atall", "1901-01-01"))
	require.Equal(t, []string{"no_candidates"}, b.rules(t, none.ID))
	conflict := b.waitDone(t, b.submit(t, link.RequestLink, uuid.New(), known.FullName, known.DOB))
	require.Equal(t, link.StateConflict, conflict.Outcome)
	require.Equal(t, []string{"internal_patient_taken"}, b.rules(t, conflict.ID))
	st := b.status(t, conflict.ID)
	require.Equal(t, link.RuleInternalPatientTaken, st.Rule)
	require.Equal(t, first, st.ConflictPatientID, "the status names the customer's other patient")
	require.Equal(t, link.ReviewOpen, st.Review.Status, "a CONFLICT opens a review")
	twin := findTwin(t, b.sim.Population())
	amb := b.waitDone(t, b.submit(t, link.RequestLink, uuid.New(), twin.FullName, twin.DOB))
	require.Equal(t, []string{"margin_too_small"}, b.rules(t, amb.ID))
	require.Equal(t, 4, count(t, b.pool, "SELECT count(*) FROM decisions WHERE threshold = 0.9 AND margin = 0.05 AND policy_version = $1", link.PolicyVersion))

	// Linking the CONFLICT's candidate is refused by the one-to-one rule,
	// naming the patient that holds it.
	rv := b.openReview(t, conflict.ID)
	_, err := b.svc.ResolveReview(context.Background(), rv.ID, workflow.ReviewDecision{Decision: link.DecideLink, InternalPatientID: known.ID, Actor: "operator:bob", Reason: "looks right"})
	var taken *link.TakenError
	require.ErrorAs(t, err, &taken)
	require.Equal(t, first, taken.PatientID)
	require.Equal(t, 1, count(t, b.pool, "SELECT count(*) FROM patient_mappings WHERE internal_patient_id = $1", known.ID), "nothing changed")
	_, err = b.svc.ResolveReview(context.Background(), rv.ID, workflow.ReviewDecision{Decision: link.DecideLink, InternalPatientID: "not-a-candidate", Actor: "operator:bob", Reason: "x"})
	require.ErrorIs(t, err, workflow.ErrNotACandidate)
	_, err = b.svc.ResolveReview(context.Background(), rv.ID, workflow.ReviewDecision{Decision: link.DecideNoMatch, Actor: "operator:bob", Reason: "a different person"})
	require.NoError(t, err)
	_, err = b.svc.ResolveReview(context.Background(), rv.ID, workflow.ReviewDecision{Decision: link.DecideNoMatch, Actor: "operator:bob", Reason: "again"})
	require.ErrorIs(t, err, workflow.ErrReviewClosed)
}

// Must show: twenty reviewers resolving one item at once: exactly one
// wins, the others find it closed, and nothing else changes.
func TestConcurrentResolutions(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{sim: indexsim.Config{AmbiguousRate: 0.2}})
	twin := findTwin(t, b.sim.Population())
	wf := b.waitDone(t, b.submit(t, link.RequestLink, uuid.New(), twin.FullName, twin.DOB))
	rv := b.openReview(t, wf.ID)
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins, closed := 0, 0
	for i := range 20 {
		wg.Go(func() {
			d := workflow.ReviewDecision{Decision: link.DecideLink, InternalPatientID: rv.Candidates[i%2].ID, Actor: "operator:r" + string(rune('a'+i)), Reason: "race"}
			_, err := b.svc.ResolveReview(context.Background(), rv.ID, d)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case errors.Is(err, workflow.ErrReviewClosed):
				closed++
			default:
				t.Errorf("unexpected error: %v", err)
			}
		})
	}
	wg.Wait()
	require.Equal(t, 1, wins)
	require.Equal(t, 19, closed)
	require.Equal(t, 1, count(t, b.pool, "SELECT count(*) FROM patient_mappings WHERE workflow_id = $1", wf.ID))
	require.Equal(t, 1, count(t, b.pool, "SELECT count(*) FROM decisions WHERE workflow_id = $1 AND actor IS NOT NULL", wf.ID))
	require.Equal(t, 1, count(t, b.pool, "SELECT count(*) FROM events WHERE workflow_id = $1 AND type = 'link.resolved'", wf.ID))
}

// The customer decides by sending more: a new request for a patient under
// review is accepted and supersedes the review.
func TestNewRequestSupersedesReview(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{sim: indexsim.Config{AmbiguousRate: 0.2}})
	twin := findTwin(t, b.sim.Population())
	patient := uuid.New()
	wf := b.waitDone(t, b.submit(t, link.RequestLink, patient, twin.FullName, twin.DOB))
	rv := b.openReview(t, wf.ID)
	next := b.submit(t, link.RequestLink, patient, "Nobody Atall", "1901-01-01")
	got, err := b.svc.Review(context.Background(), rv.ID)
	require.NoError(t, err)
	require.Equal(t, link.ReviewSuperseded, got.Status)
	require.Equal(t, next, got.SupersededBy)
	_, err = b.svc.ResolveReview(context.Background(), rv.ID, workflow.ReviewDecision{Decision: link.DecideNoMatch, Actor: "operator:x", Reason: "late"})
	require.ErrorIs(t, err, workflow.ErrReviewClosed)
	page, err := b.svc.Reviews(context.Background(), link.ReviewSuperseded, "", 10)
	require.NoError(t, err)
	require.Len(t, page.Reviews, 1)
}
