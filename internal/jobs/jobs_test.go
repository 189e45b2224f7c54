package jobs_test

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
	"github.com/stretchr/testify/require"

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
)

type testBundle struct {
	pool      *pgxpool.Pool
	store     *postgres.Store
	keyring   *seal.Keyring
	customer  link.Customer
	sim       *indexsim.Server
	simURL    string
	processor *jobs.LinkProcessor
	client    *river.Client[pgx.Tx]
	sink      *webhooksink.Sink
	sinkURL   string
}

type setupOpts struct {
	sim           indexsim.Config
	workers       int
	index         jobs.Searcher // overrides the simulator
	sinkFailFirst int
	schedule      []time.Duration // webhook retry schedule; default: a fast one
}

// setup starts a database, an index simulator on 127.0.0.1 and a River
// client working patientlink's queues.
func setup(t *testing.T, opts setupOpts) *testBundle {
	t.Helper()
	pool, _ := pgtest.Pool(t)
	store := postgres.New(pool)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	keyring, err := seal.NewKeyring(key)
	require.NoError(t, err)
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
		searcher = index.New(srv.URL, index.Options{Timeout: 2 * time.Second, BreakerFailures: 1000, Logger: logger})
	}
	processor := &jobs.LinkProcessor{Store: store, Index: searcher, Keyring: keyring, Policy: link.DefaultPolicy, Logger: logger}
	workers := opts.workers
	if workers == 0 {
		workers = 20
	}
	cfg := jobs.RiverConfig(jobs.Settings{
		Logger: logger, LinkWorkers: workers, WebhookWorkers: 1,
		FetchCooldown: 5 * time.Millisecond, FetchPollInterval: 50 * time.Millisecond,
	}, jobs.Workers{
		Processor: processor,
		Retry:     jobs.Backoff{Base: 10 * time.Millisecond, Max: 100 * time.Millisecond},
		Sender:    webhook.NewSender(webhook.Options{Timeout: 2 * time.Second, AllowInsecure: true}),
		Schedule:  opts.schedule,
	})
	client, err := river.NewClient(riverpgxv5.New(pool), cfg)
	require.NoError(t, err)
	require.NoError(t, client.Start(context.Background()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = client.StopAndCancel(ctx)
	})
	return &testBundle{pool: pool, store: store, keyring: keyring, customer: customer, sim: sim, simURL: srv.URL, processor: processor, client: client, sink: sink, sinkURL: sinkSrv.URL}
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
		_, err := b.client.InsertTx(ctx, tx, jobs.LinkProcessArgs{WorkflowID: wf, CustomerID: b.customer.ID, RequestType: rt}, nil)
		return err
	})
	require.NoError(t, err)
	return wf
}

// waitDone waits until the workflow reaches an end state.
func (b *testBundle) waitDone(t *testing.T, id uuid.UUID) link.Workflow {
	t.Helper()
	var wf link.Workflow
	require.Eventually(t, func() bool {
		var err error
		wf, err = b.store.Workflow(context.Background(), id)
		require.NoError(t, err)
		return wf.Status.IsEnd()
	}, 15*time.Second, 10*time.Millisecond, "workflow %s stuck", id)
	return wf
}

func count(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, pool.QueryRow(context.Background(), sql, args...).Scan(&n))
	return n
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
