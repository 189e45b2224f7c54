// Package config reads patientlink's configuration from the environment.
// Vars is the one list of variables; the README's table is checked against it.
package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/patientlink/patientlink/internal/link"
	"github.com/patientlink/patientlink/internal/seal"
	"github.com/patientlink/patientlink/internal/webhook"
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
	{"PATIENTLINK_OPERATOR_ADDR", "", false, "If set, /metrics and /debug/pprof/ are served on this address instead of /metrics on the API address."},
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
	{"PATIENTLINK_DB_MAX_CONNS", "20", false, "pgx pool size per process."},
	{"PATIENTLINK_ALLOW_INSECURE_WEBHOOKS", "false", false, "Allow http:// webhook URLs and loopback targets (development only; `make run` sets it)."},
	{"PATIENTLINK_WEBHOOK_TIMEOUT", "10s", false, "Timeout of each webhook delivery attempt."},
	{"PATIENTLINK_WEBHOOK_RETRY_SCHEDULE", "0s,5s,5m,30m,2h,5h,10h,14h,20h,24h", false, "Delay before each delivery attempt (comma-separated Go durations, Standard Webhooks' schedule; ±10% jitter). Its length is the number of attempts."},
	{"PATIENTLINK_WEBHOOK_ALLOW_CIDRS", "", false, "Comma-separated CIDRs webhooks may reach although private (e.g. a customer on a VPN)."},
	{"PATIENTLINK_ADMIN_TOKEN", "", true, "Bearer token of the operator endpoints (/admin/...); unset disables them."},
	{"PATIENTLINK_TOKEN_TTL", "8760h", false, "Lifetime of customer tokens issued by `patientlink customer create|token`."},
	{"PATIENTLINK_INDEX_URL", "http://127.0.0.1:8090", false, "Base URL of the internal patient index (docs/internal-index.md)."},
	{"PATIENTLINK_INDEX_TIMEOUT", "5s", false, "Timeout of each index call."},
	{"PATIENTLINK_INDEX_CALLBACK_SECRET", "", true, "Shared HMAC secret the index signs async search callbacks with (required)."},
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

// Config is the parsed configuration: one section per package that uses
// it, each passed whole. Load fills only the sections asked for.
type Config struct {
	Role        string // api, worker or all
	Database    Database
	Log         Log
	HTTP        HTTP
	Tokens      Tokens
	Keys        Keys
	Index       Index
	Webhook     Webhook
	Workers     Workers
	Maintenance Maintenance
}

// Database is where everything is stored (postgres.Open).
type Database struct {
	URL      string
	MaxConns int32
}

// Log is the process's log output.
type Log struct {
	Format string // auto, text or json
	Level  string
}

// HTTP is the API listener (httpapi and serve).
type HTTP struct {
	Addr              string
	OperatorAddr      string // metrics and pprof apart from customers; empty serves /metrics on Addr
	AdminToken        string // operator endpoints; empty disables them
	CallbackSecret    []byte // the index signs async search callbacks with it
	MaxBodyBytes      int64
	RateLimit         float64 // requests per second per customer; 0 disables
	RateBurst         int
	MaxInFlight       int // requests served at once; more get 503; 0 disables
	StatusRetryAfter  int // seconds, sent with the status of a pending workflow
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	MaxHeaderBytes    int
	ShutdownTimeout   time.Duration
}

// Tokens are the customer tokens' secrets and lifetime (auth).
type Tokens struct {
	Secret   []byte
	Previous [][]byte
	TTL      time.Duration
}

// Keys seal request payloads (seal).
type Keys struct {
	DataKey  []byte
	Previous [][]byte
}

// Keyring builds the data keyring.
func (k Keys) Keyring() (*seal.Keyring, error) {
	return seal.NewKeyring(k.DataKey, k.Previous...)
}

// Index is the internal patient index and the policy applied to its
// answers.
type Index struct {
	URL               string
	Timeout           time.Duration
	AutolinkThreshold float64
	AutolinkMargin    float64
}

// Policy is the matching policy the index's scores are judged by.
func (i Index) Policy() link.Policy {
	return link.Policy{Threshold: i.AutolinkThreshold, Margin: i.AutolinkMargin}
}

// Webhook is how customers are notified.
type Webhook struct {
	AllowInsecure bool // http:// and loopback targets (development)
	Timeout       time.Duration
	Schedule      []time.Duration // delay before each attempt; its length bounds them
	AllowCIDRs    []netip.Prefix
}

// Workers size River in a worker process (jobs).
type Workers struct {
	LinkWorkers       int
	WebhookWorkers    int
	FetchCooldown     time.Duration
	FetchPollInterval time.Duration
	RetryBase         time.Duration
	StopTimeout       time.Duration
}

// Maintenance is retention and the periodic jobs.
type Maintenance struct {
	IdempotencyTTL        time.Duration
	ReconcileEvery        time.Duration
	ReconcileAfter        time.Duration
	ReconcileLimit        int
	StuckReportEvery      time.Duration
	PurgeIdempotencyEvery time.Duration
	PurgePayloadsEvery    time.Duration
	PayloadRetention      time.Duration
	PurgeBatch            int
	JobRetentionCompleted time.Duration
	JobRetentionFailed    time.Duration
}

// Section names a part of Config; Load reads the ones a command needs, so
// `workflow stop` does not demand the token secret.
type Section uint

// Sections.
const (
	SectionDatabase Section = 1 << iota
	SectionLog
	SectionHTTP
	SectionTokens
	SectionKeys
	SectionIndex
	SectionWebhook
	SectionWorkers
	SectionMaintenance

	// SectionAll is what serve needs.
	SectionAll = SectionDatabase | SectionLog | SectionHTTP | SectionTokens | SectionKeys |
		SectionIndex | SectionWebhook | SectionWorkers | SectionMaintenance
)

// Load reads the sections asked for. Every problem is reported at once,
// and no message contains a secret's value.
func Load(getenv func(string) string, sections Section) (Config, error) {
	r := reader{getenv: getenv}
	c := Config{Role: r.oneOf("PATIENTLINK_ROLE", "all", "api", "worker")}
	if sections&SectionDatabase != 0 {
		c.Database = Database{
			URL:      r.databaseURL("DATABASE_URL"),
			MaxConns: int32(r.integer("PATIENTLINK_DB_MAX_CONNS", 2, 1000)),
		}
	}
	if sections&SectionLog != 0 {
		c.Log = Log{
			Format: r.oneOf("PATIENTLINK_LOG_FORMAT", "auto", "text", "json"),
			Level:  r.oneOf("PATIENTLINK_LOG_LEVEL", "debug", "info", "warn", "error"),
		}
	}
	if sections&SectionHTTP != 0 {
		c.HTTP = HTTP{
			Addr:              r.raw("PATIENTLINK_ADDR"),
			OperatorAddr:      r.raw("PATIENTLINK_OPERATOR_ADDR"),
			AdminToken:        r.optionalSecret("PATIENTLINK_ADMIN_TOKEN"),
			CallbackSecret:    r.secret("PATIENTLINK_INDEX_CALLBACK_SECRET"),
			MaxBodyBytes:      int64(r.integer("PATIENTLINK_MAX_BODY_BYTES", 1024, 16<<20)),
			RateLimit:         r.number("PATIENTLINK_RATE_LIMIT"),
			RateBurst:         r.integer("PATIENTLINK_RATE_BURST", 1, 1000000),
			MaxInFlight:       r.integer("PATIENTLINK_MAX_INFLIGHT", 0, 1000000),
			StatusRetryAfter:  r.integer("PATIENTLINK_STATUS_RETRY_AFTER", 0, 3600),
			ReadHeaderTimeout: r.duration("PATIENTLINK_HTTP_READ_HEADER_TIMEOUT"),
			ReadTimeout:       r.duration("PATIENTLINK_HTTP_READ_TIMEOUT"),
			WriteTimeout:      r.duration("PATIENTLINK_HTTP_WRITE_TIMEOUT"),
			IdleTimeout:       r.duration("PATIENTLINK_HTTP_IDLE_TIMEOUT"),
			MaxHeaderBytes:    r.integer("PATIENTLINK_MAX_HEADER_BYTES", 1024, 1<<20),
			ShutdownTimeout:   r.duration("PATIENTLINK_SHUTDOWN_TIMEOUT"),
		}
	}
	if sections&SectionTokens != 0 {
		c.Tokens = Tokens{
			Secret:   r.key("PATIENTLINK_TOKEN_SECRET"),
			Previous: r.keys("PATIENTLINK_TOKEN_SECRET_PREVIOUS"),
			TTL:      r.duration("PATIENTLINK_TOKEN_TTL"),
		}
	}
	if sections&SectionKeys != 0 {
		c.Keys = Keys{
			DataKey:  r.key("PATIENTLINK_DATA_KEY"),
			Previous: r.keys("PATIENTLINK_DATA_KEY_PREVIOUS"),
		}
	}
	if sections&SectionIndex != 0 {
		c.Index = Index{
			URL:               r.url("PATIENTLINK_INDEX_URL"),
			Timeout:           r.duration("PATIENTLINK_INDEX_TIMEOUT"),
			AutolinkThreshold: r.fraction("PATIENTLINK_AUTOLINK_THRESHOLD"),
			AutolinkMargin:    r.fraction("PATIENTLINK_AUTOLINK_MARGIN"),
		}
	}
	if sections&SectionWebhook != 0 {
		c.Webhook = Webhook{
			AllowInsecure: r.boolean("PATIENTLINK_ALLOW_INSECURE_WEBHOOKS"),
			Timeout:       r.duration("PATIENTLINK_WEBHOOK_TIMEOUT"),
			Schedule:      r.schedule("PATIENTLINK_WEBHOOK_RETRY_SCHEDULE"),
			AllowCIDRs:    r.prefixes("PATIENTLINK_WEBHOOK_ALLOW_CIDRS"),
		}
	}
	if sections&SectionWorkers != 0 {
		c.Workers = Workers{
			LinkWorkers:       r.integer("PATIENTLINK_LINK_WORKERS", 1, 10000),
			WebhookWorkers:    r.integer("PATIENTLINK_WEBHOOK_WORKERS", 1, 10000),
			FetchCooldown:     r.duration("PATIENTLINK_FETCH_COOLDOWN"),
			FetchPollInterval: r.duration("PATIENTLINK_FETCH_POLL_INTERVAL"),
			RetryBase:         r.duration("PATIENTLINK_RETRY_BASE"),
			StopTimeout:       r.duration("PATIENTLINK_RIVER_STOP_TIMEOUT"),
		}
	}
	if sections&SectionMaintenance != 0 {
		c.Maintenance = Maintenance{
			IdempotencyTTL:        r.duration("PATIENTLINK_IDEMPOTENCY_TTL"),
			ReconcileEvery:        r.interval("PATIENTLINK_RECONCILE_INTERVAL"),
			ReconcileAfter:        r.duration("PATIENTLINK_RECONCILE_AFTER"),
			ReconcileLimit:        r.integer("PATIENTLINK_RECONCILE_LIMIT", 1, 1000),
			StuckReportEvery:      r.interval("PATIENTLINK_STUCK_REPORT_INTERVAL"),
			PurgeIdempotencyEvery: r.interval("PATIENTLINK_PURGE_IDEMPOTENCY_INTERVAL"),
			PurgePayloadsEvery:    r.interval("PATIENTLINK_PURGE_PAYLOADS_INTERVAL"),
			PayloadRetention:      r.duration("PATIENTLINK_PAYLOAD_RETENTION"),
			PurgeBatch:            r.integer("PATIENTLINK_PURGE_BATCH", 1, 100000),
			JobRetentionCompleted: r.duration("PATIENTLINK_JOB_RETENTION_COMPLETED"),
			JobRetentionFailed:    r.duration("PATIENTLINK_JOB_RETENTION_FAILED"),
		}
	}
	return c, r.err()
}

// Defaults is every section with its documented defaults, for tests and
// tools; sections whose variables have no default (secrets, the database)
// stay empty.
func Defaults() Config {
	c, _ := Load(func(string) string { return "" }, SectionLog|SectionHTTP|SectionIndex|SectionWebhook|SectionWorkers|SectionMaintenance)
	c.HTTP.CallbackSecret = nil
	return c
}

type reader struct {
	getenv   func(string) string
	problems []string
}

func (r *reader) raw(name string) string {
	if v := strings.TrimSpace(r.getenv(name)); v != "" {
		return v
	}
	for _, v := range Vars {
		if v.Name == name {
			return v.Default
		}
	}
	panic("config: undocumented variable " + name)
}

func (r *reader) fail(name, format string, args ...any) {
	r.problems = append(r.problems, name+" "+fmt.Sprintf(format, args...))
}

// databaseURL is the one check of DATABASE_URL.
func (r *reader) databaseURL(name string) string {
	v := r.raw(name)
	if v == "" {
		r.fail(name, "is required (`make run` starts a private PostgreSQL and sets it)")
		return ""
	}
	if u, err := url.Parse(v); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		r.fail(name, "must be a postgres:// URL")
	}
	return v
}

func (r *reader) key(name string) []byte {
	v := r.raw(name)
	if v == "" {
		r.fail(name, "is required: 32 random bytes in standard base64 (e.g. `openssl rand -base64 32`)")
		return nil
	}
	k, err := base64.StdEncoding.DecodeString(v)
	if err != nil || len(k) != 32 {
		r.fail(name, "must be 32 random bytes in standard base64")
		return nil
	}
	return k
}

func (r *reader) keys(name string) [][]byte {
	var out [][]byte
	for _, part := range strings.Split(r.raw(name), ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		k, err := base64.StdEncoding.DecodeString(part)
		if err != nil || len(k) != 32 {
			r.fail(name, "must list keys of 32 bytes in standard base64")
			return nil
		}
		out = append(out, k)
	}
	return out
}

func (r *reader) duration(name string) time.Duration {
	d, err := time.ParseDuration(r.raw(name))
	if err != nil || d <= 0 {
		r.fail(name, "must be a positive Go duration such as 30s or 24h")
	}
	return d
}

// secret is a required shared secret of at least 16 bytes, taken as given.
func (r *reader) secret(name string) []byte {
	v := r.raw(name)
	if len(v) < 16 {
		r.fail(name, "is required: a shared secret of at least 16 characters")
		return nil
	}
	return []byte(v)
}

func (r *reader) optionalSecret(name string) string {
	v := r.raw(name)
	if v != "" && len(v) < 16 {
		r.fail(name, "must be at least 16 characters when set")
	}
	return v
}

func (r *reader) schedule(name string) []time.Duration {
	s, err := webhook.Schedule(r.raw(name))
	if err != nil {
		r.fail(name, "must be comma-separated Go durations such as 0s,5s,5m")
	}
	return s
}

func (r *reader) prefixes(name string) []netip.Prefix {
	var out []netip.Prefix
	for _, part := range strings.Split(r.raw(name), ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		p, err := netip.ParsePrefix(part)
		if err != nil {
			r.fail(name, "must list CIDRs such as 10.8.0.0/16")
			return nil
		}
		out = append(out, p)
	}
	return out
}

func (r *reader) url(name string) string {
	v := r.raw(name)
	if u, err := url.Parse(v); err != nil || !u.IsAbs() || u.Host == "" {
		r.fail(name, "must be an absolute URL")
	}
	return strings.TrimRight(v, "/")
}

func (r *reader) number(name string) float64 {
	f, err := strconv.ParseFloat(r.raw(name), 64)
	if err != nil || f < 0 {
		r.fail(name, "must be a number ≥ 0")
	}
	return f
}

func (r *reader) fraction(name string) float64 {
	f, err := strconv.ParseFloat(r.raw(name), 64)
	if err != nil || f < 0 || f > 1 {
		r.fail(name, "must be a number from 0 to 1")
	}
	return f
}

func (r *reader) boolean(name string) bool {
	b, err := strconv.ParseBool(r.raw(name))
	if err != nil {
		r.fail(name, "must be true or false")
	}
	return b
}

// interval is a duration where 0 means "off".
func (r *reader) interval(name string) time.Duration {
	d, err := time.ParseDuration(r.raw(name))
	if err != nil || d < 0 {
		r.fail(name, "must be a Go duration such as 5m, or 0 to disable")
	}
	return d
}

func (r *reader) integer(name string, lo, hi int) int {
	n, err := strconv.Atoi(r.raw(name))
	if err != nil || n < lo || n > hi {
		r.fail(name, "must be a whole number from %d to %d", lo, hi)
	}
	return n
}

func (r *reader) oneOf(name string, allowed ...string) string {
	v := strings.ToLower(r.raw(name))
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	r.fail(name, "must be one of %s", strings.Join(allowed, ", "))
	return allowed[0]
}

func (r *reader) err() error {
	if len(r.problems) == 0 {
		return nil
	}
	return errors.New("configuration: " + strings.Join(r.problems, "; "))
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
