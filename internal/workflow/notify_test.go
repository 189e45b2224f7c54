package workflow_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/patientlink/patientlink/internal/link"
	"github.com/patientlink/patientlink/internal/webhooksig"
	"github.com/patientlink/patientlink/internal/workflow"
)

// A webhook aimed at a private or metadata address is refused at dial time
// (no connection attempt). The event's delivery fails; the outcome, the
// workflow's outcome state and the mapping stand, and the status shows
// notification failed. After the customer's URL is fixed, a redelivery
// sends the same event and completes the workflow.
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

			wf := b.waitSettled(t, b.submit(t, link.RequestLink, patient, p.FullName, p.DOB))
			require.Equal(t, link.StateLinked, wf.Status, "an undeliverable event does not fail the link")
			require.Equal(t, link.StateLinked, wf.Outcome)
			require.Empty(t, wf.Reason)
			require.Equal(t, link.NotifyFailed, wf.Notification.Status)
			require.Contains(t, wf.Notification.LastError, "refused")
			require.Equal(t, 1, count(t, b.pool, "SELECT count(*) FROM webhook_deliveries WHERE workflow_id = $1 AND status_code IS NULL AND NOT delivered", wf.ID))
			m, err := b.store.Mapping(context.Background(), b.customer.ID, patient)
			require.NoError(t, err)
			require.Equal(t, link.MappingLinked, m.Status, "the link itself stays")
			require.Empty(t, b.sink.Events())

			_, err = b.svc.SetWebhook(context.Background(), b.customer.ID, b.sinkURL+"/hook", "operator:test", "fixed")
			require.NoError(t, err)
			ev, err := b.svc.RedeliverWorkflow(context.Background(), wf.ID, "operator:test", "URL fixed")
			require.NoError(t, err)
			require.Equal(t, wf.Notification.EventID, ev.ID, "the same event")
			wf = b.waitDone(t, wf.ID)
			require.Equal(t, link.StateCompleted, wf.Status)
			require.Len(t, b.sink.Events(), 1)
			require.Equal(t, ev.ID, b.sink.Events()[0].ID)
			require.Equal(t, []string{"RECEIVED", "IN_PROGRESS", "LINKED", "COMPLETED"}, history(t, b, wf.ID))
			require.Equal(t, 2, count(t, b.pool, "SELECT count(*) FROM action_history WHERE customer_id = $1 AND actor = 'operator:test'", b.customer.ID),
				"set-webhook and redeliver are history")
		})
	}
}

// receiver records every request raw (webhook-id and body bytes) and can
// be down (503).
type receiver struct {
	mu   sync.Mutex
	down bool
	got  []received
	srv  *httptest.Server
}

type received struct {
	id   string
	body []byte
	ok   bool
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		down := rc.down
		rc.got = append(rc.got, received{id: r.Header.Get("webhook-id"), body: body, ok: !down})
		rc.mu.Unlock()
		if down {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) setDown(down bool) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.down = down
}

// accepted is every request answered 2xx, in arrival order.
func (rc *receiver) accepted() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []received
	for _, g := range rc.got {
		if g.ok {
			out = append(out, g)
		}
	}
	return out
}

func (rc *receiver) requests() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.got)
}

func (b *testBundle) useReceiver(t *testing.T, rc *receiver) {
	t.Helper()
	_, err := b.svc.SetWebhook(context.Background(), b.customer.ID, rc.srv.URL+"/hook", "operator:test", "")
	require.NoError(t, err)
}

type eventBody struct {
	ID   string `json:"id"`
	Type string `json:"type"`
	Data struct {
		WorkflowID        string  `json:"workflow-id"`
		Outcome           *string `json:"outcome"`
		Status            string  `json:"status"`
		Sequence          int64   `json:"sequence"`
		InternalPatientID string  `json:"internal-patient-id"`
		Reason            string  `json:"reason"`
	} `json:"data"`
}

func decodeEvent(t *testing.T, body []byte) eventBody {
	t.Helper()
	var e eventBody
	require.NoError(t, json.Unmarshal(body, &e), string(body))
	return e
}

// Must show: with the receiver down, the outcome is visible, a de-link is
// accepted and completes, and once the receiver is back the customer has
// both events exactly once each, the link's with the lower sequence.
func TestReceiverDownDoesNotLockThePatient(t *testing.T) {
	t.Parallel()
	schedule := make([]time.Duration, 200)
	for i := range schedule {
		schedule[i] = 20 * time.Millisecond
	}
	b := setup(t, setupOpts{schedule: schedule})
	rc := newReceiver(t)
	rc.setDown(true)
	b.useReceiver(t, rc)
	p := findSingle(t, b.sim.Population())
	patient := uuid.New()

	linkID := b.submit(t, link.RequestLink, patient, p.FullName, p.DOB)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		wf := b.status(t, linkID)
		assert.Equal(c, link.StateLinked, wf.Outcome, "the outcome is visible while the receiver is down")
		assert.Equal(c, link.NotifyPending, wf.Notification.Status)
	}, 10*time.Second, 10*time.Millisecond)

	receipt, err := b.svc.AcknowledgeDelink(context.Background(), b.customer.ID, patient, "delink-1")
	require.NoError(t, err, "the patient is not busy once the outcome is recorded")
	require.Equal(t, http.StatusAccepted, receipt.Status)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.Equal(c, link.StateDeLinked, b.status(t, receipt.WorkflowID).Outcome)
	}, 10*time.Second, 10*time.Millisecond)
	m, err := b.store.Mapping(context.Background(), b.customer.ID, patient)
	require.NoError(t, err)
	require.Equal(t, link.MappingDeLinked, m.Status)

	rc.setDown(false)
	require.Equal(t, link.StateCompleted, b.waitDone(t, linkID).Status)
	require.Equal(t, link.StateCompleted, b.waitDone(t, receipt.WorkflowID).Status)
	got := rc.accepted()
	require.Len(t, got, 2, "each event exactly once")
	byWorkflow := map[string]eventBody{}
	for _, g := range got {
		e := decodeEvent(t, g.body)
		require.Equal(t, g.id, e.ID, "webhook-id is the body's id")
		byWorkflow[e.Data.WorkflowID] = e
	}
	linked, delinked := byWorkflow[linkID.String()], byWorkflow[receipt.WorkflowID.String()]
	require.Less(t, linked.Data.Sequence, delinked.Data.Sequence, "the receiver orders by sequence")
	require.Equal(t, "LINKED", *linked.Data.Outcome)
	require.Equal(t, p.ID, linked.Data.InternalPatientID, "a link's event names the internal patient")
	require.Equal(t, "DE_LINKED", *delinked.Data.Outcome)
}

// Must show: redelivering a COMPLETED workflow's event sends the
// byte-identical body under the same webhook-id, and the log shows it.
func TestRedeliverSendsTheSameBytes(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	rc := newReceiver(t)
	b.useReceiver(t, rc)
	id := b.submit(t, link.RequestLink, uuid.New(), "Nobody Atall", "1901-01-01")
	require.Equal(t, link.StateCompleted, b.waitDone(t, id).Status)
	require.Len(t, rc.accepted(), 1)

	ev, err := b.svc.RedeliverWorkflow(context.Background(), id, "operator:test", "customer lost it")
	require.NoError(t, err)
	require.EventuallyWithT(t, func(c *assert.CollectT) { assert.Len(c, rc.accepted(), 2) }, 10*time.Second, 10*time.Millisecond)
	got := rc.accepted()
	require.Equal(t, got[0].id, got[1].id)
	require.Equal(t, ev.ID, got[1].id)
	require.Equal(t, got[0].body, got[1].body, "byte for byte")
	require.Equal(t, ev.Body, got[1].body, "the frozen body")
	eventuallyCount(t, b.pool, 2, "SELECT count(*) FROM webhook_deliveries WHERE event_id = '"+ev.ID+"' AND delivered")
	require.Equal(t, link.StateCompleted, b.status(t, id).Status)
	require.Equal(t, link.NotifyDelivered, b.status(t, id).Notification.Status)
}

// Must show: workflow stop tells the customer FAILED with the reason, and
// retrying the cancelled job (as River UI does) delivers nothing more.
func TestStopTellsTheCustomer(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	rc := newReceiver(t)
	b.useReceiver(t, rc)
	require.NoError(t, b.client.Stop(context.Background())) // keep it pending
	id := b.submit(t, link.RequestLink, uuid.New(), "Stop Me", "1970-01-01")
	wf, err := b.svc.Stop(context.Background(), id, "operator:alice", "duplicate request")
	require.NoError(t, err)
	require.Equal(t, link.StateFailed, wf.Status)
	var jobID int64
	require.NoError(t, b.pool.QueryRow(context.Background(), "SELECT id FROM river_job WHERE kind = 'link.process' AND args->>'workflow_id' = $1 AND state = 'cancelled'", id.String()).Scan(&jobID))
	require.Equal(t, 1, count(t, b.pool, "SELECT count(*) FROM workflow_events WHERE workflow_id = $1 AND to_status = 'FAILED' AND actor = 'operator:alice'", id))
	require.Equal(t, 1, count(t, b.pool, "SELECT count(*) FROM action_history WHERE workflow_id = $1 AND action = 'stop' AND actor = 'operator:alice' AND reason = 'duplicate request'", id))

	require.NoError(t, b.client.Start(context.Background()))
	require.EventuallyWithT(t, func(c *assert.CollectT) { assert.Len(c, rc.accepted(), 1) }, 10*time.Second, 10*time.Millisecond)
	e := decodeEvent(t, rc.accepted()[0].body)
	require.Equal(t, "FAILED", e.Data.Status)
	require.Equal(t, "operator_stop: duplicate request", e.Data.Reason)
	require.Nil(t, e.Data.Outcome)

	_, err = b.client.JobRetry(context.Background(), jobID)
	require.NoError(t, err)
	eventuallyCount(t, b.pool, 1, "SELECT count(*) FROM river_job WHERE id = "+strconv.FormatInt(jobID, 10)+" AND state = 'completed'")
	time.Sleep(200 * time.Millisecond)
	require.Len(t, rc.accepted(), 1, "the retried job found nothing to do")
	require.Equal(t, link.StateFailed, b.status(t, id).Status)

	// An outcome stands: a workflow that has one cannot be stopped.
	done := b.waitDone(t, b.submit(t, link.RequestLink, uuid.New(), "Nobody Atall", "1901-01-01"))
	_, err = b.svc.Stop(context.Background(), done.ID, "operator:alice", "too late")
	var terr *link.TransitionError
	require.ErrorAs(t, err, &terr)
}

// Must show: retrying a waiting delivery job ten times in a second sends
// at most one attempt before it is due; retrying a delivered one sends
// nothing.
func TestJobRetriesCannotSkipTheSchedule(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{schedule: []time.Duration{0, time.Hour, time.Hour}})
	rc := newReceiver(t)
	rc.setDown(true)
	b.useReceiver(t, rc)
	id := b.submit(t, link.RequestLink, uuid.New(), "Nobody Atall", "1901-01-01")
	require.EventuallyWithT(t, func(c *assert.CollectT) { assert.Equal(c, 1, rc.requests()) }, 10*time.Second, 10*time.Millisecond)
	var jobID int64
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.NoError(c, b.pool.QueryRow(context.Background(), "SELECT id FROM river_job WHERE kind = 'webhook.deliver' AND args->>'workflow_id' = $1 AND state = 'retryable'", id.String()).Scan(&jobID))
	}, 10*time.Second, 10*time.Millisecond, "a failed attempt is a River error, retried when due")
	var errs string
	require.NoError(t, b.pool.QueryRow(context.Background(), "SELECT errors::text FROM river_job WHERE id = $1", jobID).Scan(&errs))
	require.Contains(t, errs, "HTTP 503", "River UI shows why the attempt failed")

	for range 10 {
		_, err := b.client.JobRetry(context.Background(), jobID)
		require.NoError(t, err)
		time.Sleep(100 * time.Millisecond)
	}
	require.Equal(t, 1, rc.requests(), "no attempt before it is due")
	require.Equal(t, 1, count(t, b.pool, "SELECT count(*) FROM webhook_deliveries WHERE workflow_id = $1", id))

	// Delivered: retrying the completed job sends nothing.
	rc.setDown(false)
	_, err := b.svc.RedeliverWorkflow(context.Background(), id, "operator:test", "")
	require.NoError(t, err)
	require.Equal(t, link.StateCompleted, b.waitDone(t, id).Status)
	sent := rc.requests()
	for range 10 {
		_, err := b.client.JobRetry(context.Background(), jobID)
		require.NoError(t, err)
	}
	time.Sleep(500 * time.Millisecond)
	require.Equal(t, sent, rc.requests(), "a delivered event is not sent again by a job retry")
}

// Two redeliveries racing send at most one extra attempt each, and both
// are recorded.
func TestConcurrentRedeliveries(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	rc := newReceiver(t)
	b.useReceiver(t, rc)
	id := b.submit(t, link.RequestLink, uuid.New(), "Nobody Atall", "1901-01-01")
	b.waitDone(t, id)
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			_, err := b.svc.RedeliverWorkflow(context.Background(), id, "operator:test", "race")
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	eventuallyCount(t, b.pool, 0, "SELECT count(*) FROM events WHERE workflow_id = '"+id.String()+"' AND delivery_status = 'pending'")
	time.Sleep(200 * time.Millisecond)
	n := len(rc.accepted())
	require.GreaterOrEqual(t, n, 2)
	require.LessOrEqual(t, n, 1+5, "at most one extra send per redelivery")
	require.Equal(t, 5, count(t, b.pool, "SELECT count(*) FROM action_history WHERE workflow_id = $1 AND action = 'redeliver'", id))
}

// A customer without a webhook URL reads the feed: its outcomes complete
// at once, and a redelivery has nowhere to go.
func TestFeedOnlyCustomer(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	_, err := b.svc.SetWebhook(context.Background(), b.customer.ID, "", "operator:test", "feed only")
	require.NoError(t, err)
	id := b.submit(t, link.RequestLink, uuid.New(), "Nobody Atall", "1901-01-01")
	wf := b.waitDone(t, id)
	require.Equal(t, link.StateCompleted, wf.Status)
	require.Equal(t, link.NotifyNone, b.status(t, id).Notification.Status)
	// The feed lists an event once every older transaction has ended.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		page, err := b.svc.Feed(context.Background(), b.customer.ID, "", 10)
		if assert.NoError(c, err) && assert.Len(c, page.Events, 1) {
			assert.Equal(c, id.String(), decodeEvent(t, page.Events[0]).Data.WorkflowID)
		}
	}, 5*time.Second, 10*time.Millisecond)
	_, err = b.svc.RedeliverWorkflow(context.Background(), id, "operator:test", "")
	require.ErrorIs(t, err, workflow.ErrNoWebhook)
	require.Empty(t, b.sink.Events())
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
