package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/patientlink/patientlink/internal/harness"
	"github.com/patientlink/patientlink/internal/pgtest"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	addr, err := harness.FreeAddr()
	require.NoError(t, err)
	return addr
}

// createCustomer runs `customer create --json` in-process.
func createCustomer(ctx context.Context, t *testing.T, env harness.Env, webhookURL string) harness.Customer {
	t.Helper()
	var out bytes.Buffer
	require.NoError(t, run(ctx, harness.CustomerCreateArgs("Clinic", webhookURL), env.Getenv, &out, io.Discard))
	c, err := harness.ParseCustomer(out.Bytes())
	require.NoError(t, err)
	return c
}

// startServe runs `serve --role role` in-process until the test ends and,
// unless it is a worker (no HTTP), waits for its /healthz.
func startServe(ctx context.Context, t *testing.T, env harness.Env, role string) *harness.InProcess {
	t.Helper()
	return startServeLogging(ctx, t, env, role, io.Discard)
}

// startServeLogging is startServe with the process's log written to stderr.
func startServeLogging(ctx context.Context, t *testing.T, env harness.Env, role string, stderr io.Writer) *harness.InProcess {
	t.Helper()
	p := harness.StartInProcess(ctx, func(ctx context.Context) error {
		return run(ctx, []string{"serve", "--role", role}, env.Getenv, io.Discard, stderr)
	})
	t.Cleanup(func() { _ = p.Stop(20 * time.Second) })
	if role != "worker" {
		require.NoError(t, harness.WaitHTTP(ctx, "http://"+env["PATIENTLINK_ADDR"]+"/healthz", 10*time.Second, p.Alive))
	}
	return p
}

// The whole binary in-process: migrate, create a customer, serve, and
// acknowledge a link with the printed token.
func TestRunEndToEnd(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	addr := freeAddr(t)
	env := harness.ServiceEnv(pgtest.URL(t), "http://127.0.0.1:1").With(harness.Env{"PATIENTLINK_ADDR": addr})
	getenv := env.Getenv
	var out, errOut bytes.Buffer

	require.NoError(t, run(ctx, []string{"migrate", "up"}, getenv, &out, &errOut))
	require.Contains(t, out.String(), "schema version")

	created := createCustomer(ctx, t, env, "http://127.0.0.1:9/hook")
	require.NotEmpty(t, created.Token)
	require.True(t, strings.HasPrefix(created.WebhookSecret, "whsec_"))

	srv := startServe(ctx, t, env, "all")

	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/link", strings.NewReader(
		`{"patient":{"id":"6f1c2a34-8f1e-4c4e-9d6b-0c1f2e3d4a5b","full_name":"Ada","dob":"1980-01-02"}}`))
	req.Header.Set("Customer-Token", created.Token)
	req.Header.Set("Idempotency-Key", "k")
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	var accepted struct {
		WorkflowID string `json:"workflow-id"`
	}
	require.NoError(t, json.NewDecoder(res.Body).Decode(&accepted))
	res.Body.Close()
	require.Equal(t, http.StatusAccepted, res.StatusCode)

	// The operator commands: a reconcile pass finds nothing lost; the
	// pending workflow (no index runs here) is stopped by hand.
	out.Reset()
	require.NoError(t, run(ctx, []string{"reconcile", "--now"}, getenv, &out, io.Discard))
	require.Equal(t, "reconcile pass: 0 put back to work, 0 failed at the limit\n", out.String())
	out.Reset()
	require.NoError(t, run(ctx, []string{"workflow", "stop", accepted.WorkflowID, "--reason", "test", "--actor", "tester"}, getenv, &out, io.Discard))
	require.Contains(t, out.String(), "is FAILED (operator_stop: test)")
	require.Error(t, run(ctx, []string{"workflow", "stop", accepted.WorkflowID, "--reason", "again", "--actor", "tester"}, getenv, &out, io.Discard))

	require.NoError(t, srv.Stop(20*time.Second), "serve shuts down cleanly")
}

func TestServeRefusesWithoutSecrets(t *testing.T) {
	t.Parallel()
	var errOut bytes.Buffer
	err := run(context.Background(), []string{"serve"}, func(k string) string {
		if k == "DATABASE_URL" {
			return "postgres://x@127.0.0.1:1/x"
		}
		return ""
	}, &bytes.Buffer{}, &errOut)
	require.ErrorContains(t, err, "PATIENTLINK_TOKEN_SECRET is required")
	require.ErrorContains(t, err, "PATIENTLINK_DATA_KEY is required")
}

func queryRow(t *testing.T, dbURL, sql string, args ...any) pgx.Row {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dbURL)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn.QueryRow(context.Background(), sql, args...)
}
