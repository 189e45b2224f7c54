package httpapi_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/stretchr/testify/require"

	"github.com/patientlink/patientlink/internal/auth"
	"github.com/patientlink/patientlink/internal/config"
	"github.com/patientlink/patientlink/internal/httpapi"
	"github.com/patientlink/patientlink/internal/jobs"
	"github.com/patientlink/patientlink/internal/link"
	"github.com/patientlink/patientlink/internal/pgtest"
	"github.com/patientlink/patientlink/internal/postgres"
	"github.com/patientlink/patientlink/internal/seal"
	"github.com/patientlink/patientlink/internal/workflow"
)

type testBundle struct {
	url     string
	opURL   string // the operator listener: index callbacks, admin
	pool    *pgxpool.Pool
	store   *postgres.Store
	keyring *seal.Keyring
	tokens  *auth.Tokens
	token   string // the first customer's
	cust    link.Customer
}

func setup(t *testing.T, tweak ...func(*httpapi.Deps)) *testBundle {
	t.Helper()
	return setupWith(t, nil, tweak...)
}

// setupWith is setup whose service searches with index and whose River
// client works the queues (jobs.RiverConfig) when index is not nil.
func setupWith(t *testing.T, searcher workflow.Searcher, tweak ...func(*httpapi.Deps)) *testBundle {
	t.Helper()
	pool, _ := pgtest.Pool(t)
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	dataKey := make([]byte, 32)
	_, _ = rand.Read(dataKey)
	keyring, err := seal.NewKeyring(dataKey)
	require.NoError(t, err)
	store := postgres.New(pool, nil).WithSealer(keyring)
	tokens := auth.NewTokens(secret)
	defaults := config.Defaults()
	logger := slog.New(slog.DiscardHandler)
	svc := workflow.New(workflow.Deps{
		Store: store, Keyring: keyring, Webhook: defaults.Webhook, Maintenance: defaults.Maintenance,
		Index: searcher, Policy: link.DefaultPolicy, Logger: logger,
	})
	riverConfig := &river.Config{}
	if searcher != nil {
		maintenance := defaults.Maintenance
		maintenance.ReconcileEvery, maintenance.StuckReportEvery = 0, 0
		maintenance.PurgeIdempotencyEvery, maintenance.PurgePayloadsEvery = 0, 0
		riverConfig = jobs.RiverConfig(logger, config.Workers{
			LinkWorkers: 20, WebhookWorkers: 1, RetryBase: 10 * time.Millisecond,
			FetchCooldown: time.Millisecond, FetchPollInterval: 20 * time.Millisecond,
		}, maintenance, svc)
	}
	riverClient, err := river.NewClient(riverpgxv5.New(pool), riverConfig)
	require.NoError(t, err)
	svc.UseRiver(riverClient)
	if searcher != nil {
		require.NoError(t, riverClient.Start(context.Background()))
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = riverClient.StopAndCancel(ctx)
		})
	}

	deps := httpapi.Deps{
		Logger:  logger,
		Config:  defaults.HTTP,
		Service: svc,
		Tokens:  tokens,
	}
	deps.Config.RateLimit = 0 // tests that limit say so
	deps.Config.MaxInFlight = 0
	for _, f := range tweak {
		f(&deps)
	}
	srv := httptest.NewServer(withContract(t, httpapi.NewServer(deps)))
	t.Cleanup(srv.Close)
	op := httptest.NewServer(withContract(t, httpapi.NewOperatorServer(deps)))
	t.Cleanup(op.Close)

	b := &testBundle{url: srv.URL, opURL: op.URL, pool: pool, store: store, keyring: keyring, tokens: tokens}
	b.cust, b.token = b.newCustomer(t)
	return b
}

func (b *testBundle) newCustomer(t *testing.T) (link.Customer, string) {
	t.Helper()
	c, err := b.store.CustomerCreate(context.Background(), link.Customer{
		ID: uuid.New(), Name: "Clinic", WebhookURL: "https://hooks.example.org/patientlink", WebhookSecret: "whsec_x",
	})
	require.NoError(t, err)
	return c, b.issue(t, c.ID, time.Hour)
}

// issue makes a token for customerID and records its id, as `customer
// token` does.
func (b *testBundle) issue(t *testing.T, customerID uuid.UUID, ttl time.Duration) string {
	t.Helper()
	issued, err := b.tokens.Issue(customerID, ttl)
	require.NoError(t, err)
	require.NoError(t, b.store.TokenRecord(context.Background(), customerID, issued.ID, issued.ExpiresAt))
	return issued.Token
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.body, &m), string(r.body))
	return m
}

func (b *testBundle) do(t *testing.T, method, path string, header map[string]string, body string) response {
	t.Helper()
	return b.request(t, b.url, method, path, header, body)
}

// op sends a request to the operator listener.
func (b *testBundle) op(t *testing.T, method, path string, header map[string]string, body string) response {
	t.Helper()
	return b.request(t, b.opURL, method, path, header, body)
}

func (b *testBundle) request(t *testing.T, base, method, path string, header map[string]string, body string) response {
	t.Helper()
	req, err := http.NewRequest(method, base+path, bytes.NewBufferString(body))
	require.NoError(t, err)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return b.send(t, req)
}

// send sends req to the bundle's server and reads the answer.
func (b *testBundle) send(t *testing.T, req *http.Request) response {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return response{status: res.StatusCode, header: res.Header, body: data}
}

// postLink sends POST /link as the bundle's customer.
func (b *testBundle) postLink(t *testing.T, key, body string) response {
	t.Helper()
	return b.do(t, http.MethodPost, "/link", map[string]string{
		"Customer-Token": b.token, "Idempotency-Key": key, "Content-Type": "application/json",
	}, body)
}

func patientBody(id uuid.UUID, name string) string {
	b, _ := json.Marshal(map[string]any{"patient": map[string]any{
		"id": id.String(), "full_name": name, "dob": "1980-04-02",
		"contact": map[string]any{"email": "p@example.org", "phone": "+1 555 0100"},
	}})
	return string(b)
}

func count(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, pool.QueryRow(context.Background(), sql, args...).Scan(&n))
	return n
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
