package config

import (
	"flag"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var updateReadme = flag.Bool("update-readme", false, "rewrite the README's configuration table from Vars")

// The README's configuration table is exactly Vars: go test
// ./internal/config -update-readme rewrites it.
func TestREADMEConfigTable(t *testing.T) {
	t.Parallel()
	const start, end = "<!-- config:start -->\n", "<!-- config:end -->"
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	s := string(readme)
	a, b := strings.Index(s, start), strings.Index(s, end)
	require.True(t, a >= 0 && b > a, "README.md lacks the config markers")
	if *updateReadme {
		s = s[:a+len(start)] + MarkdownTable() + s[b:]
		require.NoError(t, os.WriteFile("../../README.md", []byte(s), 0o644))
		return
	}
	require.Equal(t, MarkdownTable(), s[a+len(start):b], "README config table is stale: go test ./internal/config -update-readme")
}

func TestLoad(t *testing.T) {
	t.Parallel()
	key := "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" // 32 bytes
	env := map[string]string{
		"DATABASE_URL": "postgres://x@127.0.0.1/db", "PATIENTLINK_TOKEN_SECRET": key, "PATIENTLINK_DATA_KEY": key,
		"PATIENTLINK_INDEX_CALLBACK_SECRET": key, "PATIENTLINK_INDEX_URL": "https://index.internal",
	}
	cfg, err := Load(func(k string) string { return env[k] }, SectionAll)
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:8080", cfg.HTTP.Addr)
	require.EqualValues(t, 65536, cfg.HTTP.MaxBodyBytes)
	require.Equal(t, 90*24*time.Hour, cfg.Tokens.TTL)

	// Missing secrets are all named at once, and no value is echoed.
	env["PATIENTLINK_DATA_KEY"] = "secret-but-short"
	delete(env, "PATIENTLINK_TOKEN_SECRET")
	_, err = Load(func(k string) string { return env[k] }, SectionAll)
	require.ErrorContains(t, err, "PATIENTLINK_TOKEN_SECRET is required")
	require.ErrorContains(t, err, "PATIENTLINK_DATA_KEY must be 32 random bytes")
	require.NotContains(t, err.Error(), "secret-but-short")
}

// Shared secrets carry at least 32 random bytes; the index is https unless
// development allows http.
func TestLoadRefusesWeakSecretsAndPlainIndex(t *testing.T) {
	t.Parallel()
	key := "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" // 32 bytes
	env := map[string]string{
		"DATABASE_URL": "postgres://x@127.0.0.1/db", "PATIENTLINK_TOKEN_SECRET": key, "PATIENTLINK_DATA_KEY": key,
		"PATIENTLINK_INDEX_CALLBACK_SECRET": "a-long-enough-secret-but-not-random",
		"PATIENTLINK_ADMIN_TOKEN":           "admin-token-for-tests",
		"PATIENTLINK_INDEX_URL":             "http://index.internal",
	}
	_, err := Load(func(k string) string { return env[k] }, SectionAll)
	require.ErrorContains(t, err, "PATIENTLINK_INDEX_CALLBACK_SECRET must be at least 32 random bytes in standard base64")
	require.ErrorContains(t, err, "PATIENTLINK_ADMIN_TOKEN must be at least 32 random bytes in standard base64")
	require.ErrorContains(t, err, "PATIENTLINK_INDEX_URL must be an https URL")
	require.NotContains(t, err.Error(), "admin-token-for-tests")

	env["PATIENTLINK_INDEX_CALLBACK_SECRET"] = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNk" // 30 bytes
	env["PATIENTLINK_ADMIN_TOKEN"] = key
	env["PATIENTLINK_ALLOW_INSECURE_INDEX"] = "true"
	_, err = Load(func(k string) string { return env[k] }, SectionAll)
	require.ErrorContains(t, err, "PATIENTLINK_INDEX_CALLBACK_SECRET must be at least 32")
	require.NotContains(t, err.Error(), "ADMIN_TOKEN")
	require.NotContains(t, err.Error(), "INDEX_URL")

	env["PATIENTLINK_INDEX_CALLBACK_SECRET"] = key
	cfg, err := Load(func(k string) string { return env[k] }, SectionAll)
	require.NoError(t, err)
	require.Equal(t, key, cfg.HTTP.AdminToken)
	require.Equal(t, []byte(key), cfg.HTTP.CallbackSecret, "used as the characters given")
}

// A command loads only its sections: the operator commands run with just
// DATABASE_URL, and a bad one is named.
func TestLoadSections(t *testing.T) {
	t.Parallel()
	env := map[string]string{"DATABASE_URL": "postgres://x@127.0.0.1/db"}
	cfg, err := Load(func(k string) string { return env[k] }, SectionDatabase|SectionLog|SectionMaintenance)
	require.NoError(t, err)
	require.Equal(t, env["DATABASE_URL"], cfg.Database.URL)
	require.Equal(t, 5, cfg.Maintenance.ReconcileLimit)
	require.Nil(t, cfg.Tokens.Secret)

	_, err = Load(func(k string) string { return env[k] }, SectionTokens)
	require.ErrorContains(t, err, "PATIENTLINK_TOKEN_SECRET is required")

	env["DATABASE_URL"] = "mysql://x"
	_, err = Load(func(k string) string { return env[k] }, SectionDatabase)
	require.ErrorContains(t, err, "DATABASE_URL must be a postgres:// URL")
	delete(env, "DATABASE_URL")
	_, err = Load(func(k string) string { return env[k] }, SectionDatabase)
	require.ErrorContains(t, err, "DATABASE_URL is required")
}
