package chaos

import (
	"bytes"
	"slices"
	"time"
)

// CheckIdempotency checks that every answer naming a workflow for one
// (customer, Idempotency-Key) names the same workflow, and that every
// answer after the first is byte-identical to it.
func CheckIdempotency(ops []Op) []Violation {
	type keyOf struct{ customer, key string }
	byKey := map[keyOf][]Op{}
	for _, o := range ops {
		if (o.Kind != OpLink && o.Kind != OpDelink) || !o.Known() || o.WorkflowID == "" || o.Status/100 != 2 {
			continue
		}
		k := keyOf{o.Customer, o.Key}
		byKey[k] = append(byKey[k], o)
	}
	var out []Violation
	for k, answers := range byKey {
		slices.SortStableFunc(answers, func(a, b Op) int { return a.Complete.Compare(b.Complete) })
		first := answers[0]
		for _, a := range answers[1:] {
			switch {
			case a.WorkflowID != first.WorkflowID:
				out = append(out, violationf(CheckerIdempotency, "key %s (customer %s): answered workflow %s at %s by %s, then %s at %s by %s",
					k.key, k.customer, first.WorkflowID, stamp(first.Complete), first.Proc, a.WorkflowID, stamp(a.Complete), a.Proc))
			case a.Status != first.Status || !bytes.Equal(a.Body, first.Body):
				out = append(out, violationf(CheckerIdempotency, "key %s (customer %s): a replay by %s differs from the first answer: %d %q, first %d %q",
					k.key, k.customer, a.Proc, a.Status, a.Body, first.Status, first.Body))
			}
		}
	}
	return out
}

func stamp(t time.Time) string { return t.UTC().Format("15:04:05.000000") }
