package workflow

import (
	"context"
	"encoding/json"
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

// ErrNothingToRedeliver says a workflow has no outcome to tell.
var ErrNothingToRedeliver = errors.New("nothing to redeliver")

// Event is the webhook body. It names ids and states only: never
// demographics.
type Event struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      EventData `json:"data"`
}

// EventData describes the workflow the event is about.
type EventData struct {
	WorkflowID  uuid.UUID        `json:"workflow-id"`
	PatientID   uuid.UUID        `json:"patient-id"`
	RequestType link.RequestType `json:"request-type"`
	Outcome     *link.State      `json:"outcome"`
	Status      link.State       `json:"status"`
}

// DeliverTimeout leaves a delivery job room for the HTTP timeout and the
// bookkeeping around it.
const DeliverTimeout = 2 * time.Minute

// Deliver works one webhook.deliver job: one signed attempt, logged; a 2xx
// completes the workflow in the transaction that completes the job. The
// next attempt is scheduled by snoozing, so the Standard Webhooks schedule
// (and Retry-After) decide the spacing.
func (s *Service) Deliver(ctx context.Context, job *river.Job[DeliverArgs]) error {
	log := s.d.Logger.With("workflow_id", job.Args.WorkflowID, "job_id", job.ID, "event_id", job.Args.EventID)
	wf, err := s.d.Store.Workflow(ctx, job.Args.WorkflowID)
	if errors.Is(err, link.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if wf.Notification.Status == link.NotifyDelivered || (!wf.Status.IsOutcome() && wf.Status != link.StateFailed) {
		return nil // delivered already, or nothing to tell yet
	}
	customer, err := s.d.Store.Customer(ctx, wf.CustomerID)
	if err != nil {
		return err
	}
	target := wf.WebhookURL
	if target == "" {
		target = customer.WebhookURL
	}
	body, err := json.Marshal(eventFor(wf, job.CreatedAt))
	if err != nil {
		return err
	}
	res := s.d.Sender.Send(ctx, webhook.Delivery{URL: target, MsgID: job.Args.EventID, Body: body, Secrets: customer.SigningSecrets(s.d.Now())})
	attempt := wf.Notification.Attempts + 1
	log = log.With("attempt", attempt, "status_code", res.StatusCode)

	a := postgres.DeliveryAttempt{
		EventID: job.Args.EventID, Attempt: attempt, TargetHost: hostOf(target), StatusCode: res.StatusCode,
		LatencyMS: int(res.Latency.Milliseconds()), Delivered: res.Delivered(), NotifyStatus: link.NotifyPending,
	}
	if res.Err != nil {
		a.Error = res.Err.Error()
	} else if !res.Delivered() {
		a.Error = fmt.Sprintf("HTTP %d", res.StatusCode)
	}
	var delay time.Duration
	more := false
	result := "delivered"
	switch {
	case res.Delivered():
		a.NotifyStatus = link.NotifyDelivered
	case res.Retryable():
		result = "retry"
		delay, more = webhook.Backoff(s.d.Webhook.Schedule, attempt+1, res.RetryAfter, rand.Float64)
		if !more {
			a.NotifyStatus, result = link.NotifyFailed, "failed"
		}
	case res.Gone():
		a.NotifyStatus, result = link.NotifyFailed, "gone"
	default: // a refused address, an invalid URL: retrying cannot help
		a.NotifyStatus, result = link.NotifyFailed, "refused"
	}
	s.d.Metrics.WebhookAttempt(result)

	err = s.d.Store.WithTx(ctx, func(tx pgx.Tx) error {
		if err := s.d.Store.RecordDeliveryTx(ctx, tx, wf, a); err != nil {
			return err
		}
		switch a.NotifyStatus {
		case link.NotifyPending:
			return nil // the job snoozes below
		case link.NotifyDelivered:
			if wf.Status.IsOutcome() {
				if _, err := s.d.Store.TransitionTx(ctx, tx, wf, postgres.Transition{To: link.StateCompleted, Attempt: attempt}); err != nil {
					return ignoreRace(err)
				}
			}
		case link.NotifyFailed:
			if wf.Status.IsOutcome() {
				if _, err := s.d.Store.TransitionTx(ctx, tx, wf, postgres.Transition{To: link.StateFailed, Reason: string(link.ReasonWebhookUndeliverable), Attempt: attempt}); err != nil {
					return ignoreRace(err)
				}
			}
		}
		return completeJob(job).run(ctx, tx)
	})
	if err != nil {
		return err
	}
	switch a.NotifyStatus {
	case link.NotifyDelivered:
		log.Info("webhook delivered", "latency", res.Latency)
		return nil
	case link.NotifyFailed:
		log.Warn("webhook undeliverable; giving up", "error", a.Error)
		return nil
	}
	log.Info("webhook attempt failed; will retry", "error", a.Error, "retry_in", delay)
	return river.JobSnooze(delay)
}

// eventFor describes wf to its customer. at is when the outcome was
// recorded (the job's creation, in the same transaction), so the body is
// the same on every retry.
func eventFor(wf link.Workflow, at time.Time) Event {
	typ := "link.completed"
	if wf.RequestType == link.RequestDelink {
		typ = "delink.completed"
	}
	status := wf.Status
	if wf.Status.IsOutcome() {
		status = link.StateCompleted // what delivery makes it
	}
	e := Event{Type: typ, Timestamp: at.UTC(), Data: EventData{
		WorkflowID: wf.ID, PatientID: wf.PatientID, RequestType: wf.RequestType, Status: status,
	}}
	if wf.Outcome != "" {
		o := wf.Outcome
		e.Data.Outcome = &o
	}
	return e
}

func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "invalid"
	}
	return u.Host
}

// Redeliver puts a workflow's notification back to work: a FAILED workflow
// whose webhook was undeliverable returns to its outcome, or a delivered
// one is sent again. The job is unique per workflow and event, so asking
// twice queues one delivery.
func (s *Service) Redeliver(ctx context.Context, id uuid.UUID) (link.Workflow, error) {
	var out link.Workflow
	err := s.d.Store.WithTx(ctx, func(tx pgx.Tx) error {
		wf, err := s.d.Store.LockWorkflowTx(ctx, tx, id)
		if err != nil {
			return err
		}
		if wf.Outcome == "" || (wf.Status == link.StateFailed && link.ReasonOf(wf.Reason) != link.ReasonWebhookUndeliverable) {
			return fmt.Errorf("workflow %s has no outcome to redeliver (status %s): %w", id, wf.Status, ErrNothingToRedeliver)
		}
		if wf.Status == link.StateFailed {
			if wf, err = s.d.Store.TransitionTx(ctx, tx, wf, postgres.Transition{To: wf.Outcome, Reason: string(link.ReasonOperatorRedeliver), Attempt: wf.Attempt}); err != nil {
				return err
			}
		}
		if err := s.renotifyTx(ctx, tx, wf); err != nil {
			return err
		}
		out = wf
		return nil
	})
	return out, err
}

// queueNotificationTx inserts the delivery of wf's current event, in tx.
// The job is unique per workflow and event, so queueing twice is one
// delivery.
func (s *Service) queueNotificationTx(ctx context.Context, tx pgx.Tx, wf link.Workflow) error {
	if _, err := s.river.InsertTx(ctx, tx, DeliverArgs{WorkflowID: wf.ID, EventID: EventID(wf.ID, wf.Attempt)}, nil); err != nil {
		return fmt.Errorf("error enqueueing notification: %w", err)
	}
	return nil
}

// renotifyTx starts a fresh notification of wf (after FAILED, or an
// operator's redelivery) and queues it, in tx.
func (s *Service) renotifyTx(ctx context.Context, tx pgx.Tx, wf link.Workflow) error {
	if err := s.d.Store.ResetNotificationTx(ctx, tx, wf); err != nil {
		return err
	}
	return s.queueNotificationTx(ctx, tx, wf)
}
