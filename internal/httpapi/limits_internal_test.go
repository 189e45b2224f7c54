package httpapi

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// Requests over the in-flight cap are shed with 503 and Retry-After at
// once; health is never shed; a freed slot serves again.
func TestInflightLimit(t *testing.T) {
	t.Parallel()
	entered, release := make(chan struct{}), make(chan struct{})
	handler := withInflightLimit(2, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			entered <- struct{}{}
			<-release
		}
		w.WriteHeader(http.StatusOK)
	}))
	serve := func(path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec
	}

	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() { require.Equal(t, http.StatusOK, serve("/slow").Code) })
		<-entered // both slots are now held
	}
	shed := serve("/link/status/x")
	require.Equal(t, http.StatusServiceUnavailable, shed.Code)
	require.Equal(t, "1", shed.Header().Get("Retry-After"))
	require.Equal(t, "application/problem+json", shed.Header().Get("Content-Type"))
	require.Contains(t, shed.Body.String(), "/problems/overloaded")
	require.Equal(t, http.StatusOK, serve("/healthz").Code, "health is never shed")
	require.Equal(t, http.StatusOK, serve("/readyz").Code)

	close(release)
	wg.Wait()
	require.Equal(t, http.StatusOK, serve("/link/status/x").Code, "freed slots serve again")
}
