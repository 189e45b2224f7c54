// Package config reads patientlink's configuration from the environment.
// Vars is the one list of variables; the README's table is checked against it.
package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/patientlink/patientlink/internal/seal"
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
	{"PATIENTLINK_TOKEN_SECRET", "", true, "HMAC secret for customer tokens: 32 random bytes, standard base64 (required)."},
	{"PATIENTLINK_TOKEN_SECRET_PREVIOUS", "", true, "Comma-separated previous token secrets, still accepted during a rotation."},
	{"PATIENTLINK_DATA_KEY", "", true, "AES-256 key sealing request payloads: 32 random bytes, standard base64 (required)."},
	{"PATIENTLINK_DATA_KEY_PREVIOUS", "", true, "Comma-separated previous data keys, still used to open older payloads."},
	{"PATIENTLINK_IDEMPOTENCY_TTL", "24h", false, "How long a response is replayed for the same Idempotency-Key."},
	{"PATIENTLINK_MAX_BODY_BYTES", "65536", false, "Largest accepted request body; larger gets 413."},
	{"PATIENTLINK_DB_MAX_CONNS", "20", false, "pgx pool size per process."},
	{"PATIENTLINK_ALLOW_INSECURE_WEBHOOKS", "false", false, "Allow http:// webhook URLs and loopback targets (development only; `make run` sets it)."},
	{"PATIENTLINK_TOKEN_TTL", "8760h", false, "Lifetime of customer tokens issued by `patientlink customer create|token`."},
	{"PATIENTLINK_LOG_FORMAT", "auto", false, "auto (coloured text on a terminal, JSON otherwise), text or json."},
	{"PATIENTLINK_LOG_LEVEL", "info", false, "debug, info, warn or error."},
}

// Config is the parsed configuration.
type Config struct {
	DatabaseURL    string
	Addr           string
	TokenSecret    []byte
	TokenPrevious  [][]byte
	DataKey        []byte
	DataKeyPrev    [][]byte
	IdempotencyTTL time.Duration
	MaxBodyBytes   int64
	DBMaxConns     int32
	LogFormat      string
	LogLevel       string

	AllowInsecureWebhooks bool
	TokenTTL              time.Duration
}

// Load reads the configuration. Every problem is reported at once, and no
// message contains a secret's value.
func Load(getenv func(string) string) (Config, error) {
	r := reader{getenv: getenv}
	c := Config{
		DatabaseURL:    r.str("DATABASE_URL"),
		Addr:           r.str("PATIENTLINK_ADDR"),
		TokenSecret:    r.key("PATIENTLINK_TOKEN_SECRET"),
		TokenPrevious:  r.keys("PATIENTLINK_TOKEN_SECRET_PREVIOUS"),
		DataKey:        r.key("PATIENTLINK_DATA_KEY"),
		DataKeyPrev:    r.keys("PATIENTLINK_DATA_KEY_PREVIOUS"),
		IdempotencyTTL: r.duration("PATIENTLINK_IDEMPOTENCY_TTL"),
		MaxBodyBytes:   int64(r.integer("PATIENTLINK_MAX_BODY_BYTES", 1024, 16<<20)),
		DBMaxConns:     int32(r.integer("PATIENTLINK_DB_MAX_CONNS", 2, 1000)),
		LogFormat:      r.oneOf("PATIENTLINK_LOG_FORMAT", "auto", "text", "json"),
		LogLevel:       r.oneOf("PATIENTLINK_LOG_LEVEL", "debug", "info", "warn", "error"),

		AllowInsecureWebhooks: r.boolean("PATIENTLINK_ALLOW_INSECURE_WEBHOOKS"),
		TokenTTL:              r.duration("PATIENTLINK_TOKEN_TTL"),
	}
	return c, r.err()
}

// RequireDatabase checks DATABASE_URL, which every subcommand needs.
func RequireDatabase(getenv func(string) string) (string, error) {
	v := getenv("DATABASE_URL")
	if v == "" {
		return "", errors.New("DATABASE_URL is not set (`make run` starts a private PostgreSQL and sets it)")
	}
	if u, err := url.Parse(v); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", errors.New("DATABASE_URL must be a postgres:// URL")
	}
	return v, nil
}

// NewKeyring builds the data keyring from the configuration.
func (c Config) NewKeyring() (*seal.Keyring, error) {
	return seal.NewKeyring(c.DataKey, c.DataKeyPrev...)
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

func (r *reader) str(name string) string {
	v := r.raw(name)
	if v == "" && name == "DATABASE_URL" {
		r.fail(name, "is required")
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

func (r *reader) boolean(name string) bool {
	b, err := strconv.ParseBool(r.raw(name))
	if err != nil {
		r.fail(name, "must be true or false")
	}
	return b
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
