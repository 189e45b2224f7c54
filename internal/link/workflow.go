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
	Reconciled  int // times reconciliation put it back to work
	CreatedAt   time.Time
	UpdatedAt   time.Time

	Notification Notification
}

// Notification is where telling the customer about a workflow stands.
type Notification struct {
	Status        string // "", NotifyPending, NotifyDelivered or NotifyFailed
	Attempts      int
	LastAttemptAt time.Time
	LastError     string
}

// Notification statuses.
const (
	NotifyPending   = "pending"
	NotifyDelivered = "delivered"
	NotifyFailed    = "failed"
)

// Customer is a system that sends us patients.
type Customer struct {
	ID            uuid.UUID
	Name          string
	Active        bool
	WebhookURL    string
	WebhookSecret string
	// PreviousSecret still signs deliveries until PreviousUntil: a rotation
	// in progress.
	PreviousSecret string
	PreviousUntil  time.Time
	CreatedAt      time.Time
}

// SigningSecrets are the secrets deliveries are signed with at now.
func (c Customer) SigningSecrets(now time.Time) []string {
	if c.PreviousSecret != "" && now.Before(c.PreviousUntil) {
		return []string{c.WebhookSecret, c.PreviousSecret}
	}
	return []string{c.WebhookSecret}
}
