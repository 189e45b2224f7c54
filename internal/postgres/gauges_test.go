package postgres_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/patientlink/patientlink/internal/link"
)

// The pending gauge counts workflows being processed and those whose
// outcome's event is still to be delivered, each once, and nothing ended.
func TestPendingByState(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, store := sealedStore(t)
	c, err := store.CustomerCreate(ctx, link.Customer{ID: uuid.New(), Name: "Clinic", WebhookURL: "https://h.example/x", WebhookSecret: "whsec_x"})
	require.NoError(t, err)

	add := func(status string, pendingEvents, deliveredEvents int) {
		id := uuid.New()
		_, err := pool.Exec(ctx, `INSERT INTO workflows (id, customer_id, patient_id, request_type, status) VALUES ($1, $2, gen_random_uuid(), 'LINK', $3)`, id, c.ID, status)
		require.NoError(t, err)
		for i := range pendingEvents + deliveredEvents {
			delivery := "pending"
			if i >= pendingEvents {
				delivery = "delivered"
			}
			_, err := pool.Exec(ctx, `INSERT INTO events (id, type, customer_id, workflow_id, patient_id, sequence, body, delivery_status)
				SELECT 'msg_' || gen_random_uuid(), 'link.completed', w.customer_id, w.id, w.patient_id, $2, '{}', $3 FROM workflows AS w WHERE w.id = $1`, id, i+1, delivery)
			require.NoError(t, err)
		}
	}
	add("RECEIVED", 0, 0)
	add("RECEIVED", 0, 0)
	add("IN_PROGRESS", 0, 0)
	add("LINKED", 2, 0)     // two pending events: counted once
	add("NO_RESULTS", 0, 1) // delivered: not pending
	add("COMPLETED", 0, 1)
	add("FAILED", 1, 0) // ended: its event's delivery does not make it pending

	got, err := store.PendingByState(ctx)
	require.NoError(t, err)
	require.Equal(t, map[string]int{"RECEIVED": 2, "IN_PROGRESS": 1, "LINKED": 1}, got)
}
