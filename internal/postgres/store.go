// Package postgres is patientlink's storage: a Store over a pgx pool that
// speaks in the domain's types. It is the only importer of dbsqlc.
package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/patientlink/patientlink/internal/dbsqlc"
	"github.com/patientlink/patientlink/internal/link"
	"github.com/patientlink/patientlink/internal/metrics"
)

// Store reads and writes patientlink's tables.
type Store struct {
	pool    *pgxpool.Pool
	q       *dbsqlc.Queries
	metrics *metrics.Metrics
}

// New wraps a pool. m may be nil.
func New(pool *pgxpool.Pool, m ...*metrics.Metrics) *Store {
	s := &Store{pool: pool, q: dbsqlc.New()}
	if len(m) > 0 {
		s.metrics = m[0]
	}
	return s
}

// PendingByState counts unfinished workflows by state.
func (s *Store) PendingByState(ctx context.Context) (map[string]int, error) {
	rows, err := s.q.WorkflowCountPendingByStatus(ctx, s.pool)
	if err != nil {
		return nil, err
	}
	out := make(map[string]int, len(rows))
	for _, r := range rows {
		out[r.Status] = int(r.N)
	}
	return out, nil
}

// JobsByQueueState counts River jobs waiting or running, by queue and state.
func (s *Store) JobsByQueueState(ctx context.Context) (map[[2]string]int, error) {
	rows, err := s.q.RiverJobCountByQueueState(ctx, s.pool)
	if err != nil {
		return nil, err
	}
	out := make(map[[2]string]int, len(rows))
	for _, r := range rows {
		out[[2]string{r.Queue, r.State}] = int(r.N)
	}
	return out, nil
}

// SchemaVersion is the applied migration version and whether it is dirty.
// golang-migrate owns schema_migrations, so sqlc does not know it.
func (s *Store) SchemaVersion(ctx context.Context) (version int64, dirty bool, err error) {
	err = s.pool.QueryRow(ctx, "SELECT version, dirty FROM schema_migrations LIMIT 1").Scan(&version, &dirty)
	return version, dirty, err
}

// Pool is the underlying pool, for River and health checks.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

// WithTx runs fn in a transaction, committed when fn returns nil.
func (s *Store) WithTx(ctx context.Context, fn func(pgx.Tx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("error beginning transaction: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after commit
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("error committing: %w", err)
	}
	return nil
}

// interpretError maps driver errors onto the domain's.
func interpretError(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return link.ErrNotFound
	}
	return err
}

func isUniqueViolation(err error, constraint string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == constraint
}
