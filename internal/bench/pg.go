package bench

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// dbStats are cumulative counters of the benchmark database and the WAL.
type dbStats struct {
	XactCommit   int64   `json:"xact_commit"`
	XactRollback int64   `json:"xact_rollback"`
	TupInserted  int64   `json:"tup_inserted"`
	TupUpdated   int64   `json:"tup_updated"`
	BlksRead     int64   `json:"blks_read"`
	WALRecords   int64   `json:"wal_records"`
	WALBytes     float64 `json:"wal_bytes"`
	WALWrite     int64   `json:"wal_write"`
	WALSync      int64   `json:"wal_sync"`
	WALSyncMS    float64 `json:"wal_sync_time_ms"`
}

func (a dbStats) sub(b dbStats) dbStats {
	return dbStats{
		XactCommit: a.XactCommit - b.XactCommit, XactRollback: a.XactRollback - b.XactRollback,
		TupInserted: a.TupInserted - b.TupInserted, TupUpdated: a.TupUpdated - b.TupUpdated,
		BlksRead: a.BlksRead - b.BlksRead, WALRecords: a.WALRecords - b.WALRecords, WALBytes: a.WALBytes - b.WALBytes,
		WALWrite: a.WALWrite - b.WALWrite, WALSync: a.WALSync - b.WALSync, WALSyncMS: a.WALSyncMS - b.WALSyncMS,
	}
}

func readDBStats(ctx context.Context, pool *pgxpool.Pool) (dbStats, error) {
	var s dbStats
	err := pool.QueryRow(ctx, `
		SELECT d.xact_commit, d.xact_rollback, d.tup_inserted, d.tup_updated, d.blks_read,
		       w.wal_records, w.wal_bytes::float8, w.wal_write, w.wal_sync, w.wal_sync_time
		FROM pg_stat_database d, pg_stat_wal w WHERE d.datname = current_database()`).
		Scan(&s.XactCommit, &s.XactRollback, &s.TupInserted, &s.TupUpdated, &s.BlksRead,
			&s.WALRecords, &s.WALBytes, &s.WALWrite, &s.WALSync, &s.WALSyncMS)
	return s, err
}

// WaitShare is how many backends of the benchmark database were, on
// average over the samples, in one state/wait.
type WaitShare struct {
	What     string  `json:"what"`
	Backends float64 `json:"backends"`
}

// activitySampler samples pg_stat_activity of a database while a phase
// runs: how many backends run on CPU, wait on the WAL flush, on locks, or
// sit idle in a transaction waiting for the application's next statement.
type activitySampler struct {
	pool   *pgxpool.Pool // connected to another database, so it does not count itself
	dbName string

	mu      sync.Mutex
	samples int
	sums    map[string]float64
	stop    context.CancelFunc
	done    chan struct{}
}

func startSampler(ctx context.Context, pool *pgxpool.Pool, dbName string, every time.Duration) *activitySampler {
	ctx, cancel := context.WithCancel(ctx)
	s := &activitySampler{pool: pool, dbName: dbName, sums: map[string]float64{}, stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for i := 0; i < 1_000_000; i++ {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			s.sample(ctx)
		}
	}()
	return s
}

func (s *activitySampler) sample(ctx context.Context) {
	rows, err := s.pool.Query(ctx, `
		SELECT state, coalesce(wait_event_type, ''), coalesce(wait_event, ''), count(*)
		FROM pg_stat_activity
		WHERE datname = $1 AND backend_type = 'client backend' AND state IS NOT NULL AND state <> 'idle'
		GROUP BY 1, 2, 3`, s.dbName)
	if err != nil {
		return
	}
	counts := map[string]float64{}
	for rows.Next() {
		var state, typ, event string
		var n int64
		if rows.Scan(&state, &typ, &event, &n) != nil {
			continue
		}
		counts[waitLabel(state, typ, event)] += float64(n)
	}
	if rows.Err() != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.samples++
	for k, v := range counts {
		s.sums[k] += v
	}
}

func waitLabel(state, typ, event string) string {
	switch {
	case state == "active" && typ == "":
		return "active: on CPU"
	case state == "active":
		return "active: waiting " + typ + "/" + event
	case state == "idle in transaction" && typ == "Client":
		return "idle in transaction: waiting for the app"
	}
	if typ != "" {
		return state + ": " + typ + "/" + event
	}
	return state
}

// Finish stops sampling and returns the average backends per state.
func (s *activitySampler) Finish() []WaitShare {
	s.stop()
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []WaitShare
	for k, v := range s.sums {
		if s.samples > 0 {
			out = append(out, WaitShare{What: k, Backends: round3(v / float64(s.samples))})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Backends > out[j].Backends })
	return out
}

// StatementStat is one statement's cost from pg_stat_statements.
type StatementStat struct {
	Name      string  `json:"name"`
	Calls     int64   `json:"calls"`
	PerLink   float64 `json:"calls_per_link"`
	MeanMS    float64 `json:"mean_exec_ms"`
	MaxMS     float64 `json:"max_exec_ms"`
	TotalMS   float64 `json:"total_exec_ms"`
	ShareExec float64 `json:"share_of_exec_time"`
}

var sqlcName = regexp.MustCompile(`-- name: (\w+)`)

func statementName(q string) string {
	if m := sqlcName.FindStringSubmatch(q); m != nil {
		return m[1]
	}
	q = strings.Join(strings.Fields(q), " ")
	if len(q) > 60 {
		q = q[:60] + "…"
	}
	return q
}

func resetStatements(ctx context.Context, pool *pgxpool.Pool) bool {
	_, err := pool.Exec(ctx, "SELECT pg_stat_statements_reset()")
	return err == nil
}

// readStatements lists the statements of the benchmark database by total
// execution time; links scales calls to calls per link.
func readStatements(ctx context.Context, pool *pgxpool.Pool, links int, limit int) ([]StatementStat, error) {
	rows, err := pool.Query(ctx, `
		SELECT s.query, s.calls, s.total_exec_time, s.max_exec_time
		FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
		WHERE d.datname = current_database() AND s.query NOT LIKE '%pg_stat_statements%'
		ORDER BY s.total_exec_time DESC`)
	if err != nil {
		return nil, err
	}
	type agg struct {
		calls      int64
		total, max float64
	}
	byName := map[string]*agg{}
	var grand float64
	for rows.Next() {
		var q string
		var calls int64
		var total, mx float64
		if err := rows.Scan(&q, &calls, &total, &mx); err != nil {
			return nil, err
		}
		name := statementName(q)
		a := byName[name]
		if a == nil {
			a = &agg{}
			byName[name] = a
		}
		a.calls += calls
		a.total += total
		a.max = max(a.max, mx)
		grand += total
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var out []StatementStat
	for name, a := range byName {
		st := StatementStat{Name: name, Calls: a.calls, TotalMS: round3(a.total), MaxMS: round3(a.max)}
		if a.calls > 0 {
			st.MeanMS = round3(a.total / float64(a.calls))
		}
		if links > 0 {
			st.PerLink = round3(float64(a.calls) / float64(links))
		}
		if grand > 0 {
			st.ShareExec = round3(a.total / grand)
		}
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].TotalMS > out[j].TotalMS })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// pgSettings are the server settings that shape the figures.
var pgSettingNames = []string{
	"server_version", "max_connections", "shared_buffers", "synchronous_commit", "fsync", "full_page_writes",
	"wal_sync_method", "wal_level", "wal_buffers", "commit_delay", "max_wal_size", "checkpoint_timeout",
	"work_mem", "effective_io_concurrency", "shared_preload_libraries", "track_wal_io_timing",
}

func readSettings(ctx context.Context, pool *pgxpool.Pool) (map[string]string, error) {
	rows, err := pool.Query(ctx, `SELECT name, setting, coalesce(unit, '') FROM pg_settings WHERE name = ANY($1)`, pgSettingNames)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for rows.Next() {
		var name, setting, unit string
		if err := rows.Scan(&name, &setting, &unit); err != nil {
			return nil, err
		}
		out[name] = humanSetting(setting, unit)
	}
	return out, rows.Err()
}

func humanSetting(setting, unit string) string {
	var n int64
	if _, err := fmt.Sscan(setting, &n); err == nil {
		switch unit {
		case "8kB":
			return humanBytes(n * 8192)
		case "kB":
			return humanBytes(n * 1024)
		case "MB":
			return humanBytes(n << 20)
		}
	}
	if unit != "" {
		return setting + unit
	}
	return setting
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%dGB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMB", n>>20)
	case n >= 1<<10:
		return fmt.Sprintf("%dkB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

// completionLatencies are, for the given workflows, the time from the
// RECEIVED event to the COMPLETED event (database clock), by workflow.
func completionLatencies(ctx context.Context, pool *pgxpool.Pool, ids []string) (map[string]time.Duration, error) {
	out := make(map[string]time.Duration, len(ids))
	for len(ids) > 0 {
		n := min(len(ids), 20000)
		batch := ids[:n]
		ids = ids[n:]
		rows, err := pool.Query(ctx, `
			SELECT r.workflow_id::text, c.created_at - r.created_at
			FROM workflow_events r
			JOIN workflow_events c ON c.workflow_id = r.workflow_id AND c.to_status = 'COMPLETED'
			WHERE r.workflow_id = ANY($1::uuid[]) AND r.to_status = 'RECEIVED'`, batch)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id string
			var d time.Duration
			if err := rows.Scan(&id, &d); err != nil {
				rows.Close()
				return nil, err
			}
			out[id] = d
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// workflowStates counts the given workflows by status and outcome.
func workflowStates(ctx context.Context, pool *pgxpool.Pool, ids []string) (Counts, error) {
	c := Counts{}
	for len(ids) > 0 {
		n := min(len(ids), 20000)
		batch := ids[:n]
		ids = ids[n:]
		rows, err := pool.Query(ctx, `
			SELECT status || coalesce('/' || outcome, ''), count(*) FROM workflows
			WHERE id = ANY($1::uuid[]) GROUP BY 1`, batch)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var k string
			var n int
			if err := rows.Scan(&k, &n); err != nil {
				rows.Close()
				return nil, err
			}
			c[k] += n
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func round3(f float64) float64 {
	return float64(int64(f*1000+0.5)) / 1000
}
