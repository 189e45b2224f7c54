package httpapi_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/patientlink/patientlink/internal/httpapi"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// The access log ties a request id to its workflow, and no line carries
// patient data, whatever the request (valid, invalid, replayed).
func TestLogsCorrelateWithoutPHI(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	b := setup(t, func(d *httpapi.Deps) {
		d.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	body := `{"patient":{"id":"` + uuid.NewString() + `","full_name":"Philomena Quixotic","dob":"1977-03-04","contact":{"email":"philomena@example.org","phone":"+1 555 0199","address":"12 Secret Lane"}}}`
	res := b.do(t, http.MethodPost, "/link", map[string]string{"Customer-Token": b.token, "Idempotency-Key": "k", "Content-Type": "application/json", "X-Request-Id": "req-abc-123"}, body)
	require.Equal(t, http.StatusAccepted, res.status)
	require.Equal(t, "req-abc-123", res.header.Get("X-Request-Id"))
	id := res.json(t)["workflow-id"].(string)
	b.do(t, http.MethodPost, "/link", map[string]string{"Customer-Token": b.token, "Idempotency-Key": "k", "Content-Type": "application/json"}, body)
	b.do(t, http.MethodPost, "/link", map[string]string{"Customer-Token": b.token, "Idempotency-Key": "k2", "Content-Type": "application/json"},
		strings.Replace(body, `"1977-03-04"`, `"3000-01-01"`, 1))

	// Paths carry customers' patient ids and whatever a client puts there,
	// refused or not: the log names the route template.
	patient := uuid.NewString()
	b.do(t, http.MethodGet, "/patient/"+patient, map[string]string{"Customer-Token": b.token}, "")
	b.do(t, http.MethodGet, "/patient/"+patient+"-unauthorized", nil, "")
	b.do(t, http.MethodGet, "/no-such-route/Philomena", nil, "")

	out := logs.String()
	require.Contains(t, out, `"route":"/patient/{patientID}"`)
	require.Contains(t, out, `"route":"unmatched"`)
	require.NotContains(t, out, patient)
	require.NotContains(t, out, `"path"`)
	require.Contains(t, out, `"request_id":"req-abc-123"`)
	require.Contains(t, out, `"workflow_id":"`+id+`"`)
	require.Contains(t, out, `"replayed":true`)
	for _, phi := range []string{"Philomena", "Quixotic", "1977-03-04", "philomena@example.org", "555 0199", "Secret Lane", "3000-01-01"} {
		require.NotContains(t, out, phi)
	}
}
