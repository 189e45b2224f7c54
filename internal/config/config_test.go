package config

import (
	"flag"
	"os"
	"strings"
	"testing"

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
		"PATIENTLINK_INDEX_CALLBACK_SECRET": "a-long-enough-secret",
	}
	cfg, err := Load(func(k string) string { return env[k] }, SectionAll)
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:8080", cfg.HTTP.Addr)
	require.EqualValues(t, 65536, cfg.HTTP.MaxBodyBytes)

	// Missing secrets are all named at once, and no value is echoed.
	env["PATIENTLINK_DATA_KEY"] = "secret-but-short"
	delete(env, "PATIENTLINK_TOKEN_SECRET")
	_, err = Load(func(k string) string { return env[k] }, SectionAll)
	require.ErrorContains(t, err, "PATIENTLINK_TOKEN_SECRET is required")
	require.ErrorContains(t, err, "PATIENTLINK_DATA_KEY must be 32 random bytes")
	require.NotContains(t, err.Error(), "secret-but-short")
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
