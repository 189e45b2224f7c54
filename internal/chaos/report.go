package chaos

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// WriteReport writes the results as a markdown table, then each scenario's
// notes and anything that failed.
func WriteReport(w io.Writer, results []Result) error {
	var b strings.Builder
	b.WriteString("| # | Scenario | Load | Faults injected | Acknowledged | Completed | Failed (reasons) | Lost | Duplicated | Webhooks (missing / dup. deliveries) | Recovery time | Result |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range results {
		t := r.Tally
		result := "PASS"
		if !r.Passed() {
			result = "**FAIL**"
		}
		fmt.Fprintf(&b, "| %d | %s | %s | %s | %d | %d | %s | %d | %d | %d / %d | %s | %s |\n",
			r.N, cell(r.Name), cell(r.Load), cell(r.Faults), t.Acknowledged, t.Completed, cell(t.FailedSummary()),
			t.Lost, t.Duplicated, t.Webhooks.Missing, t.Webhooks.Duplicates, recovery(r), result)
	}
	for _, r := range results {
		fmt.Fprintf(&b, "\n**Scenario %d (%s)**, %s", r.N, r.Name, r.Took.Round(time.Second))
		if len(r.Tally.Outcomes) > 0 {
			fmt.Fprintf(&b, "; outcomes: %s", outcomeSummary(r.Tally.Outcomes))
		}
		b.WriteString("\n")
		if p := r.Tally.PendingSummary(); p != "" {
			fmt.Fprintf(&b, "- still pending at the deadline: %s\n", p)
		}
		if r.Tally.Refused > 0 {
			fmt.Fprintf(&b, "- %d request(s) never acknowledged (the client gave up)\n", r.Tally.Refused)
		}
		if r.Err == nil {
			fmt.Fprintf(&b, "- %s\n", r.Checked.Line())
		}
		for i, v := range r.Checked.Violations {
			if i == maxListed {
				fmt.Fprintf(&b, "- … %d more violation(s)\n", len(r.Checked.Violations)-i)
				break
			}
			fmt.Fprintf(&b, "- VIOLATION (%s): %s\n", v.Checker, cell(v.What))
		}
		if r.Checked.Visualized != "" {
			fmt.Fprintf(&b, "- porcupine's visualisation of the mappings: %s\n", r.Checked.Visualized)
		}
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
		for _, f := range r.Failures {
			fmt.Fprintf(&b, "- FAILED: %s\n", cell(f))
		}
		for _, p := range r.Tally.Problems {
			fmt.Fprintf(&b, "- FAILED: %s\n", cell(p))
		}
		if r.Err != nil {
			fmt.Fprintf(&b, "- ERROR: %s\n", cell(r.Err.Error()))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func recovery(r Result) string {
	if r.Recovery < 0 {
		return "did not recover"
	}
	return r.Recovery.Round(100 * time.Millisecond).String()
}

func outcomeSummary(m map[string]int) string {
	var parts []string
	for _, k := range []string{"LINKED", "NO_RESULTS", "AMBIGUOUS", "CONFLICT", "DE_LINKED"} {
		if m[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", m[k], k))
		}
	}
	return strings.Join(parts, ", ")
}

// cell keeps text on one table line.
func cell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.Join(strings.Fields(s), " ")
}
