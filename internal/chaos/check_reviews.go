package chaos

import (
	"maps"
	"slices"
	"time"
)

// clockSlop allows for the resolution of the two clocks compared below
// (ours and PostgreSQL's now(), both the machine's).
const clockSlop = time.Millisecond

// CheckReviews checks the operators' review resolutions. Of the answers
// for one review at most one is a 200: of two resolutions at once one
// wins and the other is told review-closed. A 200 that linked has its
// mapping change — LINKED to the chosen internal patient, by the review's
// workflow — made inside the request (the same transaction); a 200 for
// no-match has none by that workflow, ever. A review read after its 200
// shows that 200's decision.
func CheckReviews(ops []Op, writes []MappingWrite) []Violation {
	won := map[string]Op{} // review id → its 200
	var out []Violation
	for _, o := range ops {
		if o.Kind != OpResolve || !o.Known() || o.Status != 200 {
			continue
		}
		if first, ok := won[o.Key]; ok {
			out = append(out, violationf(CheckerReviews, "review %s: resolved twice, %s by %s at %s and %s by %s at %s",
				o.Key, first.State, first.Proc, stamp(first.Complete), o.State, o.Proc, stamp(o.Complete)))
			continue
		}
		won[o.Key] = o
	}
	byWorkflow := map[string][]MappingWrite{}
	for _, w := range writes {
		if w.Status == "LINKED" {
			byWorkflow[w.Workflow] = append(byWorkflow[w.Workflow], w)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(won)) {
		o := won[id]
		ws := byWorkflow[o.WorkflowID]
		if o.State != "link" {
			if len(ws) > 0 {
				out = append(out, violationf(CheckerReviews, "review %s: resolved no-match, yet workflow %s linked patient %s to %s",
					id, o.WorkflowID, ws[0].Patient, ws[0].Internal))
			}
			continue
		}
		if !slices.ContainsFunc(ws, func(w MappingWrite) bool { return inside(w, o) }) {
			out = append(out, violationf(CheckerReviews, "review %s: resolved by linking patient %s to %s at %s–%s, but no such mapping change was made then (%d by its workflow)",
				id, o.Patient, o.Internal, stamp(o.Invoke), stamp(o.Complete), len(ws)))
		}
	}
	for _, r := range ops {
		if r.Kind != OpReview || !r.Known() || r.Status != 200 {
			continue
		}
		o, ok := won[r.Key]
		if !ok || !o.Complete.Before(r.Invoke) {
			continue
		}
		if r.State != "resolved" || r.Outcome != o.State || r.Internal != o.Internal {
			out = append(out, violationf(CheckerReviews, "review %s: resolved %s %s by %s, then read as %s %s %s",
				r.Key, o.State, o.Internal, o.Proc, r.State, r.Outcome, r.Internal))
		}
	}
	return out
}

// inside reports whether w is the change resolution o asked for, made
// while o was in flight.
func inside(w MappingWrite, o Op) bool {
	return w.Patient == o.Patient && w.Internal == o.Internal &&
		!w.Start.Before(o.Invoke.Add(-clockSlop)) && !w.Start.After(o.Complete.Add(clockSlop))
}
