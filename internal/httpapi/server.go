// Package httpapi is patientlink's HTTP interface: routes, handlers,
// problem+json errors and middleware.
package httpapi

import (
	"context"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/patientlink/patientlink/internal/auth"
	"github.com/patientlink/patientlink/internal/jobs"
	"github.com/patientlink/patientlink/internal/link"
	"github.com/patientlink/patientlink/internal/metrics"
	"github.com/patientlink/patientlink/internal/postgres"
	"github.com/patientlink/patientlink/internal/seal"
)

// Deps are what the handlers need.
type Deps struct {
	Logger         *slog.Logger
	Store          *postgres.Store
	Tokens         *auth.Tokens
	Keyring        *seal.Keyring
	River          *river.Client[pgx.Tx] // inserts jobs; need not work them
	Processor      *jobs.LinkProcessor   // records async search results
	CallbackSecret []byte                // the index signs search callbacks with it
	AdminToken     string                // operator endpoints; empty disables them
	Metrics        *metrics.Metrics
	ServeMetrics   bool   // serve /metrics here (no separate operator address)
	OpenAPI        []byte // served at /openapi.yaml
	SchemaVersion  uint   // the migration version /readyz expects

	AllowInsecureWebhooks bool
	IdempotencyTTL        time.Duration
	MaxBodyBytes          int64
	RateLimit             float64 // requests per second per customer; 0 disables
	RateBurst             int
	MaxInFlight           int // requests served at once; more get 503; 0 disables
	StatusRetryAfter      int // seconds, sent with the status of a pending workflow
	Now                   func() time.Time
}

var timeNow = time.Now

// customers loads the caller's customer for the auth middleware.
type customers interface {
	Customer(ctx context.Context, id uuid.UUID) (link.Customer, error)
}
