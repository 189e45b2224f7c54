package link

import (
	"slices"
	"time"

	"github.com/google/uuid"
)

// Match is one candidate internal patient from the index.
type Match struct {
	ID    string  `json:"internal-patient-id"`
	Score float64 `json:"score"`
	// Matched is the index's per-field agreement (HAPI MDM's match vector):
	// full_name exact|fuzzy|none, dob, email, phone. Nil when the index
	// does not say.
	Matched map[string]string `json:"matched,omitempty"`
}

// Policy decides when a search result is good enough to link on its own.
type Policy struct {
	Threshold float64 // the best score must reach this
	Margin    float64 // and beat the runner-up by at least this
}

// PolicyVersion names the rules of Decide; it is recorded with every
// decision, so a change of rules is visible in history.
const PolicyVersion = "score-margin/1"

// DefaultPolicy is the product's default: link at 0.90 with a 0.05 margin.
var DefaultPolicy = Policy{Threshold: 0.90, Margin: 0.05}

// Rule says which rule decided an outcome.
type Rule string

// Rules.
const (
	RuleAutoLink             Rule = "auto_link"              // one candidate clearly best, above the threshold
	RuleBelowThreshold       Rule = "below_threshold"        // the best candidate scored under the threshold
	RuleMarginTooSmall       Rule = "margin_too_small"       // the runner-up was too close
	RuleNoCandidates         Rule = "no_candidates"          // the index found no one
	RuleInternalPatientTaken Rule = "internal_patient_taken" // another of the customer's patients holds the match
	RuleManualLink           Rule = "manual_link"            // a person linked a candidate
	RuleManualNoMatch        Rule = "manual_no_match"        // a person decided no candidate is the patient
)

// explainedCandidates is how many candidates a decision keeps.
const explainedCandidates = 5

// Decision is an outcome with its explanation: the candidates, the policy
// in force and the rule that decided. No demographics.
type Decision struct {
	Outcome    State
	Rule       Rule
	Best       Match    // the match to link (LINKED)
	Candidates []Match  // the best five, best first
	MarginSeen *float64 // best minus runner-up; nil with fewer than two
	Policy     Policy
}

// Decide turns search results into an outcome and says why: NO_RESULTS,
// LINKED with the match to link, or AMBIGUOUS when no single result is
// clearly right.
func (p Policy) Decide(results []Match) Decision {
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
	d := Decision{Policy: p, Candidates: sorted[:min(len(sorted), explainedCandidates)]}
	if len(sorted) == 0 {
		d.Outcome, d.Rule = StateNoResults, RuleNoCandidates
		return d
	}
	best := sorted[0]
	if len(sorted) > 1 {
		seen := best.Score - sorted[1].Score
		d.MarginSeen = &seen
	}
	switch {
	case best.Score < p.Threshold:
		d.Outcome, d.Rule = StateAmbiguous, RuleBelowThreshold
	// The epsilon keeps a margin met exactly (0.96 over 0.91) from failing
	// on floating point.
	case d.MarginSeen != nil && *d.MarginSeen < p.Margin-1e-9:
		d.Outcome, d.Rule = StateAmbiguous, RuleMarginTooSmall
	default:
		d.Outcome, d.Rule, d.Best = StateLinked, RuleAutoLink, best
	}
	return d
}

// Candidate finds id among the decision's candidates.
func (d Decision) Candidate(id string) (Match, bool) {
	for _, c := range d.Candidates {
		if c.ID == id {
			return c, true
		}
	}
	return Match{}, false
}

// How a mapping was made.
const (
	LinkAuto   = "AUTO"   // the policy decided
	LinkManual = "MANUAL" // a person resolved a review
)

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
	Source            string    // LinkAuto or LinkManual
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
	Rule              Rule   // the rule that decided an outcome, or a manual link
}
