package link

import (
	"errors"
	"fmt"

	"github.com/google/uuid"
)

// Sentinel errors the other packages map to their own terms (HTTP status,
// job retry decisions).
var (
	ErrNotFound            = errors.New("not found")
	ErrIdempotencyMismatch = errors.New("idempotency key was used with a different request")
)

// ConflictError says that a patient already has a workflow in the way: a
// pending one, or a LINKED mapping.
type ConflictError struct {
	WorkflowID uuid.UUID
	Detail     string
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("conflict with workflow %s: %s", e.WorkflowID, e.Detail)
}

// TransitionError says the state machine (or the row's current state in the
// database) refused a transition.
type TransitionError struct {
	WorkflowID uuid.UUID
	From       State // the state found; empty when unknown
	To         State
}

func (e *TransitionError) Error() string {
	return fmt.Sprintf("workflow %s: transition %s → %s not allowed", e.WorkflowID, e.From, e.To)
}
