package link

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDecide(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		results []Match
		want    State
		rule    Rule
		id      string
	}{
		{"nothing", nil, StateNoResults, RuleNoCandidates, ""},
		{"one good", []Match{{ID: "a", Score: 0.97}}, StateLinked, RuleAutoLink, "a"},
		{"one at threshold", []Match{{ID: "a", Score: 0.90}}, StateLinked, RuleAutoLink, "a"},
		{"one weak", []Match{{ID: "a", Score: 0.89}}, StateAmbiguous, RuleBelowThreshold, ""},
		{"clear winner, unsorted", []Match{{ID: "b", Score: 0.70}, {ID: "a", Score: 0.98}}, StateLinked, RuleAutoLink, "a"},
		{"twins", []Match{{ID: "a", Score: 0.95}, {ID: "b", Score: 0.94}}, StateAmbiguous, RuleMarginTooSmall, ""},
		{"margin just met", []Match{{ID: "a", Score: 0.96}, {ID: "b", Score: 0.91}}, StateLinked, RuleAutoLink, "a"},
	}
	for _, tt := range tests {
		d := DefaultPolicy.Decide(tt.results)
		require.Equal(t, tt.want, d.Outcome, tt.name)
		require.Equal(t, tt.rule, d.Rule, tt.name)
		require.Equal(t, tt.id, d.Best.ID, tt.name)
	}
	// The explanation keeps the best five, best first, and the margin seen.
	var many []Match
	for i := range 7 {
		many = append(many, Match{ID: string(rune('a' + i)), Score: 0.5 + 0.05*float64(i)})
	}
	d := DefaultPolicy.Decide(many)
	require.Len(t, d.Candidates, 5)
	require.Equal(t, "g", d.Candidates[0].ID)
	require.InDelta(t, 0.05, *d.MarginSeen, 1e-9)
	require.Equal(t, RuleBelowThreshold, d.Rule)
	_, ok := d.Candidate("c")
	require.True(t, ok)
	_, ok = d.Candidate("a")
	require.False(t, ok, "only the best five are candidates")
}
