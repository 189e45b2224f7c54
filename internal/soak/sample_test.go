package soak

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/patientlink/patientlink/internal/pgtest"
)

// readDB reads a migrated database: the tables with their sizes, River's
// jobs by state, and connections other than the soak's own; a snapshot
// lists a backend busy in a transaction.
func TestReadDB(t *testing.T) {
	t.Parallel()
	_, url := pgtest.Pool(t)
	ctx := context.Background()
	db, err := pgxpool.New(ctx, url+"&application_name="+samplerApp)
	require.NoError(t, err)
	t.Cleanup(db.Close)
	other, err := pgxpool.New(ctx, url+"&application_name=patientlink")
	require.NoError(t, err)
	t.Cleanup(other.Close)

	_, err = other.Exec(ctx, `INSERT INTO river_job (kind, args, max_attempts, state, finalized_at) VALUES ('soak.test', '{}', 1, 'available', NULL), ('soak.test', '{}', 1, 'available', NULL), ('soak.test', '{}', 1, 'completed', now())`)
	require.NoError(t, err)
	tx, err := other.Begin(ctx) // a transaction left open, as a stall might show
	require.NoError(t, err)
	t.Cleanup(func() { _ = tx.Rollback(ctx) })
	_, err = tx.Exec(ctx, `SELECT count(*) FROM workflows`)
	require.NoError(t, err)

	var s Sample
	require.NoError(t, readDB(ctx, db, &s))
	require.Equal(t, map[string]int{"available": 2, "completed": 1}, s.Jobs)
	require.Contains(t, s.Tables, "workflows")
	require.Contains(t, s.Tables, "river_job")
	require.Positive(t, s.Tables["river_job"].TableBytes)
	require.Positive(t, s.IndexBytes, "workflows and river_job have indexes")
	require.Equal(t, 1, s.Conns["idle in transaction"], "the other pool's open transaction, not the sampler")
	require.Equal(t, s.Conns["idle in transaction"]+s.Conns["idle"]+s.Conns["active"], s.ConnsTotal())

	busy, err := activity(ctx, db)
	require.NoError(t, err)
	require.Len(t, busy, 1)
	require.Equal(t, "patientlink", busy[0].App)
	require.Equal(t, "idle in transaction", busy[0].State)
	require.Contains(t, busy[0].Query, "SELECT count(*) FROM workflows")
}

// A webhook may arrive before its 202 is read: the pair is made either way.
func TestTrackerPairsAcknowledgementsAndWebhooks(t *testing.T) {
	t.Parallel()
	tr := newTracker()
	due := t0
	tr.acked("w1", due, due.Add(5*time.Millisecond))
	tr.completed("w1", due.Add(50*time.Millisecond))
	tr.completed("w2", due.Add(60*time.Millisecond)) // early
	tr.acked("w2", due, due.Add(61*time.Millisecond))
	tr.completed("w3", due.Add(70*time.Millisecond)) // never acknowledged by the soak (the peak's)
	tr.failed("503 Service Unavailable")
	offered, acks, dones, errs := tr.counts()
	require.Equal(t, []int{0, 2, 2, 1}, []int{offered, acks, dones, errs})
	a, d := tr.between(0, 2, 0, 2)
	require.Equal(t, []time.Duration{5 * time.Millisecond, 61 * time.Millisecond}, []time.Duration{a[0].lat, a[1].lat})
	require.Equal(t, []time.Duration{45 * time.Millisecond, 0}, []time.Duration{d[0].lat, d[1].lat}, "an early webhook counts as at once")
	require.Equal(t, []string{"w1", "w2"}, tr.ids())
}
