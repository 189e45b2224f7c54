package postgres_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"
)

const (
	roleAuditor = "patientlink_auditor"
	roleApp     = "patientlink_app"
)

// Every file of sql/audit runs through psql as an auditor login and gives
// the fixture's rows.
func TestAuditQueries(t *testing.T) {
	t.Parallel()
	b := setupAudit(t)
	auditorURL := b.login(t, roleAuditor)
	dir := auditDir(t)
	m1, m2, m3 := b.mappingID(t, wfLink1), b.mappingID(t, wfSlow), b.mappingID(t, wfOpen)
	march := map[string]string{"from": "2025-03-01", "to": "2025-04-01"}
	with := func(base map[string]string, kv ...string) map[string]string {
		out := map[string]string{}
		for k, v := range base {
			out[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}

	type run struct {
		name string
		vars map[string]string
		want [][]string // nil: check instead
		// check inspects the rows when want cannot be exact.
		check func(t *testing.T, rows [][]string)
	}
	cases := map[string][]run{
		"patient_history.sql": {
			{
				name: "linked then de-linked",
				vars: map[string]string{"customer_id": custOne, "patient_id": patOne},
				want: [][]string{
					{"2025-03-03 09:00:00+00", "workflow", wfLink1, "LINK", "RECEIVED", "", "attempt 1"},
					{"2025-03-03 09:00:01+00", "workflow", wfLink1, "LINK", "IN_PROGRESS", "", "from RECEIVED; attempt 1"},
					{"2025-03-03 09:00:02+00", "mapping", wfLink1, "LINK", "LINKED", internalOne, "mapping " + m1 + "; score 0.97"},
					{"2025-03-03 09:00:02+00", "workflow", wfLink1, "LINK", "LINKED", "", "from IN_PROGRESS; attempt 1"},
					{"2025-03-03 09:00:03+00", "webhook", wfLink1, "LINK", "DELIVERED", "", "attempt 1; host hooks.clinic-one.example; HTTP 200; event msg_w1"},
					{"2025-03-03 09:00:03+00", "workflow", wfLink1, "LINK", "COMPLETED", "", "from LINKED; attempt 1"},
					{"2025-03-10 14:00:00+00", "workflow", wfDelink1, "DELINK", "RECEIVED", "", "attempt 1"},
					{"2025-03-10 14:00:01+00", "workflow", wfDelink1, "DELINK", "IN_PROGRESS", "", "from RECEIVED; attempt 1"},
					{"2025-03-10 14:00:02+00", "mapping", wfDelink1, "DELINK", "DE-LINKED", internalOne, "mapping " + m1 + "; undoes the link made by " + wfLink1},
					{"2025-03-10 14:00:02+00", "workflow", wfDelink1, "DELINK", "DE_LINKED", "", "from IN_PROGRESS; attempt 1"},
					{"2025-03-10 14:00:05+00", "webhook", wfDelink1, "DELINK", "DELIVERED", "", "attempt 1; host hooks.clinic-one.example; HTTP 200; event msg_w2"},
					{"2025-03-10 14:00:05+00", "workflow", wfDelink1, "DELINK", "COMPLETED", "", "from DE_LINKED; attempt 1"},
				},
			},
			{
				name: "failed",
				vars: map[string]string{"customer_id": custOne, "patient_id": patThree},
				want: [][]string{
					{"2025-03-05 08:00:00+00", "workflow", wfFailed, "LINK", "RECEIVED", "", "attempt 1"},
					{"2025-03-05 08:00:01+00", "workflow", wfFailed, "LINK", "IN_PROGRESS", "", "from RECEIVED; attempt 1"},
					{"2025-03-05 08:00:31+00", "workflow", wfFailed, "LINK", "FAILED", "", "from IN_PROGRESS; attempt 1; reason: index_rejected"},
					{"2025-03-05 08:00:32+00", "webhook", wfFailed, "LINK", "DELIVERED", "", "attempt 1; host hooks.clinic-one.example; HTTP 200; event msg_w4"},
				},
			},
			{
				name: "another customer's patient id",
				vars: map[string]string{"customer_id": custTwo, "patient_id": patOne},
				want: nil,
			},
		},
		"customer_links.sql": {
			{
				name: "march",
				vars: with(march, "customer_id", custOne),
				want: [][]string{
					{"2025-03-03 09:00:02+00", patOne, internalOne, wfLink1, "2025-03-03 09:00:00+00", m1, "0.97", "2025-03-10 14:00:02+00", wfDelink1},
					{"2025-03-04 10:45:00+00", patTwo, internalTwo, wfSlow, "2025-03-04 10:00:00+00", m2, "0.93", "", ""},
				},
			},
			{
				name: "from the 4th",
				vars: with(march, "customer_id", custOne, "from", "2025-03-04"),
				want: [][]string{
					{"2025-03-04 10:45:00+00", patTwo, internalTwo, wfSlow, "2025-03-04 10:00:00+00", m2, "0.93", "", ""},
				},
			},
			{
				name: "customer two",
				vars: with(march, "customer_id", custTwo),
				want: [][]string{
					{"2025-03-06 12:00:02+00", patFour, internalOne, wfOpen, "2025-03-06 12:00:00+00", m3, "0.95", "", ""},
				},
			},
		},
		"delinks.sql": {
			{
				name: "march, every customer",
				vars: march,
				want: [][]string{
					{"2025-03-10 14:00:02+00", custOne, wfDelink1, "2025-03-10 14:00:00+00", patOne, internalOne, m1, "2025-03-03 09:00:02+00", wfLink1},
				},
			},
			{
				name: "customer one, upper case id",
				vars: with(march, "customer_id", strings.ToUpper(custOne)),
				want: [][]string{
					{"2025-03-10 14:00:02+00", custOne, wfDelink1, "2025-03-10 14:00:00+00", patOne, internalOne, m1, "2025-03-03 09:00:02+00", wfLink1},
				},
			},
			{name: "customer two", vars: with(march, "customer_id", custTwo), want: nil},
			{name: "before the de-link", vars: with(march, "to", "2025-03-10 14:00:02+00"), want: nil},
		},
		"failed_workflows.sql": {
			{
				name: "march",
				vars: march,
				want: [][]string{
					{"2025-03-05 08:00:31+00", custOne, wfFailed, patThree, "LINK", "IN_PROGRESS", "1", "index_rejected", "FAILED"},
					{"2025-03-07 09:00:11+00", custOne, wfRetried, patFive, "LINK", "IN_PROGRESS", "1", "index_unavailable", "COMPLETED"},
				},
			},
			{name: "customer two", vars: with(march, "customer_id", custTwo), want: nil},
		},
		"slow_requests.sql": {
			{
				name: "over 30 minutes",
				vars: with(march, "minutes", "30"),
				check: func(t *testing.T, rows [][]string) {
					require.Len(t, rows, 2)
					require.Equal(t, []string{"2025-03-04 10:00:00+00", custOne, wfSlow, patTwo, "LINK", "2025-03-04 10:50:00+00", "50.0"}, rows[0])
					// Never notified: counted until now.
					require.Equal(t, []string{"2025-03-06 12:00:00+00", custTwo, wfOpen, patFour, "LINK", ""}, rows[1][:6])
					require.Greater(t, parseMinutes(t, rows[1][6]), time.Since(mustTime("2025-03-06 12:00:00+00")).Minutes()-1)
				},
			},
			{
				name: "over 50 minutes, customer one",
				vars: with(march, "minutes", "50", "customer_id", custOne),
				want: nil,
			},
			{
				name: "over 49.5 minutes, customer one",
				vars: with(march, "minutes", "49.5", "customer_id", custOne),
				want: [][]string{
					{"2025-03-04 10:00:00+00", custOne, wfSlow, patTwo, "LINK", "2025-03-04 10:50:00+00", "50.0"},
				},
			},
			{
				// The retried workflow was told of its failure within seconds:
				// the first notification counts.
				name: "over 10 seconds, customer one",
				vars: with(march, "minutes", "0.17", "customer_id", custOne),
				check: func(t *testing.T, rows [][]string) {
					require.Equal(t, []string{wfSlow, wfFailed, wfRetried}, column(rows, 2))
				},
			},
		},
		"why_linked.sql": {
			{
				name: "a manual link after an ambiguous outcome",
				vars: map[string]string{"customer_id": custOne, "patient_id": patTwo},
				check: func(t *testing.T, rows [][]string) {
					require.Len(t, rows, 3)
					require.Equal(t, []string{"decision", "decision", "mapping"}, column(rows, 1))
					require.Equal(t, []string{"AMBIGUOUS", "LINKED", "LINKED"}, column(rows, 3))
					require.Equal(t, []string{"margin_too_small", "manual_link", ""}, column(rows, 4))
					require.Equal(t, []string{"policy score-margin/1", "operator:alice", "operator:alice"}, column(rows, 6))
					require.Contains(t, rows[0][7], "candidates "+internalTwo+" 0.93, internal-x 0.91")
					require.Contains(t, rows[0][7], "margin seen 0.02")
					require.Contains(t, rows[1][7], "reason: same phone on file")
					require.Contains(t, rows[2][7], "MANUAL")
				},
			},
			{
				name: "linked by the policy, then de-linked",
				vars: map[string]string{"customer_id": custOne, "patient_id": patOne},
				check: func(t *testing.T, rows [][]string) {
					require.Equal(t, []string{"decision", "mapping", "mapping"}, column(rows, 1))
					require.Equal(t, []string{"auto_link", "", ""}, column(rows, 4))
					require.Equal(t, []string{"LINKED", "LINKED", "DE-LINKED"}, column(rows, 3))
					require.Contains(t, rows[1][7], "AUTO")
				},
			},
			{name: "another customer's patient", vars: map[string]string{"customer_id": custTwo, "patient_id": patOne}, want: nil},
		},
		"manual_decisions.sql": {
			{
				name: "alice in March",
				vars: with(march, "actor", "operator:alice"),
				check: func(t *testing.T, rows [][]string) {
					require.Len(t, rows, 1)
					require.Equal(t, []string{"operator:alice", custOne, patTwo, wfSlow, reviewSlow, "AMBIGUOUS", "link", "LINKED", internalTwo, "same phone on file"}, rows[0][1:])
				},
			},
			{name: "nobody else", vars: with(march, "actor", "operator:bob"), want: nil},
		},
		"mappings_as_of.sql": {
			{name: "before the first link", vars: map[string]string{"at": "2025-03-03 09:00:01+00", "customer_id": custOne}, want: nil},
			{
				name: "between link and de-link",
				vars: map[string]string{"at": "2025-03-05 00:00:00+00", "customer_id": custOne},
				want: [][]string{
					{patOne, internalOne, "LINKED", "2025-03-03 09:00:02+00", wfLink1, wfLink1, m1},
					{patTwo, internalTwo, "LINKED", "2025-03-04 10:45:00+00", wfSlow, wfSlow, m2},
				},
			},
			{
				name: "after the de-link",
				vars: map[string]string{"at": "2025-03-11 00:00:00+00", "customer_id": custOne},
				want: [][]string{
					{patOne, internalOne, "DE-LINKED", "2025-03-10 14:00:02+00", wfDelink1, wfLink1, m1},
					{patTwo, internalTwo, "LINKED", "2025-03-04 10:45:00+00", wfSlow, wfSlow, m2},
				},
			},
		},
	}

	files, err := filepath.Glob(filepath.Join(dir, "*.sql"))
	require.NoError(t, err)
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f))
	}
	var tested []string
	for name := range cases {
		tested = append(tested, name)
	}
	require.ElementsMatch(t, tested, names, "every sql/audit file needs cases here, and every case a file")

	for _, file := range names {
		for _, r := range cases[file] {
			rows := runPsql(t, auditorURL, filepath.Join(dir, file), r.vars)
			if r.check != nil {
				r.check(t, rows)
				continue
			}
			require.Equal(t, r.want, rows, "%s: %s", file, r.name)
		}
	}
}

// The auditor reads the audit schema and nothing of public: no table,
// view or sequence there, the sealed payloads least of all.
func TestAuditorDeniedBaseTables(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupAudit(t)
	auditor := connect(t, b.login(t, roleAuditor))

	for _, table := range []string{
		"request_payloads", "workflows", "patient_mappings", "customers", "idempotency_keys",
		"workflow_events", "mapping_events", "webhook_deliveries", "reconciliation_reports", "river_job",
	} {
		_, err := auditor.Exec(ctx, "SELECT 1 FROM public."+table+" LIMIT 1")
		requireSQLState(t, err, "42501", table)
	}

	// No privilege of any kind on any relation of public, through any
	// membership or PUBLIC.
	rows, err := b.super.Query(ctx, `
		SELECT c.relname FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
		WHERE n.nspname = 'public' AND c.relkind IN ('r', 'v', 'm', 'S', 'p', 'f')
		  AND (CASE WHEN c.relkind = 'S'
		           THEN has_sequence_privilege($1, c.oid, 'SELECT, USAGE, UPDATE')
		           ELSE has_table_privilege($1, c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
		       END)`, roleAuditor)
	require.NoError(t, err)
	granted, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Empty(t, granted)

	// The views and the function answer, with the owner's rights.
	for view, want := range map[string]int{
		"audit.linkage_history": 4, "audit.workflow_timeline": 26, "audit.webhook_deliveries": 9,
		"audit.reconciliation_reports": 1,
	} {
		var n int
		require.NoError(t, auditor.QueryRow(ctx, "SELECT count(*) FROM "+view).Scan(&n), view)
		require.Equal(t, want, n, view)
	}
	var oldest string
	require.NoError(t, auditor.QueryRow(ctx, "SELECT oldest->0->>'workflow_id' FROM audit.reconciliation_reports").Scan(&oldest))
	require.Equal(t, wfOpen, oldest)

	// Reading only: the simple views would be updatable by someone with
	// the right.
	_, err = auditor.Exec(ctx, `INSERT INTO audit.reconciliation_reports (pending_total, by_state_age, oldest) VALUES (0, '{}', '[]')`)
	requireSQLState(t, err, "42501", "insert through a view")
	_, err = auditor.Exec(ctx, "CREATE TABLE audit.mine (x int)")
	requireSQLState(t, err, "42501", "create in audit")
	_, err = auditor.Exec(ctx, "CREATE TABLE public.mine (x int)")
	requireSQLState(t, err, "42501", "create in public")

	// A role outside the auditor group cannot call the definer function.
	app := connect(t, b.login(t, roleApp))
	_, err = app.Exec(ctx, "SELECT * FROM audit.mapping_as_of(now())")
	requireSQLState(t, err, "42501", "app calls mapping_as_of")
}

// History is append-only for the superuser and the application alike.
func TestHistoryAppendOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupAudit(t)
	app := connect(t, b.login(t, roleApp))

	// The application role works: it reads and writes rows, history
	// included (appending), through the identity sequences.
	var n int
	require.NoError(t, app.QueryRow(ctx, "SELECT count(*) FROM workflows").Scan(&n))
	require.Equal(t, 6, n)
	_, err := app.Exec(ctx, `INSERT INTO reconciliation_reports (pending_total, by_state_age, oldest) VALUES (0, '{}', '[]')`)
	require.NoError(t, err)
	_, err = app.Exec(ctx, "UPDATE workflows SET updated_at = updated_at WHERE id = $1", wfOpen)
	require.NoError(t, err)

	history := map[string]string{ // table: a column to "update"
		"workflow_events":        "reason",
		"mapping_events":         "created_at",
		"webhook_deliveries":     "error",
		"reconciliation_reports": "pending_total",
	}
	before := countHistory(t, b.super, history)
	for who, conn := range map[string]*pgx.Conn{"superuser": b.super, "app": app} {
		for table, column := range history {
			_, err := conn.Exec(ctx, "UPDATE "+table+" SET "+column+" = "+column)
			requireSQLState(t, err, "42501", who+" updates "+table)
			require.ErrorContains(t, err, "append-only", who+" updates "+table)

			_, err = conn.Exec(ctx, "DELETE FROM "+table)
			requireSQLState(t, err, "42501", who+" deletes from "+table)
			require.ErrorContains(t, err, "append-only", who+" deletes from "+table)

			// The application has no TRUNCATE right; the trigger stops
			// whoever has it.
			_, err = conn.Exec(ctx, "TRUNCATE "+table)
			requireSQLState(t, err, "42501", who+" truncates "+table)
			if who == "superuser" {
				require.ErrorContains(t, err, "append-only", who+" truncates "+table)
			}
		}
	}
	require.Equal(t, before, countHistory(t, b.super, history))
}

// audit.mapping_as_of rebuilds a mapping's state at any moment from its
// history.
func TestMappingAsOf(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupAudit(t)
	auditor := connect(t, b.login(t, roleAuditor))

	statusAt := func(at time.Time) []string {
		rows, err := auditor.Query(ctx, `
			SELECT status || ' ' || workflow_id || ' ' || link_workflow_id || ' ' || internal_patient_id
			FROM audit.mapping_as_of($1)
			WHERE customer_id = $2 AND customer_patient_id = $3`, at, custOne, patOne)
		require.NoError(t, err)
		got, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		return got
	}
	linked := "LINKED " + wfLink1 + " " + wfLink1 + " " + internalOne
	delinked := "DE-LINKED " + wfDelink1 + " " + wfLink1 + " " + internalOne

	require.Empty(t, statusAt(linkedAt.Add(-time.Second)))
	require.Equal(t, []string{linked}, statusAt(linkedAt))
	require.Equal(t, []string{linked}, statusAt(linkedAt.Add(72*time.Hour)))
	require.Equal(t, []string{linked}, statusAt(delinkedAt.Add(-time.Microsecond)))
	require.Equal(t, []string{delinked}, statusAt(delinkedAt))
	require.Equal(t, []string{delinked}, statusAt(time.Now()))

	// Every mapping of the cluster, as it stands now.
	var total, stillLinked int
	require.NoError(t, auditor.QueryRow(ctx,
		"SELECT count(*), count(*) FILTER (WHERE status = 'LINKED') FROM audit.mapping_as_of(now())").Scan(&total, &stillLinked))
	require.Equal(t, 3, total)
	require.Equal(t, 2, stillLinked)
}

// No column of the audit schema, nor of the function's result, is named
// like demographics or the sealed payload; the schema holds only what the
// auditor is meant to see.
func TestAuditViewsNoDemographics(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupAudit(t)

	rows, err := b.super.Query(ctx, `
		SELECT table_name || '.' || column_name FROM information_schema.columns WHERE table_schema = 'audit'
		UNION ALL
		SELECT p.specific_name || '.' || p.parameter_name FROM information_schema.parameters AS p
		WHERE p.specific_schema = 'audit'`)
	require.NoError(t, err)
	columns, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.NotEmpty(t, columns)
	for _, c := range columns {
		for _, bad := range []string{"full_name", "name", "dob", "birth", "email", "phone", "contact", "address", "insurance", "sealed", "payload", "key_id", "secret", "url"} {
			_, column, _ := strings.Cut(c, ".")
			require.NotContains(t, column, bad, c)
		}
	}

	rows, err = b.super.Query(ctx, `
		SELECT c.relname || ':' || c.relkind::text FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
		WHERE n.nspname = 'audit'
		UNION ALL
		SELECT p.proname || ':f' FROM pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace
		WHERE n.nspname = 'audit'`)
	require.NoError(t, err)
	objects, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.ElementsMatch(t, []string{
		"linkage_history:v", "workflow_timeline:v", "webhook_deliveries:v", "reconciliation_reports:v", "events:v", "actions:v", "decisions:v", "reviews:v", "mapping_as_of:f",
	}, objects)
}

func countHistory(t *testing.T, conn *pgx.Conn, tables map[string]string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for table := range tables {
		var n int
		require.NoError(t, conn.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n))
		out[table] = n
	}
	return out
}

func requireSQLState(t *testing.T, err error, code, msg string) {
	t.Helper()
	var pgErr *pgconn.PgError
	require.ErrorAs(t, err, &pgErr, "%s: want SQLSTATE %s, got %v", msg, code, err)
	require.Equal(t, code, pgErr.Code, "%s: %v", msg, err)
}

func column(rows [][]string, i int) []string {
	out := make([]string, 0, len(rows))
	for _, r := range rows {
		out = append(out, r[i])
	}
	return out
}

func parseMinutes(t *testing.T, s string) float64 {
	t.Helper()
	d, err := time.ParseDuration(s + "m")
	require.NoError(t, err)
	return d.Minutes()
}

// Must show (issue 14): the answer to "why is this patient linked" comes
// from history alone, so it survives the purge of the request payloads.
func TestWhyLinkedSurvivesPayloadPurge(t *testing.T) {
	t.Parallel()
	b := setupAudit(t)
	_, err := b.super.Exec(context.Background(), "DELETE FROM request_payloads")
	require.NoError(t, err)
	rows := runPsql(t, b.login(t, roleAuditor), filepath.Join(auditDir(t), "why_linked.sql"),
		map[string]string{"customer_id": custOne, "patient_id": patTwo})
	require.Len(t, rows, 3)
	require.Equal(t, "manual_link", rows[1][4])
	require.Equal(t, internalTwo, rows[2][5])
}
