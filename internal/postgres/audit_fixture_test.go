package postgres_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/patientlink/patientlink/internal/pgcluster"
	"github.com/patientlink/patientlink/internal/pgtest"
)

// The audit fixture: two customers, six workflows, three mappings.
//
//	wfLink1   customer one, patient one: LINK, linked at 09:00:02, notified at once
//	wfDelink1 customer one, patient one: DELINK of that link a week later
//	wfSlow    customer one, patient two: LINK through an async search, linked
//	          after 45 minutes, notified on the second attempt after 50
//	wfFailed  customer one, patient three: FAILED (index_rejected)
//	wfRetried customer one, patient five: FAILED (index_unavailable), then
//	          retried by an operator and COMPLETED with NO_RESULTS
//	wfOpen    customer two, patient four: LINKED, webhook never delivered
const (
	custOne = "c1000000-0000-4000-8000-000000000001"
	custTwo = "c2000000-0000-4000-8000-000000000002"

	patOne   = "a1000000-0000-4000-8000-000000000001"
	patTwo   = "a2000000-0000-4000-8000-000000000002"
	patThree = "a3000000-0000-4000-8000-000000000003"
	patFour  = "a4000000-0000-4000-8000-000000000004"
	patFive  = "a5000000-0000-4000-8000-000000000005"

	internalOne = "d1000000-0000-4000-8000-000000000001"
	internalTwo = "d2000000-0000-4000-8000-000000000002"

	wfLink1   = "f1000000-0000-4000-8000-000000000001"
	wfDelink1 = "f2000000-0000-4000-8000-000000000002"
	wfSlow    = "f3000000-0000-4000-8000-000000000003"
	wfFailed  = "f4000000-0000-4000-8000-000000000004"
	wfOpen    = "f5000000-0000-4000-8000-000000000005"
	wfRetried = "f6000000-0000-4000-8000-000000000006"

	reviewSlow = "e3000000-0000-4000-8000-000000000003"
)

// Times of the fixture that the tests look at.
var (
	linkedAt   = mustTime("2025-03-03 09:00:02+00")
	delinkedAt = mustTime("2025-03-10 14:00:02+00")
)

// auditFixture is plain SQL over the base tables; rows of each history
// table are inserted in time order, so their ids are in time order too.
var auditFixture = strings.NewReplacer(
	"$C1", custOne, "$C2", custTwo,
	"$P1", patOne, "$P2", patTwo, "$P3", patThree, "$P4", patFour, "$P5", patFive,
	"$I1", internalOne, "$I2", internalTwo,
	"$W1", wfLink1, "$W2", wfDelink1, "$W3", wfSlow, "$W4", wfFailed, "$W5", wfOpen, "$W6", wfRetried,
	"$R3", reviewSlow,
).Replace(`
INSERT INTO customers (id, name, webhook_url, webhook_secret, created_at) VALUES
    ('$C1', 'Clinic One', 'https://hooks.clinic-one.example/patientlink', 'sealed:fixture:b25l', '2025-03-01 08:00:00+00'),
    ('$C2', 'Clinic Two', 'https://api.clinic-two.example/hooks?token=t', 'sealed:fixture:dHdv', '2025-03-01 08:00:00+00');

INSERT INTO workflows (id, customer_id, patient_id, request_type, status, outcome, reason, attempt, search_id,
                       created_at, updated_at, ended_at) VALUES
    ('$W1', '$C1', '$P1', 'LINK', 'COMPLETED', 'LINKED', NULL, 1, NULL,
     '2025-03-03 09:00:00+00', '2025-03-03 09:00:03+00', '2025-03-03 09:00:03+00'),
    ('$W3', '$C1', '$P2', 'LINK', 'COMPLETED', 'LINKED', NULL, 1, 'search-3',
     '2025-03-04 10:00:00+00', '2025-03-04 10:50:00+00', '2025-03-04 10:50:00+00'),
    ('$W4', '$C1', '$P3', 'LINK', 'FAILED', NULL, 'index_rejected', 1, NULL,
     '2025-03-05 08:00:00+00', '2025-03-05 08:00:31+00', '2025-03-05 08:00:31+00'),
    ('$W5', '$C2', '$P4', 'LINK', 'LINKED', 'LINKED', NULL, 1, NULL,
     '2025-03-06 12:00:00+00', '2025-03-06 12:00:02+00', NULL),
    ('$W6', '$C1', '$P5', 'LINK', 'COMPLETED', 'NO_RESULTS', NULL, 2, NULL,
     '2025-03-07 09:00:00+00', '2025-03-07 11:00:03+00', '2025-03-07 11:00:03+00'),
    ('$W2', '$C1', '$P1', 'DELINK', 'COMPLETED', 'DE_LINKED', NULL, 1, NULL,
     '2025-03-10 14:00:00+00', '2025-03-10 14:00:05+00', '2025-03-10 14:00:05+00');

-- The demographics, sealed; nothing of this may reach an auditor.
INSERT INTO request_payloads (workflow_id, key_id, sealed, created_at)
SELECT id, 'key-1', '\xdeadbeef'::bytea, created_at FROM workflows;

INSERT INTO workflow_events (workflow_id, customer_id, request_type, from_status, to_status, reason, attempt, created_at) VALUES
    ('$W1', '$C1', 'LINK', NULL, 'RECEIVED', NULL, 1, '2025-03-03 09:00:00+00'),
    ('$W1', '$C1', 'LINK', 'RECEIVED', 'IN_PROGRESS', NULL, 1, '2025-03-03 09:00:01+00'),
    ('$W1', '$C1', 'LINK', 'IN_PROGRESS', 'LINKED', NULL, 1, '2025-03-03 09:00:02+00'),
    ('$W1', '$C1', 'LINK', 'LINKED', 'COMPLETED', NULL, 1, '2025-03-03 09:00:03+00'),
    ('$W3', '$C1', 'LINK', NULL, 'RECEIVED', NULL, 1, '2025-03-04 10:00:00+00'),
    ('$W3', '$C1', 'LINK', 'RECEIVED', 'IN_PROGRESS', NULL, 1, '2025-03-04 10:00:01+00'),
    ('$W3', '$C1', 'LINK', 'IN_PROGRESS', 'REQUESTED', NULL, 1, '2025-03-04 10:00:02+00'),
    ('$W3', '$C1', 'LINK', 'REQUESTED', 'LINKED', NULL, 1, '2025-03-04 10:45:00+00'),
    ('$W3', '$C1', 'LINK', 'LINKED', 'COMPLETED', NULL, 2, '2025-03-04 10:50:00+00'),
    ('$W4', '$C1', 'LINK', NULL, 'RECEIVED', NULL, 1, '2025-03-05 08:00:00+00'),
    ('$W4', '$C1', 'LINK', 'RECEIVED', 'IN_PROGRESS', NULL, 1, '2025-03-05 08:00:01+00'),
    ('$W4', '$C1', 'LINK', 'IN_PROGRESS', 'FAILED', 'index_rejected', 1, '2025-03-05 08:00:31+00'),
    ('$W5', '$C2', 'LINK', NULL, 'RECEIVED', NULL, 1, '2025-03-06 12:00:00+00'),
    ('$W5', '$C2', 'LINK', 'RECEIVED', 'IN_PROGRESS', NULL, 1, '2025-03-06 12:00:01+00'),
    ('$W5', '$C2', 'LINK', 'IN_PROGRESS', 'LINKED', NULL, 1, '2025-03-06 12:00:02+00'),
    ('$W6', '$C1', 'LINK', NULL, 'RECEIVED', NULL, 1, '2025-03-07 09:00:00+00'),
    ('$W6', '$C1', 'LINK', 'RECEIVED', 'IN_PROGRESS', NULL, 1, '2025-03-07 09:00:01+00'),
    ('$W6', '$C1', 'LINK', 'IN_PROGRESS', 'FAILED', 'index_unavailable', 1, '2025-03-07 09:00:11+00'),
    ('$W6', '$C1', 'LINK', 'FAILED', 'RECEIVED', NULL, 2, '2025-03-07 11:00:00+00'),
    ('$W6', '$C1', 'LINK', 'RECEIVED', 'IN_PROGRESS', NULL, 2, '2025-03-07 11:00:01+00'),
    ('$W6', '$C1', 'LINK', 'IN_PROGRESS', 'NO_RESULTS', NULL, 2, '2025-03-07 11:00:02+00'),
    ('$W6', '$C1', 'LINK', 'NO_RESULTS', 'COMPLETED', NULL, 2, '2025-03-07 11:00:03+00'),
    ('$W2', '$C1', 'DELINK', NULL, 'RECEIVED', NULL, 1, '2025-03-10 14:00:00+00'),
    ('$W2', '$C1', 'DELINK', 'RECEIVED', 'IN_PROGRESS', NULL, 1, '2025-03-10 14:00:01+00'),
    ('$W2', '$C1', 'DELINK', 'IN_PROGRESS', 'DE_LINKED', NULL, 1, '2025-03-10 14:00:02+00'),
    ('$W2', '$C1', 'DELINK', 'DE_LINKED', 'COMPLETED', NULL, 1, '2025-03-10 14:00:05+00');

INSERT INTO patient_mappings (customer_id, customer_patient_id, internal_patient_id, status, score, workflow_id,
                              linked_at, delink_workflow_id, delinked_at, link_source, linked_by) VALUES
    ('$C1', '$P1', '$I1', 'DE-LINKED', 0.97, '$W1', '2025-03-03 09:00:02+00', '$W2', '2025-03-10 14:00:02+00', 'AUTO', NULL),
    ('$C1', '$P2', '$I2', 'LINKED', 0.93, '$W3', '2025-03-04 10:45:00+00', NULL, NULL, 'MANUAL', 'operator:alice'),
    ('$C2', '$P4', '$I1', 'LINKED', 0.95, '$W5', '2025-03-06 12:00:02+00', NULL, NULL, 'AUTO', NULL);

INSERT INTO mapping_events (mapping_id, customer_id, customer_patient_id, internal_patient_id, status, workflow_id, request_type, created_at,
                            link_source, actor)
SELECT m.id, m.customer_id, m.customer_patient_id, m.internal_patient_id, e.status, e.workflow_id, e.request_type, e.created_at,
       CASE WHEN e.status = 'LINKED' THEN m.link_source END, CASE WHEN e.status = 'LINKED' THEN m.linked_by END
FROM (VALUES
    ('$W1'::uuid, 'LINKED', '$W1'::uuid, 'LINK', '2025-03-03 09:00:02+00'::timestamptz),
    ('$W3', 'LINKED', '$W3', 'LINK', '2025-03-04 10:45:00+00'),
    ('$W5', 'LINKED', '$W5', 'LINK', '2025-03-06 12:00:02+00'),
    ('$W1', 'DE-LINKED', '$W2', 'DELINK', '2025-03-10 14:00:02+00')
) AS e (link_workflow_id, status, workflow_id, request_type, created_at)
JOIN patient_mappings AS m ON m.workflow_id = e.link_workflow_id
ORDER BY e.created_at;

INSERT INTO webhook_deliveries (workflow_id, customer_id, event_id, attempt, attempted_at, target_host,
                                status_code, error, latency_ms, delivered) VALUES
    ('$W1', '$C1', 'msg_w1', 1, '2025-03-03 09:00:03+00', 'hooks.clinic-one.example', 200, NULL, 42, true),
    ('$W3', '$C1', 'msg_w3', 1, '2025-03-04 10:45:01+00', 'hooks.clinic-one.example', 503, 'unexpected status 503', 120, false),
    ('$W3', '$C1', 'msg_w3', 2, '2025-03-04 10:50:00+00', 'hooks.clinic-one.example', 200, NULL, 38, true),
    ('$W4', '$C1', 'msg_w4', 1, '2025-03-05 08:00:32+00', 'hooks.clinic-one.example', 200, NULL, 40, true),
    ('$W5', '$C2', 'msg_w5', 1, '2025-03-06 12:00:03+00', 'api.clinic-two.example', NULL, 'connection refused', 3, false),
    ('$W5', '$C2', 'msg_w5', 2, '2025-03-06 12:01:03+00', 'api.clinic-two.example', NULL, 'connection refused', 2, false),
    ('$W6', '$C1', 'msg_w6a', 1, '2025-03-07 09:00:12+00', 'hooks.clinic-one.example', 200, NULL, 41, true),
    ('$W6', '$C1', 'msg_w6b', 1, '2025-03-07 11:00:03+00', 'hooks.clinic-one.example', 200, NULL, 39, true),
    ('$W2', '$C1', 'msg_w2', 1, '2025-03-10 14:00:05+00', 'hooks.clinic-one.example', 200, NULL, 44, true);

INSERT INTO events (id, type, customer_id, workflow_id, patient_id, sequence, created_at, body,
                    delivery_status, attempts, last_attempt_at, last_status_code, last_error, delivered_at) VALUES
    ('msg_w1', 'link.completed', '$C1', '$W1', '$P1', 1, '2025-03-03 09:00:02+00', '{}', 'delivered', 1, '2025-03-03 09:00:03+00', 200, NULL, '2025-03-03 09:00:03+00'),
    ('msg_w3', 'link.completed', '$C1', '$W3', '$P2', 1, '2025-03-04 10:45:00+00', '{}', 'delivered', 2, '2025-03-04 10:50:00+00', 200, NULL, '2025-03-04 10:50:00+00'),
    ('msg_w4', 'link.completed', '$C1', '$W4', '$P3', 1, '2025-03-05 08:00:31+00', '{}', 'delivered', 1, '2025-03-05 08:00:32+00', 200, NULL, '2025-03-05 08:00:32+00'),
    ('msg_w5', 'link.completed', '$C2', '$W5', '$P4', 1, '2025-03-06 12:00:02+00', '{}', 'pending', 2, '2025-03-06 12:01:03+00', NULL, 'connection refused', NULL),
    ('msg_w6a', 'link.completed', '$C1', '$W6', '$P5', 1, '2025-03-07 09:00:11+00', '{}', 'delivered', 1, '2025-03-07 09:00:12+00', 200, NULL, '2025-03-07 09:00:12+00'),
    ('msg_w6b', 'link.completed', '$C1', '$W6', '$P5', 2, '2025-03-07 11:00:02+00', '{}', 'delivered', 1, '2025-03-07 11:00:03+00', 200, NULL, '2025-03-07 11:00:03+00'),
    ('msg_w2', 'delink.completed', '$C1', '$W2', '$P1', 2, '2025-03-10 14:00:02+00', '{}', 'delivered', 1, '2025-03-10 14:00:05+00', 200, NULL, '2025-03-10 14:00:05+00');

-- W3 was AMBIGUOUS (twins) until alice linked it; W1 linked by the
-- policy; W6's second attempt found no one.
INSERT INTO reviews (id, workflow_id, customer_id, patient_id, outcome, status, candidates, created_at, closed_at,
                     decision, internal_patient_id, actor, reason) VALUES
    ('$R3', '$W3', '$C1', '$P2', 'AMBIGUOUS', 'resolved',
     '[{"internal-patient-id": "$I2", "score": 0.93}, {"internal-patient-id": "internal-x", "score": 0.91}]',
     '2025-03-04 10:44:00+00', '2025-03-04 10:45:00+00', 'link', '$I2', 'operator:alice', 'same phone on file');

INSERT INTO decisions (created_at, workflow_id, customer_id, customer_patient_id, outcome, rule, policy_version, threshold, margin,
                       margin_seen, candidates, internal_patient_id, conflict_patient_id, review_id, actor, reason) VALUES
    ('2025-03-03 09:00:02+00', '$W1', '$C1', '$P1', 'LINKED', 'auto_link', 'score-margin/1', 0.9, 0.05, NULL,
     '[{"internal-patient-id": "$I1", "score": 0.97, "matched": {"full_name": "exact", "dob": "exact"}}]', '$I1', NULL, NULL, NULL, NULL),
    ('2025-03-04 10:44:00+00', '$W3', '$C1', '$P2', 'AMBIGUOUS', 'margin_too_small', 'score-margin/1', 0.9, 0.05, 0.02,
     '[{"internal-patient-id": "$I2", "score": 0.93}, {"internal-patient-id": "internal-x", "score": 0.91}]', NULL, NULL, NULL, NULL, NULL),
    ('2025-03-04 10:45:00+00', '$W3', '$C1', '$P2', 'LINKED', 'manual_link', 'score-margin/1', 0.9, 0.05, NULL,
     '[{"internal-patient-id": "$I2", "score": 0.93}, {"internal-patient-id": "internal-x", "score": 0.91}]', '$I2', NULL, '$R3', 'operator:alice', 'same phone on file'),
    ('2025-03-07 11:00:02+00', '$W6', '$C1', '$P5', 'NO_RESULTS', 'no_candidates', 'score-margin/1', 0.9, 0.05, NULL, '[]', NULL, NULL, NULL, NULL, NULL);

INSERT INTO reconciliation_reports (created_at, pending_total, by_state_age, oldest) VALUES
    ('2025-03-06 12:30:00+00', 1,
     '{"LINKED": {"<7m": 0, "7m-1h": 1, "1h-24h": 0, ">24h": 0}}',
     '[{"workflow_id": "$W5", "status": "LINKED", "age_seconds": 1800}]');
`)

// auditBundle is a fresh database holding the fixture, and the superuser
// connection pgtest gives.
type auditBundle struct {
	dbURL string
	super *pgx.Conn
}

func setupAudit(t *testing.T) *auditBundle {
	t.Helper()
	ctx := context.Background()
	dbURL := pgtest.URL(t)
	super, err := pgx.Connect(ctx, dbURL)
	require.NoError(t, err)
	t.Cleanup(func() { super.Close(context.Background()) })
	_, err = super.Exec(ctx, auditFixture)
	require.NoError(t, err)
	return &auditBundle{dbURL: dbURL, super: super}
}

// login creates a login role in group (patientlink_auditor or
// patientlink_app), dropped when t ends, and returns its URL for the
// bundle's database.
func (b *auditBundle) login(t *testing.T, group string) string {
	t.Helper()
	ctx := context.Background()
	name := "audit_test_" + randomHex(t, 6)
	password := randomHex(t, 16)
	_, err := b.super.Exec(ctx, fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD '%s' IN ROLE %s", name, password, group))
	require.NoError(t, err)
	serverURL := pgtest.ServerURL(t)
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), serverURL)
		if err != nil {
			return
		}
		defer conn.Close(context.Background())
		_, _ = conn.Exec(context.Background(), "DROP ROLE IF EXISTS "+name)
	})
	u, err := url.Parse(b.dbURL)
	require.NoError(t, err)
	u.User = url.UserPassword(name, password)
	return u.String()
}

// connect opens a connection closed when t ends.
func connect(t *testing.T, dbURL string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dbURL)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// mappingID is the id of the mapping workflow wf made.
func (b *auditBundle) mappingID(t *testing.T, wf string) string {
	t.Helper()
	var id int64
	err := b.super.QueryRow(context.Background(), "SELECT id FROM patient_mappings WHERE workflow_id = $1", wf).Scan(&id)
	require.NoError(t, err)
	return fmt.Sprint(id)
}

// auditDir is sql/audit of this checkout.
func auditDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "sql", "audit"))
	require.NoError(t, err)
	return dir
}

// runPsql runs file through the real psql as dbURL's role, in unaligned,
// tuples-only output with times in UTC, and returns the rows split on '|'.
func runPsql(t *testing.T, dbURL, file string, vars map[string]string) [][]string {
	t.Helper()
	bin, err := pgcluster.BinDir()
	require.NoError(t, err)
	args := []string{"-X", "-q", "-v", "ON_ERROR_STOP=1", "-A", "-F", "|", "-t"}
	names := make([]string, 0, len(vars))
	for k := range vars {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		args = append(args, "-v", k+"="+vars[k])
	}
	args = append(args, "-f", file, "-d", dbURL)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "psql"), args...)
	cmd.Env = append(os.Environ(), "PGTZ=UTC", "PGDATESTYLE=ISO", "PGOPTIONS=", "PGCLIENTENCODING=UTF8")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "psql -f %s: %s", filepath.Base(file), stderr.String())
	require.Empty(t, stderr.String(), "psql -f %s wrote to stderr", filepath.Base(file))
	var rows [][]string
	for _, line := range strings.Split(strings.TrimRight(stdout.String(), "\n"), "\n") {
		if line != "" {
			rows = append(rows, strings.Split(line, "|"))
		}
	}
	return rows
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}

func mustTime(s string) time.Time {
	tm, err := time.Parse("2006-01-02 15:04:05Z07", s)
	if err != nil {
		panic(err)
	}
	return tm
}
