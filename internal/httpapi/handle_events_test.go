package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/patientlink/patientlink/internal/link"
	"github.com/patientlink/patientlink/internal/postgres"
)

// addEvents records n events for customer c, batch per transaction, each
// for a workflow of its own; it returns their ids.
func (b *testBundle) addEvents(t *testing.T, c link.Customer, n, batch int) []string {
	t.Helper()
	ctx := context.Background()
	var ids []string
	for len(ids) < n {
		require.NoError(t, b.store.WithTx(ctx, func(tx pgx.Tx) error {
			for range min(batch, n-len(ids)) {
				wf := link.Workflow{ID: uuid.New(), CustomerID: c.ID, PatientID: uuid.New(), RequestType: link.RequestLink, Status: link.StateNoResults}
				if _, err := tx.Exec(ctx, `INSERT INTO workflows (id, customer_id, patient_id, request_type, status, outcome) VALUES ($1, $2, $3, 'LINK', 'NO_RESULTS', 'NO_RESULTS')`,
					wf.ID, wf.CustomerID, wf.PatientID); err != nil {
					return err
				}
				id := "msg_" + uuid.NewString()
				if _, err := b.store.CreateEventTx(ctx, tx, postgres.NewEvent{ID: id, Type: "link.completed", Workflow: wf, Data: map[string]any{
					"workflow-id": wf.ID, "patient-id": wf.PatientID, "request-type": "LINK", "outcome": "NO_RESULTS", "status": "COMPLETED",
				}}); err != nil {
					return err
				}
				ids = append(ids, id)
			}
			return nil
		}))
	}
	return ids
}

type feedPage struct {
	Events     []json.RawMessage `json:"events"`
	NextCursor string            `json:"next-cursor"`
}

func (b *testBundle) feed(t *testing.T, token, cursor string, limit string) (int, feedPage) {
	t.Helper()
	q := url.Values{}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	if limit != "" {
		q.Set("limit", limit)
	}
	res := b.do(t, http.MethodGet, "/events?"+q.Encode(), map[string]string{"Customer-Token": token}, "")
	var page feedPage
	if res.status == http.StatusOK {
		require.NoError(t, json.Unmarshal(res.body, &page), string(res.body))
		require.NotEmpty(t, page.NextCursor, "next-cursor is always present")
	}
	return res.status, page
}

func eventIDOf(t *testing.T, body json.RawMessage) string {
	t.Helper()
	var e struct {
		ID string `json:"id"`
	}
	require.NoError(t, json.Unmarshal(body, &e))
	return e.ID
}

// Must show: GET /events pages through 1,000 events with limit=100 with no
// gap and no repeat, while more events commit during the paging; polling
// with the last cursor later returns only newer events.
func TestEventsFeedPagesWithoutGapsOrRepeats(t *testing.T) {
	t.Parallel()
	b := setup(t)
	want := map[string]bool{}
	for _, id := range b.addEvents(t, b.cust, 1000, 100) {
		want[id] = true
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	wg.Go(func() { // more events commit while the customer pages
		ids := b.addEvents(t, b.cust, 200, 10)
		mu.Lock()
		defer mu.Unlock()
		for _, id := range ids {
			want[id] = true
		}
	})
	seen := map[string]bool{}
	cursor := ""
	pages := 0
	for pages < 1000 { // bounded: 12 full pages, then empty polls while the writer finishes
		status, page := b.feed(t, b.token, cursor, "100")
		require.Equal(t, http.StatusOK, status)
		require.LessOrEqual(t, len(page.Events), 100)
		for _, e := range page.Events {
			id := eventIDOf(t, e)
			require.False(t, seen[id], "event %s repeated", id)
			seen[id] = true
		}
		cursor = page.NextCursor
		pages++
		if len(page.Events) == 0 {
			time.Sleep(10 * time.Millisecond)
		}
		if len(page.Events) == 0 && len(seen) >= 1000 {
			wg.Wait()
			mu.Lock()
			done := len(seen) == len(want)
			mu.Unlock()
			if done {
				break
			}
		}
	}
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, seen, 1200)
	require.Equal(t, want, seen, "no gap: every committed event was listed")

	// Later, the same cursor lists only what is new.
	newer := b.addEvents(t, b.cust, 3, 3)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		_, page := b.feed(t, b.token, cursor, "")
		if assert.Len(c, page.Events, 3) {
			assert.Equal(c, newer[0], eventIDOf(t, page.Events[0]), "oldest first")
		}
	}, 5*time.Second, 10*time.Millisecond)
}

func TestEventsFeedBadInput(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, tc := range []struct{ cursor, limit, problem string }{
		{"not-a-cursor!", "", "cursor-invalid"},
		{"djEuMS4y", "", ""}, // v1.1.2, well formed
		{"", "0", "limit-invalid"},
		{"", "501", "limit-invalid"},
		{"", "ten", "limit-invalid"},
		{"", "500", ""},
	} {
		q := url.Values{}
		if tc.cursor != "" {
			q.Set("cursor", tc.cursor)
		}
		if tc.limit != "" {
			q.Set("limit", tc.limit)
		}
		res := b.do(t, http.MethodGet, "/events?"+q.Encode(), map[string]string{"Customer-Token": b.token}, "")
		if tc.problem == "" {
			require.Equal(t, http.StatusOK, res.status, "%+v: %s", tc, res.body)
			continue
		}
		require.Equal(t, http.StatusBadRequest, res.status, "%+v", tc)
		require.Equal(t, "application/problem+json", res.header.Get("Content-Type"))
		require.Contains(t, string(res.body), "/problems/"+tc.problem)
	}
	res := b.do(t, http.MethodGet, "/events", nil, "")
	require.Equal(t, http.StatusUnauthorized, res.status)
}

// Customers see and redeliver only their own events.
func TestEventsTenancy(t *testing.T) {
	t.Parallel()
	b := setup(t)
	other, otherToken := b.newCustomer(t)
	mine := b.addEvents(t, b.cust, 2, 2)
	theirs := b.addEvents(t, other, 1, 1)

	// An event is listed once every transaction older than its own has
	// ended (a gap-free cursor): within milliseconds.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		_, page := b.feed(t, otherToken, "", "")
		if assert.Len(c, page.Events, 1) {
			assert.Equal(c, theirs[0], eventIDOf(t, page.Events[0]))
		}
	}, 5*time.Second, 10*time.Millisecond)

	res := b.do(t, http.MethodPost, "/events/"+mine[0]+"/redeliver", map[string]string{"Customer-Token": otherToken}, "")
	require.Equal(t, http.StatusNotFound, res.status, "another customer's event is not found")
	res = b.do(t, http.MethodPost, "/events/msg_nope/redeliver", map[string]string{"Customer-Token": b.token}, "")
	require.Equal(t, http.StatusNotFound, res.status)

	res = b.do(t, http.MethodPost, "/events/"+mine[0]+"/redeliver", map[string]string{"Customer-Token": b.token}, "")
	require.Equal(t, http.StatusAccepted, res.status, string(res.body))
	body := res.json(t)
	require.Equal(t, mine[0], body["event-id"])
	require.Equal(t, "pending", body["delivery"])
	require.Equal(t, 1, count(t, b.pool, "SELECT count(*) FROM river_job WHERE kind = 'webhook.deliver' AND args->>'event_id' = $1", mine[0]))
	require.Equal(t, 1, count(t, b.pool, "SELECT count(*) FROM action_history WHERE event_id = $1 AND actor = $2", mine[0], "customer:"+b.cust.ID.String()))

	// A customer without a webhook URL has the feed only.
	_, err := b.pool.Exec(context.Background(), "UPDATE customers SET webhook_url = NULL WHERE id = $1", b.cust.ID)
	require.NoError(t, err)
	res = b.do(t, http.MethodPost, "/events/"+mine[1]+"/redeliver", map[string]string{"Customer-Token": b.token}, "")
	require.Equal(t, http.StatusConflict, res.status)
	require.Contains(t, string(res.body), "/problems/no-webhook")
}
