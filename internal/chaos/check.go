package chaos

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Violation is one broken guarantee a checker found in a history.
type Violation struct {
	Checker string
	What    string
}

func violationf(checker, format string, args ...any) Violation {
	return Violation{Checker: checker, What: fmt.Sprintf(format, args...)}
}

// The checkers' names, as the report gives them.
const (
	CheckerIdempotency = "idempotency"
	CheckerStatus      = "monotonic-status"
	CheckerEvents      = "events"
	CheckerMappings    = "mappings-linearizable"
	CheckerOneToOne    = "one-to-one"
	CheckerReviews     = "reviews"
)

// Checked is the outcome of every checker on one scenario's history.
type Checked struct {
	Operations int
	Violations []Violation
	Visualized string // porcupine's HTML, written when the mappings check failed
}

// ByChecker counts violations per checker, "idempotency 2, events 1".
func (c Checked) ByChecker() string {
	n := map[string]int{}
	for _, v := range c.Violations {
		n[v.Checker]++
	}
	parts := make([]string, 0, len(n))
	for _, k := range slices.Sorted(maps.Keys(n)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, n[k]))
	}
	return strings.Join(parts, ", ")
}

// Line is the report's line: "checked N operations, M violations (…)".
func (c Checked) Line() string {
	s := fmt.Sprintf("checked %d operations, %d violations", c.Operations, len(c.Violations))
	if len(c.Violations) > 0 {
		s += " (" + c.ByChecker() + ")"
	}
	return s
}

// CheckHistory runs every checker on rec. When the mappings are not
// linearizable, porcupine's visualisation is written to htmlPath.
func CheckHistory(rec Recorded, htmlPath string) Checked {
	c := Checked{Operations: rec.Size()}
	c.Violations = append(c.Violations, CheckIdempotency(rec.Ops)...)
	c.Violations = append(c.Violations, CheckMonotonicStatus(rec.Ops)...)
	c.Violations = append(c.Violations, CheckEvents(rec.Ops, rec.Deliveries)...)
	mv, written := CheckMappings(rec.Ops, rec.Writes, htmlPath)
	c.Violations = append(c.Violations, mv...)
	if written {
		c.Visualized = htmlPath
	}
	c.Violations = append(c.Violations, CheckOneToOne(rec.Samples)...)
	c.Violations = append(c.Violations, CheckReviews(rec.Ops, rec.Writes)...)
	if rec.Dropped > 0 {
		c.Violations = append(c.Violations, violationf("history", "%d observations not recorded: the history's bound was reached", rec.Dropped))
	}
	return c
}

// capped keeps a checker's list readable; the count still says how many.
const maxListed = 20
