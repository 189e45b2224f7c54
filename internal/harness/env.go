package harness

import (
	"crypto/rand"
	"encoding/base64"
	"maps"
	"os"
	"slices"
	"strings"
)

// Env is a patientlink process's configuration: variable → value.
type Env map[string]string

// Secrets are fresh random values of the secrets the service refuses to
// start without.
func Secrets() Env {
	key := func() string {
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		return base64.StdEncoding.EncodeToString(b)
	}
	return Env{
		"PATIENTLINK_TOKEN_SECRET":          key(),
		"PATIENTLINK_DATA_KEY":              key(),
		"PATIENTLINK_INDEX_CALLBACK_SECRET": key(),
	}
}

// ServiceEnv is what every harnessed process shares: fresh secrets, the
// database, the index ("" leaves the service's default) and webhooks and
// the index over plain http, because every server listens on 127.0.0.1.
func ServiceEnv(databaseURL, indexURL string) Env {
	e := Secrets()
	e["DATABASE_URL"] = databaseURL
	e["PATIENTLINK_ALLOW_INSECURE_WEBHOOKS"] = "true"
	e["PATIENTLINK_ALLOW_INSECURE_INDEX"] = "true"
	if indexURL != "" {
		e["PATIENTLINK_INDEX_URL"] = indexURL
	}
	return e
}

// With is a copy of e with over's variables set.
func (e Env) With(over Env) Env {
	out := maps.Clone(e)
	if out == nil {
		out = Env{}
	}
	maps.Copy(out, over)
	return out
}

// Getenv reads e the way run's getenv does, for the binary in-process.
func (e Env) Getenv(key string) string { return e[key] }

// Environ is our environment without the service's and the harness's own
// variables, so a developer's shell does not change a run, followed by e's.
func (e Env) Environ() []string {
	var out []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PATIENTLINK_") || strings.HasPrefix(kv, "DATABASE_URL=") || strings.HasPrefix(kv, "LINKBENCH_") {
			continue
		}
		out = append(out, kv)
	}
	for _, k := range slices.Sorted(maps.Keys(e)) {
		out = append(out, k+"="+e[k])
	}
	return out
}
