package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/patientlink/patientlink/internal/harness"
	"github.com/patientlink/patientlink/internal/indexsim"
	"github.com/patientlink/patientlink/internal/pgtest"
	"github.com/patientlink/patientlink/internal/webhooksink"
)

// Must show (issue 7): /readyz turns 503 while Postgres is stopped and back
// to 200 after it restarts, without a process restart.
func TestReadyzFollowsDatabase(t *testing.T) {
	t.Parallel()
	root, err := filepath.Abs("../../.data")
	require.NoError(t, err)
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	dir := filepath.Join(root, "readyz-test-"+hex.EncodeToString(suffix))
	port, err := harness.FreePort()
	require.NoError(t, err)
	c := harness.NewCluster(filepath.Join(dir, "pg"), port, nil)
	ctx := context.Background()
	require.NoError(t, c.Start(ctx))
	t.Cleanup(func() {
		_ = c.Stop(context.Background())
		_ = os.RemoveAll(dir)
	})
	dbURL, err := c.FreshDatabase(ctx, "patientlink")
	require.NoError(t, err)

	addr := freeAddr(t)
	env := harness.ServiceEnv(dbURL, "").With(harness.Env{"PATIENTLINK_ADDR": addr, "PATIENTLINK_LOG_LEVEL": "error"})
	require.NoError(t, run(ctx, []string{"migrate", "up"}, env.Getenv, io.Discard, io.Discard))
	startServe(ctx, t, env, "api")

	readyz := func() (int, time.Duration) {
		start := time.Now()
		res, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return 0, time.Since(start)
		}
		res.Body.Close()
		return res.StatusCode, time.Since(start)
	}
	require.NoError(t, harness.WaitHTTP(ctx, "http://"+addr+"/readyz", 10*time.Second, nil))

	require.NoError(t, c.Stop(ctx))
	// The answer is cached for up to a second (one probe per second at
	// most), so the next probe after the stop reports it.
	stopped := time.Now()
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		code, took := readyz()
		assert.Equal(ct, http.StatusServiceUnavailable, code)
		assert.Less(ct, took, 3*time.Second, "a down database is reported fast, not hung on")
	}, 5*time.Second, 100*time.Millisecond)
	require.Less(t, time.Since(stopped), 4*time.Second)
	res, err := http.Get("http://" + addr + "/healthz")
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode, "the process itself is alive")

	require.NoError(t, c.Start(ctx))
	require.NoError(t, harness.WaitHTTP(ctx, "http://"+addr+"/readyz", 20*time.Second, nil), "ready again without a restart")
}

// Must show (issue 7): two api and two worker processes against one
// database under load; each is sent SIGTERM (its context cancelled, which
// is what main does on SIGTERM) in turn and started again while requests
// flow. Every acknowledged request reaches an end state, and no answer is a
// 5xx other than the documented 503.
func TestRollingRestartUnderLoad(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	sim := indexsim.New(indexsim.Config{Seed: 1, Size: 2000})
	simSrv := httptest.NewServer(sim.Handler())
	t.Cleanup(func() { sim.Close(); simSrv.Close() })
	sinkHolder := &atomic.Pointer[webhooksink.Sink]{}
	sinkSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { sinkHolder.Load().Handler().ServeHTTP(w, r) }))
	t.Cleanup(sinkSrv.Close)

	env := harness.ServiceEnv(pgtest.URL(t), simSrv.URL).With(harness.Env{
		"PATIENTLINK_FETCH_POLL_INTERVAL":    "50ms",
		"PATIENTLINK_RETRY_BASE":             "50ms",
		"PATIENTLINK_WEBHOOK_RETRY_SCHEDULE": "0s,50ms,100ms,200ms,500ms,1s,1s,1s",
		"PATIENTLINK_RECONCILE_INTERVAL":     "1s",
		"PATIENTLINK_RECONCILE_AFTER":        "3s",
		"PATIENTLINK_RATE_LIMIT":             "0",
		"PATIENTLINK_SHUTDOWN_TIMEOUT":       "5s",
		"PATIENTLINK_RIVER_STOP_TIMEOUT":     "2s",
		"PATIENTLINK_DB_MAX_CONNS":           "10",
		"PATIENTLINK_LOG_LEVEL":              "error",
	})
	require.NoError(t, run(ctx, []string{"migrate", "up"}, env.Getenv, io.Discard, io.Discard))
	created := createCustomer(ctx, t, env, sinkSrv.URL+"/hook")
	sinkHolder.Store(webhooksink.New(webhooksink.Config{Secrets: []string{created.WebhookSecret}}))

	// The four processes, each restartable.
	type proc struct {
		role, addr string
		serve      *harness.InProcess
	}
	start := func(p *proc) {
		p.serve = startServe(ctx, t, env.With(harness.Env{"PATIENTLINK_ADDR": p.addr}), p.role)
	}
	procs := []*proc{{role: "api", addr: freeAddr(t)}, {role: "api", addr: freeAddr(t)}, {role: "worker", addr: freeAddr(t)}, {role: "worker", addr: freeAddr(t)}}
	for _, p := range procs {
		start(p)
	}

	// Clients send links until told to stop, each with its own key, retried
	// on the other api when a connection fails or a 503 comes back.
	var (
		mu       sync.Mutex
		acked    = map[string]bool{}
		statuses = map[int]int{}
	)
	pop := sim.Population()
	loadCtx, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var next atomic.Int64
	for c := range 8 {
		wg.Go(func() {
			for loadCtx.Err() == nil {
				i := int(next.Add(1))
				if i >= len(pop) {
					return
				}
				key := uuid.NewString()
				body, _ := json.Marshal(map[string]any{"patient": map[string]any{"id": uuid.New(), "full_name": pop[i].FullName, "dob": pop[i].DOB}})
				for try := range 20 {
					addr := procs[(c+try)%2].addr
					req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/link", bytes.NewReader(body))
					req.Header.Set("Customer-Token", created.Token)
					req.Header.Set("Idempotency-Key", key)
					req.Header.Set("Content-Type", "application/json")
					res, err := http.DefaultClient.Do(req)
					if err != nil {
						time.Sleep(20 * time.Millisecond)
						continue
					}
					var m map[string]any
					_ = json.NewDecoder(res.Body).Decode(&m)
					res.Body.Close()
					mu.Lock()
					statuses[res.StatusCode]++
					if res.StatusCode == http.StatusAccepted {
						acked[m["workflow-id"].(string)] = true
					}
					mu.Unlock()
					if res.StatusCode != http.StatusServiceUnavailable {
						break
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
		})
	}
	// SIGTERM each process in turn, and start it again.
	for _, p := range procs {
		time.Sleep(400 * time.Millisecond)
		require.NoError(t, p.serve.Stop(20*time.Second), "%s shut down cleanly", p.role)
		time.Sleep(200 * time.Millisecond)
		start(p)
	}
	time.Sleep(400 * time.Millisecond)
	stopLoad()
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	require.Greater(t, len(acked), 50, "load flowed: %v", statuses)
	for code, n := range statuses {
		require.True(t, code == http.StatusAccepted || code == http.StatusServiceUnavailable, "unexpected %d ×%d", code, n)
	}
	ids := make([]string, 0, len(acked))
	for id := range acked {
		ids = append(ids, "'"+id+"'")
	}
	inList := "(" + strings.Join(ids, ",") + ")"
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		var ended int
		if assert.NoError(c, queryRow(t, env["DATABASE_URL"], "SELECT count(*) FROM workflows WHERE status IN ('COMPLETED','FAILED') AND id IN "+inList).Scan(&ended)) {
			assert.Equal(c, len(acked), ended, "still open: %s", pendingSummary(t, env["DATABASE_URL"], inList))
		}
	}, 60*time.Second, 100*time.Millisecond, "every acknowledged request reaches an end state")
	var completed, total int
	require.NoError(t, queryRow(t, env["DATABASE_URL"], "SELECT count(*) FILTER (WHERE status = 'COMPLETED'), count(*) FROM workflows WHERE id IN "+inList).Scan(&completed, &total))
	require.Equal(t, len(acked), total, "nothing acknowledged is missing")
	require.Equal(t, len(acked), completed, "all completed")
	t.Logf("acknowledged %d; answers %v", len(acked), statuses)
}

// pendingSummary says what the workflows not ended are waiting for.
func pendingSummary(t *testing.T, dbURL, inList string) string {
	var out string
	_ = queryRow(t, dbURL, `SELECT coalesce(string_agg(w.status || '/' || coalesce(e.delivery_status, '-') || '/' || coalesce(e.last_error, '-'), '; '), '')
		FROM workflows AS w LEFT JOIN events AS e ON e.workflow_id = w.id
		WHERE w.status NOT IN ('COMPLETED','FAILED') AND w.id IN `+inList).Scan(&out)
	return out
}
