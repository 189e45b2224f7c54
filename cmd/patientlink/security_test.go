package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/patientlink/patientlink/internal/harness"
	"github.com/patientlink/patientlink/internal/indexsim"
	"github.com/patientlink/patientlink/internal/link"
	"github.com/patientlink/patientlink/internal/pgcluster"
	"github.com/patientlink/patientlink/internal/pgtest"
)

// get answers the status of GET base+path with token.
func get(t *testing.T, base, path, token string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	res.Body.Close()
	return res.StatusCode
}

// Must show (issue 15): a revoked token is refused (401) on the next
// request to every API process — two real processes of the binary here —
// and the CLI prints, lists and revokes tokens by id.
func TestTokenRevokedOnEveryProcess(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	bin, err := harness.Build(ctx, root, dir, nil)
	require.NoError(t, err)

	env := harness.ServiceEnv(pgtest.URL(t), "").With(harness.Env{"PATIENTLINK_LOG_LEVEL": "warn"})
	require.NoError(t, run(ctx, []string{"migrate", "up"}, env.Getenv, io.Discard, io.Discard))
	created := createCustomer(ctx, t, env, "http://127.0.0.1:9/hook")

	var bases []string
	for i := range 2 {
		addr := freeAddr(t)
		p := &harness.Process{Name: fmt.Sprint("api-", i), Bin: bin, Args: []string{"serve", "--role", "api"},
			Env: env.With(harness.Env{"PATIENTLINK_ADDR": addr}).Environ(), LogPath: filepath.Join(dir, fmt.Sprint("api-", i, ".log"))}
		require.NoError(t, p.Start())
		t.Cleanup(func() { p.Stop(10 * time.Second) })
		require.NoError(t, harness.WaitHTTP(ctx, "http://"+addr+"/healthz", 30*time.Second, p.Alive), p.LogTail(20))
		bases = append(bases, "http://"+addr)
	}
	path := "/patient/" + uuid.NewString()
	for _, base := range bases {
		require.Equal(t, http.StatusNotFound, get(t, base, path, created.Token), base)
	}

	var out bytes.Buffer
	require.NoError(t, run(ctx, []string{"customer", "token", created.ID, "--json"}, env.Getenv, &out, io.Discard))
	var second map[string]any
	require.NoError(t, json.Unmarshal(out.Bytes(), &second))
	require.ElementsMatch(t, []string{"token", "token-id", "expires-at"}, keys(second))
	expires, err := time.Parse(time.RFC3339, second["expires-at"].(string))
	require.NoError(t, err)
	require.WithinDuration(t, time.Now().Add(90*24*time.Hour), expires, time.Minute, "default lifetime 90 days")

	out.Reset()
	require.NoError(t, run(ctx, []string{"customer", "tokens", created.ID, "--json"}, env.Getenv, &out, io.Discard))
	var list []map[string]any
	require.NoError(t, json.Unmarshal(out.Bytes(), &list))
	require.Len(t, list, 2)
	require.NotContains(t, out.String(), created.Token, "the list holds no token")
	first := list[0]["token-id"].(string)
	require.NotEqual(t, second["token-id"], first)

	require.NoError(t, run(ctx, []string{"customer", "token", "revoke", created.ID, "--token-id", first}, env.Getenv, io.Discard, io.Discard))
	revokedAt := time.Now()
	for _, base := range bases {
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			assert.Equal(c, http.StatusUnauthorized, get(t, base, path, created.Token))
		}, time.Second, 20*time.Millisecond, base)
		require.Equal(t, http.StatusNotFound, get(t, base, path, second["token"].(string)), "the other token still works")
	}
	require.Less(t, time.Since(revokedAt), 2*time.Second)
	require.Error(t, run(ctx, []string{"customer", "token", "revoke", created.ID, "--token-id", uuid.NewString()}, env.Getenv, io.Discard, io.Discard))
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// `migrate down` without a target refuses: it would drop everything, the
// history included.
func TestMigrateDownNeedsATarget(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env := harness.ServiceEnv(pgtest.URL(t), "")
	require.ErrorContains(t, run(ctx, []string{"migrate", "down"}, env.Getenv, io.Discard, io.Discard), "--to N or --all --yes")
	require.ErrorContains(t, run(ctx, []string{"migrate", "down", "1"}, env.Getenv, io.Discard, io.Discard), "--to N or --all --yes")
	require.ErrorContains(t, run(ctx, []string{"migrate", "down", "--all"}, env.Getenv, io.Discard, io.Discard), "--yes")
	var out bytes.Buffer
	require.NoError(t, run(ctx, []string{"migrate", "version"}, env.Getenv, &out, io.Discard))
	latest := out.String()

	out.Reset()
	require.NoError(t, run(ctx, []string{"migrate", "down", "--to", "13"}, env.Getenv, &out, io.Discard))
	require.Contains(t, out.String(), "schema version 13 ")
	require.NoError(t, run(ctx, []string{"migrate", "up"}, env.Getenv, io.Discard, io.Discard))
	out.Reset()
	require.NoError(t, run(ctx, []string{"migrate", "version"}, env.Getenv, &out, io.Discard))
	require.Equal(t, latest, out.String())
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Must show (issue 15): after a busy run — links, no results, de-links,
// retried webhooks, async searches — neither a pg_dump of the database nor
// the debug log holds a name, a date of birth, a phone, an email, or a plain
// SHA-256 of any of them or of a request.
func TestNoPHIInDumpOrLogs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var logs lockedBuffer
	s := startServiceLogging(t, indexsim.Config{Async: true}, 1, &logs)
	pop := s.sim.Population()

	type patient struct{ name, dob, email, phone string }
	var patients []patient
	var workflows, canonicals []string
	for i := range 6 {
		p := patient{name: pop[10+i].FullName, dob: pop[10+i].DOB, email: fmt.Sprintf("person%d.secret@example.org", i), phone: fmt.Sprintf("+1 555 01%02d", i)}
		if i == 5 {
			p.name, p.dob = "Unknownia Nobodyson", "1911-11-11" // NO_RESULTS
		}
		patients = append(patients, p)
		raw, err := json.Marshal(map[string]any{"patient": map[string]any{"id": uuid.New(), "full_name": p.name, "dob": p.dob,
			"contact": map[string]any{"email": p.email, "phone": p.phone}}})
		require.NoError(t, err)
		req, err := link.ParseRequest(raw, time.Now())
		require.NoError(t, err)
		canonicals = append(canonicals, string(req.Canonical()))
		code, res := s.call(t, http.MethodPost, "/link", uuid.NewString(), json.RawMessage(raw))
		require.Equal(t, http.StatusAccepted, code, res)
		workflows = append(workflows, res["workflow-id"].(string))
	}
	for _, id := range workflows {
		s.waitStatus(t, id, "COMPLETED")
	}

	bin, err := pgcluster.BinDir()
	require.NoError(t, err)
	dump, err := exec.CommandContext(ctx, filepath.Join(bin, "pg_dump"), "--no-owner", "-d", s.env["DATABASE_URL"]).Output()
	require.NoError(t, err)
	require.Contains(t, string(dump), "workflow_events", "the dump is a dump")
	texts := map[string]string{"pg_dump": string(dump), "debug log": logs.String()}
	require.Contains(t, texts["debug log"], `"level":"DEBUG"`, "the log is at debug level")

	hashes := func(v string) []string {
		sum := sha256.Sum256([]byte(v))
		return []string{hex.EncodeToString(sum[:]), strings.ToUpper(hex.EncodeToString(sum[:]))}
	}
	for i, p := range patients {
		forbidden := []string{p.name, p.dob, p.email, p.phone}
		forbidden = append(forbidden, strings.Fields(p.name)...)
		for _, v := range []string{p.name, p.dob, p.email, p.phone, strings.ToLower(p.name)} {
			forbidden = append(forbidden, hashes(v)...)
		}
		// The request fingerprint as it was before issue 15: a plain
		// SHA-256 of the route and the canonical request.
		forbidden = append(forbidden, hashes("POST /link\n"+canonicals[i])...)
		for what, text := range texts {
			for _, f := range forbidden {
				require.NotContains(t, text, f, "%s holds patient %d's %q", what, i, f)
			}
		}
	}
}
