package config

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The README's configuration table documents every variable.
func TestREADMEListsEveryVariable(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	for _, v := range Vars {
		require.Contains(t, string(readme), "| `"+v.Name+"` |", "README.md lacks %s", v.Name)
	}
}

func TestLoad(t *testing.T) {
	t.Parallel()
	key := "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" // 32 bytes
	env := map[string]string{
		"DATABASE_URL": "postgres://x@127.0.0.1/db", "PATIENTLINK_TOKEN_SECRET": key, "PATIENTLINK_DATA_KEY": key,
	}
	cfg, err := Load(func(k string) string { return env[k] })
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:8080", cfg.Addr)
	require.EqualValues(t, 65536, cfg.MaxBodyBytes)

	// Missing secrets are all named at once, and no value is echoed.
	env["PATIENTLINK_DATA_KEY"] = "secret-but-short"
	delete(env, "PATIENTLINK_TOKEN_SECRET")
	_, err = Load(func(k string) string { return env[k] })
	require.ErrorContains(t, err, "PATIENTLINK_TOKEN_SECRET is required")
	require.ErrorContains(t, err, "PATIENTLINK_DATA_KEY must be 32 random bytes")
	require.False(t, strings.Contains(err.Error(), "secret-but-short"))
}
