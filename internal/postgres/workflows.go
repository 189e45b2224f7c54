package postgres

import (
	"context"

	"github.com/google/uuid"

	"github.com/patientlink/patientlink/internal/dbsqlc"
	"github.com/patientlink/patientlink/internal/link"
)

// WorkflowForCustomer loads a workflow owned by customerID; another
// customer's workflow is link.ErrNotFound, exactly like a missing one.
func (s *Store) WorkflowForCustomer(ctx context.Context, customerID, id uuid.UUID) (link.Workflow, error) {
	row, err := s.q.WorkflowGetForCustomer(ctx, s.pool, dbsqlc.WorkflowGetForCustomerParams{ID: id, CustomerID: customerID})
	if err != nil {
		return link.Workflow{}, interpretError(err)
	}
	return workflowFromRow(row), nil
}

func workflowFromRow(r dbsqlc.Workflow) link.Workflow {
	w := link.Workflow{
		ID: r.ID, CustomerID: r.CustomerID, PatientID: r.PatientID,
		RequestType: link.RequestType(r.RequestType), Status: link.State(r.Status),
		Attempt: int(r.Attempt), CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
	}
	if r.Outcome != nil {
		w.Outcome = link.State(*r.Outcome)
	}
	if r.Reason != nil {
		w.Reason = *r.Reason
	}
	if r.WebhookURL != nil {
		w.WebhookURL = *r.WebhookURL
	}
	w.Reconciled = int(r.ReconcileCount)
	w.Notification.Attempts = int(r.NotifyAttempts)
	if r.NotifyStatus != nil {
		w.Notification.Status = *r.NotifyStatus
	}
	if r.NotifyLastAt != nil {
		w.Notification.LastAttemptAt = *r.NotifyLastAt
	}
	if r.NotifyLastError != nil {
		w.Notification.LastError = *r.NotifyLastError
	}
	return w
}

// WorkflowForStatus loads a workflow owned by customerID and whether that
// customer is active, in one indexed read: the status route's whole cost.
func (s *Store) WorkflowForStatus(ctx context.Context, customerID, id uuid.UUID) (wf link.Workflow, customerActive bool, err error) {
	row, err := s.q.WorkflowGetWithCustomerStatus(ctx, s.pool, dbsqlc.WorkflowGetWithCustomerStatusParams{ID: id, CustomerID: customerID})
	if err != nil {
		return link.Workflow{}, false, interpretError(err)
	}
	return workflowFromRow(row.Workflow), row.CustomerStatus == "active", nil
}
