package bench

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/patientlink/patientlink/internal/harness"
)

// A batch never spans two customers' request numbers, so each of its
// items links a patient the batch's customer has not linked yet.
func TestReserveKeepsABatchToOneCustomer(t *testing.T) {
	t.Parallel()
	w := &Workload{Patients: make([]Patient, 10), Customers: make([]harness.Customer, 3)}
	for _, tc := range []struct{ n, want int }{{1, 0}, {4, 1}, {4, 5}, {4, 10}, {6, 14}, {10, 20}, {1, 30}} {
		got := w.reserve(tc.n)
		require.Equal(t, tc.want, got, "reserve(%d)", tc.n)
		require.Equal(t, got/10, (got+tc.n-1)/10, "one customer")
	}
}

// POST /links answers one item per patient, in request order: each is a
// workflow or an error of its own.
func TestPostBatchTellsEachPatientsStory(t *testing.T) {
	t.Parallel()
	var got bulkBody
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/links" || json.NewDecoder(r.Body).Decode(&got) != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.Header().Set("Location", "/batches/b1")
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte(`{"batch-id": "b1", "items": [
			{"patient-id": "p0", "workflow-id": "w0"},
			{"patient-id": "p1", "error": {"title": "Unprocessable Content", "status": 422}},
			{"patient-id": "p2", "workflow-id": "w2"}]}`))
	}))
	t.Cleanup(srv.Close)
	g := &Generator{Client: srv.Client(), Workload: &Workload{BaseURL: srv.URL, RunID: "t",
		Patients: []Patient{{ID: "x", FullName: "Ann Smith", DOB: "1970-01-01"}}, Customers: []harness.Customer{{Token: "tok"}}}}
	due := time.Now()
	recs := g.post(context.Background(), due, 3)
	require.Len(t, got.Patients, 3)
	require.Len(t, recs, 3)
	require.Equal(t, "w0", recs[0].wf)
	require.Equal(t, "item 422 Unprocessable Content", recs[1].err)
	require.Equal(t, "w2", recs[2].wf)
	require.Equal(t, recs[0].acked, recs[2].acked, "one answer acknowledges every item")
	require.Equal(t, due, recs[2].sent)

	recs = g.post(context.Background(), due, 2)
	require.Len(t, recs, 2)
	require.Equal(t, "202 body not one item per patient", recs[1].err)
}

func TestAckedInWindow(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	from, to := at(10), at(20)
	for _, tc := range []struct {
		sent, acked float64
		spread      bool
		want        float64
	}{
		{9.9, 10.1, false, 1},  // counted at its 202
		{19.9, 20.1, false, 0}, // answered after the window
		{8, 12, true, 0.5},     // half its time inside
		{12, 14, true, 1},
		{18, 26, true, 0.25},
		{5, 30, true, 0.4},
		{21, 22, true, 0},
	} {
		got := ackedInWindow(linkRecord{sent: at(tc.sent), acked: at(tc.acked)}, from, to, tc.spread)
		require.InDelta(t, tc.want, got, 1e-9, "%v → %v spread %v", tc.sent, tc.acked, tc.spread)
	}
}
