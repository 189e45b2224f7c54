package httpapi_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/patientlink/patientlink/internal/httpapi"
	"github.com/patientlink/patientlink/internal/link"
)

const adminToken = "an-admin-token-long-enough-for-tests"

// addReview makes an AMBIGUOUS workflow of the bundle's customer with an
// open review of two candidates.
func (b *testBundle) addReview(t *testing.T) (workflowID uuid.UUID, candidates []link.Match) {
	t.Helper()
	ctx := context.Background()
	wf := link.Workflow{ID: uuid.New(), CustomerID: b.cust.ID, PatientID: uuid.New(), RequestType: link.RequestLink, Status: link.StateAmbiguous}
	candidates = []link.Match{{ID: "int-" + uuid.NewString(), Score: 0.95, Matched: map[string]string{"full_name": "exact"}}, {ID: "int-" + uuid.NewString(), Score: 0.94}}
	require.NoError(t, b.store.WithTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO workflows (id, customer_id, patient_id, request_type, status, outcome) VALUES ($1, $2, $3, 'LINK', 'AMBIGUOUS', 'AMBIGUOUS')`,
			wf.ID, wf.CustomerID, wf.PatientID); err != nil {
			return err
		}
		return b.store.CreateReviewTx(ctx, tx, wf, link.StateAmbiguous, candidates)
	}))
	return wf.ID, candidates
}

func TestAdminReviews(t *testing.T) {
	t.Parallel()
	b := setup(t, func(d *httpapi.Deps) { d.Config.AdminToken = adminToken })
	admin := map[string]string{"Authorization": "Bearer " + adminToken}
	withActor := map[string]string{"Authorization": "Bearer " + adminToken, "Actor": "alice", "Content-Type": "application/json"}
	var workflows []uuid.UUID
	var candidates []link.Match
	for range 3 {
		wf, c := b.addReview(t)
		workflows, candidates = append(workflows, wf), c
	}

	// Oldest first, paged.
	res := b.op(t, http.MethodGet, "/admin/reviews?status=open&limit=2", admin, "")
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	page := res.json(t)
	reviews := page["reviews"].([]any)
	require.Len(t, reviews, 2)
	require.Equal(t, workflows[0].String(), reviews[0].(map[string]any)["workflow-id"])
	res = b.op(t, http.MethodGet, "/admin/reviews?status=open&limit=2&cursor="+page["next-cursor"].(string), admin, "")
	require.Len(t, res.json(t)["reviews"].([]any), 1)
	last := res.json(t)["reviews"].([]any)[0].(map[string]any)
	require.Equal(t, workflows[2].String(), last["workflow-id"])
	reviewID := last["id"].(string)

	res = b.op(t, http.MethodGet, "/admin/reviews/"+reviewID, admin, "")
	require.Equal(t, http.StatusOK, res.status)
	got := res.json(t)
	require.Len(t, got["candidates"].([]any), 2)
	require.Equal(t, "exact", got["candidates"].([]any)[0].(map[string]any)["matched"].(map[string]any)["full_name"])

	for _, tc := range []struct {
		name    string
		header  map[string]string
		body    string
		status  int
		problem string
	}{
		{"no actor", admin, `{"decision":"no-match","reason":"x"}`, http.StatusBadRequest, "actor-missing"},
		{"no reason", withActor, `{"decision":"no-match"}`, http.StatusUnprocessableEntity, "validation"},
		{"bad decision", withActor, `{"decision":"maybe","reason":"x"}`, http.StatusUnprocessableEntity, "validation"},
		{"link without id", withActor, `{"decision":"link","reason":"x"}`, http.StatusUnprocessableEntity, "validation"},
		{"not a candidate", withActor, `{"decision":"link","internal-patient-id":"someone-else","reason":"x"}`, http.StatusUnprocessableEntity, "not-a-candidate"},
		{"malformed", withActor, `{`, http.StatusBadRequest, "malformed-json"},
	} {
		res := b.op(t, http.MethodPost, "/admin/reviews/"+reviewID+"/resolve", tc.header, tc.body)
		require.Equal(t, tc.status, res.status, "%s: %s", tc.name, res.body)
		require.Contains(t, string(res.body), "/problems/"+tc.problem, tc.name)
	}
	res = b.op(t, http.MethodPost, "/admin/reviews/"+reviewID+"/resolve", withActor,
		`{"decision":"link","internal-patient-id":"`+candidates[1].ID+`","reason":"same phone"}`)
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	done := res.json(t)
	require.Equal(t, "resolved", done["status"])
	require.Equal(t, "operator:alice", done["actor"])
	res = b.op(t, http.MethodPost, "/admin/reviews/"+reviewID+"/resolve", withActor, `{"decision":"no-match","reason":"again"}`)
	require.Equal(t, http.StatusConflict, res.status)
	require.Contains(t, string(res.body), "/problems/review-closed")

	// The customer's status shows the resolution beside the first outcome,
	// and no internal candidate ids.
	st := b.do(t, http.MethodGet, "/link/status/"+workflows[2].String(), map[string]string{"Customer-Token": b.token}, "")
	require.Equal(t, http.StatusOK, st.status)
	require.Contains(t, string(st.body), `"outcome":"AMBIGUOUS"`)
	require.Contains(t, string(st.body), `"review":{"status":"resolved","decision":"link","outcome":"LINKED"`)
	require.NotContains(t, string(st.body), candidates[0].ID)

	res = b.op(t, http.MethodGet, "/admin/reviews?status=nope", admin, "")
	require.Equal(t, http.StatusBadRequest, res.status)
	res = b.op(t, http.MethodGet, "/admin/reviews/"+uuid.NewString(), admin, "")
	require.Equal(t, http.StatusNotFound, res.status)
	res = b.op(t, http.MethodGet, "/admin/reviews", map[string]string{"Authorization": "Bearer wrong"}, "")
	require.Equal(t, http.StatusUnauthorized, res.status)
}
