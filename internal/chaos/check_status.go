package chaos

import "slices"

// statusRank orders the state machine: a read of one workflow may only
// move forward in it. IN_PROGRESS and REQUESTED alternate, so they share
// a rank; so do the outcomes, and the end states.
var statusRank = map[string]int{
	"RECEIVED": 0, "IN_PROGRESS": 1, "REQUESTED": 1,
	"LINKED": 2, "NO_RESULTS": 2, "AMBIGUOUS": 2, "CONFLICT": 2, "DE_LINKED": 2,
	"COMPLETED": 3, "FAILED": 3,
}

// outcomeOf is the outcome a read shows: the state itself for an outcome
// state, the recorded outcome for COMPLETED, "" otherwise.
func outcomeOf(o Op) string {
	switch {
	case statusRank[o.State] == 2:
		return o.State
	case o.State == "COMPLETED":
		return o.Outcome
	}
	return ""
}

// CheckMonotonicStatus checks every pair of GET /link/status reads of one
// workflow where the first completed before the second was invoked (from
// any process): the second never shows an earlier state, never another
// outcome, and once an end state was read, the same end state — unless
// an operator's retry or redelivery of the workflow (which may bring it
// back from FAILED) could have come between them.
func CheckMonotonicStatus(ops []Op) []Violation {
	byWorkflow := map[string][]Op{}
	resets := map[string][]Op{}
	for _, o := range ops {
		switch {
		case o.Kind == OpStatus && o.Known() && o.Status == 200 && o.State != "":
			byWorkflow[o.WorkflowID] = append(byWorkflow[o.WorkflowID], o)
		case o.Kind == OpOperator && (o.Key == "retry" || o.Key == "redeliver"):
			resets[o.WorkflowID] = append(resets[o.WorkflowID], o)
		}
	}
	var out []Violation
	for id, reads := range byWorkflow {
		slices.SortFunc(reads, func(a, b Op) int { return a.Invoke.Compare(b.Invoke) })
		for j, b := range reads {
			if _, ok := statusRank[b.State]; !ok {
				out = append(out, violationf(CheckerStatus, "workflow %s: read unknown status %q from %s", id, b.State, b.Proc))
				continue
			}
			for _, a := range reads[:j] {
				if !a.Complete.Before(b.Invoke) || resetBetween(resets[id], a, b) {
					continue // concurrent, or reset between: either order is allowed
				}
				if v, bad := statusRegress(id, a, b); bad {
					out = append(out, v)
					break
				}
			}
		}
	}
	return out
}

func statusRegress(id string, a, b Op) (Violation, bool) {
	switch {
	case statusRank[b.State] < statusRank[a.State]:
		return violationf(CheckerStatus, "workflow %s: read %s from %s at %s, then %s from %s at %s (backwards)",
			id, a.State, a.Proc, stamp(a.Complete), b.State, b.Proc, stamp(b.Invoke)), true
	case statusRank[a.State] == 3 && (b.State != a.State || b.Outcome != a.Outcome):
		return violationf(CheckerStatus, "workflow %s: end state %s (outcome %s) read from %s, then %s (outcome %s) from %s",
			id, a.State, a.Outcome, a.Proc, b.State, b.Outcome, b.Proc), true
	case outcomeOf(a) != "" && outcomeOf(b) != outcomeOf(a):
		return violationf(CheckerStatus, "workflow %s: outcome %s read from %s, then %s (status %s) from %s",
			id, outcomeOf(a), a.Proc, outcomeOf(b), b.State, b.Proc), true
	}
	return Violation{}, false
}

// resetBetween reports whether one of resets may have taken effect after
// read a and before read b.
func resetBetween(resets []Op, a, b Op) bool {
	for _, r := range resets {
		if r.Invoke.Before(b.Complete) && (r.Complete.IsZero() || r.Complete.After(a.Invoke)) {
			return true
		}
	}
	return false
}
