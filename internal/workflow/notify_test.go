package workflow_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/patientlink/patientlink/internal/link"
	"github.com/patientlink/patientlink/internal/webhooksig"
)

// A webhook aimed at a private or metadata address is refused at dial time
// (no connection attempt): the workflow fails with webhook_undeliverable,
// its outcome and mapping kept, and an operator's redelivery to a fixed URL
// completes it.
func TestWebhookForbiddenTargetThenRedeliver(t *testing.T) {
	t.Parallel()
	for _, target := range []string{"http://10.0.0.1:8080/hook", "http://169.254.169.254/latest/meta-data"} {
		t.Run(target, func(t *testing.T) {
			t.Parallel()
			b := setup(t, setupOpts{})
			_, err := b.pool.Exec(context.Background(), "UPDATE customers SET webhook_url = $1 WHERE id = $2", target, b.customer.ID)
			require.NoError(t, err)
			p := findSingle(t, b.sim.Population())
			patient := uuid.New()

			wf := b.waitDone(t, b.submit(t, link.RequestLink, patient, p.FullName, p.DOB))
			require.Equal(t, link.StateFailed, wf.Status)
			require.Equal(t, string(link.ReasonWebhookUndeliverable), wf.Reason)
			require.Equal(t, link.StateLinked, wf.Outcome, "the outcome stays")
			require.Equal(t, link.NotifyFailed, wf.Notification.Status)
			require.Contains(t, wf.Notification.LastError, "refused")
			require.Equal(t, 1, count(t, b.pool, "SELECT count(*) FROM webhook_deliveries WHERE workflow_id = $1 AND status_code IS NULL AND NOT delivered", wf.ID))
			m, err := b.store.Mapping(context.Background(), b.customer.ID, patient)
			require.NoError(t, err)
			require.Equal(t, link.MappingLinked, m.Status, "the link itself stays")
			require.Empty(t, b.sink.Events())

			_, err = b.pool.Exec(context.Background(), "UPDATE customers SET webhook_url = $1 WHERE id = $2", b.sinkURL+"/hook", b.customer.ID)
			require.NoError(t, err)
			_, err = b.svc.Redeliver(context.Background(), wf.ID)
			require.NoError(t, err)
			wf = b.waitDone(t, wf.ID)
			require.Equal(t, link.StateCompleted, wf.Status)
			require.Len(t, b.sink.Events(), 1)
			require.Equal(t, []string{"RECEIVED", "IN_PROGRESS", "LINKED", "FAILED", "LINKED", "COMPLETED"}, history(t, b, wf.ID))
		})
	}
}

// During a secret rotation each delivery carries two signatures: a receiver
// holding only the old secret, or only the new one, verifies it.
func TestWebhookSignedWithBothSecretsDuringRotation(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	newSecret, err := webhooksig.NewSecret()
	require.NoError(t, err)
	oldSecret := b.customer.WebhookSecret
	_, err = b.store.CustomerRotateSecret(context.Background(), b.customer.ID, newSecret, time.Now().Add(time.Hour))
	require.NoError(t, err)

	var mu sync.Mutex
	var oldOK, newOK bool
	var sigs string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		oldOK = webhooksig.Verify(oldSecret, r.Header, body, time.Now()) == nil
		newOK = webhooksig.Verify(newSecret, r.Header, body, time.Now()) == nil
		sigs = r.Header.Get("webhook-signature")
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	_, err = b.pool.Exec(context.Background(), "UPDATE customers SET webhook_url = $1 WHERE id = $2", srv.URL+"/hook", b.customer.ID)
	require.NoError(t, err)

	wf := b.waitDone(t, b.submit(t, link.RequestLink, uuid.New(), "Nobody Atall", "1901-01-01"))
	require.Equal(t, link.StateCompleted, wf.Status)
	mu.Lock()
	defer mu.Unlock()
	require.True(t, oldOK, "the old secret still verifies during the overlap")
	require.True(t, newOK, "the new secret verifies")
	require.Len(t, strings.Fields(sigs), 2)
}
