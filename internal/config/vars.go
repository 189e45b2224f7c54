package config

import (
	"fmt"
	"strings"
)

// Var documents one environment variable.
type Var struct {
	Name    string
	Default string
	Secret  bool
	Doc     string
}

// Vars lists every variable patientlink reads.
var Vars = []Var{
	{"DATABASE_URL", "", true, "PostgreSQL connection string (required). `make run`/`make test` start a private cluster when unset."},
	{"PATIENTLINK_ADDR", "127.0.0.1:8080", false, "HTTP listen address of the API."},
	{"PATIENTLINK_OPERATOR_ADDR", "", false, "The operator listener: the index's callbacks (/internal/...), /admin/..., /metrics and /debug/pprof/, never on the API address. Unset: only /metrics, on the API address (no async index, no admin endpoints)."},
	{"PATIENTLINK_RATE_LIMIT", "50", false, "Requests per second per customer per API process (token bucket; 0 disables); over it: 429 with Retry-After."},
	{"PATIENTLINK_RATE_BURST", "100", false, "Token bucket size of the per-customer rate limit."},
	{"PATIENTLINK_MAX_INFLIGHT", "512", false, "Requests served at once per API process; more are shed with 503 and Retry-After (0 disables)."},
	{"PATIENTLINK_STATUS_RETRY_AFTER", "2", false, "Seconds sent as Retry-After with the status of a pending workflow."},
	{"PATIENTLINK_HTTP_READ_HEADER_TIMEOUT", "5s", false, "Time to read request headers."},
	{"PATIENTLINK_HTTP_READ_TIMEOUT", "15s", false, "Time to read a whole request."},
	{"PATIENTLINK_HTTP_WRITE_TIMEOUT", "30s", false, "Time to write a response."},
	{"PATIENTLINK_HTTP_IDLE_TIMEOUT", "120s", false, "Keep-alive idle time."},
	{"PATIENTLINK_MAX_HEADER_BYTES", "16384", false, "Largest request header block."},
	{"PATIENTLINK_SHUTDOWN_TIMEOUT", "15s", false, "On SIGTERM: how long in-flight HTTP requests may finish."},
	{"PATIENTLINK_RIVER_STOP_TIMEOUT", "20s", false, "On SIGTERM: how long running jobs may finish before they are cancelled (then retried by River or found by reconciliation)."},
	{"PATIENTLINK_ROLE", "all", false, "api (HTTP, inserts jobs), worker (River workers and periodic jobs) or all; `serve --role` overrides."},
	{"PATIENTLINK_TOKEN_SECRET", "", true, "HMAC secret for customer tokens: 32 random bytes, standard base64 (required)."},
	{"PATIENTLINK_TOKEN_SECRET_PREVIOUS", "", true, "Comma-separated previous token secrets, still accepted during a rotation."},
	{"PATIENTLINK_DATA_KEY", "", true, "AES-256 key sealing request payloads: 32 random bytes, standard base64 (required)."},
	{"PATIENTLINK_DATA_KEY_PREVIOUS", "", true, "Comma-separated previous data keys, still used to open older payloads."},
	{"PATIENTLINK_IDEMPOTENCY_TTL", "24h", false, "How long a response is replayed for the same Idempotency-Key."},
	{"PATIENTLINK_MAX_BODY_BYTES", "65536", false, "Largest accepted request body; larger gets 413."},
	{"PATIENTLINK_MAX_BULK_BODY_BYTES", "8388608", false, "Largest accepted body of a bulk request (POST /links, up to 1,000 patients); larger gets 413."},
	{"PATIENTLINK_DB_MAX_CONNS", "20", false, "pgx pool size per process."},
	{"PATIENTLINK_ALLOW_INSECURE_WEBHOOKS", "false", false, "Allow http:// webhook URLs and loopback targets (development only; `make run` sets it)."},
	{"PATIENTLINK_WEBHOOK_TIMEOUT", "10s", false, "Timeout of each webhook delivery attempt."},
	{"PATIENTLINK_WEBHOOK_RETRY_SCHEDULE", "0s,5s,5m,30m,2h,5h,10h,14h,20h,24h", false, "Delay before each delivery attempt (comma-separated Go durations, Standard Webhooks' schedule; ±10% jitter). Its length is the number of attempts."},
	{"PATIENTLINK_WEBHOOK_ALLOW_CIDRS", "", false, "Comma-separated CIDRs webhooks may reach although private (e.g. a customer on a VPN)."},
	{"PATIENTLINK_ADMIN_TOKEN", "", true, "Bearer token of the operator endpoints (/admin/...): at least 32 random bytes, standard base64; unset disables them."},
	{"PATIENTLINK_TOKEN_TTL", "2160h", false, "Lifetime of customer tokens issued by `patientlink customer create|token` (90 days)."},
	{"PATIENTLINK_INDEX_URL", "http://127.0.0.1:8090", false, "Base URL of the internal patient index (docs/internal-index.md); https unless PATIENTLINK_ALLOW_INSECURE_INDEX."},
	{"PATIENTLINK_ALLOW_INSECURE_INDEX", "false", false, "Allow an http:// index URL (development only; `make run` sets it). The index client never uses a proxy from the environment and follows no redirect."},
	{"PATIENTLINK_INDEX_TOKEN", "", true, "Bearer credential sent to the index with every search; unset sends none."},
	{"PATIENTLINK_INDEX_TIMEOUT", "5s", false, "Timeout of each index call."},
	{"PATIENTLINK_INDEX_CALLBACK_SECRET", "", true, "Shared HMAC secret the index signs async search callbacks (path and body) with: at least 32 random bytes, standard base64 (required)."},
	{"PATIENTLINK_AUTOLINK_THRESHOLD", "0.90", false, "Lowest index score that links on its own."},
	{"PATIENTLINK_AUTOLINK_MARGIN", "0.05", false, "How far the best score must lead the runner-up to link."},
	{"PATIENTLINK_LINK_WORKERS", "50", false, "River MaxWorkers of the link queue, per worker process."},
	{"PATIENTLINK_WEBHOOK_WORKERS", "50", false, "River MaxWorkers of the webhook queue, per worker process."},
	{"PATIENTLINK_FETCH_COOLDOWN", "10ms", false, "River FetchCooldown: least time between job fetches (River's 100ms default caps a client near 1,000 jobs/s)."},
	{"PATIENTLINK_FETCH_POLL_INTERVAL", "200ms", false, "River FetchPollInterval: longest a job waits when a notification is missed."},
	{"PATIENTLINK_RETRY_BASE", "1s", false, "First retry delay of a job after a transient failure; doubles per attempt up to 5m."},
	{"PATIENTLINK_RECONCILE_INTERVAL", "5m", false, "How often the reconcile job looks for lost work (0 disables it)."},
	{"PATIENTLINK_RECONCILE_AFTER", "7m", false, "A pending workflow without progress and without a live job for this long is put back to work."},
	{"PATIENTLINK_RECONCILE_LIMIT", "5", false, "Reconcile attempts before a workflow becomes FAILED with reason reconcile_limit."},
	{"PATIENTLINK_STUCK_REPORT_INTERVAL", "1h", false, "How often the stuck-workflow report is written (table reconciliation_reports)."},
	{"PATIENTLINK_PURGE_IDEMPOTENCY_INTERVAL", "1h", false, "How often expired idempotency keys are deleted."},
	{"PATIENTLINK_PURGE_PAYLOADS_INTERVAL", "24h", false, "How often old request payloads are deleted."},
	{"PATIENTLINK_PAYLOAD_RETENTION", "720h", false, "Sealed patient data of a workflow is deleted this long after it ended (workflow, mapping and history stay)."},
	{"PATIENTLINK_PURGE_BATCH", "1000", false, "Rows per purge transaction, so no purge holds locks for long."},
	{"PATIENTLINK_JOB_RETENTION_COMPLETED", "24h", false, "River keeps completed jobs this long (then its cleaner deletes them)."},
	{"PATIENTLINK_JOB_RETENTION_FAILED", "168h", false, "River keeps cancelled and discarded jobs this long, for operators to inspect."},
	{"PATIENTLINK_LOG_FORMAT", "auto", false, "auto (coloured text on a terminal, JSON otherwise), text or json."},
	{"PATIENTLINK_LOG_LEVEL", "info", false, "debug, info, warn or error."},
}

// MarkdownTable renders Vars as the README's configuration table.
func MarkdownTable() string {
	var b strings.Builder
	b.WriteString("| Variable | Default | Secret | Meaning |\n|---|---|---|---|\n")
	for _, v := range Vars {
		def, secret := "—", ""
		if v.Default != "" {
			def = "`" + v.Default + "`"
		}
		if v.Secret {
			secret = "yes"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", v.Name, def, secret, v.Doc)
	}
	return b.String()
}
