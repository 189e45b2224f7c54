package schema_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/patientlink/patientlink/internal/pgtest"
	"github.com/patientlink/patientlink/internal/schema"
)

// The whole history goes down to nothing and up again: every down file works.
func TestDownAndUpAgain(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.URL(t)
	latest, err := schema.Latest()
	require.NoError(t, err)

	version, dirty, err := schema.Version(dbURL)
	require.NoError(t, err)
	require.False(t, dirty)
	require.Equal(t, latest, version)

	require.NoError(t, schema.Down(dbURL, 0))
	require.Equal(t, []string{"schema_migrations"}, tables(t, dbURL))

	require.NoError(t, schema.Up(dbURL))
	version, _, err = schema.Version(dbURL)
	require.NoError(t, err)
	require.Equal(t, latest, version)
	require.Contains(t, tables(t, dbURL), "river_job")
	require.Contains(t, tables(t, dbURL), "workflows")
}

func tables(t *testing.T, dbURL string) []string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	require.NoError(t, err)
	defer func() { _ = conn.Close(ctx) }()
	rows, err := conn.Query(ctx, "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
	require.NoError(t, err)
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return names
}
