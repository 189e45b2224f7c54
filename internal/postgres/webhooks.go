package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/patientlink/patientlink/internal/link"
	"github.com/patientlink/patientlink/internal/postgres/internal/dbsqlc"
)

// DeliveryAttempt is one logged try at notifying a customer.
type DeliveryAttempt struct {
	EventID    string
	Attempt    int
	TargetHost string
	StatusCode int // 0 when no HTTP answer came
	Error      string
	LatencyMS  int
	Delivered  bool
	// NotifyStatus is the notification's state after this attempt.
	NotifyStatus string
}

// RecordDeliveryTx logs an attempt and updates wf's notification summary,
// inside tx.
func (s *Store) RecordDeliveryTx(ctx context.Context, tx pgx.Tx, wf link.Workflow, a DeliveryAttempt) error {
	var code *int32
	if a.StatusCode != 0 {
		c := int32(a.StatusCode)
		code = &c
	}
	_, err := s.q.WebhookDeliveryRecord(ctx, tx, dbsqlc.WebhookDeliveryRecordParams{
		WorkflowID: wf.ID, CustomerID: wf.CustomerID, EventID: a.EventID, Attempt: int32(a.Attempt),
		TargetHost: a.TargetHost, StatusCode: code, Error: nullString(a.Error), LatencyMs: int32(a.LatencyMS),
		Delivered: a.Delivered, NotifyStatus: &a.NotifyStatus,
	})
	if err != nil {
		return fmt.Errorf("error logging delivery: %w", err)
	}
	return nil
}

// ResetNotificationTx starts a fresh notification for wf, inside tx.
func (s *Store) ResetNotificationTx(ctx context.Context, tx pgx.Tx, wf link.Workflow) error {
	return s.q.WebhookNotifyReset(ctx, tx, wf.ID)
}
