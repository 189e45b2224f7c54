// Package link is patientlink's domain: workflows and their state machine,
// link requests and their validation, mappings, and the errors the other
// packages speak in. It does no I/O.
package link

import (
	"cmp"
	"slices"
)

// State is a workflow's status.
type State string

// Workflow states. RECEIVED is where intake leaves a workflow; COMPLETED and
// FAILED are the end states; the outcome states wait for the customer to be
// notified.
const (
	StateReceived   State = "RECEIVED"
	StateInProgress State = "IN_PROGRESS"
	StateRequested  State = "REQUESTED" // waiting for an async index search
	StateLinked     State = "LINKED"
	StateNoResults  State = "NO_RESULTS"
	StateAmbiguous  State = "AMBIGUOUS"
	StateConflict   State = "CONFLICT"
	StateDeLinked   State = "DE_LINKED"
	StateCompleted  State = "COMPLETED"
	StateFailed     State = "FAILED"
)

// States lists every state, in the order of a workflow's life.
var States = []State{
	StateReceived, StateInProgress, StateRequested, StateLinked, StateNoResults,
	StateAmbiguous, StateConflict, StateDeLinked, StateCompleted, StateFailed,
}

// RequestType says what a workflow does.
type RequestType string

const (
	RequestLink   RequestType = "LINK"
	RequestDelink RequestType = "DELINK"
)

// transitions is the state machine: for each target state, the states a
// workflow may move to it from. The store turns this into
// UPDATE ... WHERE status = ANY(from), and the database's
// workflow_transitions (a migration's rows, checked equal by a test) is
// the wall a trigger puts in front of every other writer.
var transitions = map[RequestType]map[State][]State{
	RequestLink: {
		StateInProgress: {StateReceived, StateInProgress, StateRequested},
		StateRequested:  {StateInProgress, StateRequested},
		StateLinked:     {StateInProgress, StateRequested},
		StateNoResults:  {StateInProgress, StateRequested},
		StateAmbiguous:  {StateInProgress, StateRequested},
		StateConflict:   {StateInProgress, StateRequested},
		// COMPLETED once the outcome's event is delivered (or at once, for a
		// customer with no webhook URL).
		StateCompleted: {StateLinked, StateNoResults, StateAmbiguous, StateConflict},
		// FAILED: the request itself could not be carried out. A recorded
		// outcome stands whatever happens to its notification.
		StateFailed:   {StateReceived, StateInProgress, StateRequested},
		StateReceived: {StateFailed}, // an operator's retry
	},
	RequestDelink: {
		StateInProgress: {StateReceived, StateInProgress},
		StateDeLinked:   {StateInProgress},
		StateCompleted:  {StateDeLinked},
		StateFailed:     {StateReceived, StateInProgress},
		StateReceived:   {StateFailed},
	},
}

// AllowedFrom lists the states a workflow of type rt may move to `to` from;
// nil when no transition leads there.
func AllowedFrom(rt RequestType, to State) []State {
	return transitions[rt][to]
}

// Transition is one change of state the machine allows.
type Transition struct {
	RequestType RequestType
	From, To    State
}

// Transitions lists every allowed change, sorted. The database holds the
// same rows in workflow_transitions, where a trigger refuses any other
// status change; a test keeps the two equal, so a change here needs a
// migration there.
func Transitions() []Transition {
	var out []Transition
	for rt, targets := range transitions {
		for to, froms := range targets {
			for _, from := range froms {
				out = append(out, Transition{RequestType: rt, From: from, To: to})
			}
		}
	}
	slices.SortFunc(out, func(a, b Transition) int {
		return cmp.Or(cmp.Compare(a.RequestType, b.RequestType), cmp.Compare(a.From, b.From), cmp.Compare(a.To, b.To))
	})
	return out
}

// CanTransition reports whether the state machine allows from → to.
func CanTransition(rt RequestType, from, to State) bool {
	return slices.Contains(transitions[rt][to], from)
}

// IsEnd reports whether s is an end state: nothing more happens unless an
// operator retries.
func (s State) IsEnd() bool { return s == StateCompleted || s == StateFailed }

// IsOutcome reports whether s records the result of a request.
func (s State) IsOutcome() bool {
	switch s {
	case StateLinked, StateNoResults, StateAmbiguous, StateConflict, StateDeLinked:
		return true
	}
	return false
}

// IsProcessing reports whether a workflow in s is being processed: its
// patient is busy until an outcome is recorded.
func (s State) IsProcessing() bool {
	return s == StateReceived || s == StateInProgress || s == StateRequested
}

// IsPending reports whether a workflow in s still has work to do.
func (s State) IsPending() bool { return !s.IsEnd() }
