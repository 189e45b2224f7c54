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

	"github.com/patientlink/patientlink/internal/webhook"
)

// reader reads variables by name, falling back to Vars' defaults, and
// collects every problem so all are reported at once.
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

// strongSecret is a shared secret with at least 32 bytes of entropy:
// standard base64 of 32 or more random bytes (`openssl rand -base64 32`),
// used as given (the characters, not the decoded bytes), like the index
// and operators hold it.
func (r *reader) strongSecret(name string, required bool) string {
	v := r.raw(name)
	if v == "" && !required {
		return ""
	}
	if b, err := base64.StdEncoding.DecodeString(v); err != nil || len(b) < 32 {
		r.fail(name, "must be at least 32 random bytes in standard base64 (openssl rand -base64 32)")
		return ""
	}
	return v
}

// optionalSecret is a credential of another system, taken as given.
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
