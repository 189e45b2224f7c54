package webhooksink

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/patientlink/patientlink/internal/webhooksig"
)

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func noEnv(string) string { return "" }

func mustSecret(t *testing.T) string {
	t.Helper()
	s, err := webhooksig.NewSecret()
	require.NoError(t, err)
	return s
}

// start runs the sink on a free loopback port and returns its base URL.
func start(t *testing.T, args []string, getenv func(string) string) (url string, stdout *lockedBuffer, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr := &lockedBuffer{}, &lockedBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, getenv, stdout, stderr) }()

	var addr string
	require.Eventually(t, func() bool {
		line, ok := strings.CutPrefix(stderr.String(), "listening on ")
		addr = strings.TrimSpace(line)
		return ok && strings.HasSuffix(line, "\n")
	}, time.Second, time.Millisecond)

	stop = func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(time.Second):
			t.Fatal("sink did not shut down")
			return nil
		}
	}
	t.Cleanup(func() { cancel() })
	return "http://" + addr, stdout, stop
}

func postSigned(t *testing.T, url, secret, id, payload string) int {
	t.Helper()
	h, err := webhooksig.Headers([]string{secret}, id, time.Now(), []byte(payload))
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, url+"/webhooks", strings.NewReader(payload))
	require.NoError(t, err)
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	return resp.StatusCode
}

func TestMainServesUntilCancelled(t *testing.T) {
	t.Parallel()

	old, next := mustSecret(t), mustSecret(t)
	url, stdout, stop := start(t, []string{"--addr", "127.0.0.1:0", "--secret", old + "," + next, "--fail-first", "1"}, noEnv)

	require.Equal(t, http.StatusInternalServerError, postSigned(t, url, next, "msg_1", `{"type":"link.completed"}`))
	require.Equal(t, http.StatusNoContent, postSigned(t, url, next, "msg_1", `{"type":"link.completed"}`))
	require.Equal(t, http.StatusNoContent, postSigned(t, url, old, "msg_1", `{"type":"link.completed"}`))
	require.Equal(t, http.StatusUnauthorized, postSigned(t, url, mustSecret(t), "msg_2", `{}`))

	require.NoError(t, stop())
	require.Equal(t, "FAILED msg_1 500 attempt 1\n"+
		"VERIFIED msg_1 link.completed {\"type\":\"link.completed\"}\n"+
		"DUPLICATE msg_1\n"+
		"REJECTED msg_2 no matching webhook signature\n", stdout.String())

	_, err := http.Get(url)
	require.Error(t, err, "the port is closed after shutdown")
}

func TestMainSecretFromEnvAndStatus(t *testing.T) {
	t.Parallel()

	secret := mustSecret(t)
	getenv := func(k string) string {
		if k == SecretEnv {
			return secret
		}
		return ""
	}
	url, _, stop := start(t, []string{"--addr=127.0.0.1:0", "--status", "410"}, getenv)
	require.Equal(t, http.StatusGone, postSigned(t, url, secret, "msg_1", `{}`))
	require.NoError(t, stop())
}

func TestParseFlags(t *testing.T) {
	t.Parallel()

	s1, s2, s3 := mustSecret(t), mustSecret(t), mustSecret(t)
	env := func(v string) func(string) string { return func(string) string { return v } }
	tests := []struct {
		name        string
		args        []string
		getenv      func(string) string
		wantSecrets []string
		wantAddr    string
		wantErr     string
	}{
		{name: "defaults with env secret", getenv: env(s1), wantSecrets: []string{s1}, wantAddr: DefaultAddr},
		{name: "env comma-separated", getenv: env(s1 + ", " + s2), wantSecrets: []string{s1, s2}, wantAddr: DefaultAddr},
		{name: "flag beats env", args: []string{"--secret", s2}, getenv: env(s1), wantSecrets: []string{s2}, wantAddr: DefaultAddr},
		{
			name:        "repeated and comma-separated",
			args:        []string{"--secret", s1 + "," + s2, "--secret", s3, "--addr", "127.0.0.1:0"},
			getenv:      noEnv,
			wantSecrets: []string{s1, s2, s3},
			wantAddr:    "127.0.0.1:0",
		},
		{name: "no secret", getenv: noEnv, wantErr: "no secret"},
		{name: "bad secret", args: []string{"--secret", "whsec_short"}, getenv: noEnv, wantErr: "invalid webhook secret"},
		{name: "negative fail-first", args: []string{"--fail-first", "-1"}, getenv: env(s1), wantErr: "--fail-first"},
		{name: "status out of range", args: []string{"--status", "99"}, getenv: env(s1), wantErr: "--status"},
		{name: "unknown flag", args: []string{"--port", "1"}, getenv: env(s1), wantErr: "flag provided but not defined"},
		{name: "stray argument", args: []string{"serve"}, getenv: env(s1), wantErr: "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stderr bytes.Buffer
			cfg, addr, err := parseFlags(tt.args, tt.getenv, &stderr)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				for _, secret := range []string{s1, s2, s3, "whsec_short"} {
					require.NotContains(t, err.Error()+stderr.String(), secret, "secrets never appear in errors")
				}
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.wantSecrets, cfg.Secrets)
			require.Equal(t, tt.wantAddr, addr)
		})
	}
}

func TestMainHelp(t *testing.T) {
	t.Parallel()

	var stderr bytes.Buffer
	require.NoError(t, Main(context.Background(), []string{"-h"}, func(string) string { return "" }, &bytes.Buffer{}, &stderr))
	require.Contains(t, stderr.String(), "-fail-first")
}
