package httpapi_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/patientlink/patientlink/internal/config"
	"github.com/patientlink/patientlink/internal/httpapi"
	"github.com/patientlink/patientlink/internal/index"
)

// The index's callbacks and the admin endpoints are not on the customer
// listener.
func TestOperatorRoutesOffCustomerListener(t *testing.T) {
	t.Parallel()
	b := setup(t, func(d *httpapi.Deps) { d.Config.AdminToken = strings.Repeat("A", 44) })
	for _, path := range []string{"/internal/search-results/srch_1", "/admin/workflows/" + uuid.NewString() + "/redeliver"} {
		res := b.do(t, http.MethodPost, path, map[string]string{"Authorization": "Bearer " + strings.Repeat("A", 44)}, "{}")
		require.Equal(t, http.StatusNotFound, res.status, path)
	}
}

// countingBody counts what a handler reads of a request body.
type countingBody struct {
	n atomic.Int64
	r io.Reader
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func (c *countingBody) Close() error { return nil }

// A callback's signature header is checked before its body is read, the
// body is capped small, and a signature made for one search id does not
// apply to another.
func TestCallbackCheckedBeforeBody(t *testing.T) {
	t.Parallel()
	secret := []byte(strings.Repeat("c", 44))
	srv := httpapi.NewOperatorServer(httpapi.Deps{Logger: slog.New(slog.DiscardHandler), Config: callbackConfig(secret)})
	post := func(path, sig string, body io.Reader) (int, *countingBody) {
		cb := &countingBody{r: body}
		req := httptest.NewRequest(http.MethodPost, path, cb)
		req.Header.Set("Content-Type", "application/json")
		if sig != "" {
			req.Header.Set(index.SignatureHeader, sig)
		}
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		return rec.Code, cb
	}
	huge := strings.Repeat("x", 1<<20)

	code, body := post("/internal/search-results/srch_1", "", strings.NewReader(huge))
	require.Equal(t, http.StatusUnauthorized, code)
	require.Zero(t, body.n.Load(), "an unsigned callback's body was read")
	code, body = post("/internal/search-results/srch_1", index.SignCallback(secret, index.CallbackPath("srch_1"), nil, time.Now().Add(-time.Hour)), strings.NewReader(huge))
	require.Equal(t, http.StatusUnauthorized, code, "stale")
	require.Zero(t, body.n.Load())

	code, body = post("/internal/search-results/srch_1", index.SignCallback(secret, index.CallbackPath("srch_1"), []byte(huge), time.Now()), strings.NewReader(huge))
	require.Equal(t, http.StatusRequestEntityTooLarge, code)
	require.LessOrEqual(t, body.n.Load(), int64(index.MaxCallbackBytes+4096))

	cbBody := `{"search-id":"srch_1","results":[]}`
	sig := index.SignCallback(secret, index.CallbackPath("srch_1"), []byte(cbBody), time.Now())
	code, _ = post("/internal/search-results/srch_2", sig, strings.NewReader(strings.Replace(cbBody, "srch_1", "srch_2", 1)))
	require.Equal(t, http.StatusUnauthorized, code, "signed for another search")
}

// Must show (issue 15, in-process): a revoked token and a valid token whose
// id was never recorded are 401 on the next request, on every route.
func TestRevokedTokenRefused(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	statusOf := func(token string) int {
		return b.do(t, http.MethodGet, "/patient/"+uuid.NewString(), map[string]string{"Customer-Token": token}, "").status
	}
	require.Equal(t, http.StatusNotFound, statusOf(b.token))

	unrecorded, err := b.tokens.Issue(b.cust.ID, time.Hour)
	require.NoError(t, err)
	require.Equal(t, http.StatusUnauthorized, statusOf(unrecorded.Token))

	claims, err := b.tokens.Verify(b.token)
	require.NoError(t, err)
	_, err = b.store.TokenRevoke(ctx, b.cust.ID, claims.TokenID)
	require.NoError(t, err)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.Equal(c, http.StatusUnauthorized, statusOf(b.token))
		assert.Equal(c, http.StatusUnauthorized, b.do(t, http.MethodGet, "/link/status/"+uuid.NewString(), map[string]string{"Customer-Token": b.token}, "").status)
	}, 10*time.Second, 50*time.Millisecond)
}

func callbackConfig(secret []byte) config.HTTP {
	c := config.Defaults().HTTP
	c.CallbackSecret = secret
	return c
}
