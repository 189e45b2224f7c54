package link

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTransitions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		rt       RequestType
		from, to State
		ok       bool
	}{
		{RequestLink, StateReceived, StateInProgress, true},
		{RequestLink, StateInProgress, StateLinked, true},
		{RequestLink, StateRequested, StateNoResults, true},
		{RequestLink, StateLinked, StateCompleted, true},
		{RequestLink, StateReceived, StateLinked, false},
		{RequestLink, StateCompleted, StateFailed, false},
		{RequestLink, StateCompleted, StateInProgress, false},
		{RequestLink, StateInProgress, StateDeLinked, false},
		{RequestDelink, StateInProgress, StateDeLinked, true},
		{RequestDelink, StateDeLinked, StateCompleted, true},
		{RequestDelink, StateInProgress, StateLinked, false},
		{RequestDelink, StateFailed, StateReceived, true},
		// An outcome stands: its notification cannot fail it, and nothing
		// brings a FAILED workflow back to an outcome but a retry.
		{RequestLink, StateLinked, StateFailed, false},
		{RequestLink, StateFailed, StateLinked, false},
		{RequestDelink, StateDeLinked, StateFailed, false},
	}
	for _, tt := range tests {
		require.Equal(t, tt.ok, CanTransition(tt.rt, tt.from, tt.to), "%s %s → %s", tt.rt, tt.from, tt.to)
	}
	for _, rt := range []RequestType{RequestLink, RequestDelink} {
		for to, froms := range transitions[rt] {
			for _, from := range froms {
				require.NotEqual(t, StateCompleted, from, "nothing leaves COMPLETED (%s → %s)", from, to)
			}
		}
	}
}
