package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/patientlink/patientlink/internal/pgtest"
)

const testKey = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

// The whole binary in-process: migrate, create a customer, serve, and
// acknowledge a link with the printed token.
func TestRunEndToEnd(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	addr := freeAddr(t)
	env := map[string]string{
		"DATABASE_URL":                        pgtest.URL(t),
		"PATIENTLINK_ADDR":                    addr,
		"PATIENTLINK_TOKEN_SECRET":            testKey,
		"PATIENTLINK_DATA_KEY":                testKey,
		"PATIENTLINK_ALLOW_INSECURE_WEBHOOKS": "true",
		"PATIENTLINK_INDEX_CALLBACK_SECRET":   "callback-secret-for-tests",
		"PATIENTLINK_INDEX_URL":               "http://127.0.0.1:1",
	}
	getenv := func(k string) string { return env[k] }
	var out, errOut bytes.Buffer

	require.NoError(t, run(ctx, []string{"migrate", "up"}, getenv, &out, &errOut))
	require.Contains(t, out.String(), "schema version")

	out.Reset()
	require.NoError(t, run(ctx, []string{"customer", "create", "--name", "Clinic", "--webhook-url", "http://127.0.0.1:9/hook", "--json"}, getenv, &out, &errOut))
	var created createdCustomer
	require.NoError(t, json.Unmarshal(out.Bytes(), &created))
	require.NotEmpty(t, created.Token)
	require.True(t, strings.HasPrefix(created.WebhookSecret, "whsec_"))

	serveCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- run(serveCtx, []string{"serve"}, getenv, &bytes.Buffer{}, &bytes.Buffer{}) }()
	require.Eventually(t, func() bool {
		select {
		case err := <-done:
			require.NoError(t, err, "serve stopped early")
		default:
		}
		res, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	}, 10*time.Second, 20*time.Millisecond)

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
	require.NoError(t, run(ctx, []string{"workflow", "stop", accepted.WorkflowID, "--reason", "test"}, getenv, &out, io.Discard))
	require.Contains(t, out.String(), "is FAILED (operator_stop: test)")
	require.Error(t, run(ctx, []string{"workflow", "stop", accepted.WorkflowID, "--reason", "again"}, getenv, &out, io.Discard))

	stop()
	require.NoError(t, <-done, "serve shuts down cleanly")
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
