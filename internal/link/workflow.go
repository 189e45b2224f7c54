package link

import (
	"time"

	"github.com/google/uuid"
)

// Workflow is one customer request (link or de-link) on its way through the
// state machine.
type Workflow struct {
	ID          uuid.UUID
	CustomerID  uuid.UUID
	PatientID   uuid.UUID // the customer's patient id
	RequestType RequestType
	Status      State
	Outcome     State  // empty until an outcome is recorded
	Reason      string // why a workflow FAILED
	WebhookURL  string // per-request override; empty means the customer's
	Attempt     int
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Customer is a system that sends us patients.
type Customer struct {
	ID            uuid.UUID
	Name          string
	Active        bool
	WebhookURL    string
	WebhookSecret string
	CreatedAt     time.Time
}
