package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/patientlink/patientlink/internal/link"
	"github.com/patientlink/patientlink/internal/postgres"
)

func TestLinkCreateAccepted(t *testing.T) {
	t.Parallel()
	b := setup(t)
	patient := uuid.New()

	res := b.postLink(t, "k-1", patientBody(patient, "Grace Hopper"))
	require.Equal(t, http.StatusAccepted, res.status, string(res.body))
	body := res.json(t)
	id := body["workflow-id"].(string)
	require.Equal(t, "RECEIVED", body["status"])
	require.Equal(t, "/link/status/"+id, res.header.Get("Location"))
	require.NotEmpty(t, res.header.Get("X-Request-Id"))

	require.Equal(t, 1, count(t, b.pool, "SELECT count(*) FROM workflows WHERE id = $1 AND status = 'RECEIVED' AND request_type = 'LINK'", id))
	require.Equal(t, 1, count(t, b.pool, "SELECT count(*) FROM workflow_events WHERE workflow_id = $1 AND to_status = 'RECEIVED'", id))
	require.Equal(t, 1, count(t, b.pool, "SELECT count(*) FROM request_payloads WHERE workflow_id = $1", id))
	require.Equal(t, 1, count(t, b.pool, "SELECT count(*) FROM river_job WHERE kind = 'link.process' AND args->>'workflow_id' = $1", id))

	status := b.do(t, http.MethodGet, "/link/status/"+id, map[string]string{"Authorization": "Bearer " + b.token}, "")
	require.Equal(t, http.StatusOK, status.status)
	s := status.json(t)
	require.Equal(t, id, s["workflow-id"])
	require.Equal(t, "RECEIVED", s["status"])
	require.Equal(t, "LINK", s["request-type"])
	require.Equal(t, patient.String(), s["patient-id"])
	require.NotEmpty(t, s["created-at"])
	require.NotEmpty(t, s["updated-at"])
}

// Patient data stays out of the job args (River UI shows them) and is sealed
// at rest.
func TestLinkCreatePayloadSealed(t *testing.T) {
	t.Parallel()
	b := setup(t)
	res := b.postLink(t, "k-1", patientBody(uuid.New(), "Zelda Quintessence"))
	require.Equal(t, http.StatusAccepted, res.status)

	require.Zero(t, count(t, b.pool, "SELECT count(*) FROM request_payloads WHERE position('Quintessence'::bytea in sealed) > 0"))
	require.Zero(t, count(t, b.pool, "SELECT count(*) FROM river_job WHERE args::text LIKE '%Quintessence%' OR metadata::text LIKE '%Quintessence%'"))
	require.Zero(t, count(t, b.pool, "SELECT count(*) FROM idempotency_keys WHERE position('Quintessence'::bytea in response_body) > 0"))
	require.Zero(t, count(t, b.pool, "SELECT count(*) FROM request_payloads WHERE position('p@example.org'::bytea in sealed) > 0"))
}

func TestLinkCreateIdempotentReplay(t *testing.T) {
	t.Parallel()
	b := setup(t)
	patient := uuid.New()
	first := b.postLink(t, "k-1", patientBody(patient, "Grace Hopper"))
	require.Equal(t, http.StatusAccepted, first.status)
	require.Empty(t, first.header.Get("Idempotent-Replayed"))

	// The same request with other spacing and key order is the same request.
	var v map[string]any
	require.NoError(t, json.Unmarshal([]byte(patientBody(patient, "Grace Hopper")), &v))
	again, _ := json.MarshalIndent(v, "", "   ")
	second := b.postLink(t, "k-1", string(again))
	require.Equal(t, http.StatusAccepted, second.status)
	require.Equal(t, "true", second.header.Get("Idempotent-Replayed"))
	require.Equal(t, first.body, second.body, "the first response is replayed byte for byte")
	require.Equal(t, first.header.Get("Location"), second.header.Get("Location"))

	other := b.postLink(t, "k-1", patientBody(patient, "Grace B. Hopper"))
	require.Equal(t, http.StatusUnprocessableEntity, other.status)
	require.Contains(t, string(other.body), "idempotency-key-reused")

	// Keys are scoped to the customer: another customer's same key is new.
	_, token2 := b.newCustomer(t)
	res := b.do(t, http.MethodPost, "/link", map[string]string{
		"Customer-Token": token2, "Idempotency-Key": "k-1", "Content-Type": "application/json",
	}, patientBody(patient, "Grace Hopper"))
	require.Equal(t, http.StatusAccepted, res.status)
	require.NotEqual(t, first.json(t)["workflow-id"], res.json(t)["workflow-id"])
	require.Equal(t, 2, count(t, b.pool, "SELECT count(*) FROM workflows"))
}

// Must show: 50 concurrent POSTs with one key and one body make exactly one
// workflow and one job, and every answer names it.
func TestLinkCreateConcurrentSameKey(t *testing.T) {
	t.Parallel()
	b := setup(t)
	body := patientBody(uuid.New(), "Race Condition")
	const n = 50
	ids := make([]string, n)
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			res := b.postLink(t, "same-key", body)
			statuses[i] = res.status
			var m map[string]any
			if json.Unmarshal(res.body, &m) == nil {
				ids[i], _ = m["workflow-id"].(string)
			}
		})
	}
	wg.Wait()
	for i := range n {
		require.Equal(t, http.StatusAccepted, statuses[i])
		require.Equal(t, ids[0], ids[i])
	}
	require.Equal(t, 1, count(t, b.pool, "SELECT count(*) FROM workflows"))
	require.Equal(t, 1, count(t, b.pool, "SELECT count(*) FROM river_job"))
	require.Equal(t, 1, count(t, b.pool, "SELECT count(*) FROM idempotency_keys"))

	res := b.postLink(t, "same-key", patientBody(uuid.New(), "Race Condition"))
	require.Equal(t, http.StatusUnprocessableEntity, res.status)
}

// Two keys for one patient: the second is refused while the first is open,
// naming it, even when they race.
func TestLinkCreatePendingConflict(t *testing.T) {
	t.Parallel()
	b := setup(t)
	patient := uuid.New()
	const n = 10
	statuses := make([]int, n)
	bodies := make([]map[string]any, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			res := b.postLink(t, uuid.NewString(), patientBody(patient, "Twin Request"))
			statuses[i] = res.status
			_ = json.Unmarshal(res.body, &bodies[i])
		})
	}
	wg.Wait()
	accepted := ""
	for i := range n {
		if statuses[i] == http.StatusAccepted {
			require.Empty(t, accepted, "only one may be accepted")
			accepted = bodies[i]["workflow-id"].(string)
		}
	}
	require.NotEmpty(t, accepted)
	for i := range n {
		if statuses[i] != http.StatusAccepted {
			require.Equal(t, http.StatusConflict, statuses[i])
			require.Equal(t, accepted, bodies[i]["workflow-id"], "the 409 names the open workflow")
		}
	}
	require.Equal(t, 1, count(t, b.pool, "SELECT count(*) FROM workflows"))
	require.Equal(t, 1, count(t, b.pool, "SELECT count(*) FROM idempotency_keys"), "refused requests store no key")
}

// Must show: a failure after the workflow insert leaves nothing behind.
func TestAcknowledgeRollsBackEverything(t *testing.T) {
	t.Parallel()
	b := setup(t)
	wf := uuid.New()
	in := postgres.Intake{
		CustomerID: b.cust.ID, WorkflowID: wf, PatientID: uuid.New(), RequestType: link.RequestLink,
		IdempotencyKey: "k", RequestHash: []byte{1}, IdempotencyTTL: 3600e9,
		Response: postgres.Response{Status: 202, Body: []byte(`{}`)}, PayloadKeyID: "k1", Payload: []byte{1, 2, 3},
	}
	injected := context.Canceled
	_, _, err := b.store.Acknowledge(context.Background(), in, func(ctx context.Context, tx pgx.Tx) error {
		// The job goes in, then something fails before commit.
		_, err := tx.Exec(ctx, `INSERT INTO river_job (args, kind, max_attempts, queue, state, priority) VALUES ('{}', 'link.process', 1, 'link', 'available', 1)`)
		require.NoError(t, err)
		require.Equal(t, 1, countTx(t, tx, "SELECT count(*) FROM workflows WHERE id = $1", wf))
		return injected
	})
	require.ErrorIs(t, err, injected)
	for _, table := range []string{"workflows", "workflow_events", "request_payloads", "idempotency_keys", "river_job"} {
		require.Zero(t, count(t, b.pool, "SELECT count(*) FROM "+table), table)
	}
}

func countTx(t *testing.T, tx pgx.Tx, sql string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, tx.QueryRow(context.Background(), sql, args...).Scan(&n))
	return n
}

func TestLinkCreateRejects(t *testing.T) {
	t.Parallel()
	b := setup(t)
	good := patientBody(uuid.New(), "Valid Name")
	json := map[string]string{"Customer-Token": b.token, "Idempotency-Key": "k", "Content-Type": "application/json"}
	with := func(k, v string) map[string]string {
		h := map[string]string{}
		for a, b := range json {
			h[a] = b
		}
		if v == "" {
			delete(h, k)
		} else {
			h[k] = v
		}
		return h
	}
	tests := []struct {
		name   string
		header map[string]string
		body   string
		status int
		slug   string
	}{
		{"no token", with("Customer-Token", ""), good, 401, "unauthorized"},
		{"bad token", with("Customer-Token", "x.y.z"), good, 401, "unauthorized"},
		{"no key", with("Idempotency-Key", ""), good, 400, "idempotency-key-missing"},
		{"key too long", with("Idempotency-Key", strings.Repeat("k", 256)), good, 400, "idempotency-key-invalid"},
		{"key not ascii", with("Idempotency-Key", "kéy"), good, 400, "idempotency-key-invalid"},
		{"wrong type", with("Content-Type", "text/plain"), good, 415, "unsupported-media-type"},
		{"malformed", json, `{"patient":`, 400, "malformed-json"},
		{"not an object", json, `[1,2]`, 400, "malformed-json"},
		{"too big", json, `{"patient":{"full_name":"` + strings.Repeat("a", 70<<10) + `"}}`, 413, "body-too-large"},
		{"foreign webhook", json, strings.Replace(good, `}}`, `}},"webhook":"https://evil.example.com/x"}`, 1)[:len(good)-1] + `,"webhook":"https://evil.example.com/x"}`, 422, "validation"},
	}
	for _, tt := range tests {
		res := b.do(t, http.MethodPost, "/link", tt.header, tt.body)
		require.Equal(t, tt.status, res.status, tt.name+": "+string(res.body))
		require.Equal(t, "application/problem+json", res.header.Get("Content-Type"), tt.name)
		require.Contains(t, string(res.body), "/problems/"+tt.slug, tt.name)
	}
	require.Zero(t, count(t, b.pool, "SELECT count(*) FROM workflows"), "nothing refused is stored")
	require.Zero(t, count(t, b.pool, "SELECT count(*) FROM idempotency_keys"))

	// A validation failure stores nothing: the corrected request with the
	// same key is accepted.
	res := b.postLink(t, "fix-me", `{"patient":{"id":"nope","full_name":"","dob":"3000-01-01"},"extra":1}`)
	require.Equal(t, http.StatusUnprocessableEntity, res.status)
	var problem struct {
		Errors []link.FieldError `json:"errors"`
	}
	require.NoError(t, jsonUnmarshal(res.body, &problem))
	require.Equal(t, []link.FieldError{
		{Pointer: "/extra", Detail: "unknown field"},
		{Pointer: "/patient/dob", Detail: "must not be in the future"},
		{Pointer: "/patient/full_name", Detail: "is required"},
		{Pointer: "/patient/id", Detail: "must be a UUID"},
	}, problem.Errors)
	require.Equal(t, http.StatusAccepted, b.postLink(t, "fix-me", good).status)

	// Same origin as the registered webhook is fine.
	sameOrigin := strings.TrimSuffix(patientBody(uuid.New(), "Web Hook"), "}") + `,"webhook":"https://hooks.example.org/other/path"}`
	require.Equal(t, http.StatusAccepted, b.postLink(t, "k-web", sameOrigin).status)
}

func TestAuthRefusesDisabledAndUnknownCustomers(t *testing.T) {
	t.Parallel()
	b := setup(t)
	body := patientBody(uuid.New(), "Someone")
	_, err := b.store.CustomerSetActive(context.Background(), b.cust.ID, false)
	require.NoError(t, err)
	require.Equal(t, http.StatusUnauthorized, b.postLink(t, "k", body).status)

	ghost, err := b.tokens.Issue(uuid.New(), 3600e9)
	require.NoError(t, err)
	res := b.do(t, http.MethodPost, "/link", map[string]string{"Authorization": "Bearer " + ghost.Token, "Idempotency-Key": "k", "Content-Type": "application/json"}, body)
	require.Equal(t, http.StatusUnauthorized, res.status)
}

// Another customer's workflow is a 404 like a missing one: never its data.
func TestLinkStatusTenancy(t *testing.T) {
	t.Parallel()
	b := setup(t)
	res := b.postLink(t, "k", patientBody(uuid.New(), "Private Person"))
	id := res.json(t)["workflow-id"].(string)
	_, other := b.newCustomer(t)

	for _, path := range []string{"/link/status/" + id, "/link/status/" + uuid.NewString(), "/link/status/not-a-uuid"} {
		res := b.do(t, http.MethodGet, path, map[string]string{"Customer-Token": other}, "")
		require.Equal(t, http.StatusNotFound, res.status, path)
		require.NotContains(t, string(res.body), "RECEIVED")
	}
}
