package postgres_test

import (
	"context"
	"regexp"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/patientlink/patientlink/internal/link"
	"github.com/patientlink/patientlink/internal/pgtest"
)

// The live database's CHECK on workflows.status admits exactly the states
// of Go's state machine: whatever the migrations did, the two agree.
func TestStatusCheckListsEveryState(t *testing.T) {
	t.Parallel()
	pool, _ := pgtest.Pool(t)
	var def string
	require.NoError(t, pool.QueryRow(context.Background(), `
		SELECT pg_get_constraintdef(c.oid) FROM pg_constraint AS c
		WHERE c.conrelid = 'workflows'::regclass AND c.conname = 'workflows_status_check'`).Scan(&def))
	var got []string
	for _, m := range regexp.MustCompile(`'([A-Z_]+)'`).FindAllStringSubmatch(def, -1) {
		got = append(got, m[1])
	}
	var want []string
	for _, s := range link.States {
		want = append(want, string(s))
	}
	slices.Sort(got)
	slices.Sort(want)
	require.Equal(t, want, got, "CHECK: %s", def)
}

// The database's workflow_transitions, which its trigger enforces, holds
// exactly Go's state machine. When link's table changes, this fails until
// a migration changes the rows.
func TestTransitionTableMatchesGo(t *testing.T) {
	t.Parallel()
	pool, _ := pgtest.Pool(t)
	rows, err := pool.Query(context.Background(), `
		SELECT request_type, from_status, to_status FROM workflow_transitions
		ORDER BY request_type COLLATE "C", from_status COLLATE "C", to_status COLLATE "C"`)
	require.NoError(t, err)
	got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (link.Transition, error) {
		var tr link.Transition
		err := r.Scan(&tr.RequestType, &tr.From, &tr.To)
		return tr, err
	})
	require.NoError(t, err)
	require.Equal(t, link.Transitions(), got)
}
