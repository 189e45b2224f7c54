package chaos

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// The client records each operation: what it asked, what it was told,
// when, and on which process; no answer is an unknown outcome.
func TestClientRecordsHistory(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == http.MethodPost:
			w.WriteHeader(http.StatusAccepted)
			_, _ = w.Write([]byte(`{"workflow-id":"w1"}`))
		case r.URL.Path == "/link/status/w1":
			_, _ = w.Write([]byte(`{"workflow-id":"w1","status":"COMPLETED","outcome":"LINKED"}`))
		case r.URL.Path == "/events":
			_, _ = w.Write([]byte(`{"events":[{"id":"e1","data":{"patient-id":"p1","sequence":1}}],"next-cursor":"c2"}`))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	h := &History{}
	c := NewClient([]string{srv.URL}, "token")
	c.History, c.Customer = h, "c1"
	ctx := context.Background()
	req := &Request{Key: "k1", Patient: Patient{ID: uuid.New()}}

	c.Link(ctx, req, 0)
	code, state, err := c.Status(ctx, srv.URL, "w1")
	require.NoError(t, err)
	require.Equal(t, 200, code)
	require.Equal(t, "COMPLETED", state)
	require.Equal(t, 404, c.Patient(ctx, srv.URL, req.Patient.ID.String()).Status)
	_, next := c.Events(ctx, srv.URL, "")
	require.Equal(t, "c2", next)
	c.Patient(ctx, "http://127.0.0.1:1", "p9") // refused: unknown outcome
	h.Deliver("e1", []byte(`{"id":"e1","data":{"patient-id":"p1","sequence":1}}`), time.Now())

	rec := h.Snapshot()
	require.Len(t, rec.Ops, 5)
	link, status, patient, events, lost := rec.Ops[0], rec.Ops[1], rec.Ops[2], rec.Ops[3], rec.Ops[4]
	require.Equal(t, Op{Kind: OpLink, Proc: srv.URL, Customer: "c1", Key: "k1", Patient: req.Patient.ID.String(), Status: 202,
		Body: []byte(`{"workflow-id":"w1"}`), WorkflowID: "w1", Invoke: link.Invoke, Complete: link.Complete}, link)
	require.False(t, link.Complete.Before(link.Invoke))
	require.Equal(t, "LINKED", status.Outcome)
	require.True(t, patient.Known())
	require.Empty(t, patient.State)
	require.Equal(t, []FeedEvent{{ID: "e1", Patient: "p1", Sequence: 1, Body: []byte(`{"id":"e1","data":{"patient-id":"p1","sequence":1}}`)}}, events.Events)
	require.False(t, lost.Known())
	require.Equal(t, []Delivery{{ID: "e1", Patient: "p1", Sequence: 1, At: rec.Deliveries[0].At, Body: rec.Deliveries[0].Body}}, rec.Deliveries)
	require.Equal(t, "checked 6 operations, 0 violations", CheckHistory(rec, "").Line())
}
