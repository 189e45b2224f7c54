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
	// ErrDuplicatePatient: a bulk request names the patient more than
	// once; the first item wins.
	ErrDuplicatePatient = errors.New("the patient appears earlier in this request")
	// ErrPatientBusy: a pending workflow was in the way of a bulk item and
	// ended before it could be named; the item may be sent again.
	ErrPatientBusy = errors.New("a workflow for this patient was being processed; retry shortly")
)

// MaxBatchItems is the most patients one bulk request (POST /links) may
// carry.
const MaxBatchItems = 1000

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
