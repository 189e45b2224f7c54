// Package postgres is patientlink's one storage seam: a Store over a pgx
// pool that speaks in the domain's types. The sqlc output lives in its
// internal/dbsqlc, so no other package can reach generated code. Methods
// ending in Tx run in the caller's transaction; the others open their own.
package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/patientlink/patientlink/internal/config"
	"github.com/patientlink/patientlink/internal/link"
	"github.com/patientlink/patientlink/internal/postgres/internal/dbsqlc"
)

// Metrics hears of every workflow transition the store makes.
type Metrics interface {
	Transition(from, to string)
}

// Store reads and writes patientlink's tables.
type Store struct {
	pool    *pgxpool.Pool
	q       *dbsqlc.Queries
	metrics Metrics
	sealer  Sealer // webhook secrets; nil: the store cannot read or write them
}

// New wraps a pool. m may be nil.
func New(pool *pgxpool.Pool, m Metrics) *Store {
	if m == nil {
		m = noMetrics{}
	}
	return &Store{pool: pool, q: dbsqlc.New(), metrics: m}
}

// WithSealer makes the store seal customers' webhook secrets on the way in
// and open them on the way out (seal.Keyring).
func (s *Store) WithSealer(k Sealer) *Store {
	s.sealer = k
	return s
}

type noMetrics struct{}

func (noMetrics) Transition(string, string) {}

// Open opens the pool every command uses, sized by the configuration.
func Open(ctx context.Context, cfg config.Database) (*pgxpool.Pool, error) {
	pcfg, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		return nil, errors.New("DATABASE_URL is not a valid connection string")
	}
	if cfg.MaxConns > 0 {
		pcfg.MaxConns = cfg.MaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("error opening database pool: %w", err)
	}
	return pool, nil
}

// SchemaVersion is the applied migration version and whether it is dirty.
// golang-migrate owns schema_migrations, so sqlc does not know it.
func (s *Store) SchemaVersion(ctx context.Context) (version int64, dirty bool, err error) {
	err = s.pool.QueryRow(ctx, "SELECT version, dirty FROM schema_migrations LIMIT 1").Scan(&version, &dirty)
	return version, dirty, err
}

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

// LiveJobIDsTx are the ids of a workflow's jobs of one kind that may
// still run.
func (s *Store) LiveJobIDsTx(ctx context.Context, tx pgx.Tx, workflowID uuid.UUID, kind string) ([]int64, error) {
	return s.q.RiverJobIDsLiveForWorkflow(ctx, tx, dbsqlc.RiverJobIDsLiveForWorkflowParams{WorkflowID: workflowID.String(), Kind: kind})
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

func nullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
