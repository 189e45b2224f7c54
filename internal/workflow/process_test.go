package workflow_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/patientlink/patientlink/internal/index"
	"github.com/patientlink/patientlink/internal/indexsim"
	"github.com/patientlink/patientlink/internal/link"
	"github.com/patientlink/patientlink/internal/workflow"
)

func TestLinkProcessOutcomes(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{sim: indexsim.Config{AmbiguousRate: 0.2}})
	pop := b.sim.Population()
	known := findSingle(t, pop)

	// A patient the index knows links to its internal id.
	patient := uuid.New()
	wf := b.waitDone(t, b.submit(t, link.RequestLink, patient, known.FullName, known.DOB))
	require.Equal(t, link.StateCompleted, wf.Status)
	require.Equal(t, link.StateLinked, wf.Outcome)
	m, err := b.store.Mapping(context.Background(), b.customer.ID, patient)
	require.NoError(t, err)
	require.Equal(t, known.ID, m.InternalPatientID)
	require.Equal(t, link.MappingLinked, m.Status)
	require.Equal(t, wf.ID, m.WorkflowID)
	require.Equal(t, 1, count(t, b.pool, "SELECT count(*) FROM river_job WHERE kind = 'webhook.deliver' AND args->>'workflow_id' = $1", wf.ID), "the notification is queued")
	require.Equal(t, []string{"RECEIVED", "IN_PROGRESS", "LINKED", "COMPLETED"}, history(t, b, wf.ID))

	// Unknown demographics: no link.
	wf = b.waitDone(t, b.submit(t, link.RequestLink, uuid.New(), "Nobody Atall", "1901-01-01"))
	require.Equal(t, link.StateNoResults, wf.Outcome)

	// Another patient id of the customer resolving to the same internal
	// patient: CONFLICT, no second mapping.
	wf = b.waitDone(t, b.submit(t, link.RequestLink, uuid.New(), known.FullName, known.DOB))
	require.Equal(t, link.StateConflict, wf.Outcome)
	require.Equal(t, 1, count(t, b.pool, "SELECT count(*) FROM patient_mappings WHERE internal_patient_id = $1", known.ID))

	// Twins in the index: ambiguous, no link.
	twin := findTwin(t, pop)
	wf = b.waitDone(t, b.submit(t, link.RequestLink, uuid.New(), twin.FullName, twin.DOB))
	require.Equal(t, link.StateAmbiguous, wf.Outcome)

	// De-linking.
	wf = b.waitDone(t, b.submit(t, link.RequestDelink, patient, "", ""))
	require.Equal(t, link.StateDeLinked, wf.Outcome)
	m, err = b.store.Mapping(context.Background(), b.customer.ID, patient)
	require.NoError(t, err)
	require.Equal(t, link.MappingDeLinked, m.Status)
	require.Equal(t, wf.ID, m.DelinkWorkflowID)
	require.Equal(t, 2, count(t, b.pool, "SELECT count(*) FROM mapping_events WHERE customer_patient_id = $1", patient))
}

func findSingle(t *testing.T, pop []indexsim.Patient) indexsim.Patient {
	t.Helper()
	seen := map[string]int{}
	for _, p := range pop {
		seen[p.FullName+"|"+p.DOB]++
	}
	for _, p := range pop {
		if seen[p.FullName+"|"+p.DOB] == 1 {
			return p
		}
	}
	t.Fatal("no patient without a twin")
	return indexsim.Patient{}
}

func findTwin(t *testing.T, pop []indexsim.Patient) indexsim.Patient {
	t.Helper()
	seen := map[string]int{}
	for _, p := range pop {
		seen[p.FullName+"|"+p.DOB]++
	}
	for _, p := range pop {
		if seen[p.FullName+"|"+p.DOB] > 1 {
			return p
		}
	}
	t.Fatal("the simulator planted no twins")
	return indexsim.Patient{}
}

func history(t *testing.T, b *testBundle, id uuid.UUID) []string {
	t.Helper()
	rows, err := b.pool.Query(context.Background(), "SELECT to_status FROM workflow_events WHERE workflow_id = $1 ORDER BY id", id)
	require.NoError(t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		out = append(out, s)
	}
	return out
}

// slowIndex answers one match after a pause, so racing workers overlap.
type slowIndex struct {
	calls atomic.Int32
	id    string
}

func (s *slowIndex) Search(ctx context.Context, q index.Query) (index.Response, error) {
	s.calls.Add(1)
	time.Sleep(150 * time.Millisecond)
	return index.Response{Results: []index.Result{{ID: s.id, Score: 0.99}}}, nil
}

// Must show: the same workflow worked twice at once (River delivers at
// least once) gives one mapping and one outcome event.
func TestLinkProcessTwiceConcurrently(t *testing.T) {
	t.Parallel()
	idx := &slowIndex{id: "internal-" + uuid.NewString()}
	b := setup(t, setupOpts{index: idx})
	patient := uuid.New()
	id := b.submit(t, link.RequestLink, patient, "Twice Worked", "1970-01-01")
	// A second job for the same workflow, past the uniqueness guard, as a
	// redelivery would be.
	_, err := b.pool.Exec(context.Background(), `INSERT INTO river_job (args, kind, max_attempts, queue, state, priority)
		VALUES ($1, 'link.process', 25, 'link', 'available', 1)`,
		toJSON(workflow.ProcessArgs{WorkflowID: id, CustomerID: b.customer.ID, RequestType: link.RequestLink}))
	require.NoError(t, err)

	wf := b.waitDone(t, id)
	require.Equal(t, link.StateLinked, wf.Outcome)
	eventuallyCount(t, b.pool, 2, "SELECT count(*) FROM river_job WHERE kind = 'link.process' AND state = 'completed'")
	require.EqualValues(t, 2, idx.calls.Load(), "both jobs ran")
	require.Equal(t, 1, count(t, b.pool, "SELECT count(*) FROM patient_mappings WHERE workflow_id = $1", id))
	require.Equal(t, 1, count(t, b.pool, "SELECT count(*) FROM mapping_events WHERE workflow_id = $1", id))
	require.Equal(t, 1, count(t, b.pool, "SELECT count(*) FROM workflow_events WHERE workflow_id = $1 AND to_status = 'LINKED'", id))
	require.Equal(t, 1, count(t, b.pool, "SELECT count(*) FROM river_job WHERE kind = 'webhook.deliver'"))

	// A late redelivery after the outcome changes nothing.
	_, err = b.client.Insert(context.Background(), workflow.ProcessArgs{WorkflowID: id, CustomerID: b.customer.ID, RequestType: link.RequestLink}, nil)
	require.NoError(t, err)
	eventuallyCount(t, b.pool, 3, "SELECT count(*) FROM river_job WHERE kind = 'link.process' AND state = 'completed'")
	require.EqualValues(t, 2, idx.calls.Load(), "a finished workflow is not searched again")
	require.Equal(t, 1, count(t, b.pool, "SELECT count(*) FROM workflow_events WHERE workflow_id = $1 AND to_status = 'LINKED'", id))
}

// Must show: with the simulator failing 30% of searches, 1,000 requests all
// reach an outcome, none lost or doubled.
func TestLinkProcessUnderIndexErrors(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{sim: indexsim.Config{ErrorRate: 0.3, Size: 5000}, workers: 50})
	pop := b.sim.Population()
	const n = 1000
	ids := make([]uuid.UUID, n)
	for i := range n {
		p := pop[i]
		ids[i] = b.submit(t, link.RequestLink, uuid.New(), p.FullName, p.DOB)
	}
	eventuallyCount(t, b.pool, n, "SELECT count(*) FROM workflows WHERE status = 'COMPLETED'", "every request reaches an outcome and is notified")
	require.Zero(t, count(t, b.pool, "SELECT count(*) FROM workflows WHERE status = 'FAILED'"))
	require.Equal(t, n, count(t, b.pool, "SELECT count(DISTINCT workflow_id) FROM workflow_events WHERE to_status IN ('LINKED','NO_RESULTS','AMBIGUOUS','CONFLICT')"))
	require.Equal(t, n, count(t, b.pool, "SELECT count(*) FROM workflow_events WHERE to_status IN ('LINKED','NO_RESULTS','AMBIGUOUS','CONFLICT')"), "no outcome recorded twice")
	require.Equal(t, count(t, b.pool, "SELECT count(*) FROM workflows WHERE outcome = 'LINKED'"), count(t, b.pool, "SELECT count(*) FROM patient_mappings"))
	require.Len(t, b.sink.Events(), n, "every customer was notified once")
	require.Positive(t, b.sim.Stats().ErrorsInjected, "the simulator did fail searches")
}

// A 4xx from the index is permanent: FAILED with a reason, no retries.
func TestLinkProcessPermanentIndexError(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusBadRequest)
	}))
	defer srv.Close()
	b := setup(t, setupOpts{index: index.New(srv.URL, index.Options{AllowInsecure: true})})
	wf := b.waitDone(t, b.submit(t, link.RequestLink, uuid.New(), "Bad Request", "1970-01-01"))
	require.Equal(t, link.StateFailed, wf.Status)
	require.Contains(t, wf.Reason, string(link.ReasonIndexRejected))
	require.EqualValues(t, 1, calls.Load())
}

// Async mode end to end: 202 + search id → REQUESTED; the signed callback
// records the outcome once; a forged one is refused; a repeat is a no-op.
func TestLinkProcessAsync(t *testing.T) {
	t.Parallel()
	// Async tests live with the HTTP callback handler; here only the state.
	b := setup(t, setupOpts{sim: indexsim.Config{Async: true, CallbackURL: "http://127.0.0.1:9", CallbackSecret: []byte("0123456789abcdef")}})
	p := b.sim.Population()[3]
	id := b.submit(t, link.RequestLink, uuid.New(), p.FullName, p.DOB)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		wf, err := b.store.Workflow(context.Background(), id)
		assert.NoError(c, err)
		assert.Equal(c, link.StateRequested, wf.Status)
	}, 10*time.Second, 10*time.Millisecond)
	require.Equal(t, 1, count(t, b.pool, "SELECT count(*) FROM workflows WHERE id = $1 AND search_id IS NOT NULL", id))
	require.Equal(t, 1, count(t, b.pool, "SELECT count(*) FROM river_job WHERE kind = 'link.process' AND state = 'completed'"), "the job ends while the search is awaited")
	_ = toJSON
	_ = json.Marshal
}
