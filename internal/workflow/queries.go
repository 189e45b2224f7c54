package workflow

import (
	"context"

	"github.com/google/uuid"

	"github.com/patientlink/patientlink/internal/link"
)

// Customer loads a customer; link.ErrNotFound when there is none.
func (s *Service) Customer(ctx context.Context, id uuid.UUID) (link.Customer, error) {
	return s.d.Store.Customer(ctx, id)
}

// Status is what a customer's status poll reads: the workflow, if this
// customer owns it (else link.ErrNotFound), and whether the customer is
// active — one indexed read.
func (s *Service) Status(ctx context.Context, customerID, workflowID uuid.UUID) (wf link.Workflow, customerActive bool, err error) {
	return s.d.Store.WorkflowForStatus(ctx, customerID, workflowID)
}

// Mapping is a customer's patient's current mapping: the LINKED one, else
// the latest; link.ErrNotFound when never linked.
func (s *Service) Mapping(ctx context.Context, customerID, patientID uuid.UUID) (link.Mapping, error) {
	return s.d.Store.Mapping(ctx, customerID, patientID)
}

// SchemaVersion is the database's applied migration and whether it is
// dirty, for readiness.
func (s *Service) SchemaVersion(ctx context.Context) (version int64, dirty bool, err error) {
	return s.d.Store.SchemaVersion(ctx)
}

// TokenActive reports whether a customer token id was issued to the
// customer and is neither revoked nor expired.
func (s *Service) TokenActive(ctx context.Context, customerID, tokenID uuid.UUID) (bool, error) {
	return s.d.Store.TokenActive(ctx, customerID, tokenID)
}
