package bench

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A receiver that fails on purpose answers 503 and records nothing; one
// that accepts tells Observe of a workflow's first notification only.
func TestReceiverFailRateAndObserve(t *testing.T) {
	t.Parallel()
	post := func(r *Receiver) int {
		w := httptest.NewRecorder()
		r.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/hook/0", strings.NewReader(`{"data":{"workflow-id":"w1","status":"COMPLETED"}}`)))
		return w.Code
	}
	var mu sync.Mutex
	var seen []string
	r := &Receiver{FailRate: 1, arrived: map[string]arrival{}, waiters: map[string]chan struct{}{},
		Observe: func(id string, _ time.Time) { mu.Lock(); seen = append(seen, id); mu.Unlock() }}
	require.Equal(t, http.StatusServiceUnavailable, post(r))
	_, ok := r.Arrival("w1")
	require.False(t, ok)
	require.EqualValues(t, 1, r.Stats().Failed)

	r.FailRate = 0
	require.Equal(t, http.StatusNoContent, post(r))
	require.Equal(t, http.StatusNoContent, post(r))
	require.Equal(t, []string{"w1"}, seen)
	require.EqualValues(t, 1, r.Stats().Duplicates)
}
