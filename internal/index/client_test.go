package index

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var testQuery = Query{FullName: "Ada Lovelace", DOB: "1815-12-10"}

type testBundle struct {
	client *Client
	server *httptest.Server
	clock  *fakeClock
	logs   *lockedBuffer
	hits   *atomic.Int64
}

// setup starts an index stub answering with handler and a client pointed at it.
func setup(t *testing.T, handler http.HandlerFunc, opts Options) *testBundle {
	t.Helper()
	bundle := &testBundle{
		clock: &fakeClock{t: time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)},
		logs:  &lockedBuffer{},
		hits:  &atomic.Int64{},
	}
	bundle.server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bundle.hits.Add(1)
		handler(w, r)
	}))
	t.Cleanup(bundle.server.Close)
	if opts.Now == nil {
		opts.Now = bundle.clock.Now
	}
	opts.Logger = slog.New(slog.NewTextHandler(bundle.logs, nil))
	opts.AllowInsecure = true // httptest serves plain http
	bundle.client = New(bundle.server.URL, opts)
	return bundle
}

func answer(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

func TestSearchAnswers(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name      string
		handler   http.HandlerFunc
		want      Response
		wantCode  int
		wantTemp  bool
		wantError bool
	}{
		{
			name:    "sync results come back sorted",
			handler: answer(200, `{"results":[{"id":"b","score":0.91},{"id":"a","score":0.98}]}`),
			want:    Response{Results: []Result{{ID: "a", Score: 0.98}, {ID: "b", Score: 0.91}}},
		},
		{
			name:    "empty list is no match",
			handler: answer(200, `{"results":[]}`),
			want:    Response{Results: []Result{}},
		},
		{
			name:    "202 is async",
			handler: answer(202, `{"search-id":"s-123"}`),
			want:    Response{SearchID: "s-123"},
		},
		{name: "400 is permanent", handler: answer(400, `nope`), wantError: true, wantCode: 400},
		{name: "404 is permanent", handler: answer(404, ``), wantError: true, wantCode: 404},
		{name: "429 is temporary", handler: answer(429, ``), wantError: true, wantCode: 429, wantTemp: true},
		{name: "500 is temporary", handler: answer(500, ``), wantError: true, wantCode: 500, wantTemp: true},
		{name: "503 is temporary", handler: answer(503, ``), wantError: true, wantCode: 503, wantTemp: true},
		{name: "garbled 200 is temporary", handler: answer(200, `{"results":[{"id":`), wantError: true, wantCode: 200, wantTemp: true},
		{name: "result without id is temporary", handler: answer(200, `{"results":[{"score":1}]}`), wantError: true, wantCode: 200, wantTemp: true},
		{name: "202 without search-id is temporary", handler: answer(202, `{}`), wantError: true, wantCode: 202, wantTemp: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			bundle := setup(t, tt.handler, Options{})

			got, err := bundle.client.Search(context.Background(), testQuery)
			if !tt.wantError {
				require.NoError(t, err)
				require.Equal(t, tt.want, got)
				return
			}
			var ie *Error
			require.ErrorAs(t, err, &ie)
			require.Equal(t, tt.wantCode, ie.StatusCode)
			require.Equal(t, tt.wantTemp, ie.Temporary)
			require.Equal(t, tt.wantTemp, IsTemporary(err))
		})
	}
}

func TestSearchSendsContractRequest(t *testing.T) {
	t.Parallel()

	var (
		mu          sync.Mutex
		gotPath     string
		gotType     string
		gotRawQuery map[string]any
	)
	bundle := setup(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		gotPath, gotType = r.Method+" "+r.URL.Path, r.Header.Get("Content-Type")
		_ = json.NewDecoder(r.Body).Decode(&gotRawQuery)
		answer(200, `{"results":[]}`)(w, r)
	}, Options{})

	_, err := bundle.client.Search(context.Background(), testQuery)
	require.NoError(t, err)

	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, "POST /search", gotPath)
	require.Equal(t, "application/json", gotType)
	// email and phone are omitted when empty.
	require.Equal(t, map[string]any{"full_name": "Ada Lovelace", "dob": "1815-12-10"}, gotRawQuery)
}

func TestSearchInvalidQueryIsPermanentWithoutCall(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name  string
		query Query
	}{
		{name: "no name", query: Query{DOB: "1990-01-01"}},
		{name: "no dob", query: Query{FullName: "Ada Lovelace"}},
		{name: "bad dob", query: Query{FullName: "Ada Lovelace", DOB: "01/02/1990"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			bundle := setup(t, answer(200, `{"results":[]}`), Options{})

			_, err := bundle.client.Search(context.Background(), tt.query)
			require.ErrorIs(t, err, ErrInvalidQuery)
			require.False(t, IsTemporary(err))
			require.Zero(t, bundle.hits.Load())
		})
	}
}

func TestSearchTimeoutIsTemporary(t *testing.T) {
	t.Parallel()

	bundle := setup(t, func(w http.ResponseWriter, r *http.Request) {
		hang(r) // until the client gives up
	}, Options{Timeout: 50 * time.Millisecond})

	start := time.Now()
	_, err := bundle.client.Search(context.Background(), testQuery)
	require.Less(t, time.Since(start), time.Second)
	var ie *Error
	require.ErrorAs(t, err, &ie)
	require.True(t, ie.Temporary)
	require.Zero(t, ie.StatusCode)
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestSearchConnectionRefusedIsTemporary(t *testing.T) {
	t.Parallel()

	// Take a free port on 127.0.0.1 and close it, so nothing listens there.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())

	client := New("http://"+addr, Options{Logger: slog.New(slog.DiscardHandler), Timeout: time.Second})
	_, err = client.Search(context.Background(), testQuery)
	var ie *Error
	require.ErrorAs(t, err, &ie)
	require.True(t, ie.Temporary)
	require.Zero(t, ie.StatusCode)
}

func TestSearchCallerCancelDoesNotTripBreaker(t *testing.T) {
	t.Parallel()

	bundle := setup(t, func(w http.ResponseWriter, r *http.Request) {
		hang(r)
	}, Options{BreakerFailures: 1})

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := bundle.client.Search(ctx, testQuery)
	require.ErrorIs(t, err, context.Canceled)
	require.False(t, bundle.client.BreakerOpen())
}

// hang holds a request until the client goes away (bounded, so a broken test
// cannot hang). The body must be read first: only then does the server notice
// a closed connection and cancel the request context.
func hang(r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	select {
	case <-r.Context().Done():
	case <-time.After(2 * time.Second):
	}
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) count(substr string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Count(b.buf.String(), substr)
}
