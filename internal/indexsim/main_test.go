package indexsim

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/patientlink/patientlink/internal/index"
)

func noEnv(string) string { return "" }

func TestMainList(t *testing.T) {
	t.Parallel()

	var stdout, stderr bytes.Buffer
	err := Main(t.Context(), []string{"--list", "5", "--seed", "3"}, func(string) string { return "" }, &stdout, &stderr)
	require.NoError(t, err)
	require.Empty(t, stderr.String())

	lines := strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n")
	require.Len(t, lines, 5)
	want := New(Config{Seed: 3, Size: 5, Logger: discardLogger()}).Population()
	for i, line := range lines {
		var fields map[string]string
		require.NoError(t, json.Unmarshal([]byte(line), &fields))
		require.Equal(t, map[string]string{"id": want[i].ID, "full_name": want[i].FullName, "dob": want[i].DOB}, fields)
	}
}

func TestMainListIsPrefixOfServedPopulation(t *testing.T) {
	t.Parallel()

	var stdout bytes.Buffer
	require.NoError(t, run(t.Context(), []string{"--list", "3", "--size", "50", "--ambiguous-rate", "0.5"}, noEnv, &stdout, io.Discard))
	served := New(Config{Seed: 1, Size: 50, AmbiguousRate: 0.5, Logger: discardLogger()}).Population()

	var listed []Patient
	scanner := bufio.NewScanner(&stdout)
	for scanner.Scan() {
		var p Patient
		require.NoError(t, json.Unmarshal(scanner.Bytes(), &p))
		listed = append(listed, p)
	}
	require.Equal(t, served[:3], listed)
}

func TestMainRejectsBadFlags(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "unknown flag", args: []string{"--nope"}, wantErr: "flag provided but not defined"},
		{name: "rate out of range", args: []string{"--error-rate", "2"}, wantErr: "--error-rate must be between 0 and 1"},
		{name: "size", args: []string{"--size", "0"}, wantErr: "--size must be positive"},
		{name: "async without callback url", args: []string{"--async", "--callback-secret", "s"}, wantErr: "--async needs --callback-url"},
		{name: "async without secret", args: []string{"--async", "--callback-url", "http://127.0.0.1:1"}, wantErr: "--async needs --callback-secret"},
		{name: "bad base64 secret", args: []string{"--callback-secret", "base64:!!"}, wantErr: "error decoding base64 callback secret"},
		{name: "stray argument", args: []string{"serve"}, wantErr: "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := run(t.Context(), tt.args, noEnv, io.Discard, io.Discard)
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}

func TestMainCallbackSecret(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		args []string
		env  string
		want []byte
	}{
		{name: "raw flag", args: []string{"--callback-secret", "abc"}, want: []byte("abc")},
		{name: "base64 flag", args: []string{"--callback-secret", "base64:AAEC"}, want: []byte{0, 1, 2}},
		{name: "from env", env: "from-env", want: []byte("from-env")},
		{name: "flag wins over env", args: []string{"--callback-secret", "flag"}, env: "env", want: []byte("flag")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			getenv := func(key string) string {
				if key == CallbackSecretEnv {
					return tt.env
				}
				return ""
			}
			cfg, _, _, err := parseFlags(tt.args, getenv, io.Discard)
			require.NoError(t, err)
			require.Equal(t, tt.want, cfg.CallbackSecret)
		})
	}
}

func TestMainServesUntilCancelled(t *testing.T) {
	t.Parallel()

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stderr := &lockedBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--addr", "127.0.0.1:0", "--size", "100", "--timeout-rate", "1"}, noEnv, io.Discard, stderr)
	}()

	addrPattern := regexp.MustCompile(`addr=(127\.0\.0\.1:\d+)`)
	var addr string
	require.Eventually(t, func() bool {
		if m := addrPattern.FindStringSubmatch(stderr.String()); m != nil {
			addr = m[1]
			return true
		}
		return false
	}, time.Second, 5*time.Millisecond)

	resp, err := http.Get("http://" + addr + "/healthz")
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusOK, resp.StatusCode)

	// A search held by an injected timeout must not delay shutdown.
	held := make(chan error, 1)
	go func() {
		client := index.New("http://"+addr, index.Options{Logger: discardLogger(), Timeout: 5 * time.Second, AllowInsecure: true})
		_, err := client.Search(context.Background(), index.Query{FullName: "Ada Lovelace", DOB: "1815-12-10"})
		held <- err
	}()
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + addr + "/_sim/stats")
		if err != nil {
			return false
		}
		defer func() { _ = resp.Body.Close() }()
		var stats Stats
		return json.NewDecoder(resp.Body).Decode(&stats) == nil && stats.TimeoutsInjected == 1
	}, time.Second, 5*time.Millisecond)

	start := time.Now()
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(2 * time.Second):
		t.Fatal("Main did not stop")
	}
	require.Less(t, time.Since(start), time.Second)
	require.Error(t, <-held)
	require.Contains(t, stderr.String(), "index simulator stopped")
}

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
