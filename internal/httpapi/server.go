// Package httpapi is patientlink's HTTP interface: routes, handlers,
// problem+json errors and middleware. Handlers decode, call a use case of
// internal/workflow and encode; they decide nothing themselves.
package httpapi

import (
	"context"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/patientlink/patientlink/internal/auth"
	"github.com/patientlink/patientlink/internal/config"
	"github.com/patientlink/patientlink/internal/link"
	"github.com/patientlink/patientlink/internal/metrics"
	"github.com/patientlink/patientlink/internal/workflow"
)

// Deps are what the handlers need.
type Deps struct {
	Logger        *slog.Logger
	Config        config.HTTP
	Service       *workflow.Service
	Tokens        *auth.Tokens
	Metrics       *metrics.Metrics
	OpenAPI       []byte // served at /openapi.yaml
	SchemaVersion uint   // the migration version /readyz expects
	Now           func() time.Time
}

var timeNow = time.Now

// customers loads the caller's customer for the auth middleware.
type customers interface {
	Customer(ctx context.Context, id uuid.UUID) (link.Customer, error)
}
