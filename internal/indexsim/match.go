package indexsim

import (
	"hash/fnv"
	"math"
	"strings"

	"github.com/patientlink/patientlink/internal/index"
)

// Scores given by the simulator. Exact matches vary a little per patient so
// that callers do not hard-code one number.
var exactScores = [...]float64{0.97, 0.98, 0.99}

const (
	twinScore      = 0.95 // first of several exact matches; the next get 0.01 less
	reorderedScore = 0.91 // same tokens in another order; twins get 0.01 less each
)

// matcher finds patients by name and dob in O(1).
type matcher struct{ *population }

// search returns the matches for q, best first; never nil, so it encodes as [].
func (m *matcher) search(q index.Query) []index.Result {
	name := normalizeName(q.FullName)
	candidates := m.byKey[matchKey(tokenKey(name), strings.TrimSpace(q.DOB))]
	results := make([]index.Result, 0, len(candidates))
	if len(candidates) == 0 {
		return results
	}
	// All candidates share name tokens and dob (the population guarantees
	// it), so they are all exact or all reordered.
	exact := m.normalized[candidates[0]] == name
	// Per-field agreement, as the index contract allows: the name exactly
	// or with its tokens reordered; the dob always (it is part of the key).
	nameAgreement := "fuzzy"
	if exact {
		nameAgreement = "exact"
	}
	for k, i := range candidates {
		id := m.patients[i].ID
		var score float64
		switch {
		case exact && len(candidates) == 1:
			score = exactScores[scoreSlot(id)]
		case exact:
			score = twinScore - 0.01*float64(k)
		default:
			score = reorderedScore - 0.01*float64(k)
		}
		results = append(results, index.Result{ID: id, Score: math.Round(score*100) / 100,
			Matched: map[string]string{"full_name": nameAgreement, "dob": "exact"}})
	}
	return results
}

func scoreSlot(id string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(id))
	return int(h.Sum32() % uint32(len(exactScores)))
}
