package index

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

// counting is a server that counts the requests it receives.
func counting(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		if h != nil {
			h(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// Must show (issue 15): an index that redirects gets the demographics, the
// place it redirects to receives nothing, and the search fails.
func TestIndexRedirectFollowedNowhere(t *testing.T) {
	t.Parallel()
	elsewhere, hits := counting(t, answer(http.StatusOK, `{"results":[]}`))
	idx, idxHits := counting(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL+"/search", http.StatusTemporaryRedirect)
	})
	c := New(idx.URL, Options{AllowInsecure: true})
	_, err := c.Search(context.Background(), testQuery)
	require.Error(t, err)
	require.EqualValues(t, 1, idxHits.Load())
	require.Zero(t, hits.Load(), "the redirect target received the search")
}

// Plain http is refused unless allowed; the optional bearer credential is
// sent.
func TestIndexHTTPSAndToken(t *testing.T) {
	t.Parallel()
	var auth atomic.Value
	idx, hits := counting(t, func(w http.ResponseWriter, r *http.Request) {
		auth.Store(r.Header.Get("Authorization"))
		answer(http.StatusOK, `{"results":[]}`)(w, r)
	})
	_, err := New(idx.URL, Options{}).Search(context.Background(), testQuery)
	require.ErrorIs(t, err, ErrInsecure)
	require.Zero(t, hits.Load())

	_, err = New(idx.URL, Options{AllowInsecure: true, Token: "index-credential"}).Search(context.Background(), testQuery)
	require.NoError(t, err)
	require.Equal(t, "Bearer index-credential", auth.Load())
}

// Must show (issue 15): with HTTP_PROXY and HTTPS_PROXY set, the proxy
// receives nothing. The environment's proxy is read once per process, so
// the search runs in a child process of this test binary.
func TestIndexIgnoresEnvironmentProxy(t *testing.T) {
	t.Parallel()
	proxy, hits := counting(t, answer(http.StatusOK, `{"results":[]}`))
	cmd := exec.Command(os.Args[0], "-test.run=^TestIndexProxyChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), "INDEX_PROXY_CHILD=1", "HTTP_PROXY="+proxy.URL, "HTTPS_PROXY="+proxy.URL,
		"http_proxy="+proxy.URL, "https_proxy="+proxy.URL, "NO_PROXY=", "no_proxy=")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Zero(t, hits.Load(), "the proxy from the environment received the search")
}

// TestIndexProxyChild is TestIndexIgnoresEnvironmentProxy's child: a
// search of a host that is not loopback (loopback never goes through a
// proxy), which fails to resolve when no proxy is used.
func TestIndexProxyChild(t *testing.T) {
	if os.Getenv("INDEX_PROXY_CHILD") != "1" {
		t.Skip("run by TestIndexIgnoresEnvironmentProxy")
	}
	c := New("http://index.patientlink.invalid", Options{AllowInsecure: true})
	_, err := c.Search(context.Background(), testQuery)
	var e *Error
	require.ErrorAs(t, err, &e, "the search must fail")
}
