// Package config reads patientlink's configuration from the environment.
// Vars is the one list of variables; the README's table is checked against it.
package config

import (
	"net/netip"
	"strings"
	"time"

	"github.com/patientlink/patientlink/internal/link"
	"github.com/patientlink/patientlink/internal/seal"
)

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
	Matching    Matching
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
	OperatorAddr      string // index callbacks, /admin, metrics and pprof apart from customers; empty serves only /metrics, on Addr
	AdminToken        string // operator endpoints; empty disables them
	CallbackSecret    []byte // the index signs async search callbacks with it
	MaxBodyBytes      int64
	MaxBulkBodyBytes  int64   // POST /links
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
	URL           string
	AllowInsecure bool   // http:// (development)
	Token         string // bearer credential sent to the index; empty sends none
	Timeout       time.Duration
}

// Matching is the policy the index's scores are judged by (workflow).
type Matching struct {
	AutolinkThreshold float64
	AutolinkMargin    float64
}

// Policy is the matching policy in force.
func (m Matching) Policy() link.Policy {
	return link.Policy{Threshold: m.AutolinkThreshold, Margin: m.AutolinkMargin}
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
	SectionMatching
	SectionWebhook
	SectionWorkers
	SectionMaintenance

	// SectionAll is what serve needs.
	SectionAll = SectionDatabase | SectionLog | SectionHTTP | SectionTokens | SectionKeys |
		SectionIndex | SectionMatching | SectionWebhook | SectionWorkers | SectionMaintenance
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
			AdminToken:        r.strongSecret("PATIENTLINK_ADMIN_TOKEN", false),
			CallbackSecret:    []byte(r.strongSecret("PATIENTLINK_INDEX_CALLBACK_SECRET", true)),
			MaxBodyBytes:      int64(r.integer("PATIENTLINK_MAX_BODY_BYTES", 1024, 16<<20)),
			MaxBulkBodyBytes:  int64(r.integer("PATIENTLINK_MAX_BULK_BODY_BYTES", 1024, 64<<20)),
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
			URL:           r.url("PATIENTLINK_INDEX_URL"),
			AllowInsecure: r.boolean("PATIENTLINK_ALLOW_INSECURE_INDEX"),
			Token:         r.optionalSecret("PATIENTLINK_INDEX_TOKEN"),
			Timeout:       r.duration("PATIENTLINK_INDEX_TIMEOUT"),
		}
		if !c.Index.AllowInsecure && !strings.HasPrefix(c.Index.URL, "https://") {
			r.fail("PATIENTLINK_INDEX_URL", "must be an https URL (PATIENTLINK_ALLOW_INSECURE_INDEX=true allows http in development)")
		}
	}
	if sections&SectionMatching != 0 {
		c.Matching = Matching{
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
	c, _ := Load(func(string) string { return "" }, SectionLog|SectionHTTP|SectionIndex|SectionMatching|SectionWebhook|SectionWorkers|SectionMaintenance)
	c.HTTP.CallbackSecret = nil
	return c
}
