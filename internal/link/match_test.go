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
		id      string
	}{
		{"nothing", nil, StateNoResults, ""},
		{"one good", []Match{{"a", 0.97}}, StateLinked, "a"},
		{"one at threshold", []Match{{"a", 0.90}}, StateLinked, "a"},
		{"one weak", []Match{{"a", 0.89}}, StateAmbiguous, ""},
		{"clear winner, unsorted", []Match{{"b", 0.70}, {"a", 0.98}}, StateLinked, "a"},
		{"twins", []Match{{"a", 0.95}, {"b", 0.94}}, StateAmbiguous, ""},
		{"margin just met", []Match{{"a", 0.96}, {"b", 0.91}}, StateLinked, "a"},
	}
	for _, tt := range tests {
		got, m := DefaultPolicy.Decide(tt.results)
		require.Equal(t, tt.want, got, tt.name)
		require.Equal(t, tt.id, m.ID, tt.name)
	}
}
