// Package workflow holds patientlink's use cases, one findable method each:
// acknowledge a link or a de-link, process a workflow, record async search
// results, deliver and redeliver notifications, stop, retry, reconcile and
// the housekeeping. It owns the job args and decides; httpapi, the River
// workers and the CLI only translate to and from it.
//
// A state change, its history, the notification it causes and the job that
// follows commit in one transaction: the use case opens it, the store's
// …Tx methods and River's InsertTx/JobCompleteTx take it.
package workflow

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/patientlink/patientlink/internal/config"
	"github.com/patientlink/patientlink/internal/index"
	"github.com/patientlink/patientlink/internal/link"
	"github.com/patientlink/patientlink/internal/metrics"
	"github.com/patientlink/patientlink/internal/postgres"
	"github.com/patientlink/patientlink/internal/seal"
	"github.com/patientlink/patientlink/internal/webhook"
)

// Searcher searches the internal patient index.
type Searcher interface {
	Search(ctx context.Context, q index.Query) (index.Response, error)
}

// Sender delivers one signed webhook.
type Sender interface {
	Send(ctx context.Context, d webhook.Delivery) webhook.Result
}

// Deps are what the use cases work with. Index and Sender are needed only
// where workflows are processed and notified (the worker role).
type Deps struct {
	Store       *postgres.Store
	Keyring     *seal.Keyring
	Index       Searcher
	Sender      Sender
	Policy      link.Policy
	Webhook     config.Webhook
	Maintenance config.Maintenance
	Logger      *slog.Logger
	Metrics     *metrics.Metrics // may be nil
	Now         func() time.Time // nil: time.Now
}

// Service runs the use cases.
type Service struct {
	d      Deps
	river  *river.Client[pgx.Tx]
	commit *committer // outcomes of concurrent jobs, committed together
}

// New builds the service; UseRiver must follow before a use case that
// queues work runs.
func New(d Deps) *Service {
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Index != nil {
		d.Index = instrumentedIndex{searcher: d.Index, metrics: d.Metrics}
	}
	s := &Service{d: d, commit: newCommitter(d.Store)}
	s.commit.insertMany = func(ctx context.Context, tx pgx.Tx, jobs []river.InsertManyParams) error {
		if _, err := s.river.InsertManyTx(ctx, tx, jobs); err != nil {
			return fmt.Errorf("error enqueueing jobs: %w", err)
		}
		return nil
	}
	return s
}

// UseRiver sets the client jobs are queued with. It is set after New
// because a worker process's client is built from workers that hold the
// service.
func (s *Service) UseRiver(c *river.Client[pgx.Tx]) { s.river = c }
