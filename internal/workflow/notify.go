package workflow

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/patientlink/patientlink/internal/link"
	"github.com/patientlink/patientlink/internal/postgres"
	"github.com/patientlink/patientlink/internal/webhook"
)

// Errors of notification use cases.
var (
	ErrNothingToRedeliver = errors.New("nothing to redeliver")
	ErrNoWebhook          = errors.New("the customer has no webhook URL")
)

// Event types.
const (
	EventLinkCompleted   = "link.completed"
	EventDelinkCompleted = "delink.completed"
	EventLinkResolved    = "link.resolved" // a person resolved an uncertain outcome
)

// EventData is the body's "data": ids and states only, never demographics.
// The store adds "sequence", the patient's event number.
type EventData struct {
	WorkflowID        uuid.UUID        `json:"workflow-id"`
	PatientID         uuid.UUID        `json:"patient-id"`
	RequestType       link.RequestType `json:"request-type"`
	Outcome           *link.State      `json:"outcome"`
	Status            link.State       `json:"status"`
	InternalPatientID string           `json:"internal-patient-id,omitempty"` // a LINKED outcome's
	Reason            string           `json:"reason,omitempty"`              // a FAILED workflow's
	Rule              link.Rule        `json:"rule,omitempty"`                // which rule decided the outcome
	ConflictPatientID *uuid.UUID       `json:"conflicting-patient-id,omitempty"`
	Resolution        *Resolution      `json:"resolution,omitempty"` // link.resolved
}

// Resolution is what a person decided about an uncertain outcome.
type Resolution struct {
	Decision        string     `json:"decision"` // link or no-match
	PreviousOutcome link.State `json:"previous-outcome"`
}

// outcomeDetails are what an outcome's event says besides the workflow.
type outcomeDetails struct {
	InternalPatientID string
	Rule              link.Rule
	ConflictPatientID uuid.UUID
}

// DeliverTimeout leaves a delivery job room for the HTTP timeout and the
// bookkeeping around it.
const DeliverTimeout = 2 * time.Minute

// lease is how long a claimed attempt keeps other jobs from sending the
// event: the send and its recording. If the recording is lost (a crash, the
// database down), the event is tried again once the lease ends.
func (s *Service) lease() time.Duration {
	if s.d.Webhook.Timeout <= 0 {
		return DeliverTimeout
	}
	return s.d.Webhook.Timeout + 15*time.Second
}

// AttemptFailedError is a delivery attempt that failed and will be tried
// again at Next: the worker reports it to River, so the job's errors show
// why, and retries the job then.
type AttemptFailedError struct {
	EventID string
	Attempt int
	Next    time.Time
	Detail  string
}

func (e *AttemptFailedError) Error() string {
	return fmt.Sprintf("event %s: attempt %d failed (%s); next attempt at %s", e.EventID, e.Attempt, e.Detail, e.Next.UTC().Format(time.RFC3339))
}

func newEventID() (string, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return "", err
	}
	return "msg_" + hex.EncodeToString(id[:]), nil
}

// notifyTx records the event that tells the customer wf's outcome or
// failure, in tx, and queues its delivery. A customer without a webhook URL
// reads it in the feed: an outcome is then COMPLETED at once.
func (s *Service) notifyTx(ctx context.Context, tx pgx.Tx, wf link.Workflow, details outcomeDetails) (link.Workflow, error) {
	typ := EventLinkCompleted
	if wf.RequestType == link.RequestDelink {
		typ = EventDelinkCompleted
	}
	data := EventData{WorkflowID: wf.ID, PatientID: wf.PatientID, RequestType: wf.RequestType, Status: wf.Status, Rule: details.Rule}
	if wf.Status.IsOutcome() {
		o := wf.Status
		data.Outcome, data.Status = &o, link.StateCompleted // what delivery makes it
		if o == link.StateLinked {
			data.InternalPatientID = details.InternalPatientID
		}
		if details.ConflictPatientID != uuid.Nil {
			data.ConflictPatientID = &details.ConflictPatientID
		}
	}
	if wf.Status == link.StateFailed {
		data.Reason = wf.Reason
	}
	ev, err := s.recordEventTx(ctx, tx, wf, typ, data)
	if err != nil {
		return wf, err
	}
	if ev.Delivery.Status != link.NotifyPending && wf.Status.IsOutcome() {
		return s.d.Store.TransitionTx(ctx, tx, wf, postgres.Transition{To: link.StateCompleted, Attempt: wf.Attempt})
	}
	return wf, nil
}

// recordEventTx records an event about wf in tx and queues its delivery
// when it has somewhere to go.
func (s *Service) recordEventTx(ctx context.Context, tx pgx.Tx, wf link.Workflow, typ string, data EventData) (link.Event, error) {
	id, err := newEventID()
	if err != nil {
		return link.Event{}, err
	}
	ev, err := s.d.Store.CreateEventTx(ctx, tx, postgres.NewEvent{ID: id, Type: typ, Workflow: wf, Data: data})
	if err != nil {
		return ev, err
	}
	if ev.Delivery.Status == link.NotifyPending {
		return ev, s.queueDeliveryTx(ctx, tx, ev)
	}
	return ev, nil
}

// queueDeliveryTx inserts a delivery job for ev, in tx. A second live job
// for one event (a redelivery while the first waits) is harmless: each
// attempt is claimed on the event first.
func (s *Service) queueDeliveryTx(ctx context.Context, tx pgx.Tx, ev link.Event) error {
	args := DeliverArgs{WorkflowID: ev.WorkflowID, EventID: ev.ID}
	if deferInsert(ctx, args) { // the committer inserts a group's jobs at once
		return nil
	}
	if _, err := s.river.InsertTx(ctx, tx, args, nil); err != nil {
		return fmt.Errorf("error enqueueing delivery: %w", err)
	}
	return nil
}

// Deliver works one webhook.deliver job: one signed attempt at the event's
// frozen body, if one is due. The event says whether it is: a job that runs
// when its event is delivered, given up or not yet due sends nothing (it
// waits until due), so River UI actions cannot skip the schedule or resend.
// A 2xx for an outcome's event completes the workflow in the transaction
// that records the attempt (shared with others by the committer).
func (s *Service) Deliver(ctx context.Context, job *river.Job[DeliverArgs]) error {
	log := s.d.Logger.With("workflow_id", job.Args.WorkflowID, "job_id", job.ID, "event_id", job.Args.EventID)
	// Claims share transactions with other jobs' writes (the committer);
	// nothing due is an answer, not a failure of the group.
	var claim postgres.Claim
	var claimErr error
	err := s.commit.commit(ctx, job.Args.WorkflowID, func(ctx context.Context, tx pgx.Tx) error {
		claim, claimErr = s.d.Store.ClaimAttemptTx(ctx, tx, job.Args.EventID, s.lease())
		if errors.Is(claimErr, postgres.ErrNotDue) {
			return nil
		}
		return ignoreNotFound(claimErr)
	})
	if err == nil {
		err = claimErr
	}
	ev, wf, customer := claim.Event, claim.Workflow, claim.Customer
	switch {
	case errors.Is(err, link.ErrNotFound):
		return nil
	case errors.Is(err, postgres.ErrNotDue):
		if ev.Delivery.Status == link.NotifyPending {
			return river.JobSnooze(max(time.Until(ev.NextAttemptAt), 0))
		}
		return nil // delivered, given up, or nowhere to go
	case err != nil:
		return err
	}
	target := wf.WebhookURL
	if target == "" {
		target = customer.WebhookURL
	}
	if target == "" { // the customer removed its URL: the feed has the event
		return s.d.Store.WithTx(ctx, func(tx pgx.Tx) error {
			_, err := s.d.Store.SetDeliveryTx(ctx, tx, ev.ID, link.NotifyNone)
			return err
		})
	}
	res := s.d.Sender.Send(ctx, webhook.Delivery{URL: target, MsgID: ev.ID, Body: ev.Body, Secrets: customer.SigningSecrets(s.d.Now())})
	attempt := ev.Delivery.Attempts
	log = log.With("attempt", attempt, "status_code", res.StatusCode)

	a := postgres.DeliveryAttempt{
		EventID: ev.ID, Attempt: attempt, TargetHost: hostOf(target), StatusCode: res.StatusCode,
		LatencyMS: int(res.Latency.Milliseconds()), Delivered: res.Delivered(), Status: link.NotifyPending,
	}
	if res.Err != nil {
		a.Error = res.Err.Error()
	} else if !res.Delivered() {
		a.Error = fmt.Sprintf("HTTP %d", res.StatusCode)
	}
	result := "delivered"
	switch {
	case res.Delivered():
		a.Status = link.NotifyDelivered
	case res.Retryable():
		result = "retry"
		delay, more := webhook.Backoff(s.d.Webhook.Schedule, attempt+1, res.RetryAfter, rand.Float64)
		if more {
			a.NextAttemptAt = s.d.Now().Add(delay)
		} else {
			a.Status, result = link.NotifyFailed, "failed"
		}
	case res.Gone():
		a.Status, result = link.NotifyFailed, "gone"
	default: // a refused address, an invalid URL: retrying cannot help
		a.Status, result = link.NotifyFailed, "refused"
	}
	s.d.Metrics.WebhookAttempt(result)

	err = s.commit.commit(ctx, wf.ID, func(ctx context.Context, tx pgx.Tx) error {
		if err := s.d.Store.RecordAttemptTx(ctx, tx, a); err != nil {
			return err
		}
		// River's completer ends the job after Work returns: a re-run
		// finds the event no longer due and sends nothing.
		if a.Status == link.NotifyDelivered && wf.Status.IsOutcome() && ev.Type != EventLinkResolved {
			return s.completeOutcomeTx(ctx, tx, wf, ev)
		}
		return nil
	})
	if err != nil {
		return err
	}
	switch a.Status {
	case link.NotifyDelivered:
		log.Info("webhook delivered", "latency", res.Latency)
		return nil
	case link.NotifyFailed:
		// The outcome stands: the status API shows notification failed, the
		// feed still has the event, and a redelivery can send it again.
		log.Warn("webhook undeliverable; giving up", "error", a.Error)
		return nil
	}
	log.Info("webhook attempt failed; will retry", "error", a.Error, "next_attempt_at", a.NextAttemptAt)
	return &AttemptFailedError{EventID: ev.ID, Attempt: attempt, Next: a.NextAttemptAt, Detail: a.Error}
}

// completeOutcomeTx moves wf from its outcome to COMPLETED when ev, now
// delivered, is the workflow's latest outcome event (an older one
// redelivered completes nothing).
func (s *Service) completeOutcomeTx(ctx context.Context, tx pgx.Tx, wf link.Workflow, ev link.Event) error {
	latest, err := s.d.Store.LatestEventOfTypeTx(ctx, tx, wf.ID, ev.Type)
	if err != nil || latest.ID != ev.ID {
		return err
	}
	_, err = s.d.Store.TransitionTx(ctx, tx, wf, postgres.Transition{To: link.StateCompleted, Attempt: wf.Attempt})
	return ignoreRace(err)
}

func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "invalid"
	}
	return u.Host
}

// Redeliver sends an event again — delivered or not, the same id and the
// same body — and records who asked. With customerID set it is the
// customer's own request: another customer's event is link.ErrNotFound.
// Asking twice while a delivery is due sends at most once more per ask.
func (s *Service) Redeliver(ctx context.Context, eventID string, customerID uuid.UUID, actor, reason string) (link.Event, error) {
	var out link.Event
	err := s.d.Store.WithTx(ctx, func(tx pgx.Tx) error {
		ev, err := s.d.Store.LockEventTx(ctx, tx, eventID)
		if err != nil {
			return err
		}
		if customerID != uuid.Nil && ev.CustomerID != customerID {
			return link.ErrNotFound
		}
		target, err := s.targetOfTx(ctx, tx, ev)
		if err != nil {
			return err
		}
		if target == "" {
			return fmt.Errorf("event %s: %w", ev.ID, ErrNoWebhook)
		}
		if out, err = s.d.Store.SetDeliveryTx(ctx, tx, ev.ID, link.NotifyPending); err != nil {
			return err
		}
		if err := s.d.Store.RecordActionTx(ctx, tx, postgres.Action{
			Actor: actor, Action: "redeliver", CustomerID: ev.CustomerID, WorkflowID: ev.WorkflowID, EventID: ev.ID, Reason: reason,
			Detail: map[string]any{"previous_delivery": ev.Delivery.Status},
		}); err != nil {
			return err
		}
		return s.queueDeliveryTx(ctx, tx, out)
	})
	return out, err
}

// RedeliverWorkflow redelivers a workflow's latest event (the operator's
// `webhooks redeliver WORKFLOW-ID`).
func (s *Service) RedeliverWorkflow(ctx context.Context, workflowID uuid.UUID, actor, reason string) (link.Event, error) {
	ev, err := s.d.Store.LatestEvent(ctx, workflowID)
	if errors.Is(err, link.ErrNotFound) {
		if _, err := s.d.Store.Workflow(ctx, workflowID); err != nil {
			return link.Event{}, err
		}
		return link.Event{}, fmt.Errorf("workflow %s has no event yet: %w", workflowID, ErrNothingToRedeliver)
	}
	if err != nil {
		return link.Event{}, err
	}
	return s.Redeliver(ctx, ev.ID, uuid.Nil, actor, reason)
}

// targetOfTx is where ev goes now: its workflow's own URL, else its
// customer's; empty when there is none.
func (s *Service) targetOfTx(ctx context.Context, tx pgx.Tx, ev link.Event) (string, error) {
	wf, err := s.d.Store.WorkflowTx(ctx, tx, ev.WorkflowID)
	if err != nil {
		return "", err
	}
	if wf.WebhookURL != "" {
		return wf.WebhookURL, nil
	}
	c, err := s.d.Store.CustomerTx(ctx, tx, ev.CustomerID)
	return c.WebhookURL, err
}
