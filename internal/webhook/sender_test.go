package webhook_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/patientlink/patientlink/internal/webhook"
	"github.com/patientlink/patientlink/internal/webhooksig"
)

func newSecrets(t *testing.T, n int) []string {
	t.Helper()
	out := make([]string, n)
	for i := range out {
		s, err := webhooksig.NewSecret()
		require.NoError(t, err)
		out[i] = s
	}
	return out
}

func serve(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func delivery(t *testing.T, url string) webhook.Delivery {
	return webhook.Delivery{URL: url, MsgID: "msg_1", Body: []byte(`{"type":"link.completed"}`), Secrets: newSecrets(t, 1)}
}

func TestSendAnswers(t *testing.T) {
	t.Parallel()

	var redirectHits atomic.Int64
	redirectTarget := serve(t, func(w http.ResponseWriter, r *http.Request) { redirectHits.Add(1) })

	tests := []struct {
		name           string
		handler        http.HandlerFunc
		wantStatus     int
		wantDelivered  bool
		wantGone       bool
		wantRetryable  bool
		wantRetryAfter time.Duration
	}{
		{
			name:          "200",
			handler:       func(w http.ResponseWriter, r *http.Request) {},
			wantStatus:    200,
			wantDelivered: true,
		},
		{
			name:          "204",
			handler:       func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) },
			wantStatus:    204,
			wantDelivered: true,
		},
		{
			name: "large answer is read only in part",
			handler: func(w http.ResponseWriter, r *http.Request) {
				_, _ = w.Write([]byte(strings.Repeat("x", 1<<20)))
			},
			wantStatus:    200,
			wantDelivered: true,
		},
		{
			name: "302 is not followed",
			handler: func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, redirectTarget.URL, http.StatusFound)
			},
			wantStatus:    302,
			wantRetryable: true,
		},
		{
			name: "307 is not followed",
			handler: func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, redirectTarget.URL, http.StatusTemporaryRedirect)
			},
			wantStatus:    307,
			wantRetryable: true,
		},
		{
			name:       "410 gone",
			handler:    func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(410) },
			wantStatus: 410,
			wantGone:   true,
		},
		{
			name:          "400 retried",
			handler:       func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(400) },
			wantStatus:    400,
			wantRetryable: true,
		},
		{
			name:          "500 retried",
			handler:       func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) },
			wantStatus:    500,
			wantRetryable: true,
		},
		{
			name: "429 retry-after seconds",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", "120")
				w.WriteHeader(429)
			},
			wantStatus:     429,
			wantRetryable:  true,
			wantRetryAfter: 2 * time.Minute,
		},
		{
			name: "503 retry-after seconds",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", "3")
				w.WriteHeader(503)
			},
			wantStatus:     503,
			wantRetryable:  true,
			wantRetryAfter: 3 * time.Second,
		},
		{
			name: "500 retry-after ignored",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", "3")
				w.WriteHeader(500)
			},
			wantStatus:    500,
			wantRetryable: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := serve(t, tt.handler)
			s := webhook.NewSender(webhook.Options{AllowInsecure: true})
			res := s.Send(context.Background(), delivery(t, srv.URL+"/hook"))
			require.NoError(t, res.Err)
			require.Equal(t, tt.wantStatus, res.StatusCode)
			require.Equal(t, tt.wantDelivered, res.Delivered())
			require.Equal(t, tt.wantGone, res.Gone())
			require.Equal(t, tt.wantRetryable, res.Retryable())
			require.Equal(t, tt.wantRetryAfter, res.RetryAfter)
			require.Positive(t, res.Latency)
		})
	}
	require.Zero(t, redirectHits.Load())
}

func TestSendRetryAfterHTTPDate(t *testing.T) {
	t.Parallel()

	for _, code := range []int{429, 503} {
		srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", time.Now().Add(2*time.Minute).UTC().Format(http.TimeFormat))
			w.WriteHeader(code)
		})
		res := webhook.NewSender(webhook.Options{AllowInsecure: true}).Send(context.Background(), delivery(t, srv.URL))
		require.Equal(t, code, res.StatusCode)
		require.True(t, res.Retryable())
		// HTTP-dates have whole seconds.
		require.InDelta(t, 2*time.Minute, res.RetryAfter, float64(2*time.Second))
	}
}

func TestSendTimeout(t *testing.T) {
	t.Parallel()

	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		// The server notices the client hanging up only once the body is read.
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	s := webhook.NewSender(webhook.Options{AllowInsecure: true, Timeout: 100 * time.Millisecond})

	start := time.Now()
	res := s.Send(context.Background(), delivery(t, srv.URL))
	require.ErrorIs(t, res.Err, context.DeadlineExceeded)
	require.Less(t, time.Since(start), time.Second)
	require.Zero(t, res.StatusCode)
	require.True(t, res.Retryable())
	require.NotContains(t, res.Err.Error(), srv.URL, "errors must not repeat the url")
}

func TestSendSignsRequest(t *testing.T) {
	t.Parallel()

	var (
		mu     sync.Mutex
		header http.Header
		body   []byte
		method string
	)
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		header, body, method = r.Header.Clone(), b, r.Method
		w.WriteHeader(204)
	})

	secrets := newSecrets(t, 2)
	d := webhook.Delivery{URL: srv.URL + "/hook", MsgID: "msg_42", Body: []byte(`{"type":"delink.completed"}`), Secrets: secrets}
	s := webhook.NewSender(webhook.Options{AllowInsecure: true, UserAgent: "patientlink-test"})
	res := s.Send(context.Background(), d)
	require.True(t, res.Delivered())

	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, http.MethodPost, method)
	require.Equal(t, d.Body, body)
	require.Equal(t, "application/json", header.Get("Content-Type"))
	require.Equal(t, "patientlink-test", header.Get("User-Agent"))
	require.Equal(t, "msg_42", header.Get("webhook-id"))
	require.Len(t, strings.Fields(header.Get("webhook-signature")), 2)
	for _, secret := range secrets {
		require.NoError(t, webhooksig.Verify(secret, header, body, time.Now()))
	}
}

func TestSendRefusesInvalidDeliveries(t *testing.T) {
	t.Parallel()

	var hits atomic.Int64
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) { hits.Add(1) })
	secure := webhook.NewSender(webhook.Options{})
	insecure := webhook.NewSender(webhook.Options{AllowInsecure: true})

	tests := []struct {
		name    string
		sender  *webhook.Sender
		d       webhook.Delivery
		wantErr error
	}{
		{
			name:    "http without allow-insecure",
			sender:  secure,
			d:       webhook.Delivery{URL: srv.URL, MsgID: "msg_1", Secrets: newSecrets(t, 1)},
			wantErr: webhook.ErrInvalidURL,
		},
		{
			name:    "user-info",
			sender:  insecure,
			d:       webhook.Delivery{URL: strings.Replace(srv.URL, "://", "://u:p@", 1), MsgID: "msg_1", Secrets: newSecrets(t, 1)},
			wantErr: webhook.ErrInvalidURL,
		},
		{
			name:    "no secrets",
			sender:  insecure,
			d:       webhook.Delivery{URL: srv.URL, MsgID: "msg_1"},
			wantErr: webhook.ErrInvalidDelivery,
		},
		{
			name:    "bad secret",
			sender:  insecure,
			d:       webhook.Delivery{URL: srv.URL, MsgID: "msg_1", Secrets: []string{"whsec_nope"}},
			wantErr: webhook.ErrInvalidDelivery,
		},
		{
			name:    "no message id",
			sender:  insecure,
			d:       webhook.Delivery{URL: srv.URL, Secrets: newSecrets(t, 1)},
			wantErr: webhook.ErrInvalidDelivery,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := tt.sender.Send(context.Background(), tt.d)
			require.ErrorIs(t, res.Err, tt.wantErr)
			require.False(t, res.Retryable())
			require.False(t, res.Delivered())
		})
	}
	t.Cleanup(func() { require.Zero(t, hits.Load()) })
}

// What a failed attempt says (stored, shown to customers and auditors) is
// a category: no address of ours or theirs, no resolver, no URL.
func TestSendErrorsAreCategories(t *testing.T) {
	t.Parallel()
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()
	tests := []struct {
		name, url string
		opts      webhook.Options
		want      string
	}{
		{"private address", "https://10.1.2.3/hook", webhook.Options{}, webhook.CategoryRefusedAddress},
		{"metadata through 6to4", "https://[2002:a9fe:a9fe::1]/hook", webhook.Options{}, webhook.CategoryRefusedAddress},
		{"unresolvable", "http://no-such-host.patientlink.invalid/hook", webhook.Options{AllowInsecure: true}, webhook.CategoryDNS},
		{"nobody listening", closedURL + "/hook", webhook.Options{AllowInsecure: true}, webhook.CategoryRefused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := webhook.NewSender(tt.opts).Send(context.Background(), delivery(t, tt.url))
			require.Error(t, res.Err)
			require.Equal(t, tt.want, res.Err.Error())
			for _, leak := range []string{"10.1.2.3", "2002", "127.0.0.1", "lookup", "dial", ":53"} {
				require.NotContains(t, res.Err.Error(), leak)
			}
		})
	}
}
