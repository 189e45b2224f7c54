// Package httpapi is patientlink's HTTP interface: routes, handlers,
// problem+json errors and middleware.
package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/patientlink/patientlink/internal/auth"
	"github.com/patientlink/patientlink/internal/jobs"
	"github.com/patientlink/patientlink/internal/link"
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

	AllowInsecureWebhooks bool
	IdempotencyTTL        time.Duration
	MaxBodyBytes          int64
	Now                   func() time.Time
}

// NewServer builds the API handler.
func NewServer(d Deps) http.Handler {
	if d.Now == nil {
		d.Now = time.Now
	}
	return addRoutes(d)
}

// customers loads the caller's customer for the auth middleware.
type customers interface {
	Customer(ctx context.Context, id uuid.UUID) (link.Customer, error)
}
