package chaos

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func resolution(proc, review, decision, internal string, status, from, to int) Op {
	return Op{Kind: OpResolve, Proc: proc, Key: review, WorkflowID: "w-" + review, Patient: "p-" + review,
		State: decision, Internal: internal, Status: status, Invoke: at(from), Complete: at(to)}
}

func reviewRead(review, status, decision, internal string, from, to int) Op {
	return Op{Kind: OpReview, Key: review, State: status, Outcome: decision, Internal: internal, Status: 200, Invoke: at(from), Complete: at(to)}
}

func TestCheckReviews(t *testing.T) {
	t.Parallel()
	linked := MappingWrite{Patient: "p-r1", Status: "LINKED", Internal: "i1", Workflow: "w-r1", Start: at(105), Commit: at(108)}
	good := []Op{
		// Two at once: one wins, the other is told review-closed.
		resolution("op-1", "r1", "link", "i1", 200, 100, 110),
		resolution("op-2", "r1", "no-match", "", 409, 101, 112),
		{Kind: OpResolve, Proc: "op-1", Key: "r1", Invoke: at(90)}, // no answer: unknown
		reviewRead("r1", "resolved", "link", "i1", 200, 210),
		reviewRead("r1", "open", "", "", 50, 120), // concurrent with the 200
		resolution("op-1", "r2", "no-match", "", 200, 100, 110),
		reviewRead("r2", "resolved", "no-match", "", 200, 210),
	}
	require.Empty(t, CheckReviews(good, []MappingWrite{linked}))

	tests := map[string]struct {
		ops    []Op
		writes []MappingWrite
	}{
		"resolved twice": {ops: []Op{
			resolution("op-1", "r1", "link", "i1", 200, 100, 110),
			resolution("op-2", "r1", "no-match", "", 200, 101, 112),
		}, writes: []MappingWrite{linked}},
		"linked without a mapping change":   {ops: []Op{resolution("op-1", "r1", "link", "i1", 200, 100, 110)}},
		"the change came later":             {ops: []Op{resolution("op-1", "r1", "link", "i1", 200, 100, 102)}, writes: []MappingWrite{linked}},
		"the change linked another patient": {ops: []Op{resolution("op-1", "r1", "link", "i2", 200, 100, 110)}, writes: []MappingWrite{linked}},
		"no-match, yet linked":              {ops: []Op{resolution("op-1", "r1", "no-match", "", 200, 100, 110)}, writes: []MappingWrite{linked}},
		"read back with another decision": {ops: []Op{
			resolution("op-1", "r2", "no-match", "", 200, 100, 110),
			reviewRead("r2", "resolved", "link", "i7", 200, 210),
		}},
		"read back open": {ops: []Op{
			resolution("op-1", "r2", "no-match", "", 200, 100, 110),
			reviewRead("r2", "open", "", "", 200, 210),
		}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			vs := CheckReviews(tt.ops, tt.writes)
			require.Len(t, vs, 1, "%v", vs)
			checkers(t, vs, CheckerReviews)
		})
	}
}
