package link

import (
	"slices"
	"time"

	"github.com/google/uuid"
)

// Match is one candidate internal patient from the index.
type Match struct {
	ID    string
	Score float64
}

// Policy decides when a search result is good enough to link on its own.
type Policy struct {
	Threshold float64 // the best score must reach this
	Margin    float64 // and beat the runner-up by at least this
}

// DefaultPolicy is the product's default: link at 0.90 with a 0.05 margin.
var DefaultPolicy = Policy{Threshold: 0.90, Margin: 0.05}

// Decide turns search results into an outcome: NO_RESULTS, LINKED with the
// match to link, or AMBIGUOUS when no single result is clearly right.
func (p Policy) Decide(results []Match) (State, Match) {
	if len(results) == 0 {
		return StateNoResults, Match{}
	}
	sorted := slices.Clone(results)
	slices.SortStableFunc(sorted, func(a, b Match) int {
		switch {
		case a.Score > b.Score:
			return -1
		case a.Score < b.Score:
			return 1
		}
		return 0
	})
	best := sorted[0]
	if best.Score < p.Threshold {
		return StateAmbiguous, Match{}
	}
	// The epsilon keeps a margin met exactly (0.96 over 0.91) from failing
	// on floating point.
	if len(sorted) > 1 && best.Score-sorted[1].Score < p.Margin-1e-9 {
		return StateAmbiguous, Match{}
	}
	return StateLinked, best
}

// Mapping status values, as stored.
const (
	MappingLinked   = "LINKED"
	MappingDeLinked = "DE-LINKED"
)

// Mapping ties a customer's patient to an internal patient.
type Mapping struct {
	CustomerID        uuid.UUID
	CustomerPatientID uuid.UUID
	InternalPatientID string
	Status            string // MappingLinked or MappingDeLinked
	Score             float64
	WorkflowID        uuid.UUID // the workflow that linked
	LinkedAt          time.Time
	DelinkWorkflowID  uuid.UUID // zero unless de-linked
	DelinkedAt        time.Time // zero unless de-linked
	UpdatedAt         time.Time // when it was linked or de-linked
	Seq               int64     // the row id: ties in UpdatedAt are ordered by it
}

// HistoryKind says what a history entry records.
type HistoryKind string

// History entry kinds.
const (
	HistoryWorkflow HistoryKind = "workflow" // a workflow's transition
	HistoryMapping  HistoryKind = "mapping"  // a mapping linked or de-linked
)

// HistoryEntry is one change of a customer's patient: a workflow's
// transition or a mapping's change. Ids, states, times and reasons only.
type HistoryEntry struct {
	At                time.Time
	Kind              HistoryKind
	WorkflowID        uuid.UUID
	RequestType       RequestType
	From              string // "" for the first state
	To                string
	Reason            string // why a workflow FAILED (or an operator's note)
	InternalPatientID string // mapping entries only
}

// Decision rules, as the customer's history names them: which rule decided
// an outcome.
const (
	RuleAutolink       = "autolink"        // the best score reached the threshold and led by the margin
	RuleBelowThreshold = "not_decisive"    // no single result reached the threshold with the margin
	RuleNoCandidates   = "no_candidates"   // the index found nobody
	RuleInternalTaken  = "internal_linked" // the internal patient is linked to another of the customer's patients
	RuleDelink         = "delink"          // the customer asked for the link to be undone
)

// Rule names the rule that decided a transition to to, or "" when to is
// not an outcome.
func Rule(to State) string {
	switch to {
	case StateLinked:
		return RuleAutolink
	case StateAmbiguous:
		return RuleBelowThreshold
	case StateNoResults:
		return RuleNoCandidates
	case StateConflict:
		return RuleInternalTaken
	case StateDeLinked:
		return RuleDelink
	}
	return ""
}
