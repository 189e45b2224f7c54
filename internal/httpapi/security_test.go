package httpapi_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/patientlink/patientlink/internal/auth"
	"github.com/patientlink/patientlink/internal/link"
	"github.com/patientlink/patientlink/internal/postgres"
)

// linkedPatient makes a LINKED mapping for a new patient of the customer
// whose token is given, the way the worker would, and returns the patient
// and the workflow.
func (b *testBundle) linkedPatient(t *testing.T, token string) (uuid.UUID, uuid.UUID) {
	t.Helper()
	patient := uuid.New()
	return patient, b.linkPatient(t, token, patient, "internal-"+uuid.NewString())
}

// linkPatient links patient to internal as the customer of token would
// see it happen (POST /link, then the worker's steps); it returns the
// workflow id.
func (b *testBundle) linkPatient(t *testing.T, token string, patient uuid.UUID, internal string) uuid.UUID {
	t.Helper()
	ctx := context.Background()
	res := b.do(t, http.MethodPost, "/link", map[string]string{
		"Customer-Token": token, "Idempotency-Key": uuid.NewString(), "Content-Type": "application/json",
	}, patientBody(patient, "Linked Person"))
	require.Equal(t, http.StatusAccepted, res.status, string(res.body))
	id := uuid.MustParse(res.json(t)["workflow-id"].(string))
	wf, err := b.store.Workflow(ctx, id)
	require.NoError(t, err)
	wf, err = b.store.Transition(ctx, wf, postgres.Transition{To: link.StateInProgress, Attempt: 1})
	require.NoError(t, err)
	require.NoError(t, b.store.WithTx(ctx, func(tx pgx.Tx) error {
		linked, err := b.store.LinkPatientTx(ctx, tx, wf, link.Match{ID: internal, Score: 0.99}, link.LinkAuto, "")
		require.True(t, linked)
		if err != nil {
			return err
		}
		_, err = b.store.TransitionTx(ctx, tx, wf, postgres.Transition{To: link.StateLinked, Outcome: link.StateLinked, Attempt: 1})
		return err
	}))
	return id
}

// snapshot counts the rows a refused request must leave alone.
func (b *testBundle) snapshot(t *testing.T) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, q := range []string{
		"SELECT count(*) FROM workflows",
		"SELECT count(*) FROM workflow_events",
		"SELECT count(*) FROM idempotency_keys",
		"SELECT count(*) FROM river_job",
		"SELECT count(*) FROM patient_mappings WHERE status = 'LINKED'",
		"SELECT count(*) FROM mapping_events",
	} {
		out[q] = count(t, b.pool, q)
	}
	return out
}

// Customer A can neither read B's workflow status nor read or de-link B's
// patient: each is a 404, exactly like something that does not exist, and
// nothing changes.
func TestTenancy(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, tokenB := b.newCustomer(t)
	patientB, workflowB := b.linkedPatient(t, tokenB)
	// B also has a pending workflow for another patient.
	pendingPatient := uuid.New()
	res := b.do(t, http.MethodPost, "/link", map[string]string{"Customer-Token": tokenB, "Idempotency-Key": "b-pending", "Content-Type": "application/json"},
		patientBody(pendingPatient, "Pending Person"))
	require.Equal(t, http.StatusAccepted, res.status)
	pendingB := res.json(t)["workflow-id"].(string)

	// B sees its own.
	asB := map[string]string{"Authorization": "Bearer " + tokenB}
	require.Equal(t, http.StatusOK, b.do(t, http.MethodGet, "/patient/"+patientB.String(), asB, "").status)
	require.Equal(t, http.StatusOK, b.do(t, http.MethodGet, "/link/status/"+workflowB.String(), asB, "").status)

	before := b.snapshot(t)
	asA := map[string]string{"Authorization": "Bearer " + b.token}
	missing := b.do(t, http.MethodGet, "/link/status/"+uuid.NewString(), asA, "")
	for _, path := range []string{"/link/status/" + workflowB.String(), "/link/status/" + pendingB} {
		res := b.do(t, http.MethodGet, path, asA, "")
		require.Equal(t, http.StatusNotFound, res.status, path)
		require.NotContains(t, string(res.body), patientB.String())
		require.NotContains(t, string(res.body), pendingPatient.String())
		require.Equal(t, stripInstance(t, missing.body), stripInstance(t, res.body), "indistinguishable from a missing workflow")
	}
	res = b.do(t, http.MethodGet, "/patient/"+patientB.String(), asA, "")
	require.Equal(t, http.StatusNotFound, res.status)
	require.NotContains(t, string(res.body), "internal-")

	res = b.do(t, http.MethodDelete, "/link/"+patientB.String(), map[string]string{"Customer-Token": b.token, "Idempotency-Key": "a-delete"}, "")
	require.Equal(t, http.StatusNotFound, res.status, string(res.body))
	require.Equal(t, before, b.snapshot(t), "a refused de-link changes nothing")
	m, err := b.store.Mapping(context.Background(), b.custOf(t, tokenB), patientB)
	require.NoError(t, err)
	require.Equal(t, link.MappingLinked, m.Status, "B's patient is still linked")

	// A's patients are A's own: the id of B's pending patient is free for A,
	// and A's 202 names A's workflow, never B's.
	res = b.postLink(t, "a-same-patient", patientBody(pendingPatient, "Pending Person"))
	require.Equal(t, http.StatusAccepted, res.status, string(res.body))
	require.NotEqual(t, pendingB, res.json(t)["workflow-id"])
}

// custOf is the customer id of a token.
func (b *testBundle) custOf(t *testing.T, token string) uuid.UUID {
	t.Helper()
	claims, err := b.tokens.Verify(token)
	require.NoError(t, err)
	return claims.CustomerID
}

func stripInstance(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(body, &m))
	delete(m, "instance")
	return m
}

// A disabled customer is refused at once on every route, with a token
// issued while it was active, and the token works again once re-enabled.
func TestDisabledCustomerRefusedEverywhere(t *testing.T) {
	t.Parallel()
	b := setup(t)
	patient, workflow := b.linkedPatient(t, b.token)
	bearer := map[string]string{"Authorization": "Bearer " + b.token}
	require.Equal(t, http.StatusOK, b.do(t, http.MethodGet, "/link/status/"+workflow.String(), bearer, "").status)

	unauthorized := stripInstance(t, b.do(t, http.MethodGet, "/link/status/"+workflow.String(), nil, "").body)
	_, err := b.store.CustomerSetActive(context.Background(), b.cust.ID, false)
	require.NoError(t, err)
	before := b.snapshot(t)
	for _, tc := range []struct{ method, path, body string }{
		{http.MethodGet, "/link/status/" + workflow.String(), ""},
		{http.MethodGet, "/patient/" + patient.String(), ""},
		{http.MethodDelete, "/link/" + patient.String(), ""},
		{http.MethodPost, "/link", patientBody(uuid.New(), "While Disabled")},
	} {
		res := b.do(t, tc.method, tc.path, map[string]string{
			"Authorization": "Bearer " + b.token, "Idempotency-Key": "disabled-" + tc.method, "Content-Type": "application/json",
		}, tc.body)
		require.Equal(t, http.StatusUnauthorized, res.status, tc.method+" "+tc.path)
		require.Equal(t, "application/problem+json", res.header.Get("Content-Type"))
		require.Equal(t, unauthorized, stripInstance(t, res.body), "the same 401 as no token at all")
	}
	require.Equal(t, before, b.snapshot(t), "nothing a disabled customer sends is stored")

	_, err = b.store.CustomerSetActive(context.Background(), b.cust.ID, true)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, b.do(t, http.MethodGet, "/link/status/"+workflow.String(), bearer, "").status)
}

// Names that look like SQL, and every kind of Unicode, are data: they are
// stored sealed and come back byte for byte.
func TestNamesRoundTripVerbatim(t *testing.T) {
	t.Parallel()
	b := setup(t)
	keyring := b.keyring
	names := []string{
		"Robert'); DROP TABLE workflows;-- Zoë Łukasz 山田",
		`O'Brien "Bobby" \ Tables' OR '1'='1`,
		"Zoe\u0308 Decomposed",     // e + combining diaeresis: not normalised
		"محمد بن سلمان",            // right to left
		"Ｆｕｌｌｗｉｄｔｈ 𝔐𝔞𝔱𝔥 👩‍⚕️ Ｎａｍｅ", // astral planes, a ZWJ sequence
		"Line\u2028Separator %s %n ${jndi:x}",
	}
	for i, name := range names {
		res := b.postLink(t, "name-"+string(rune('a'+i)), patientBody(uuid.New(), name))
		require.Equal(t, http.StatusAccepted, res.status, "%q: %s", name, res.body)
		id := uuid.MustParse(res.json(t)["workflow-id"].(string))

		keyID, sealed, err := b.store.Payload(context.Background(), id)
		require.NoError(t, err)
		require.NotContains(t, string(sealed), name, "sealed at rest")
		plain, err := keyring.Open(keyID, sealed, id[:])
		require.NoError(t, err)
		var req link.Request
		require.NoError(t, json.Unmarshal(plain, &req))
		require.Equal(t, name, req.Patient.FullName)
		require.Equal(t, []byte(name), []byte(req.Patient.FullName), "byte for byte")
	}
	require.Equal(t, len(names), count(t, b.pool, "SELECT count(*) FROM workflows"), "the workflows table is still there")
}

// allocDuring runs f and returns the bytes allocated meanwhile. The test
// using it is not parallel, so parallel tests are paused while it runs.
func allocDuring(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// Oversized and deeply nested bodies are refused quickly, without reading
// them whole into memory: the bounds include the client's own copy of the
// body (1 MiB), so a server that read a 1 MiB body whole would exceed them.
// Not parallel: it measures allocations.
func TestHostileBodies(t *testing.T) {
	b := setup(t)
	const mib = 1 << 20
	tests := []struct {
		name     string
		body     string
		status   int
		maxAlloc uint64
	}{
		{"1 MiB name", `{"patient":{"id":"` + uuid.NewString() + `","full_name":"` + strings.Repeat("a", mib) + `","dob":"1980-01-01"}}`, http.StatusRequestEntityTooLarge, 3 * mib},
		{"1 MiB of whitespace", "{" + strings.Repeat(" ", mib) + "}", http.StatusRequestEntityTooLarge, 3 * mib},
		{"100,000 nested arrays", `{"patient":` + strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000) + "}", http.StatusRequestEntityTooLarge, 2 * mib},
		{"32,000 nested arrays within 64 KiB", `{"patient":` + strings.Repeat("[", 32_000) + strings.Repeat("]", 32_000) + "}", http.StatusBadRequest, 2 * mib},
		{"10,500 nested objects within 64 KiB", `{"patient":` + strings.Repeat(`{"a":`, 10_500) + "1" + strings.Repeat("}", 10_500) + "}", http.StatusBadRequest, 2 * mib},
		{"deep nesting in a valid field", `{"patient":{"id":"` + uuid.NewString() + `","full_name":"N","dob":"1980-01-01","insurance":` + strings.Repeat("[", 30_000) + strings.Repeat("]", 30_000) + "}}", http.StatusBadRequest, 2 * mib},
	}
	for i, tt := range tests {
		var res response
		start := time.Now()
		alloc := allocDuring(func() {
			res = b.postLink(t, "hostile-"+string(rune('a'+i)), tt.body)
		})
		took := time.Since(start)
		require.Contains(t, []int{http.StatusRequestEntityTooLarge, http.StatusBadRequest, http.StatusUnprocessableEntity}, res.status, tt.name)
		require.Equal(t, tt.status, res.status, "%s: %s", tt.name, res.body)
		require.Equal(t, "application/problem+json", res.header.Get("Content-Type"), tt.name)
		require.Less(t, took, 2*time.Second, tt.name)
		require.Less(t, alloc, tt.maxAlloc, "%s: %d bytes allocated", tt.name, alloc)
		t.Logf("%s: %d in %s, %.1f KiB allocated", tt.name, res.status, took.Round(time.Millisecond), float64(alloc)/1024)
	}
	require.Zero(t, count(t, b.pool, "SELECT count(*) FROM workflows"))
	require.Zero(t, count(t, b.pool, "SELECT count(*) FROM idempotency_keys"))
}

// Forged tokens are refused by every customer route with the same 401.
func TestForgedTokensRefused(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, workflow := b.linkedPatient(t, b.token)
	_, tokenB := b.newCustomer(t)
	custB := b.custOf(t, tokenB)

	expired, err := b.tokens.Issue(b.cust.ID, -time.Minute)
	require.NoError(t, err)
	wrongKey, err := auth.NewTokens([]byte("another-secret-another-secret-!!")).Issue(b.cust.ID, time.Hour)
	require.NoError(t, err)
	parts := strings.Split(b.token, ".")
	require.Len(t, parts, 3)
	enc := base64.RawURLEncoding.EncodeToString
	claims := func(sub string) string {
		return enc([]byte(`{"iss":"patientlink","sub":"` + sub + `","exp":` + strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10) + `}`))
	}
	forged := map[string]string{
		"expired":               expired.Token,
		"wrong key":             wrongKey.Token,
		"alg none":              enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + claims(b.cust.ID.String()) + ".",
		"alg none, no dot":      enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + claims(b.cust.ID.String()),
		"alg NoNe":              enc([]byte(`{"alg":"NoNe","typ":"JWT"}`)) + "." + claims(b.cust.ID.String()) + ".",
		"claims swapped to B":   parts[0] + "." + claims(custB.String()) + "." + parts[2],
		"signature of another":  parts[0] + "." + parts[1] + "." + strings.Split(tokenB, ".")[2],
		"signature flipped":     parts[0] + "." + parts[1] + "." + flip(parts[2]),
		"signature stripped":    parts[0] + "." + parts[1] + ".",
		"alg RS256 header":      enc([]byte(`{"alg":"RS256","typ":"JWT"}`)) + "." + parts[1] + "." + parts[2],
		"garbage":               "not-a-token",
		"empty":                 "",
		"huge":                  strings.Repeat("A", 8000),
		"valid with a prefix":   "x" + b.token,
		"two tokens":            b.token + " " + b.token,
		"valid but as password": "Basic " + b.token,
	}
	require.Equal(t, http.StatusOK, b.do(t, http.MethodGet, "/link/status/"+workflow.String(), map[string]string{"Authorization": "Bearer " + b.token}, "").status)
	unauthorized := stripInstance(t, b.do(t, http.MethodGet, "/link/status/"+workflow.String(), nil, "").body)
	require.Contains(t, unauthorized["type"], "/problems/unauthorized")
	before := b.snapshot(t)
	for name, token := range forged {
		for _, tc := range []struct{ method, path, body string }{
			{http.MethodGet, "/link/status/" + workflow.String(), ""},
			{http.MethodPost, "/link", patientBody(uuid.New(), "Forged Request")},
		} {
			for _, header := range []string{"Authorization", "Customer-Token"} {
				value := token
				if header == "Authorization" {
					value = "Bearer " + token
				}
				res := b.do(t, tc.method, tc.path, map[string]string{header: value, "Idempotency-Key": "forged", "Content-Type": "application/json"}, tc.body)
				require.Equal(t, http.StatusUnauthorized, res.status, "%s via %s on %s %s: %s", name, header, tc.method, tc.path, res.body)
				require.Equal(t, unauthorized, stripInstance(t, res.body), "the same 401 as no token at all")
			}
		}
	}
	require.Equal(t, before, b.snapshot(t), "nothing a forged token sends is stored")
}

// flip changes the signature's first character, keeping it base64url.
func flip(sig string) string {
	if sig[0] == 'A' {
		return "B" + sig[1:]
	}
	return "A" + sig[1:]
}
