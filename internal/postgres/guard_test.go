package postgres_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"
)

// Must show (issue 15): as patientlink_app, a back-dated or id-forced
// history insert is refused, a status change outside the state machine is
// refused, and schema_migrations cannot be written; what the app may do
// still works.
func TestAppRoleMeetsTheWalls(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupAudit(t)
	app := connect(t, b.login(t, roleApp))

	// History: the transaction's time and the sequence's id, nothing else.
	_, err := app.Exec(ctx, `INSERT INTO workflow_events (workflow_id, customer_id, request_type, to_status, attempt, created_at)
		VALUES ($1, $2, 'LINK', 'LINKED', 1, '2020-01-01 00:00:00+00')`, wfOpen, custTwo)
	requireSQLState(t, err, "42501", "back-dated workflow event")
	_, err = app.Exec(ctx, `INSERT INTO webhook_deliveries (workflow_id, customer_id, event_id, attempt, attempted_at, target_host, latency_ms, delivered)
		VALUES ($1, $2, 'msg_x', 9, now() - interval '1 day', 'h.example', 1, true)`, wfOpen, custTwo)
	requireSQLState(t, err, "42501", "back-dated delivery")
	_, err = app.Exec(ctx, `INSERT INTO reconciliation_reports (id, pending_total, by_state_age, oldest)
		OVERRIDING SYSTEM VALUE VALUES (1000000, 0, '{}', '[]')`)
	requireSQLState(t, err, "42501", "id-forced report")
	_, err = app.Exec(ctx, `INSERT INTO workflow_events (id, workflow_id, customer_id, request_type, to_status, attempt)
		OVERRIDING SYSTEM VALUE VALUES (777, $1, $2, 'LINK', 'LINKED', 1)`, wfOpen, custTwo)
	requireSQLState(t, err, "42501", "id-forced workflow event")
	// The way the service writes history still works, several rows per
	// statement included.
	_, err = app.Exec(ctx, `INSERT INTO reconciliation_reports (pending_total, by_state_age, oldest)
		VALUES (0, '{}', '[]'), (1, '{}', '[]')`)
	require.NoError(t, err)

	// The state machine: RECEIVED → COMPLETED is no transition.
	var received string
	require.NoError(t, b.super.QueryRow(ctx, `INSERT INTO workflows (id, customer_id, patient_id, request_type, status)
		VALUES (gen_random_uuid(), $1, gen_random_uuid(), 'LINK', 'RECEIVED') RETURNING id`, custOne).Scan(&received))
	_, err = app.Exec(ctx, "UPDATE workflows SET status = 'COMPLETED' WHERE id = $1", received)
	requireSQLState(t, err, "23514", "RECEIVED → COMPLETED")
	_, err = app.Exec(ctx, "UPDATE workflows SET status = 'IN_PROGRESS' WHERE id = $1", wfLink1)
	requireSQLState(t, err, "23514", "COMPLETED → IN_PROGRESS")
	_, err = app.Exec(ctx, "UPDATE workflows SET request_type = 'DELINK' WHERE id = $1", received)
	requireSQLState(t, err, "23514", "a LINK becomes a DELINK")
	_, err = app.Exec(ctx, "DELETE FROM workflow_transitions")
	requireSQLState(t, err, "42501", "app edits the transitions")
	_, err = app.Exec(ctx, "UPDATE workflows SET status = 'IN_PROGRESS' WHERE id = $1", received)
	require.NoError(t, err, "RECEIVED → IN_PROGRESS is a transition")
	_, err = b.super.Exec(ctx, "UPDATE workflows SET status = 'RECEIVED' WHERE id = $1", received)
	requireSQLState(t, err, "23514", "the superuser meets the same wall")

	// The migrations' bookkeeping: readable (for /readyz), not writable.
	var version int64
	require.NoError(t, app.QueryRow(ctx, "SELECT version FROM schema_migrations").Scan(&version))
	for _, stmt := range []string{
		"UPDATE schema_migrations SET dirty = true",
		"DELETE FROM schema_migrations",
		"INSERT INTO schema_migrations (version, dirty) VALUES (1, false)",
		"TRUNCATE schema_migrations",
	} {
		_, err = app.Exec(ctx, stmt)
		requireSQLState(t, err, "42501", stmt)
	}
}

// Audit views read history rows only: a later change of the mutable
// mapping and workflow rows does not rewrite what auditors see.
func TestAuditViewsReadHistoryOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupAudit(t)
	app := connect(t, b.login(t, roleApp))

	// The service's way of writing a mapping event copies the score.
	var mappingID int64
	require.NoError(t, app.QueryRow(ctx, `
		WITH m AS (
			INSERT INTO patient_mappings (customer_id, customer_patient_id, internal_patient_id, status, score, workflow_id)
			VALUES ($1, $2, 'internal-x', 'LINKED', 0.91, $3) RETURNING *
		), e AS (
			INSERT INTO mapping_events (mapping_id, customer_id, customer_patient_id, internal_patient_id, status, workflow_id, request_type)
			SELECT m.id, m.customer_id, m.customer_patient_id, m.internal_patient_id, m.status, m.workflow_id, 'LINK' FROM m
		) SELECT id FROM m`, custOne, patFive, wfRetried).Scan(&mappingID))

	read := func() (score float64, patient, requestType string) {
		require.NoError(t, b.super.QueryRow(ctx, "SELECT score FROM audit.linkage_history WHERE mapping_id = $1", mappingID).Scan(&score))
		require.NoError(t, b.super.QueryRow(ctx, `SELECT customer_patient_id::text FROM audit.workflow_timeline
			WHERE workflow_id = $1 ORDER BY id LIMIT 1`, wfLink1).Scan(&patient))
		require.NoError(t, b.super.QueryRow(ctx, `SELECT request_type FROM audit.webhook_deliveries
			WHERE workflow_id = $1 ORDER BY id LIMIT 1`, wfLink1).Scan(&requestType))
		return score, patient, requestType
	}
	score, patient, requestType := read()
	require.InDelta(t, 0.91, score, 1e-9)
	require.Equal(t, patOne, patient)
	require.Equal(t, "LINK", requestType)

	_, err := app.Exec(ctx, "UPDATE patient_mappings SET score = 0.1 WHERE id = $1", mappingID)
	require.NoError(t, err)
	_, err = app.Exec(ctx, "UPDATE workflows SET patient_id = $1 WHERE id = $2", patFour, wfLink1)
	require.NoError(t, err)
	score, patient, requestType = read()
	require.InDelta(t, 0.91, score, 1e-9, "the score as it was when linked")
	require.Equal(t, patOne, patient)
	require.Equal(t, "LINK", requestType)
}

type riverUIArgs struct{}

func (riverUIArgs) Kind() string { return "riverui-test" }

// Must show (issue 15): River UI's role lists, retries and cancels jobs and
// lists queues through River's own client — what River UI does — and
// cannot read customers, payloads, mappings or history.
func TestRiverUIRole(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupAudit(t)
	pool, err := pgxpool.New(ctx, b.login(t, "patientlink_riverui"))
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
	require.NoError(t, err)

	inserted, err := client.Insert(ctx, riverUIArgs{}, nil)
	require.NoError(t, err)
	_, err = b.super.Exec(ctx, "UPDATE river_job SET state = 'discarded', finalized_at = now() WHERE id = $1", inserted.Job.ID)
	require.NoError(t, err)

	list, err := client.JobList(ctx, river.NewJobListParams().States(rivertype.JobStateDiscarded))
	require.NoError(t, err)
	require.Len(t, list.Jobs, 1)
	retried, err := client.JobRetry(ctx, inserted.Job.ID)
	require.NoError(t, err)
	require.Equal(t, rivertype.JobStateAvailable, retried.State)
	cancelled, err := client.JobCancel(ctx, inserted.Job.ID)
	require.NoError(t, err)
	require.Equal(t, rivertype.JobStateCancelled, cancelled.State)
	_, err = client.QueueList(ctx, river.NewQueueListParams())
	require.NoError(t, err)

	for _, table := range []string{"customers", "request_payloads", "patient_mappings", "workflows", "workflow_events",
		"mapping_events", "webhook_deliveries", "idempotency_keys", "customer_tokens", "schema_migrations"} {
		_, err := pool.Exec(ctx, "SELECT 1 FROM "+table+" LIMIT 1")
		requireSQLState(t, err, "42501", table)
	}
	_, err = pool.Exec(ctx, "SELECT 1 FROM audit.linkage_history LIMIT 1")
	requireSQLState(t, err, "42501", "audit schema")
}

// sql/roles.sql creates no login with a password written in it.
func TestRolesSQLHasNoKnownPassword(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join("..", "..", "sql", "roles.sql"))
	require.NoError(t, err)
	for i, line := range strings.Split(string(raw), "\n") {
		code, _, _ := strings.Cut(line, "--")
		require.NotRegexp(t, `(?i)password\s*'`, code, "sql/roles.sql:%d sets a password", i+1)
		if strings.Contains(strings.ToUpper(code), "CREATE ROLE") {
			require.NotContains(t, strings.ToUpper(code), "PASSWORD", "sql/roles.sql:%d", i+1)
		}
	}
}
