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
}
