package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/patientlink/patientlink/internal/harness"
	"github.com/patientlink/patientlink/internal/pgtest"
)

// The reviewer's CLI: list --json in the documented shape, resolve exits 0
// only when this call resolved the review, and the operator commands need
// no secrets.
func TestReviewCommands(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dbURL := pgtest.URL(t)
	env := harness.ServiceEnv(dbURL, "http://127.0.0.1:1")
	require.NoError(t, run(ctx, []string{"migrate", "up"}, env.Getenv, io.Discard, io.Discard))
	c := createCustomer(ctx, t, env, "")
	wf, patient, review := uuid.New(), uuid.New(), uuid.New()
	var n int
	require.NoError(t, queryRow(t, dbURL, `WITH w AS (
		INSERT INTO workflows (id, customer_id, patient_id, request_type, status, outcome) VALUES ($1, $2, $3, 'LINK', 'AMBIGUOUS', 'AMBIGUOUS') RETURNING id
	), r AS (
		INSERT INTO reviews (id, workflow_id, customer_id, patient_id, outcome, candidates)
		SELECT $4, w.id, $2, $3, 'AMBIGUOUS', '[{"internal-patient-id": "int-a", "score": 0.95, "matched": {"full_name": "exact"}}, {"internal-patient-id": "int-b", "score": 0.94}]' FROM w
	) SELECT 1`, wf, c.ID, patient, review).Scan(&n))

	// Only the database: no token secret, data key or callback secret.
	operatorEnv := harness.Env{"DATABASE_URL": dbURL}
	var out bytes.Buffer
	require.NoError(t, run(ctx, []string{"review", "list", "--json"}, operatorEnv.Getenv, &out, io.Discard))
	var listed []map[string]any
	require.NoError(t, json.Unmarshal(out.Bytes(), &listed), out.String())
	require.Len(t, listed, 1)
	for _, key := range []string{"id", "workflow-id", "patient-id", "outcome", "status", "candidates", "created-at"} {
		require.Contains(t, listed[0], key)
	}
	candidate := listed[0]["candidates"].([]any)[0].(map[string]any)
	require.Equal(t, map[string]any{"internal-patient-id": "int-a", "score": 0.95, "matched": map[string]any{"full_name": "exact"}}, candidate)

	args := []string{"review", "resolve", review.String(), "--link", "int-b", "--reason", "confirmed by phone", "--actor", "alice"}
	out.Reset()
	require.NoError(t, run(ctx, args, operatorEnv.Getenv, &out, io.Discard))
	require.Contains(t, out.String(), "resolved: link int-b")
	require.Error(t, run(ctx, args, operatorEnv.Getenv, io.Discard, io.Discard), "a second resolution is refused")
	require.Error(t, run(ctx, []string{"review", "resolve", review.String(), "--no-match"}, operatorEnv.Getenv, io.Discard, io.Discard), "a reason is required")
	var source, by string
	require.NoError(t, queryRow(t, dbURL, "SELECT link_source, linked_by FROM patient_mappings WHERE workflow_id = $1", wf).Scan(&source, &by))
	require.Equal(t, []string{"MANUAL", "operator:alice"}, []string{source, by})
}
