package bench

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// sqlCopy says how a pgbench statement marked "-- sqlc: <marker>" departs
// from its query in queries/*.sql: fragments of the query it rewrites
// (each must still be in the query), then the value of each parameter.
type sqlCopy struct {
	query     string
	fragments [][2]string
	params    map[string]string
}

const (
	workflowColumns = "id, customer_id, patient_id, request_type, status, outcome, reason, webhook_url, attempt, created_at, updated_at, ended_at, search_id, reconcile_count"
	eventID         = "'msg_' || replace(:wf, '-', '')"
	eventColumns    = "id, feed_id, tx, type, customer_id, workflow_id, patient_id, sequence, created_at, body, delivery_status, attempts, next_attempt_at, last_attempt_at, last_status_code, last_error, delivered_at"
	customerColumns = "id, name, status, webhook_url, webhook_secret, created_at, updated_at, webhook_secret_previous, webhook_previous_until"
)

func transitionCopy(to, outcome, fromStates string) sqlCopy {
	return sqlCopy{query: "WorkflowTransition", params: map[string]string{
		"id": ":wf", "to_status": "'" + to + "'", "outcome": outcome, "reason": "NULL::text", "search_id": "NULL::text",
		"attempt_increment": "0", "from_states": "ARRAY[" + fromStates + "]", "event_attempt": "1", "actor": "NULL::text",
	}}
}

var sqlCopies = map[string]sqlCopy{
	"CustomerGetByID": {query: "CustomerGetByID", fragments: [][2]string{{"SELECT *", "SELECT " + customerColumns}},
		params: map[string]string{"id": ":customer"}},
	"WorkflowCreateClaimingKey": {query: "WorkflowCreateClaimingKey",
		// pgbench makes the ids, the hash and the payload in SQL.
		fragments: [][2]string{
			{"WITH k AS (", "WITH v AS ( SELECT gen_random_uuid() AS wf ), ids AS ( SELECT v.wf AS id, md5(v.wf::text || 'patient')::uuid AS patient_id FROM v ), k AS ("},
			{"VALUES (@customer_id, @key, @request_hash, @response_status, @response_body, @id::uuid, now() + make_interval(secs => @ttl_seconds::float8))",
				"SELECT :customer, 'pgbench-' || v.wf, sha256(convert_to(v.wf::text, 'UTF8')), 202, convert_to('{\"workflow-id\":\"' || v.wf || '\",\"status\":\"RECEIVED\"}', 'UTF8'), v.wf, now() + make_interval(secs => 86400::float8) FROM v"},
			{"FROM patient_mappings m WHERE", "FROM patient_mappings m, ids WHERE"},
			{"m.customer_patient_id = @patient_id", "m.customer_patient_id = ids.patient_id"},
			{"SELECT @id, @customer_id, @patient_id, @request_type, 'RECEIVED', @webhook_url", "SELECT ids.id, :customer, ids.patient_id, 'LINK', 'RECEIVED', NULL FROM ids"},
			{"SELECT w.id, @key_id, @sealed FROM w WHERE @key_id::text <> ''", "SELECT w.id, '20ed0103668a36fa', substring(decode(repeat(md5(random()::text), 64), 'hex') FROM 1 FOR :payload_bytes) FROM w"},
			{"AS linked_workflow_id", "AS linked_workflow_id, (SELECT wf FROM v) AS wf"},
		},
		params: map[string]string{"customer_id": ":customer", "request_type": "'LINK'"}},
	"WorkflowGetByID": {query: "WorkflowGetByID", fragments: [][2]string{{"SELECT *", "SELECT " + workflowColumns}},
		params: map[string]string{"id": ":wf"}},
	"WorkflowTransition to IN_PROGRESS": transitionCopy("IN_PROGRESS", "NULL::text", "'RECEIVED','IN_PROGRESS','REQUESTED'"),
	"WorkflowTransition to LINKED":      transitionCopy("LINKED", "'LINKED'::text", "'IN_PROGRESS','REQUESTED'"),
	"WorkflowTransition to COMPLETED":   transitionCopy("COMPLETED", "NULL::text", "'LINKED','NO_RESULTS','AMBIGUOUS','CONFLICT'"),
	"RequestPayloadGet": {query: "RequestPayloadGet", fragments: [][2]string{{"SELECT *", "SELECT workflow_id, key_id, sealed, created_at"}},
		params: map[string]string{"workflow_id": ":wf", "type": "'link.completed'"}},
	"WorkflowLock": {query: "WorkflowLock", fragments: [][2]string{{"SELECT *", "SELECT " + workflowColumns}},
		params: map[string]string{"id": ":wf"}},
	"MappingLink": {query: "MappingLink",
		fragments: [][2]string{{"VALUES (@customer_id, @customer_patient_id, @internal_patient_id, 'LINKED', @score, @workflow_id, @link_source, sqlc.narg(linked_by))",
			"SELECT :customer, w.patient_id, md5(:wf || 'internal'), 'LINKED', 0.99, :wf, 'AUTO', NULL::text FROM workflows w WHERE w.id = :wf"}}},
	"DecisionRecord": {query: "DecisionRecord", params: map[string]string{
		"workflow_id": ":wf", "customer_id": ":customer", "customer_patient_id": "(SELECT w.patient_id FROM workflows w WHERE w.id = :wf)",
		"outcome": "'LINKED'", "rule": "'auto_link'", "policy_version": "'score-margin/1'", "threshold": "0.9", "margin": "0.05",
		"margin_seen": "NULL::float8", "candidates": `('[{"internal-patient-id": "' || md5(:wf::text || 'internal') || '", "score": 0.99}]')::jsonb`,
		"internal_patient_id": "md5(:wf::text || 'internal')", "conflict_patient_id": "NULL::uuid", "review_id": "NULL::uuid",
		"actor": "NULL::text", "reason": "NULL::text",
	}},
	"EventCreate": {query: "EventCreate", params: map[string]string{
		"id": eventID, "type": "'link.completed'", "customer_id": ":customer", "workflow_id": ":wf", "patient_id": "(SELECT w.patient_id FROM workflows w WHERE w.id = :wf)",
		"data": `('{"workflow-id": "' || :wf::text || '", "status": "COMPLETED", "outcome": "LINKED"}')`,
	}},
	"EventClaimAttempt": {query: "EventClaimAttempt", fragments: [][2]string{{"RETURNING *", "RETURNING " + eventColumns}},
		params: map[string]string{"id": eventID, "lease_seconds": "120"}},
	"EventRecordAttempt": {query: "EventRecordAttempt", params: map[string]string{
		"id": eventID, "attempt": "1", "target_host": "'127.0.0.1:9'", "status_code": "204", "error": "NULL::text",
		"latency_ms": "0", "delivered": "true", "delivery_status": "'delivered'", "next_attempt_at": "NULL::timestamptz",
	}},
	"EventGetLatestForWorkflow": {query: "EventGetLatestForWorkflow", fragments: [][2]string{{"SELECT *", "SELECT " + eventColumns}},
		params: map[string]string{"workflow_id": ":wf", "type": "'link.completed'"}},
}

var (
	reQueryName = regexp.MustCompile(`(?m)^-- name: (\w+) :\w+\s*$`)
	reParam     = regexp.MustCompile(`sqlc\.n?arg\((\w+)\)|@(\w+)`)
	reSpace     = regexp.MustCompile(`\s+`)
	reTwoCasts  = regexp.MustCompile(`(::\w+)(::\w+)`)
)

// normalSQL drops comment lines, pgbench's \gset and the final semicolon,
// and collapses whitespace and a cast repeated by a parameter's own cast.
func normalSQL(s string) string {
	var kept []string
	for line := range strings.SplitSeq(s, "\n") {
		if t := strings.TrimSpace(line); t != "" && !strings.HasPrefix(t, "--") {
			kept = append(kept, t)
		}
	}
	s = strings.Join(kept, " ")
	if i := strings.Index(s, `\gset`); i >= 0 {
		s = s[:i]
	}
	s = reSpace.ReplaceAllString(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), ";")), " ")
	s = strings.ReplaceAll(strings.ReplaceAll(s, "( ", "("), " )", ")")
	return reTwoCasts.ReplaceAllStringFunc(s, func(m string) string {
		sub := reTwoCasts.FindStringSubmatch(m)
		if sub[1] == sub[2] {
			return sub[1]
		}
		return m
	})
}

// readQueries reads every named query of queries/*.sql.
func readQueries(t *testing.T) map[string]string {
	t.Helper()
	files, err := filepath.Glob("../../queries/*.sql")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	out := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		text := string(b)
		idx := reQueryName.FindAllStringSubmatchIndex(text, -1)
		for i, m := range idx {
			end := len(text)
			if i+1 < len(idx) {
				end = idx[i+1][0]
			}
			out[text[m[2]:m[3]]] = text[m[1]:end]
		}
	}
	return out
}

// markedStatements are the statements under "-- sqlc: <marker>" lines of a
// pgbench script, in order.
func markedStatements(t *testing.T, path string) [][2]string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var out [][2]string
	lines := strings.Split(string(b), "\n")
	for i, line := range lines {
		marker, ok := strings.CutPrefix(line, "-- sqlc: ")
		if !ok {
			continue
		}
		var stmt []string
		for _, l := range lines[i+1:] {
			stmt = append(stmt, l)
			if t := strings.TrimSpace(l); strings.HasSuffix(t, ";") || strings.Contains(t, `\gset`) {
				break
			}
		}
		out = append(out, [2]string{strings.TrimSpace(marker), strings.Join(stmt, "\n")})
	}
	return out
}

// expected is query rewritten the way c says pgbench runs it.
func (c sqlCopy) expected(query string) (string, error) {
	s := normalSQL(query)
	for _, f := range c.fragments {
		from := normalSQL(f[0])
		if !strings.Contains(s, from) {
			return "", &missingFragment{from}
		}
		s = strings.Replace(s, from, normalSQL(f[1]), 1)
	}
	var missing error
	s = reParam.ReplaceAllStringFunc(s, func(m string) string {
		sub := reParam.FindStringSubmatch(m)
		name := sub[1] + sub[2]
		v, ok := c.params[name]
		if !ok {
			missing = &missingFragment{"a value for parameter " + name}
			return m
		}
		return v
	})
	return normalSQL(s), missing
}

type missingFragment struct{ what string }

func (e *missingFragment) Error() string { return "the query no longer has " + e.what }

// The pgbench ceiling replays the product's SQL: each statement copied
// from queries/*.sql must still say what the query says, but for the
// documented rewrites, or the ceiling measures something else.
func TestPgbenchScriptsMatchTheQueries(t *testing.T) {
	t.Parallel()
	queries := readQueries(t)
	seen := map[string]bool{}
	for _, script := range []string{"pgbench/ack.sql", "pgbench/link_worker.sql"} {
		for _, st := range markedStatements(t, script) {
			marker, stmt := st[0], st[1]
			seen[marker] = true
			c, ok := sqlCopies[marker]
			require.True(t, ok, "%s: no sqlCopies entry for %q", script, marker)
			query, ok := queries[c.query]
			require.True(t, ok, "%s: %q copies %s, which queries/*.sql no longer names", script, marker, c.query)
			want, err := c.expected(query)
			require.NoError(t, err, "%s: %q", script, marker)
			require.Equal(t, want, normalSQL(stmt), "%s: %q no longer matches %s in queries/: update the copy", script, marker, c.query)
		}
	}
	for marker := range sqlCopies {
		require.True(t, seen[marker], "sqlCopies has %q, but no script marks it", marker)
	}
}

func TestNormalSQL(t *testing.T) {
	t.Parallel()
	require.Equal(t, "SELECT a FROM t WHERE x = 'A'::text", normalSQL("-- c\nSELECT a\n  FROM t\nWHERE x = 'A'::text::text; \\gset y_"))
	require.Equal(t, "SELECT (a)", normalSQL("SELECT ( a )"))
}
