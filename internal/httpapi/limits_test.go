package httpapi_test

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/patientlink/patientlink/internal/httpapi"
	"github.com/patientlink/patientlink/internal/metrics"
)

// Must show (issue 7): a customer over its rate gets 429 with Retry-After;
// another customer is not affected.
func TestRateLimit(t *testing.T) {
	t.Parallel()
	b := setup(t, func(d *httpapi.Deps) { d.Config.RateLimit, d.Config.RateBurst = 0.02, 3 }) // a token per 50 s: a slow machine cannot refill one mid-test
	var codes []int
	var limited response
	for i := range 5 {
		res := b.postLink(t, "k-"+strconv.Itoa(i), patientBody(uuid.New(), "Rate Limited"))
		codes = append(codes, res.status)
		if res.status == http.StatusTooManyRequests {
			limited = res
		}
	}
	require.Equal(t, []int{202, 202, 202, 429, 429}, codes)
	require.Equal(t, "application/problem+json", limited.header.Get("Content-Type"))
	retry, err := strconv.Atoi(limited.header.Get("Retry-After"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, retry, 1)
	require.LessOrEqual(t, retry, 50)
	require.Contains(t, string(limited.body), "/problems/rate-limited")
	require.Equal(t, 3, count(t, b.pool, "SELECT count(*) FROM workflows"), "a limited request stores nothing")

	_, other := b.newCustomer(t)
	res := b.do(t, http.MethodPost, "/link", map[string]string{"Customer-Token": other, "Idempotency-Key": "k", "Content-Type": "application/json"}, patientBody(uuid.New(), "Other"))
	require.Equal(t, http.StatusAccepted, res.status, "limits are per customer")
}

// One bucket per customer serves every customer route: the burst spent
// across POST /link and GET /link/status together, not once per route.
func TestRateLimitSharedAcrossRoutes(t *testing.T) {
	t.Parallel()
	const burst = 4
	b := setup(t, func(d *httpapi.Deps) { d.Config.RateLimit, d.Config.RateBurst = 0.01, burst })
	accepted := b.postLink(t, "shared-0", patientBody(uuid.New(), "Shared Bucket"))
	require.Equal(t, http.StatusAccepted, accepted.status)
	status := "/link/status/" + accepted.json(t)["workflow-id"].(string)
	var codes []int
	for i := range burst + 2 {
		if i%2 == 0 {
			codes = append(codes, b.do(t, http.MethodGet, status, map[string]string{"Customer-Token": b.token}, "").status)
		} else {
			codes = append(codes, b.postLink(t, "shared-"+strconv.Itoa(i), patientBody(uuid.New(), "Shared Bucket")).status)
		}
	}
	// One token went to the first POST; burst-1 remain for the mix.
	require.Equal(t, []int{200, 202, 200, 429, 429, 429}, codes)
}

// The status is cheap to poll: an ETag, 304 for If-None-Match, and
// Retry-After while pending.
func TestLinkStatusConditional(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.postLink(t, "k", patientBody(uuid.New(), "Polled Often")).json(t)["workflow-id"].(string)
	auth := map[string]string{"Customer-Token": b.token}

	first := b.do(t, http.MethodGet, "/link/status/"+id, auth, "")
	require.Equal(t, http.StatusOK, first.status)
	etag := first.header.Get("ETag")
	require.NotEmpty(t, etag)
	require.Equal(t, "2", first.header.Get("Retry-After"), "pending: come back later")

	same := b.do(t, http.MethodGet, "/link/status/"+id, map[string]string{"Customer-Token": b.token, "If-None-Match": etag}, "")
	require.Equal(t, http.StatusNotModified, same.status)
	require.Empty(t, same.body)
	require.Equal(t, etag, same.header.Get("ETag"))

	_, err := b.pool.Exec(t.Context(), "UPDATE workflows SET status = 'FAILED', reason = 'x', ended_at = now() WHERE id = $1", id)
	require.NoError(t, err)
	changed := b.do(t, http.MethodGet, "/link/status/"+id, map[string]string{"Customer-Token": b.token, "If-None-Match": etag}, "")
	require.Equal(t, http.StatusOK, changed.status, "a changed workflow is sent again")
	require.NotEqual(t, etag, changed.header.Get("ETag"))
	require.Empty(t, changed.header.Get("Retry-After"), "an ended workflow needs no more polling")
}

// Metrics are labelled by route template, never by raw path.
func TestMetricsByRoute(t *testing.T) {
	t.Parallel()
	b := setup(t, func(d *httpapi.Deps) { d.Metrics, d.Config.OperatorAddr = metrics.New(), "" })
	b.postLink(t, "k", patientBody(uuid.New(), "Counted"))
	b.do(t, http.MethodGet, "/link/status/"+uuid.NewString(), map[string]string{"Customer-Token": b.token}, "")
	res := b.do(t, http.MethodGet, "/metrics", nil, "")
	require.Equal(t, http.StatusOK, res.status)
	body := string(res.body)
	require.Contains(t, body, `patientlink_http_requests_total{code="202",route="POST /link"} 1`)
	require.Contains(t, body, `patientlink_http_requests_total{code="404",route="GET /link/status/{workflowID}"} 1`)
	require.Contains(t, body, `patientlink_http_request_duration_seconds_bucket{route="POST /link"`)
}
