package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/patientlink/patientlink/internal/link"
	"github.com/patientlink/patientlink/internal/postgres/internal/dbsqlc"
)

// NewEvent is an event to record: Data becomes the body's "data", to which
// the store adds the patient's next sequence number.
type NewEvent struct {
	ID       string
	Type     string
	Workflow link.Workflow
	Data     any
}

// CreateEventTx records an event in tx with its frozen body and numbers it
// in its patient's sequence. Its delivery is pending when the workflow or
// its customer has a webhook URL, else none.
func (s *Store) CreateEventTx(ctx context.Context, tx pgx.Tx, e NewEvent) (link.Event, error) {
	data, err := json.Marshal(e.Data)
	if err != nil {
		return link.Event{}, err
	}
	row, err := s.q.EventCreate(ctx, tx, dbsqlc.EventCreateParams{
		ID: e.ID, Type: e.Type, CustomerID: e.Workflow.CustomerID, WorkflowID: e.Workflow.ID,
		PatientID: e.Workflow.PatientID, Data: data,
	})
	if err != nil {
		return link.Event{}, fmt.Errorf("error recording event: %w", err)
	}
	return eventFromRow(row), nil
}

// Event loads an event by id.
func (s *Store) Event(ctx context.Context, id string) (link.Event, error) {
	row, err := s.q.EventGetByID(ctx, s.pool, id)
	if err != nil {
		return link.Event{}, interpretError(err)
	}
	return eventFromRow(row), nil
}

// LockEventTx locks an event until tx ends and reads it under the lock.
func (s *Store) LockEventTx(ctx context.Context, tx pgx.Tx, id string) (link.Event, error) {
	row, err := s.q.EventLock(ctx, tx, id)
	if err != nil {
		return link.Event{}, interpretError(err)
	}
	return eventFromRow(row), nil
}

// LatestEvent is a workflow's latest event of any type.
func (s *Store) LatestEvent(ctx context.Context, workflowID uuid.UUID) (link.Event, error) {
	row, err := s.q.EventGetLastForWorkflow(ctx, s.pool, workflowID)
	if err != nil {
		return link.Event{}, interpretError(err)
	}
	return eventFromRow(row), nil
}

// LatestEventOfTypeTx is a workflow's latest event of one type, read in tx.
func (s *Store) LatestEventOfTypeTx(ctx context.Context, tx pgx.Tx, workflowID uuid.UUID, typ string) (link.Event, error) {
	row, err := s.q.EventGetLatestForWorkflow(ctx, tx, dbsqlc.EventGetLatestForWorkflowParams{WorkflowID: workflowID, Type: typ})
	if err != nil {
		return link.Event{}, interpretError(err)
	}
	return eventFromRow(row), nil
}

// ErrNotDue says an event has no attempt due now: it was delivered, gave
// up, has nowhere to go, or its next attempt lies ahead.
var ErrNotDue = errors.New("no delivery attempt due")

// Claim is a claimed delivery attempt with what sending it needs.
type Claim struct {
	Event    link.Event
	Workflow link.Workflow
	Customer link.Customer
}

// ClaimAttemptTx takes the next attempt of a due, pending delivery and
// holds it for lease: meanwhile no other job sends the event. The event's
// workflow and customer are read in the same statement. ErrNotDue (with
// the event as it stands) when nothing is due.
func (s *Store) ClaimAttemptTx(ctx context.Context, tx pgx.Tx, id string, lease time.Duration) (Claim, error) {
	r, err := s.q.EventClaimAttemptForSend(ctx, tx, dbsqlc.EventClaimAttemptForSendParams{ID: id, LeaseSeconds: lease.Seconds()})
	if errors.Is(err, pgx.ErrNoRows) {
		current, err := s.q.EventGetByID(ctx, tx, id)
		if err != nil {
			return Claim{}, interpretError(err)
		}
		return Claim{Event: eventFromRow(current)}, ErrNotDue
	}
	if err != nil {
		return Claim{}, fmt.Errorf("error claiming delivery attempt: %w", err)
	}
	customer, err := s.customerFromRow(dbsqlc.Customer{
		ID: r.CustomerID, Name: r.CName, Status: r.CStatus, WebhookURL: r.CWebhookUrl, WebhookSecret: r.CWebhookSecret,
		CreatedAt: r.CCreatedAt, UpdatedAt: r.CUpdatedAt, WebhookSecretPrevious: r.CWebhookSecretPrevious,
		WebhookPreviousUntil: r.CWebhookPreviousUntil,
	})
	if err != nil {
		return Claim{}, err
	}
	return Claim{
		Event: eventFromRow(dbsqlc.Event{
			ID: r.ID, FeedID: r.FeedID, Tx: r.Tx, Type: r.Type, CustomerID: r.CustomerID, WorkflowID: r.WorkflowID,
			PatientID: r.PatientID, Sequence: r.Sequence, CreatedAt: r.CreatedAt, Body: r.Body,
			DeliveryStatus: r.DeliveryStatus, Attempts: r.Attempts, NextAttemptAt: r.NextAttemptAt,
			LastAttemptAt: r.LastAttemptAt, LastStatusCode: r.LastStatusCode, LastError: r.LastError, DeliveredAt: r.DeliveredAt,
		}),
		Workflow: workflowFromRow(dbsqlc.Workflow{
			ID: r.WorkflowID, CustomerID: r.WCustomerID, PatientID: r.WPatientID, RequestType: r.WRequestType,
			Status: r.WStatus, Outcome: r.WOutcome, Reason: r.WReason, WebhookURL: r.WWebhookUrl, Attempt: r.WAttempt,
			CreatedAt: r.WCreatedAt, UpdatedAt: r.WUpdatedAt, EndedAt: r.WEndedAt, SearchID: r.WSearchID,
			ReconcileCount: r.WReconcileCount,
		}),
		Customer: customer,
	}, nil
}

// DeliveryAttempt is one logged try at delivering an event, and where the
// event's delivery stands after it.
type DeliveryAttempt struct {
	EventID    string
	Attempt    int
	TargetHost string
	StatusCode int // 0 when no HTTP answer came
	Error      string
	LatencyMS  int
	Delivered  bool
	// Status is the delivery's state after this attempt; NextAttemptAt is
	// when a pending one may be tried again.
	Status        string
	NextAttemptAt time.Time
}

// RecordAttemptTx logs an attempt and moves its event on, inside tx. A
// redelivery that restarted the event meanwhile wins: only the log changes.
func (s *Store) RecordAttemptTx(ctx context.Context, tx pgx.Tx, a DeliveryAttempt) error {
	var code *int32
	if a.StatusCode != 0 {
		c := int32(a.StatusCode)
		code = &c
	}
	var next *time.Time
	if !a.NextAttemptAt.IsZero() {
		next = &a.NextAttemptAt
	}
	err := s.q.EventRecordAttempt(ctx, tx, dbsqlc.EventRecordAttemptParams{
		ID: a.EventID, Attempt: int32(a.Attempt), TargetHost: a.TargetHost, StatusCode: code,
		Error: nullString(a.Error), LatencyMs: int32(a.LatencyMS), Delivered: a.Delivered,
		DeliveryStatus: a.Status, NextAttemptAt: next,
	})
	if err != nil {
		return fmt.Errorf("error logging delivery: %w", err)
	}
	return nil
}

// SetDeliveryTx restarts an event's delivery (status pending, due now) or
// records that it has nowhere to go (none), inside tx.
func (s *Store) SetDeliveryTx(ctx context.Context, tx pgx.Tx, id, status string) (link.Event, error) {
	row, err := s.q.EventSetDelivery(ctx, tx, dbsqlc.EventSetDeliveryParams{ID: id, DeliveryStatus: status})
	if err != nil {
		return link.Event{}, interpretError(err)
	}
	return eventFromRow(row), nil
}

// FeedCursor is a position in a customer's feed.
type FeedCursor struct {
	Tx, FeedID int64
}

// Feed lists up to limit of a customer's events after cursor, oldest first,
// and the cursor after the last one listed (the same cursor when none is).
func (s *Store) Feed(ctx context.Context, customerID uuid.UUID, after FeedCursor, limit int) ([]link.Event, FeedCursor, error) {
	rows, err := s.q.EventListFeed(ctx, s.pool, dbsqlc.EventListFeedParams{
		CustomerID: customerID, AfterTx: after.Tx, AfterFeedID: after.FeedID, MaxRows: int32(limit),
	})
	if err != nil {
		return nil, after, fmt.Errorf("error reading the event feed: %w", err)
	}
	out := make([]link.Event, len(rows))
	for i, r := range rows {
		out[i] = eventFromRow(r)
		after = FeedCursor{Tx: r.Tx, FeedID: r.FeedID}
	}
	return out, after, nil
}

// StuckEventsTx lists, and locks until tx ends, up to max pending events
// due for longer than olderThan whose delivery job was lost.
func (s *Store) StuckEventsTx(ctx context.Context, tx pgx.Tx, olderThan time.Duration, max int) ([]link.Event, error) {
	rows, err := s.q.EventListStuck(ctx, tx, dbsqlc.EventListStuckParams{OlderThanSeconds: olderThan.Seconds(), MaxRows: int32(max)})
	if err != nil {
		return nil, fmt.Errorf("error listing stuck events: %w", err)
	}
	out := make([]link.Event, len(rows))
	for i, r := range rows {
		out[i] = eventFromRow(r)
	}
	return out, nil
}

// Action is what a person did, for the append-only history.
type Action struct {
	Actor      string // who: an operator's name, or customer:<id>
	Action     string // stop, retry, redeliver, set-webhook
	CustomerID uuid.UUID
	WorkflowID uuid.UUID
	EventID    string
	Reason     string
	Detail     map[string]any
}

// RecordActionTx appends an action to the history, inside tx.
func (s *Store) RecordActionTx(ctx context.Context, tx pgx.Tx, a Action) error {
	p := dbsqlc.ActionRecordParams{Actor: a.Actor, Action: a.Action, EventID: nullString(a.EventID), Reason: nullString(a.Reason)}
	if a.CustomerID != uuid.Nil {
		p.CustomerID = &a.CustomerID
	}
	if a.WorkflowID != uuid.Nil {
		p.WorkflowID = &a.WorkflowID
	}
	if a.Detail != nil {
		detail, err := json.Marshal(a.Detail)
		if err != nil {
			return err
		}
		p.Detail = detail
	}
	if err := s.q.ActionRecord(ctx, tx, p); err != nil {
		return fmt.Errorf("error recording action: %w", err)
	}
	return nil
}

func eventFromRow(r dbsqlc.Event) link.Event {
	e := link.Event{
		ID: r.ID, Type: r.Type, CustomerID: r.CustomerID, WorkflowID: r.WorkflowID, PatientID: r.PatientID,
		Sequence: r.Sequence, CreatedAt: r.CreatedAt, Body: r.Body,
		Delivery: link.Notification{EventID: r.ID, Status: r.DeliveryStatus, Attempts: int(r.Attempts)},
	}
	if r.NextAttemptAt != nil {
		e.NextAttemptAt = *r.NextAttemptAt
	}
	if r.LastAttemptAt != nil {
		e.Delivery.LastAttemptAt = *r.LastAttemptAt
	}
	if r.LastError != nil {
		e.Delivery.LastError = *r.LastError
	}
	return e
}
