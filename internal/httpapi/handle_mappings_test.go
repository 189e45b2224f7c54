package httpapi_test

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/patientlink/patientlink/internal/link"
	"github.com/patientlink/patientlink/internal/postgres"
)

type mappingJSON struct {
	PatientID         string    `json:"patient-id"`
	InternalPatientID string    `json:"internal-patient-id"`
	Status            string    `json:"status"`
	UpdatedAt         time.Time `json:"updated-at"`
}

type mappingsPageJSON struct {
	Mappings   []mappingJSON `json:"mappings"`
	NextCursor string        `json:"next-cursor"`
}

func (b *testBundle) mappingsPage(t *testing.T, token string, q url.Values) (mappingsPageJSON, response) {
	t.Helper()
	res := b.do(t, http.MethodGet, "/mappings?"+q.Encode(), map[string]string{"Customer-Token": token}, "")
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	var page mappingsPageJSON
	require.NoError(t, json.Unmarshal(res.body, &page))
	return page, res
}

// delinkPatient de-links patient as the customer of token would see it
// happen (DELETE /link/{id}, then the worker's steps).
func (b *testBundle) delinkPatient(t *testing.T, token string, patient uuid.UUID) {
	t.Helper()
	ctx := context.Background()
	res := b.do(t, http.MethodDelete, "/link/"+patient.String(), map[string]string{"Customer-Token": token, "Idempotency-Key": uuid.NewString()}, "")
	require.Equal(t, http.StatusAccepted, res.status, string(res.body))
	wf, err := b.store.Workflow(ctx, uuid.MustParse(res.json(t)["workflow-id"].(string)))
	require.NoError(t, err)
	wf, err = b.store.Transition(ctx, wf, postgres.Transition{To: link.StateInProgress, Attempt: 1})
	require.NoError(t, err)
	require.NoError(t, b.store.WithTx(ctx, func(tx pgx.Tx) error {
		found, err := b.store.DelinkPatientTx(ctx, tx, wf)
		require.True(t, found)
		if err != nil {
			return err
		}
		_, err = b.store.TransitionTx(ctx, tx, wf, postgres.Transition{To: link.StateDeLinked, Outcome: link.StateDeLinked, Attempt: 1})
		return err
	}))
}

// Must show: reverse lookup, list and history answer only the customer's
// own data.
func TestMappingQueriesTenancy(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, otherToken := b.newCustomer(t)
	internal := "internal-" + uuid.NewString()
	p1, p2, p3 := uuid.New(), uuid.New(), uuid.New()
	b.linkPatient(t, b.token, p1, internal)
	b.delinkPatient(t, b.token, p1)
	b.linkPatient(t, b.token, p2, internal)
	b.linkPatient(t, otherToken, p3, internal)

	patients := func(token, query string) []string {
		t.Helper()
		res := b.do(t, http.MethodGet, "/patients?"+query, map[string]string{"Customer-Token": token}, "")
		require.Equal(t, http.StatusOK, res.status, string(res.body))
		var out struct{ Patients []mappingJSON }
		require.NoError(t, json.Unmarshal(res.body, &out))
		var ids []string
		for _, m := range out.Patients {
			require.Equal(t, internal, m.InternalPatientID)
			ids = append(ids, m.PatientID+" "+m.Status)
		}
		return ids
	}
	q := url.Values{"internal-patient-id": {internal}}
	require.Equal(t, []string{p2.String() + " LINKED"}, patients(b.token, q.Encode()))
	q.Set("include", "history")
	require.Equal(t, []string{p1.String() + " DE-LINKED", p2.String() + " LINKED"}, patients(b.token, q.Encode()))
	require.Equal(t, []string{p3.String() + " LINKED"}, patients(otherToken, q.Encode()))
	require.Empty(t, patients(b.token, "internal-patient-id=nobody-of-yours"))

	list := func(token string, q url.Values) []string {
		page, _ := b.mappingsPage(t, token, q)
		var ids []string
		for _, m := range page.Mappings {
			ids = append(ids, m.PatientID+" "+m.Status)
		}
		return ids
	}
	require.Equal(t, []string{p1.String() + " DE-LINKED", p2.String() + " LINKED"}, list(b.token, nil))
	require.Equal(t, []string{p2.String() + " LINKED"}, list(b.token, url.Values{"status": {"LINKED"}}))
	require.Equal(t, []string{p1.String() + " DE-LINKED"}, list(b.token, url.Values{"status": {"DE-LINKED"}}))
	require.Equal(t, []string{p3.String() + " LINKED"}, list(otherToken, nil))
	require.Empty(t, list(b.token, url.Values{"updated-since": {time.Now().Add(time.Hour).Format(time.RFC3339)}}))

	// History: the customer's own patient only; ids, states, rules.
	res := b.do(t, http.MethodGet, "/patient/"+p1.String()+"/history", map[string]string{"Customer-Token": b.token}, "")
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	var h struct{ History []map[string]any }
	require.NoError(t, json.Unmarshal(res.body, &h))
	var steps []string
	for _, e := range h.History {
		step := e["kind"].(string) + ":" + e["to"].(string)
		if rule, ok := e["rule"].(string); ok {
			step += "/" + rule
		}
		steps = append(steps, step)
		require.NotContains(t, e, "score")
		require.NotContains(t, e, "full-name")
	}
	require.Equal(t, []string{
		"workflow:RECEIVED", "workflow:IN_PROGRESS", "workflow:LINKED", "mapping:LINKED", // linked by hand here: no decision recorded
		"workflow:RECEIVED", "workflow:IN_PROGRESS", "workflow:DE_LINKED", "mapping:DE-LINKED",
	}, steps)
	res = b.do(t, http.MethodGet, "/patient/"+p1.String()+"/history", map[string]string{"Customer-Token": otherToken}, "")
	require.Equal(t, http.StatusNotFound, res.status, "another customer's patient")

	for _, path := range []string{"/patients", "/patients?internal-patient-id=x&include=all", "/mappings?status=linked",
		"/mappings?updated-since=yesterday", "/mappings?cursor=djEuMS4y", "/mappings?limit=501"} {
		res := b.do(t, http.MethodGet, path, map[string]string{"Customer-Token": b.token}, "")
		require.Equal(t, http.StatusBadRequest, res.status, path)
	}
}

// Must show: 10,000 mappings paged 100 at a time while 200 updates land
// (some in transactions that started before the pages they belong to and
// commit late): every mapping is seen, every version of a mapping exactly
// once, every mapping untouched meanwhile exactly once, and each updated
// one last as it ended.
func TestMappingsPagedWhileUpdating(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	_, err := b.pool.Exec(ctx, `
		WITH w AS (
			INSERT INTO workflows (id, customer_id, patient_id, request_type, status, outcome)
			SELECT gen_random_uuid(), $1, gen_random_uuid(), 'LINK', 'LINKED', 'LINKED' FROM generate_series(1, 10000)
			RETURNING id, customer_id, patient_id
		)
		INSERT INTO patient_mappings (customer_id, customer_patient_id, internal_patient_id, status, score, workflow_id, linked_at, updated_at)
		SELECT customer_id, patient_id, 'int-' || id, 'LINKED', 0.99, id, t, t
		FROM (SELECT w.*, date_trunc('second', now() - random() * interval '1 hour') AS t FROM w) AS x`, b.cust.ID)
	require.NoError(t, err)
	var ids []int64
	rows, err := b.pool.Query(ctx, "SELECT id FROM patient_mappings WHERE customer_id = $1", b.cust.ID)
	require.NoError(t, err)
	ids, err = pgx.CollectRows(rows, pgx.RowTo[int64])
	require.NoError(t, err)
	rand.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })

	// 200 de-links land while the customer pages, in pairs: one whose
	// transaction starts (its now(), the mapping's updated-at) 30 ms before
	// it writes and commits, and one that starts 10 ms later and commits
	// at once — a later updated-at committed first. A pair every other page
	// on the way, one per poll once the customer is at the end.
	var wg sync.WaitGroup
	update := func(id int64, before, after time.Duration) {
		time.Sleep(before)
		tx, err := b.pool.Begin(ctx)
		require.NoError(t, err)
		defer func() { _ = tx.Rollback(ctx) }()
		_, err = tx.Exec(ctx, "SELECT pg_sleep($1::float8)", after.Seconds())
		require.NoError(t, err)
		_, err = tx.Exec(ctx, `UPDATE patient_mappings SET status = 'DE-LINKED', delinked_at = now(), updated_at = now(),
			delink_workflow_id = workflow_id WHERE id = $1`, id)
		require.NoError(t, err)
		require.NoError(t, tx.Commit(ctx))
	}
	next := 0
	landPair := func() {
		if next >= 200 {
			return
		}
		late, fast := ids[next], ids[next+1]
		next += 2
		wg.Go(func() { update(late, 0, 30*time.Millisecond) })
		wg.Go(func() { update(fast, 10*time.Millisecond, 0) })
	}

	type version struct {
		patient string
		at      time.Time
	}
	seen := map[version]int{}
	times := map[string]int{}
	last := map[string]mappingJSON{}
	var prev time.Time
	q := url.Values{"limit": {"100"}}
	atEnd := false
	for pages := 0; ; pages++ {
		require.Less(t, pages, 5000)
		if atEnd || pages%2 == 1 {
			landPair()
		}
		finished := next >= 200
		if finished {
			wg.Wait()
		}
		page, res := b.mappingsPage(t, b.token, q)
		require.LessOrEqual(t, len(page.Mappings), 100)
		for _, m := range page.Mappings {
			require.False(t, m.UpdatedAt.Before(prev), "ordered by update time")
			prev = m.UpdatedAt
			seen[version{m.PatientID, m.UpdatedAt}]++
			times[m.PatientID]++
			last[m.PatientID] = m
		}
		if len(page.Mappings) == 100 {
			require.Contains(t, res.header.Get("Link"), `rel="next"`)
		} else {
			require.Empty(t, res.header.Get("Link"), "a short page is the end")
		}
		q.Set("cursor", page.NextCursor)
		if len(page.Mappings) < 100 {
			if finished {
				break
			}
			atEnd = true
			time.Sleep(15 * time.Millisecond)
		}
	}

	for v, n := range seen {
		require.Equal(t, 1, n, "version %v seen %d times", v, n)
	}
	final := map[string]string{}
	rows, err = b.pool.Query(ctx, "SELECT customer_patient_id::text, status FROM patient_mappings WHERE customer_id = $1", b.cust.ID)
	require.NoError(t, err)
	for rows.Next() {
		var p, s string
		require.NoError(t, rows.Scan(&p, &s))
		final[p] = s
	}
	require.NoError(t, rows.Err())
	require.Len(t, final, 10000)
	updated := 0
	for p, status := range final {
		require.Contains(t, last, p, "mapping never seen")
		require.Equal(t, status, last[p].Status, "the last version seen is the mapping as it ended")
		if status == link.MappingLinked {
			require.Equal(t, 1, times[p], "an untouched mapping is seen exactly once")
		} else {
			updated++
		}
	}
	require.Equal(t, 200, updated)
	t.Logf("%d mappings, %d versions seen", len(final), len(seen))
}
