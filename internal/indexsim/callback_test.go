package indexsim

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/patientlink/patientlink/internal/index"
)

var callbackSecret = []byte("test-callback-secret")

type receivedCallback struct {
	path      string
	verifyErr error
	body      index.CallbackBody
}

// callbackReceiver starts a receiver on 127.0.0.1 that verifies signatures
// and answers with status(n) for the n-th callback (counting from 1).
func callbackReceiver(t *testing.T, status func(n int64) int) (*httptest.Server, <-chan receivedCallback) {
	t.Helper()
	received := make(chan receivedCallback, 16)
	var calls atomic.Int64
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		got := receivedCallback{
			path:      r.URL.Path,
			verifyErr: index.VerifyCallback(callbackSecret, r.Header.Get(index.SignatureHeader), r.URL.EscapedPath(), raw, time.Now()),
		}
		_ = json.Unmarshal(raw, &got.body)
		select {
		case received <- got:
		default:
		}
		w.WriteHeader(status(calls.Add(1)))
	}))
	t.Cleanup(server.Close)
	return server, received
}

func always(status int) func(int64) int { return func(int64) int { return status } }

func asyncConfig(callbackURL string) Config {
	return Config{Seed: 11, Async: true, CallbackURL: callbackURL, CallbackSecret: callbackSecret}
}

func TestAsyncCallbackArrivesSigned(t *testing.T) {
	t.Parallel()

	receiver, received := callbackReceiver(t, always(http.StatusNoContent))
	cfg := asyncConfig(receiver.URL + "/") // a trailing slash is tolerated
	cfg.CallbackDelay = 10 * time.Millisecond
	bundle := setup(t, cfg)
	p := bundle.sim.Population()[0]

	resp, err := bundle.client.Search(t.Context(), index.Query{FullName: p.FullName, DOB: p.DOB})
	require.NoError(t, err)
	require.NotEmpty(t, resp.SearchID)
	require.Empty(t, resp.Results)

	select {
	case got := <-received:
		require.NoError(t, got.verifyErr)
		require.Equal(t, index.CallbackPathPrefix+resp.SearchID, got.path)
		require.Equal(t, resp.SearchID, got.body.SearchID)
		require.Len(t, got.body.Results, 1)
		require.Equal(t, p.ID, got.body.Results[0].ID)
	case <-time.After(time.Second):
		t.Fatal("no callback")
	}
	require.Eventually(t, func() bool { return bundle.sim.Stats().CallbacksSent == 1 }, time.Second, time.Millisecond)
}

func TestAsyncCallbackForNoMatchHasEmptyResults(t *testing.T) {
	t.Parallel()

	receiver, received := callbackReceiver(t, always(http.StatusOK))
	bundle := setup(t, asyncConfig(receiver.URL))
	status, body := bundle.do(t, http.MethodPost, "/search", `{"full_name":"Nobody Atall","dob":"1990-01-01"}`)
	require.Equal(t, http.StatusAccepted, status)
	require.Regexp(t, `^\{"search-id":"srch_[A-Z2-7]+"\}\n$`, body)

	select {
	case got := <-received:
		require.NoError(t, got.verifyErr)
		require.NotNil(t, got.body.Results)
		require.Empty(t, got.body.Results)
	case <-time.After(time.Second):
		t.Fatal("no callback")
	}
}

func TestAsyncCallbackDelivery(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name      string
		status    func(n int64) int
		wantCalls int
		wantStats Stats
	}{
		{
			name: "retried after transient failures",
			status: func(n int64) int {
				if n < 3 {
					return http.StatusServiceUnavailable
				}
				return http.StatusOK
			},
			wantCalls: 3,
			wantStats: Stats{Searches: 1, AsyncAccepted: 1, CallbacksSent: 1},
		},
		{
			name:      "given up after five tries",
			status:    always(http.StatusInternalServerError),
			wantCalls: callbackTries,
			wantStats: Stats{Searches: 1, AsyncAccepted: 1, CallbacksFailed: 1},
		},
		{
			name:      "not retried on a 4xx",
			status:    always(http.StatusUnauthorized),
			wantCalls: 1,
			wantStats: Stats{Searches: 1, AsyncAccepted: 1, CallbacksFailed: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			receiver, received := callbackReceiver(t, tt.status)
			bundle := setup(t, asyncConfig(receiver.URL))
			bundle.sim.backoff = time.Millisecond

			status, _ := bundle.do(t, http.MethodPost, "/search", `{"full_name":"Nobody Atall","dob":"1990-01-01"}`)
			require.Equal(t, http.StatusAccepted, status)
			require.Eventually(t, func() bool {
				s := bundle.sim.Stats()
				return s.CallbacksSent+s.CallbacksFailed == 1
			}, time.Second, time.Millisecond)
			require.Equal(t, tt.wantStats, bundle.sim.Stats())
			require.Len(t, received, tt.wantCalls)
		})
	}
}

func TestCloseAbandonsPendingCallbacks(t *testing.T) {
	t.Parallel()

	receiver, received := callbackReceiver(t, always(http.StatusOK))
	cfg := asyncConfig(receiver.URL)
	cfg.CallbackDelay = time.Hour
	bundle := setup(t, cfg)

	status, _ := bundle.do(t, http.MethodPost, "/search", `{"full_name":"Nobody Atall","dob":"1990-01-01"}`)
	require.Equal(t, http.StatusAccepted, status)

	start := time.Now()
	bundle.sim.Close()
	require.Less(t, time.Since(start), time.Second)
	require.Equal(t, int64(1), bundle.sim.Stats().CallbacksFailed)
	require.Empty(t, received)

	status, _ = bundle.do(t, http.MethodPost, "/search", `{"full_name":"Nobody Atall","dob":"1990-01-01"}`)
	require.Equal(t, http.StatusServiceUnavailable, status)
}
