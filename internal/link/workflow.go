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

	// What the status API adds: the rule of the automatic decision, the
	// customer's patient that holds the match (CONFLICT), and the review.
	Rule              Rule
	ConflictPatientID uuid.UUID
	Review            ReviewState
}

// Notification is where telling the customer about a workflow stands: the
// delivery of its latest event.
type Notification struct {
	EventID       string
	Status        string // "" (no event yet), NotifyNone, NotifyPending, NotifyDelivered or NotifyFailed
	Attempts      int
	LastAttemptAt time.Time
	LastError     string
}

// Delivery statuses of an event.
const (
	NotifyNone      = "none" // the customer has no webhook URL: the feed has it
	NotifyPending   = "pending"
	NotifyDelivered = "delivered"
	NotifyFailed    = "failed" // every attempt of the schedule failed
)

// Event is something the customer must learn, with its body frozen: every
// attempt and every redelivery sends exactly Body under ID.
type Event struct {
	ID         string
	Type       string
	CustomerID uuid.UUID
	WorkflowID uuid.UUID
	PatientID  uuid.UUID
	Sequence   int64 // per patient, from 1: receivers order by it
	CreatedAt  time.Time
	Body       []byte
	Delivery   Notification
	// NextAttemptAt is the earliest a delivery may be tried again.
	NextAttemptAt time.Time
}

// Customer is a system that sends us patients.
type Customer struct {
	ID            uuid.UUID
	Name          string
	Active        bool
	WebhookURL    string // empty: the customer reads the event feed only
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
