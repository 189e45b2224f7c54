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
	"github.com/patientlink/patientlink/internal/link"
	"github.com/patientlink/patientlink/internal/pgtest"
	"github.com/patientlink/patientlink/internal/postgres"
	"github.com/patientlink/patientlink/internal/seal"
	"github.com/patientlink/patientlink/internal/workflow"
)

type testBundle struct {
	url     string
	pool    *pgxpool.Pool
	store   *postgres.Store
	keyring *seal.Keyring
	tokens  *auth.Tokens
	token   string // the first customer's
	cust    link.Customer
}

func setup(t *testing.T, tweak ...func(*httpapi.Deps)) *testBundle {
	t.Helper()
	pool, _ := pgtest.Pool(t)
	store := postgres.New(pool, nil)
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	dataKey := make([]byte, 32)
	_, _ = rand.Read(dataKey)
	keyring, err := seal.NewKeyring(dataKey)
	require.NoError(t, err)
	riverClient, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
	require.NoError(t, err)
	tokens := auth.NewTokens(secret)
	defaults := config.Defaults()
	svc := workflow.New(workflow.Deps{Store: store, Keyring: keyring, Webhook: defaults.Webhook, Maintenance: defaults.Maintenance})
	svc.UseRiver(riverClient)

	deps := httpapi.Deps{
		Logger:  slog.New(slog.DiscardHandler),
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

	b := &testBundle{url: srv.URL, pool: pool, store: store, keyring: keyring, tokens: tokens}
	b.cust, b.token = b.newCustomer(t)
	return b
}

func (b *testBundle) newCustomer(t *testing.T) (link.Customer, string) {
	t.Helper()
	c, err := b.store.CustomerCreate(context.Background(), link.Customer{
		ID: uuid.New(), Name: "Clinic", WebhookURL: "https://hooks.example.org/patientlink", WebhookSecret: "whsec_x",
	})
	require.NoError(t, err)
	token, err := b.tokens.Issue(c.ID, time.Hour)
	require.NoError(t, err)
	return c, token
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
	req, err := http.NewRequest(method, b.url+path, bytes.NewBufferString(body))
	require.NoError(t, err)
	for k, v := range header {
		req.Header.Set(k, v)
	}
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
