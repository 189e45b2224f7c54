package harness

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// A developer's shell never reaches a harnessed process: only the Env's
// own variables do.
func TestEnvironDropsTheShellsServiceVariables(t *testing.T) {
	t.Setenv("PATIENTLINK_RATE_LIMIT", "5")
	t.Setenv("DATABASE_URL", "postgres://elsewhere")
	env := ServiceEnv("postgres://here", "").With(Env{"PATIENTLINK_LOG_LEVEL": "warn"})
	got := env.Environ()
	require.NotContains(t, got, "PATIENTLINK_RATE_LIMIT=5")
	require.NotContains(t, got, "DATABASE_URL=postgres://elsewhere")
	require.Contains(t, got, "DATABASE_URL=postgres://here")
	require.Contains(t, got, "PATIENTLINK_LOG_LEVEL=warn")
	require.Equal(t, "postgres://here", env.Getenv("DATABASE_URL"))
	require.NotEqual(t, env["PATIENTLINK_TOKEN_SECRET"], Secrets()["PATIENTLINK_TOKEN_SECRET"], "fresh secrets each time")
}

func TestParseCustomer(t *testing.T) {
	t.Parallel()
	c, err := ParseCustomer([]byte(`{"id":"c1","token":"tok","webhook_secret":"whsec_x"}`))
	require.NoError(t, err)
	require.Equal(t, Customer{ID: "c1", Token: "tok", WebhookSecret: "whsec_x"}, c)
	_, err = ParseCustomer([]byte(`{"id":"c1"}`))
	require.Error(t, err)
}
