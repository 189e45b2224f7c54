package workflow_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/patientlink/patientlink/internal/config"
	"github.com/patientlink/patientlink/internal/index"
	"github.com/patientlink/patientlink/internal/indexsim"
	"github.com/patientlink/patientlink/internal/jobs"
	"github.com/patientlink/patientlink/internal/link"
	"github.com/patientlink/patientlink/internal/pgtest"
	"github.com/patientlink/patientlink/internal/postgres"
	"github.com/patientlink/patientlink/internal/seal"
	"github.com/patientlink/patientlink/internal/webhook"
	"github.com/patientlink/patientlink/internal/webhooksig"
	"github.com/patientlink/patientlink/internal/webhooksink"
	"github.com/patientlink/patientlink/internal/workflow"
)

type testBundle struct {
	pool     *pgxpool.Pool
	store    *postgres.Store
	keyring  *seal.Keyring
	customer link.Customer
	sim      *indexsim.Server
	simURL   string
	svc      *workflow.Service
	client   *river.Client[pgx.Tx]
	sink     *webhooksink.Sink
	sinkURL  string
}

type setupOpts struct {
	sim           indexsim.Config
	workers       int
	index         workflow.Searcher // overrides the simulator
	sinkFailFirst int
	schedule      []time.Duration // webhook retry schedule; default: a fast one
}

// setup starts a database, an index simulator on 127.0.0.1 and a River
// client working patientlink's queues.
func setup(t *testing.T, opts setupOpts) *testBundle {
	t.Helper()
	pool, _ := pgtest.Pool(t)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	keyring, err := seal.NewKeyring(key)
	require.NoError(t, err)
	store := postgres.New(pool, nil).WithSealer(keyring)
	secret, err := webhooksig.NewSecret()
	require.NoError(t, err)
	sink := webhooksink.New(webhooksink.Config{Secrets: []string{secret}, FailFirst: opts.sinkFailFirst, Out: io.Discard})
	sinkSrv := httptest.NewServer(sink.Handler())
	t.Cleanup(sinkSrv.Close)
	customer, err := store.CustomerCreate(context.Background(), link.Customer{
		ID: uuid.New(), Name: "Clinic", WebhookURL: sinkSrv.URL + "/hook", WebhookSecret: secret,
	})
	require.NoError(t, err)

	if opts.schedule == nil {
		opts.schedule = []time.Duration{0, 10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond, 80 * time.Millisecond}
	}
	if opts.sim.Size == 0 {
		opts.sim.Size = 2000
	}
	if opts.sim.Seed == 0 {
		opts.sim.Seed = 7
	}
	sim := indexsim.New(opts.sim)
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	t.Cleanup(sim.Close)

	logger := slog.New(slog.DiscardHandler)
	searcher := opts.index
	if searcher == nil {
		searcher = index.New(srv.URL, index.Options{Timeout: 2 * time.Second, BreakerFailures: 1000, Logger: logger, AllowInsecure: true})
	}
	maintenance := config.Defaults().Maintenance
	maintenance.ReconcileEvery, maintenance.StuckReportEvery = 0, 0 // tests run passes themselves
	maintenance.PurgeIdempotencyEvery, maintenance.PurgePayloadsEvery = 0, 0
	svc := workflow.New(workflow.Deps{
		Store: store, Keyring: keyring, Index: searcher, Policy: link.DefaultPolicy, Logger: logger,
		Sender:      webhook.NewSender(webhook.Options{Timeout: 2 * time.Second, AllowInsecure: true}),
		Webhook:     config.Webhook{Schedule: opts.schedule},
		Maintenance: maintenance,
	})
	workers := opts.workers
	if workers == 0 {
		workers = 20
	}
	cfg := jobs.RiverConfig(logger, config.Workers{
		LinkWorkers: workers, WebhookWorkers: 1, RetryBase: 10 * time.Millisecond,
		FetchCooldown: 5 * time.Millisecond, FetchPollInterval: 50 * time.Millisecond,
	}, maintenance, svc)
	client, err := river.NewClient(riverpgxv5.New(pool), cfg)
	require.NoError(t, err)
	svc.UseRiver(client)
	require.NoError(t, client.Start(context.Background()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = client.StopAndCancel(ctx)
	})
	return &testBundle{pool: pool, store: store, keyring: keyring, customer: customer, sim: sim, simURL: srv.URL, svc: svc, client: client, sink: sink, sinkURL: sinkSrv.URL}
}

// submit acknowledges a request as the API does: workflow, sealed payload
// and job in one transaction.
func (b *testBundle) submit(t *testing.T, rt link.RequestType, patientID uuid.UUID, name, dob string) uuid.UUID {
	t.Helper()
	wf := uuid.New()
	in := postgres.Intake{
		CustomerID: b.customer.ID, WorkflowID: wf, PatientID: patientID, RequestType: rt,
		IdempotencyKey: wf.String(), RequestHash: []byte{1}, IdempotencyTTL: time.Hour,
		Response: postgres.Response{Status: 202, Body: []byte(`{}`)},
	}
	if rt == link.RequestLink {
		req := link.Request{Patient: link.Patient{ID: patientID.String(), FullName: name, DOB: dob}}
		var err error
		in.PayloadKeyID, in.Payload, err = b.keyring.Seal(req.Canonical(), wf[:])
		require.NoError(t, err)
	}
	_, _, err := b.store.Acknowledge(context.Background(), in, func(ctx context.Context, tx pgx.Tx) error {
		_, err := b.client.InsertTx(ctx, tx, workflow.ProcessArgs{WorkflowID: wf, CustomerID: b.customer.ID, RequestType: rt}, nil)
		return err
	})
	require.NoError(t, err)
	return wf
}

// status reads a workflow as the status API does: with the delivery of
// its latest event.
func (b *testBundle) status(t *testing.T, id uuid.UUID) link.Workflow {
	t.Helper()
	wf, _, err := b.svc.Status(context.Background(), b.customer.ID, id)
	require.NoError(t, err)
	return wf
}

// waitSettled waits until nothing more happens to a workflow by itself: an
// end state, or an outcome whose event's delivery gave up.
func (b *testBundle) waitSettled(t *testing.T, id uuid.UUID) link.Workflow {
	t.Helper()
	var wf link.Workflow
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		var err error
		wf, _, err = b.svc.Status(context.Background(), b.customer.ID, id)
		assert.NoError(c, err)
		settled := wf.Status.IsEnd() || (wf.Status.IsOutcome() && wf.Notification.Status == link.NotifyFailed)
		assert.True(c, settled, "status %s, notification %q", wf.Status, wf.Notification.Status)
	}, 15*time.Second, 10*time.Millisecond, "workflow %s stuck", id)
	return wf
}

// waitDone waits until the workflow reaches an end state.
func (b *testBundle) waitDone(t *testing.T, id uuid.UUID) link.Workflow {
	t.Helper()
	var wf link.Workflow
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		var err error
		wf, err = b.store.Workflow(context.Background(), id)
		assert.NoError(c, err)
		assert.True(c, wf.Status.IsEnd(), "status %s", wf.Status)
	}, 15*time.Second, 10*time.Millisecond, "workflow %s stuck", id)
	return wf
}

func count(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, pool.QueryRow(context.Background(), sql, args...).Scan(&n))
	return n
}

// eventuallyCount waits until sql counts want rows; a failing query is
// reported as itself, not as a timeout.
func eventuallyCount(t *testing.T, pool *pgxpool.Pool, want int, sql string, msgAndArgs ...any) {
	t.Helper()
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		var n int
		if !assert.NoError(c, pool.QueryRow(context.Background(), sql).Scan(&n)) {
			return
		}
		assert.Equal(c, want, n)
	}, 60*time.Second, 10*time.Millisecond, msgAndArgs...)
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
