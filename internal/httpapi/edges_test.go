package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/patientlink/patientlink/internal/index"
	"github.com/patientlink/patientlink/internal/link"
)

// nobody is an index that knows nobody, at once: workflows end
// NO_RESULTS as fast as a worker can take them.
type nobody struct{}

func (nobody) Search(context.Context, index.Query) (index.Response, error) {
	return index.Response{}, nil
}

// Must show: 50 POST /link for one new patient with different keys, raced
// while workers end each workflow at once, 20 times: every answer is 202
// (a new workflow) or 409 naming a workflow, never 404 or 500.
func TestLinkRaceDifferentKeys(t *testing.T) {
	t.Parallel()
	b := setupWith(t, nobody{})
	c, err := b.store.CustomerCreate(context.Background(), link.Customer{ID: uuid.New(), Name: "Feed only"})
	require.NoError(t, err)
	token := b.issue(t, c.ID, time.Hour)

	for round := range 20 {
		patient := uuid.New()
		statuses := make([]int, 50)
		var wg sync.WaitGroup
		for i := range statuses {
			wg.Go(func() {
				res := b.do(t, http.MethodPost, "/link", map[string]string{
					"Customer-Token": token, "Idempotency-Key": uuid.NewString(), "Content-Type": "application/json",
				}, patientBody(patient, "Racing Person"))
				statuses[i] = res.status
				switch res.status {
				case http.StatusAccepted:
				case http.StatusConflict:
					_, err := uuid.Parse(res.json(t)["workflow-id"].(string))
					require.NoError(t, err, "a 409 names a workflow")
				default:
					t.Errorf("round %d: %d %s", round, res.status, res.body)
				}
			})
		}
		wg.Wait()
		require.Contains(t, statuses, http.StatusAccepted, "round %d", round)
	}
}

// Must show: HEAD, OPTIONS and TRACE as RFC 9110 has them, Allow on every
// 405, no CORS, WWW-Authenticate on every 401.
func TestMethods(t *testing.T) {
	t.Parallel()
	b := setup(t)
	auth := map[string]string{"Customer-Token": b.token, "Origin": "https://elsewhere.example"}
	tests := []struct {
		method, path string
		status       int
		allow        string // "" means no Allow header
	}{
		{http.MethodHead, "/healthz", http.StatusOK, ""},
		{http.MethodHead, "/events", http.StatusOK, ""},
		{http.MethodHead, "/patient/" + uuid.NewString(), http.StatusNotFound, ""},
		{http.MethodHead, "/link", http.StatusMethodNotAllowed, "POST, OPTIONS"},
		{http.MethodOptions, "/link", http.StatusNoContent, "POST, OPTIONS"},
		{http.MethodOptions, "/events", http.StatusNoContent, "GET, HEAD, OPTIONS"},
		{http.MethodOptions, "/link/" + uuid.NewString(), http.StatusNoContent, "DELETE, OPTIONS"},
		{http.MethodOptions, "/nowhere", http.StatusNotFound, ""},
		{http.MethodTrace, "/link", http.StatusMethodNotAllowed, "POST, OPTIONS"},
		{http.MethodTrace, "/healthz", http.StatusMethodNotAllowed, "GET, HEAD, OPTIONS"},
		{http.MethodDelete, "/events", http.StatusMethodNotAllowed, "GET, HEAD, OPTIONS"},
		{http.MethodPut, "/mappings", http.StatusMethodNotAllowed, "GET, HEAD, OPTIONS"},
	}
	for _, tt := range tests {
		res := b.do(t, tt.method, tt.path, auth, "")
		name := tt.method + " " + tt.path
		require.Equal(t, tt.status, res.status, "%s: %s", name, res.body)
		require.Equal(t, tt.allow, res.header.Get("Allow"), name)
		require.Empty(t, res.header.Get("Access-Control-Allow-Origin"), "%s: CORS is off", name)
		require.NotEmpty(t, res.header.Get("X-Request-Id"), name)
		if tt.method == http.MethodHead || tt.status == http.StatusNoContent {
			require.Empty(t, res.body, name)
		} else {
			require.Equal(t, "application/problem+json", res.header.Get("Content-Type"), name)
		}
	}
	// HEAD answers what GET answers, without the body.
	get := b.do(t, http.MethodGet, "/events", auth, "")
	head := b.do(t, http.MethodHead, "/events", auth, "")
	require.Equal(t, get.header.Get("Content-Type"), head.header.Get("Content-Type"))

	for _, path := range []string{"/events", "/mappings", "/link/status/" + uuid.NewString()} {
		res := b.do(t, http.MethodGet, path, nil, "")
		require.Equal(t, http.StatusUnauthorized, res.status, path)
		require.Equal(t, `Bearer realm="patientlink"`, res.header.Get("WWW-Authenticate"), path)
	}
}

// Unclean paths are 404s, never redirects; problem instances are URI
// references; odd search ids are 404s; big header blocks are problems.
func TestPathsAndHeaders(t *testing.T) {
	t.Parallel()
	b := setup(t)
	h := map[string]string{"Customer-Token": b.token, "Idempotency-Key": "k", "Content-Type": "application/json"}
	for _, path := range []string{"//link", "/./link", "/link/", "/x/../link"} {
		res := b.do(t, http.MethodPost, path, h, patientBody(uuid.New(), "Clean Path"))
		require.Equal(t, http.StatusNotFound, res.status, path)
		require.Empty(t, res.header.Get("Location"), path)
		require.Equal(t, "application/problem+json", res.header.Get("Content-Type"), path)
	}

	res := b.do(t, http.MethodGet, "/patient/a%20b%22%00%FF", h, "")
	require.Equal(t, http.StatusNotFound, res.status)
	require.Equal(t, "/patient/a%20b%22%00%FF", res.json(t)["instance"])

	for _, id := range []string{"a%00b", "%FF%FE", strings.Repeat("s", 201)} {
		res := b.do(t, http.MethodPost, "/internal/search-results/"+id, nil, `{"results":[]}`)
		require.Equal(t, http.StatusNotFound, res.status, "%s: %s", id, res.body)
	}

	big := map[string]string{"Customer-Token": b.token, "X-Padding": strings.Repeat("p", 17_000)}
	res = b.do(t, http.MethodGet, "/events", big, "")
	require.Equal(t, http.StatusRequestHeaderFieldsTooLarge, res.status)
	require.Equal(t, "application/problem+json", res.header.Get("Content-Type"))
	require.NotEmpty(t, res.header.Get("X-Request-Id"))
}

// Must show: duplicate keys, invalid UTF-8 and lone surrogates are 400s;
// another charset is a 415; nothing is stored.
func TestJSONStrict(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := uuid.NewString()
	tests := []struct {
		name, contentType, body string
		status                  int
	}{
		{"duplicate dob", "application/json", `{"patient":{"id":"` + id + `","full_name":"Ada","dob":"3000-01-01","dob":"1970-01-01"}}`, http.StatusBadRequest},
		{"duplicate top-level key", "application/json", `{"patient":{"id":"` + id + `","full_name":"Ada","dob":"1970-01-01"},"patient":{}}`, http.StatusBadRequest},
		{"duplicate in insurance", "application/json", `{"patient":{"id":"` + id + `","full_name":"Ada","dob":"1970-01-01","insurance":{"a":1,"a":2}}}`, http.StatusBadRequest},
		{"invalid UTF-8", "application/json", `{"patient":{"id":"` + id + `","full_name":"Ad` + "\xff" + `a","dob":"1970-01-01"}}`, http.StatusBadRequest},
		{"lone surrogate", "application/json", `{"patient":{"id":"` + id + `","full_name":"Ad\ud800a","dob":"1970-01-01"}}`, http.StatusBadRequest},
		{"latin-1", "application/json; charset=iso-8859-1", `{"patient":{"id":"` + id + `","full_name":"Ada","dob":"1970-01-01"}}`, http.StatusUnsupportedMediaType},
	}
	for i, tt := range tests {
		res := b.do(t, http.MethodPost, "/link", map[string]string{
			"Customer-Token": b.token, "Idempotency-Key": "strict-" + string(rune('a'+i)), "Content-Type": tt.contentType,
		}, tt.body)
		require.Equal(t, tt.status, res.status, "%s: %s", tt.name, res.body)
		require.Equal(t, "application/problem+json", res.header.Get("Content-Type"), tt.name)
	}
	require.Zero(t, count(t, b.pool, "SELECT count(*) FROM workflows"))

	// A valid surrogate pair and charset=UTF-8 are fine.
	res := b.do(t, http.MethodPost, "/link", map[string]string{
		"Customer-Token": b.token, "Idempotency-Key": "strict-ok", "Content-Type": "application/json; charset=UTF-8",
	}, `{"patient":{"id":"`+id+`","full_name":"Ad\ud83d\ude00a","dob":"1970-01-01"}}`)
	require.Equal(t, http.StatusAccepted, res.status, string(res.body))
}

// Idempotency-Key: blank or repeated is invalid; HTTP trims the spaces
// around it, as the spec says.
func TestIdempotencyKeyEdges(t *testing.T) {
	t.Parallel()
	b := setup(t)
	body := patientBody(uuid.New(), "Key Person")
	send := func(keys ...string) response {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, b.url+"/link", strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Customer-Token", b.token)
		req.Header.Set("Content-Type", "application/json")
		for _, k := range keys {
			req.Header.Add("Idempotency-Key", k)
		}
		return b.send(t, req)
	}
	for _, keys := range [][]string{{"   "}, {"a", "b"}, {"k", "k"}} {
		res := send(keys...)
		require.Equal(t, http.StatusBadRequest, res.status, "%q", keys)
		require.Equal(t, "https://patientlink.dev/problems/idempotency-key-invalid", res.json(t)["type"], "%q", keys)
	}
	first := send("k")
	require.Equal(t, http.StatusAccepted, first.status, string(first.body))
	again := send(" k ")
	require.Equal(t, "true", again.header.Get("Idempotent-Replayed"), `" k " is "k"`)
	require.Equal(t, first.body, again.body)
}

// 422 lists every bad field at once, the webhook's origin included; the
// kebab-case field name is accepted, and so is the old one; the patient id
// comes back lowercase everywhere.
func TestLinkFieldsAndCasing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	h := func(key string) map[string]string {
		return map[string]string{"Customer-Token": b.token, "Idempotency-Key": key, "Content-Type": "application/json"}
	}
	res := b.do(t, http.MethodPost, "/link", h("k-422"),
		`{"patient":{"id":"nope","full-name":"","dob":"3000-01-01"},"webhook":"https://elsewhere.example/hook"}`)
	require.Equal(t, http.StatusUnprocessableEntity, res.status, string(res.body))
	var pointers []string
	for _, e := range res.json(t)["errors"].([]any) {
		pointers = append(pointers, e.(map[string]any)["pointer"].(string))
	}
	require.Equal(t, []string{"/patient/dob", "/patient/full-name", "/patient/id", "/webhook"}, pointers)

	both := b.do(t, http.MethodPost, "/link", h("k-both"),
		`{"patient":{"id":"`+uuid.NewString()+`","full-name":"A","full_name":"A","dob":"1970-01-01"}}`)
	require.Equal(t, http.StatusUnprocessableEntity, both.status, string(both.body))

	upper := strings.ToUpper(uuid.NewString())
	res = b.do(t, http.MethodPost, "/link", h("k-kebab"), `{"patient":{"id":"`+upper+`","full-name":"Kebab Case","dob":"1970-01-01"}}`)
	require.Equal(t, http.StatusAccepted, res.status, string(res.body))
	status := b.do(t, http.MethodGet, "/link/status/"+res.json(t)["workflow-id"].(string), h(""), "").json(t)
	require.Equal(t, strings.ToLower(upper), status["patient-id"])
	require.Contains(t, status, "created-at")
	require.NotContains(t, status, "created_at")
}
