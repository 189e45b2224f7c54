package webhooksink_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/patientlink/patientlink/internal/webhook"
	"github.com/patientlink/patientlink/internal/webhooksig"
	"github.com/patientlink/patientlink/internal/webhooksink"
)

const body = `{"type": "link.completed", "timestamp": "2026-01-02T03:04:05Z",
  "data": {"workflow-id": "wf_1", "patient-id": "p_1", "request-type": "link", "outcome": "linked", "status": "completed"}}`

// syncBuffer is an io.Writer the test can read while handlers write.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *syncBuffer) Lines() []string {
	return strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
}

func newSecret(t *testing.T) string {
	t.Helper()
	s, err := webhooksig.NewSecret()
	require.NoError(t, err)
	return s
}

type testBundle struct {
	sink   *webhooksink.Sink
	out    *syncBuffer
	secret string
}

func setup(t *testing.T, cfg webhooksink.Config) *testBundle {
	t.Helper()
	b := &testBundle{out: &syncBuffer{}, secret: newSecret(t)}
	if cfg.Secrets == nil {
		cfg.Secrets = []string{b.secret}
	}
	cfg.Out = b.out
	b.sink = webhooksink.New(cfg)
	return b
}

// post sends one signed request straight to the handler.
func (b *testBundle) post(t *testing.T, secrets []string, id string, payload string) *httptest.ResponseRecorder {
	t.Helper()
	h, err := webhooksig.Headers(secrets, id, time.Now(), []byte(payload))
	require.NoError(t, err)
	return b.postRaw(h, payload)
}

func (b *testBundle) postRaw(h http.Header, payload string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/any/path", strings.NewReader(payload))
	for k, v := range h {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	b.sink.Handler().ServeHTTP(rec, req)
	return rec
}

func TestSinkVerifiedEvent(t *testing.T) {
	t.Parallel()

	b := setup(t, webhooksink.Config{})
	rec := b.post(t, []string{b.secret}, "msg_1", body)
	require.Equal(t, http.StatusNoContent, rec.Code)

	compact := `{"type":"link.completed","timestamp":"2026-01-02T03:04:05Z","data":{"workflow-id":"wf_1","patient-id":"p_1","request-type":"link","outcome":"linked","status":"completed"}}`
	require.Equal(t, []string{"VERIFIED msg_1 link.completed " + compact}, b.out.Lines())

	events := b.sink.Events()
	require.Len(t, events, 1)
	require.Equal(t, "msg_1", events[0].ID)
	require.Equal(t, "link.completed", events[0].Type)
	require.JSONEq(t, compact, string(events[0].Body))
	require.Equal(t, 1, events[0].Attempts)
	require.WithinDuration(t, time.Now(), events[0].ReceivedAt, time.Minute)
	require.Equal(t, webhooksink.Stats{Accepted: 1}, b.sink.Stats())
}

func TestSinkRejects(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name       string
		header     func(t *testing.T, secret string) http.Header
		payload    string
		wantCode   int
		wantPrefix string
	}{
		{
			name: "tampered body",
			header: func(t *testing.T, secret string) http.Header {
				h, err := webhooksig.Headers([]string{secret}, "msg_1", time.Now(), []byte(body))
				require.NoError(t, err)
				return h
			},
			payload:    strings.Replace(body, "link.completed", "delink.completed", 1),
			wantCode:   http.StatusUnauthorized,
			wantPrefix: "REJECTED msg_1 no matching webhook signature",
		},
		{
			name: "wrong secret",
			header: func(t *testing.T, _ string) http.Header {
				h, err := webhooksig.Headers([]string{newSecret(t)}, "msg_1", time.Now(), []byte(body))
				require.NoError(t, err)
				return h
			},
			payload:    body,
			wantCode:   http.StatusUnauthorized,
			wantPrefix: "REJECTED msg_1 no matching webhook signature",
		},
		{
			name: "stale timestamp",
			header: func(t *testing.T, secret string) http.Header {
				h, err := webhooksig.Headers([]string{secret}, "msg_1", time.Now().Add(-time.Hour), []byte(body))
				require.NoError(t, err)
				return h
			},
			payload:    body,
			wantCode:   http.StatusUnauthorized,
			wantPrefix: "REJECTED msg_1 webhook timestamp",
		},
		{
			name:       "no headers",
			header:     func(*testing.T, string) http.Header { return http.Header{} },
			payload:    body,
			wantCode:   http.StatusUnauthorized,
			wantPrefix: "REJECTED - missing",
		},
		{
			name: "hostile id is printed as one token",
			header: func(t *testing.T, secret string) http.Header {
				h, err := webhooksig.Headers([]string{secret}, "msg_1", time.Now(), []byte(body))
				require.NoError(t, err)
				h.Set("webhook-id", "msg 1\tVERIFIED")
				return h
			},
			payload:    body,
			wantCode:   http.StatusUnauthorized,
			wantPrefix: "REJECTED msg?1?VERIFIED no matching",
		},
		{
			name: "signed but not json",
			header: func(t *testing.T, secret string) http.Header {
				h, err := webhooksig.Headers([]string{secret}, "msg_1", time.Now(), []byte("not json"))
				require.NoError(t, err)
				return h
			},
			payload:    "not json",
			wantCode:   http.StatusBadRequest,
			wantPrefix: "REJECTED msg_1 body is not json",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, webhooksink.Config{})
			rec := b.postRaw(tt.header(t, b.secret), tt.payload)
			require.Equal(t, tt.wantCode, rec.Code)
			lines := b.out.Lines()
			require.Len(t, lines, 1)
			require.True(t, strings.HasPrefix(lines[0], tt.wantPrefix), "got %q; want prefix %q", lines[0], tt.wantPrefix)
			require.Empty(t, b.sink.Events())
			require.Equal(t, webhooksink.Stats{Rejected: 1}, b.sink.Stats())
		})
	}
}

func TestSinkFailFirst(t *testing.T) {
	t.Parallel()

	b := setup(t, webhooksink.Config{FailFirst: 3})
	for attempt := 1; attempt <= 3; attempt++ {
		require.Equal(t, http.StatusInternalServerError, b.post(t, []string{b.secret}, "msg_1", body).Code)
	}
	// Fail-first counts per webhook-id.
	require.Equal(t, http.StatusInternalServerError, b.post(t, []string{b.secret}, "msg_2", body).Code)
	require.Equal(t, http.StatusNoContent, b.post(t, []string{b.secret}, "msg_1", body).Code)

	events := b.sink.Events()
	require.Len(t, events, 1)
	require.Equal(t, 4, events[0].Attempts)
	require.Equal(t, webhooksink.Stats{Accepted: 1, Failed: 4}, b.sink.Stats())
	require.Equal(t, "FAILED msg_1 500 attempt 1", b.out.Lines()[0])
}

func TestSinkDuplicates(t *testing.T) {
	t.Parallel()

	b := setup(t, webhooksink.Config{})
	require.Equal(t, http.StatusNoContent, b.post(t, []string{b.secret}, "msg_1", body).Code)
	require.Equal(t, http.StatusNoContent, b.post(t, []string{b.secret}, "msg_1", body).Code)
	require.Equal(t, http.StatusNoContent, b.post(t, []string{b.secret}, "msg_2", body).Code)
	require.Equal(t, http.StatusNoContent, b.post(t, []string{b.secret}, "msg_1", body).Code)

	require.Equal(t, webhooksink.Stats{Accepted: 2, Duplicates: 2}, b.sink.Stats())
	events := b.sink.Events()
	require.Len(t, events, 2)
	require.Equal(t, "msg_1", events[0].ID)
	require.Equal(t, "msg_2", events[1].ID)
	require.Equal(t, "DUPLICATE msg_1", b.out.Lines()[1])
}

func TestSinkObserve(t *testing.T) {
	t.Parallel()

	var seen []string
	b := setup(t, webhooksink.Config{FailFirst: 1, Observe: func(id string, body []byte, _ time.Time) {
		seen = append(seen, id+" "+string(body))
	}})
	require.Equal(t, http.StatusInternalServerError, b.post(t, []string{b.secret}, "msg_1", body).Code)
	require.Equal(t, http.StatusNoContent, b.post(t, []string{b.secret}, "msg_1", body).Code)
	require.Equal(t, http.StatusNoContent, b.post(t, []string{b.secret}, "msg_1", body).Code)
	require.Equal(t, http.StatusUnauthorized, b.post(t, []string{newSecret(t)}, "msg_2", body).Code)
	// Every delivery answered 2xx, a repeat included, with its raw bytes.
	require.Equal(t, []string{"msg_1 " + body, "msg_1 " + body}, seen)
}

func TestSinkStatus(t *testing.T) {
	t.Parallel()

	tests := []struct {
		status       int
		wantAccepted int
		wantFailed   int
	}{
		{status: 200, wantAccepted: 1},
		{status: 410, wantFailed: 2},
		{status: 500, wantFailed: 2},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.status), func(t *testing.T) {
			t.Parallel()
			b := setup(t, webhooksink.Config{Status: tt.status})
			for range 2 {
				require.Equal(t, tt.status, b.post(t, []string{b.secret}, "msg_1", body).Code)
			}
			got := b.sink.Stats()
			require.Equal(t, tt.wantAccepted, got.Accepted)
			require.Equal(t, tt.wantFailed, got.Failed)
		})
	}
}

func TestSinkSetDown(t *testing.T) {
	t.Parallel()

	b := setup(t, webhooksink.Config{})
	b.sink.SetDown(true)
	rec := b.post(t, []string{b.secret}, "msg_1", body)
	require.Equal(t, http.StatusServiceUnavailable, rec.Code)
	require.Equal(t, "1", rec.Header().Get("Retry-After"))

	b.sink.SetDown(false)
	require.Equal(t, http.StatusNoContent, b.post(t, []string{b.secret}, "msg_1", body).Code)
	require.Equal(t, webhooksink.Stats{Accepted: 1, Failed: 1}, b.sink.Stats())
	require.Equal(t, 1, b.sink.Events()[0].Attempts, "an outage answer is not a verified attempt")
}

func TestSinkRotation(t *testing.T) {
	t.Parallel()

	old, next := newSecret(t), newSecret(t)
	b := setup(t, webhooksink.Config{Secrets: []string{old, next}})
	require.Equal(t, http.StatusNoContent, b.post(t, []string{old}, "msg_1", body).Code)
	require.Equal(t, http.StatusNoContent, b.post(t, []string{next}, "msg_2", body).Code)
	require.Equal(t, http.StatusNoContent, b.post(t, []string{old, next}, "msg_3", body).Code)
	require.Equal(t, webhooksink.Stats{Accepted: 3}, b.sink.Stats())
}

func TestSinkConcurrent(t *testing.T) {
	t.Parallel()

	b := setup(t, webhooksink.Config{FailFirst: 1})
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Go(func() { b.post(t, []string{b.secret}, fmt.Sprintf("msg_%d", i%8), body) })
	}
	wg.Wait()

	got := b.sink.Stats()
	require.Equal(t, webhooksink.Stats{Accepted: 8, Failed: 8, Duplicates: 48}, got)
	require.Len(t, b.sink.Events(), 8)
	require.Len(t, b.out.Lines(), 64, "every request prints one whole line")
}

// TestSinkWithSender retries a real delivery over loopback until the sink
// accepts it, as the delivery job would.
func TestSinkWithSender(t *testing.T) {
	t.Parallel()

	b := setup(t, webhooksink.Config{FailFirst: 3})
	srv := httptest.NewServer(b.sink.Handler())
	t.Cleanup(srv.Close)
	sender := webhook.NewSender(webhook.Options{AllowInsecure: true})
	d := webhook.Delivery{URL: srv.URL + "/hooks", MsgID: "msg_1", Body: []byte(body), Secrets: []string{b.secret}}

	schedule := make([]time.Duration, 5) // all zero: no sleeping in tests
	var res webhook.Result
	attempt := 1
	for ; ; attempt++ {
		_, ok := webhook.Backoff(schedule, attempt, res.RetryAfter, nil)
		require.True(t, ok, "schedule exhausted")
		res = sender.Send(context.Background(), d)
		if !res.Retryable() {
			break
		}
	}
	require.True(t, res.Delivered())
	require.Equal(t, 4, attempt)
	require.Equal(t, 4, b.sink.Events()[0].Attempts)
}
