package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/patientlink/patientlink/internal/httpapi"
	"github.com/patientlink/patientlink/internal/postgres"
)

type batchAnswer struct {
	BatchID  string `json:"batch-id"`
	Accepted int    `json:"accepted"`
	Rejected int    `json:"rejected"`
	Items    []struct {
		PatientID  string `json:"patient-id"`
		WorkflowID string `json:"workflow-id"`
		Error      *struct {
			Type       string `json:"type"`
			Status     int    `json:"status"`
			WorkflowID string `json:"workflow-id"`
			Errors     []struct {
				Pointer string `json:"pointer"`
			} `json:"errors"`
		} `json:"error"`
	} `json:"items"`
}

func (b *testBundle) postLinks(t *testing.T, key string, items ...string) response {
	t.Helper()
	return b.do(t, http.MethodPost, "/links", map[string]string{
		"Customer-Token": b.token, "Idempotency-Key": key, "Content-Type": "application/json",
	}, `{"patients": [`+strings.Join(items, ",")+`]}`)
}

func decodeBatch(t *testing.T, res response) batchAnswer {
	t.Helper()
	var a batchAnswer
	require.NoError(t, json.Unmarshal(res.body, &a), string(res.body))
	return a
}

// Must show: valid, invalid, malformed, duplicate, pending and linked
// items each get their own answer, in request order, and only the valid
// ones are acknowledged, each as a whole workflow.
func TestLinksCreatePerItemAnswers(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	valid1, valid2, pending, linked := uuid.New(), uuid.New(), uuid.New(), uuid.New()

	first := b.postLink(t, "single", patientBody(pending, "Pending Patient"))
	require.Equal(t, http.StatusAccepted, first.status)
	pendingWF := first.json(t)["workflow-id"].(string)
	linkedWF := uuid.New()
	_, err := b.pool.Exec(ctx, `WITH w AS (
			INSERT INTO workflows (id, customer_id, patient_id, request_type, status, outcome) VALUES ($1, $2, $3, 'LINK', 'COMPLETED', 'LINKED'))
		INSERT INTO patient_mappings (customer_id, customer_patient_id, internal_patient_id, status, score, workflow_id, linked_at)
		VALUES ($2, $3, 'int-1', 'LINKED', 0.99, $1, now())`, linkedWF, b.cust.ID, linked)
	require.NoError(t, err)

	invalid := strings.Replace(patientBody(uuid.New(), "Bad Date"), "1980-04-02", "1980-13-45", 1)
	res := b.postLinks(t, "bulk-1",
		patientBody(valid1, "Ada One"),          // 0 accepted
		invalid,                                 // 1 validation
		`42`,                                    // 2 malformed
		patientBody(valid1, "Ada One Again"),    // 3 duplicate of 0
		patientBody(pending, "Pending Patient"), // 4 pending
		patientBody(linked, "Linked Patient"),   // 5 linked
		patientBody(valid2, "Bo Two"),           // 6 accepted
	)
	require.Equal(t, http.StatusAccepted, res.status, string(res.body))
	a := decodeBatch(t, res)
	require.Equal(t, "/batches/"+a.BatchID, res.header.Get("Location"))
	require.Equal(t, 2, a.Accepted)
	require.Equal(t, 5, a.Rejected)
	require.Len(t, a.Items, 7)

	require.Equal(t, valid1.String(), a.Items[0].PatientID)
	require.NotEmpty(t, a.Items[0].WorkflowID)
	require.Nil(t, a.Items[0].Error)
	require.Equal(t, "https://patientlink.dev/problems/validation", a.Items[1].Error.Type)
	require.Equal(t, "/patients/1/patient/dob", a.Items[1].Error.Errors[0].Pointer)
	require.Equal(t, "https://patientlink.dev/problems/malformed-json", a.Items[2].Error.Type)
	require.Empty(t, a.Items[2].PatientID)
	require.Equal(t, "https://patientlink.dev/problems/duplicate-patient", a.Items[3].Error.Type)
	require.Equal(t, valid1.String(), a.Items[3].PatientID)
	require.Equal(t, http.StatusConflict, a.Items[4].Error.Status)
	require.Equal(t, pendingWF, a.Items[4].Error.WorkflowID, "the pending workflow is named")
	require.Equal(t, http.StatusConflict, a.Items[5].Error.Status)
	require.Equal(t, linkedWF.String(), a.Items[5].Error.WorkflowID, "the linked mapping's workflow is named")
	require.NotEmpty(t, a.Items[6].WorkflowID)

	for _, i := range []int{0, 6} {
		id := a.Items[i].WorkflowID
		require.Equal(t, 1, count(t, b.pool, "SELECT count(*) FROM workflows WHERE id = $1 AND batch_id = $2 AND status = 'RECEIVED'", id, a.BatchID))
		require.Equal(t, 1, count(t, b.pool, "SELECT count(*) FROM workflow_events WHERE workflow_id = $1 AND to_status = 'RECEIVED'", id))
		require.Equal(t, 1, count(t, b.pool, "SELECT count(*) FROM request_payloads WHERE workflow_id = $1", id))
		require.Equal(t, 1, count(t, b.pool, "SELECT count(*) FROM river_job WHERE kind = 'link.process' AND args->>'workflow_id' = $1", id))
	}
	require.Equal(t, 2, count(t, b.pool, "SELECT count(*) FROM workflows WHERE batch_id = $1", a.BatchID))
	require.Zero(t, count(t, b.pool, "SELECT count(*) FROM idempotency_keys WHERE position('Ada One'::bytea in response_body) > 0"), "no patient data in the stored answer")

	// Each accepted patient is an ordinary workflow: its own status.
	status := b.do(t, http.MethodGet, "/link/status/"+a.Items[6].WorkflowID, map[string]string{"Customer-Token": b.token}, "")
	require.Equal(t, http.StatusOK, status.status)
	require.Equal(t, valid2.String(), status.json(t)["patient-id"])

	// The batch's progress, and another customer sees nothing of it.
	got := b.do(t, http.MethodGet, "/batches/"+a.BatchID, map[string]string{"Customer-Token": b.token}, "")
	require.Equal(t, http.StatusOK, got.status, string(got.body))
	v := got.json(t)
	require.EqualValues(t, 7, v["items"])
	require.EqualValues(t, 2, v["accepted"])
	require.Equal(t, false, v["done"])
	require.EqualValues(t, 2, v["by-status"].(map[string]any)["RECEIVED"])
	require.ElementsMatch(t, []any{a.Items[0].WorkflowID, a.Items[6].WorkflowID}, v["pending-workflow-ids"])
	_, otherToken := b.newCustomer(t)
	other := b.do(t, http.MethodGet, "/batches/"+a.BatchID, map[string]string{"Customer-Token": otherToken}, "")
	require.Equal(t, http.StatusNotFound, other.status)
	missing := b.do(t, http.MethodGet, "/batches/"+uuid.NewString(), map[string]string{"Customer-Token": b.token}, "")
	require.Equal(t, http.StatusNotFound, missing.status)
}

// Must show: a replay with the same key is byte-identical, even after the
// patients it accepted are no longer acceptable; another body with the key
// is refused.
func TestLinksCreateReplay(t *testing.T) {
	t.Parallel()
	b := setup(t)
	p1, p2 := uuid.New(), uuid.New()
	first := b.postLinks(t, "bulk", patientBody(p1, "Ada One"), `{"patient": 7}`, patientBody(p2, "Bo Two"))
	require.Equal(t, http.StatusAccepted, first.status, string(first.body))
	require.Empty(t, first.header.Get("Idempotent-Replayed"))

	again := b.do(t, http.MethodPost, "/links", map[string]string{
		"Customer-Token": b.token, "Idempotency-Key": "bulk", "Content-Type": "application/json",
	}, "{\n  \"patients\": [\n"+patientBody(p1, "Ada One")+", {\"patient\":7},\n"+patientBody(p2, "Bo Two")+"]}")
	require.Equal(t, http.StatusAccepted, again.status)
	require.Equal(t, "true", again.header.Get("Idempotent-Replayed"))
	require.Equal(t, first.body, again.body, "replayed byte for byte")
	require.Equal(t, first.header.Get("Location"), again.header.Get("Location"))
	require.Equal(t, 2, count(t, b.pool, "SELECT count(*) FROM workflows"))

	other := b.postLinks(t, "bulk", patientBody(p1, "Ada One"))
	require.Equal(t, http.StatusUnprocessableEntity, other.status)
	require.Contains(t, string(other.body), "idempotency-key-reused")
	require.Equal(t, 2, count(t, b.pool, "SELECT count(*) FROM workflows"))
}

func TestLinksCreateRejectsTheEnvelope(t *testing.T) {
	t.Parallel()
	b := setup(t, func(d *httpapi.Deps) { d.Config.MaxBulkBodyBytes = 64 << 10 })
	tooMany := make([]string, 1001)
	for i := range tooMany {
		tooMany[i] = `{}`
	}
	header := map[string]string{"Customer-Token": b.token, "Idempotency-Key": "k", "Content-Type": "application/json"}
	for _, c := range []struct {
		body   string
		status int
		slug   string
	}{
		{`{"patients": [` + strings.Join(tooMany, ",") + `]}`, http.StatusRequestEntityTooLarge, "too-many-items"},
		{`{"patients": []}`, http.StatusUnprocessableEntity, "validation"},
		{`{"patients": {}}`, http.StatusUnprocessableEntity, "validation"},
		{`{}`, http.StatusUnprocessableEntity, "validation"},
		{`{"patients": [], "extra": 1}`, http.StatusUnprocessableEntity, "validation"},
		{`{"patients": [{}], "patients": [{}]}`, http.StatusBadRequest, "malformed-json"},
		{`[{"patient": {}}]`, http.StatusBadRequest, "malformed-json"},
		{`{"patients": [`, http.StatusBadRequest, "malformed-json"},
		{`{"patients": ["` + strings.Repeat("x", 70<<10) + `"]}`, http.StatusRequestEntityTooLarge, "body-too-large"},
	} {
		res := b.do(t, http.MethodPost, "/links", header, c.body)
		require.Equal(t, c.status, res.status, "%.60s: %s", c.body, res.body)
		require.Contains(t, string(res.body), "/problems/"+c.slug, "%.60s", c.body)
	}
	require.Zero(t, count(t, b.pool, "SELECT count(*) FROM idempotency_keys"), "a refused request stores nothing")
	require.Zero(t, count(t, b.pool, "SELECT count(*) FROM batches"))
}

// Must show: a failure inside the batch's transaction, after every insert,
// leaves nothing in any table.
func TestAcknowledgeBatchRollsBackEverything(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	in := postgres.BatchIntake{
		CustomerID: b.cust.ID, BatchID: uuid.New(), Items: 3,
		IdempotencyKey: "k", RequestHash: []byte{1}, IdempotencyTTL: 3600e9,
	}
	for range 3 {
		in.Links = append(in.Links, postgres.BatchLink{WorkflowID: uuid.New(), PatientID: uuid.New(), PayloadKeyID: "k1", Payload: []byte{1}})
	}
	injected := fmt.Errorf("injected")
	_, _, err := b.store.AcknowledgeBatch(ctx, in, func(ctx context.Context, tx pgx.Tx, created []uuid.UUID) error {
		require.Len(t, created, 3)
		_, err := tx.Exec(ctx, `INSERT INTO river_job (args, kind, max_attempts, queue, state, priority) VALUES ('{}', 'link.process', 1, 'link', 'available', 1)`)
		return err
	}, func(results []postgres.BatchLinkResult) (postgres.Response, error) {
		return postgres.Response{}, injected
	})
	require.ErrorIs(t, err, injected)
	for _, table := range []string{"batches", "workflows", "workflow_events", "request_payloads", "idempotency_keys", "river_job"} {
		require.Zero(t, count(t, b.pool, "SELECT count(*) FROM "+table), table)
	}
}

// Two bulk requests racing over the same patients, in opposite orders:
// both are answered (no deadlock), and each patient is accepted by exactly
// one of them while the other names that workflow.
func TestLinksCreateRacingBatches(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const n = 200
	forward := make([]string, n)
	backward := make([]string, n)
	for i := range n {
		body := patientBody(uuid.New(), "Race Patient")
		forward[i], backward[n-1-i] = body, body
	}
	var answers [2]response
	var wg sync.WaitGroup
	for k, items := range [][]string{forward, backward} {
		wg.Go(func() { answers[k] = b.postLinks(t, fmt.Sprintf("race-%d", k), items...) })
	}
	wg.Wait()
	accepted := map[string]string{} // patient → workflow
	named := map[string]string{}    // patient → workflow named by a conflict
	for _, res := range answers {
		require.Equal(t, http.StatusAccepted, res.status, string(res.body))
		for _, it := range decodeBatch(t, res).Items {
			if it.WorkflowID != "" {
				require.NotContains(t, accepted, it.PatientID, "accepted twice")
				accepted[it.PatientID] = it.WorkflowID
				continue
			}
			require.Equal(t, http.StatusConflict, it.Error.Status)
			named[it.PatientID] = it.Error.WorkflowID
		}
	}
	require.Len(t, accepted, n)
	for p, wf := range named {
		require.Equal(t, accepted[p], wf, "the conflict names the accepting workflow")
	}
	require.Equal(t, n, count(t, b.pool, "SELECT count(*) FROM workflows"))
}
