package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/patientlink/patientlink/internal/webhooksink"
)

// Snapshot is what the database holds after a scenario, as the accounting
// check needs it.
type Snapshot struct {
	Workflows     map[string]WorkflowRow // by id
	OutcomeEvents map[string]int         // workflow id → history events entering an outcome state
	Linked        []MappingRow           // LINKED mappings
	Delinked      map[string]MappingRow  // DE-LINKED mappings by the workflow that de-linked them
	Keys          map[string]string      // Idempotency-Key → workflow id
}

// WorkflowRow is one workflow.
type WorkflowRow struct {
	ID, PatientID, Status, Outcome, Reason string
	Attempt                                int
	Notify                                 string
}

// MappingRow is one LINKED mapping.
type MappingRow struct {
	PatientID, InternalID, WorkflowID string
}

// outcomeStates are the states a history event records an outcome with.
var outcomeStates = []string{"LINKED", "NO_RESULTS", "AMBIGUOUS", "CONFLICT", "DE_LINKED"}

// querier is a pool or a connection.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// LoadSnapshot reads the scenario's database.
func LoadSnapshot(ctx context.Context, conn querier) (Snapshot, error) {
	s := Snapshot{Workflows: map[string]WorkflowRow{}, OutcomeEvents: map[string]int{}, Delinked: map[string]MappingRow{}, Keys: map[string]string{}}
	// A workflow's notification is the delivery of its latest event.
	rows, err := conn.Query(ctx, `SELECT w.id::text, w.patient_id::text, w.status, coalesce(w.outcome, ''), coalesce(w.reason, ''), w.attempt,
		coalesce((SELECT e.delivery_status FROM events AS e WHERE e.workflow_id = w.id ORDER BY e.sequence DESC LIMIT 1), '')
		FROM workflows AS w`)
	if err != nil {
		return s, fmt.Errorf("error reading workflows: %w", err)
	}
	for rows.Next() {
		var w WorkflowRow
		if err := rows.Scan(&w.ID, &w.PatientID, &w.Status, &w.Outcome, &w.Reason, &w.Attempt, &w.Notify); err != nil {
			return s, err
		}
		s.Workflows[w.ID] = w
	}
	if err := rows.Err(); err != nil {
		return s, err
	}
	// A reconcile mark is recorded as an event from a state to itself
	// (reason 'reconcile'): not an outcome.
	rows, err = conn.Query(ctx, `SELECT workflow_id::text, count(*) FROM workflow_events
		WHERE to_status = ANY($1) AND from_status IS DISTINCT FROM to_status
		GROUP BY workflow_id`, outcomeStates)
	if err != nil {
		return s, fmt.Errorf("error reading history: %w", err)
	}
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			return s, err
		}
		s.OutcomeEvents[id] = n
	}
	if err := rows.Err(); err != nil {
		return s, err
	}
	rows, err = conn.Query(ctx, `SELECT customer_patient_id::text, internal_patient_id, workflow_id::text FROM patient_mappings WHERE status = 'LINKED'`)
	if err != nil {
		return s, fmt.Errorf("error reading mappings: %w", err)
	}
	for rows.Next() {
		var m MappingRow
		if err := rows.Scan(&m.PatientID, &m.InternalID, &m.WorkflowID); err != nil {
			return s, err
		}
		s.Linked = append(s.Linked, m)
	}
	if err := rows.Err(); err != nil {
		return s, err
	}
	rows, err = conn.Query(ctx, `SELECT customer_patient_id::text, internal_patient_id, workflow_id::text, delink_workflow_id::text
		FROM patient_mappings WHERE status = 'DE-LINKED'`)
	if err != nil {
		return s, fmt.Errorf("error reading de-linked mappings: %w", err)
	}
	for rows.Next() {
		var m MappingRow
		var by string
		if err := rows.Scan(&m.PatientID, &m.InternalID, &m.WorkflowID, &by); err != nil {
			return s, err
		}
		s.Delinked[by] = m
	}
	if err := rows.Err(); err != nil {
		return s, err
	}
	rows, err = conn.Query(ctx, `SELECT key, coalesce(workflow_id::text, '') FROM idempotency_keys`)
	if err != nil {
		return s, fmt.Errorf("error reading idempotency keys: %w", err)
	}
	for rows.Next() {
		var k, id string
		if err := rows.Scan(&k, &id); err != nil {
			return s, err
		}
		s.Keys[k] = id
	}
	return s, rows.Err()
}

// Tally is the accounting of one scenario.
type Tally struct {
	Requests     int            // distinct Idempotency-Keys sent
	Acknowledged int            // keys answered 202 with a workflow id
	Completed    int            // acknowledged workflows COMPLETED
	Failed       int            // acknowledged workflows FAILED
	FailedWhy    map[string]int // reason → count
	Pending      map[string]int // state → acknowledged workflows not in an end state
	Outcomes     map[string]int // outcome of COMPLETED workflows
	Lost         int            // acknowledged workflow ids the database does not have
	Duplicated   int            // second workflows for a key, outcome events or LINKED mappings beyond one
	WrongOutcome int            // a known patient not LINKED to its index id, an unknown one linked
	Unacked      int            // workflows no client was given (a cut-off request's)
	Refused      int            // keys never acknowledged (client gave up)
	NotLinked    int            // de-links answered 404 not-linked or 409 to the end: nothing to do, not a failure
	Webhooks     WebhookTally
	Problems     []string // what failed the check, most telling first (capped)
}

// WebhookTally compares notifications with COMPLETED workflows.
type WebhookTally struct {
	Received   int // distinct webhook-ids accepted by the receiver
	Missing    int // COMPLETED workflows whose notification never arrived
	Duplicates int // verified repeats of a webhook-id (at-least-once delivery; counted apart)
}

// OK reports whether the scenario kept every promise.
func (t Tally) OK() bool { return len(t.Problems) == 0 }

const maxProblems = 12

func (t *Tally) problem(format string, args ...any) {
	if len(t.Problems) < maxProblems {
		t.Problems = append(t.Problems, fmt.Sprintf(format, args...))
	} else if len(t.Problems) == maxProblems {
		t.Problems = append(t.Problems, "… (more)")
	}
}

// Account checks a scenario's promises: every acknowledged workflow exists
// and ended (COMPLETED, or FAILED for a reason in allowedFailures), one
// workflow per key, one outcome event per workflow attempt, one LINKED
// mapping per linked patient (the right one: the index's, a review's
// decision, none once a de-link completed), and a received notification
// for every COMPLETED workflow.
func Account(reqs []*Request, snap Snapshot, events []webhooksink.Event, sinkStats webhooksink.Stats, allowedFailures []string) Tally {
	t := Tally{FailedWhy: map[string]int{}, Pending: map[string]int{}, Outcomes: map[string]int{}}
	acked := map[string]*Request{}
	delinked := map[string]string{} // patient → its completed de-link's workflow
	for _, r := range reqs {
		r.mu.Lock()
		id, others, why, status := r.WorkflowID, slices.Clone(r.Others), r.Err, r.Status
		r.mu.Unlock()
		if r.Delink && id == "" && status/100 == 4 {
			t.NotLinked++
			continue
		}
		t.Requests++
		if r.Delink && snap.Workflows[id].Status == "COMPLETED" {
			delinked[r.Patient.ID.String()] = id
		}
		if id == "" {
			t.Refused++
			if why != "" && t.Refused <= 3 {
				t.problem("key %s never acknowledged: %s", r.Key, why)
			}
			continue
		}
		t.Acknowledged++
		acked[id] = r
		if len(others) > 0 {
			t.Duplicated += len(others)
			t.problem("key %s named %d workflows: %s and %v", r.Key, 1+len(others), id, others)
		}
		if stored, ok := snap.Keys[r.Key]; ok && stored != id {
			t.Duplicated++
			t.problem("key %s is stored for workflow %s, but the client was given %s", r.Key, stored, id)
		}
	}
	if t.Refused > 3 {
		t.problem("%d keys never acknowledged in all", t.Refused)
	}

	delivered := map[string]int{}
	for _, e := range events {
		var body struct {
			Data struct {
				WorkflowID string `json:"workflow-id"`
				Status     string `json:"status"`
			} `json:"data"`
		}
		if json.Unmarshal(e.Body, &body) == nil {
			delivered[body.Data.WorkflowID]++
		}
	}
	t.Webhooks = WebhookTally{Received: len(events), Duplicates: sinkStats.Duplicates}

	linkedBy := map[string][]MappingRow{} // customer patient → LINKED mappings
	internalBy := map[string]int{}
	for _, m := range snap.Linked {
		linkedBy[m.PatientID] = append(linkedBy[m.PatientID], m)
		internalBy[m.InternalID]++
	}
	for internal, n := range internalBy {
		if n > 1 {
			t.Duplicated += n - 1
			t.problem("internal patient %s has %d LINKED mappings", internal, n)
		}
	}

	for _, id := range slices.Sorted(maps.Keys(acked)) {
		r := acked[id]
		w, ok := snap.Workflows[id]
		if !ok {
			t.Lost++
			t.problem("workflow %s (key %s) was acknowledged but does not exist", id, r.Key)
			continue
		}
		if n := snap.OutcomeEvents[id]; n > w.Attempt {
			t.Duplicated += n - w.Attempt
			t.problem("workflow %s has %d outcome events for %d attempt(s)", id, n, w.Attempt)
		}
		if ms := linkedBy[w.PatientID]; len(ms) > 1 {
			t.Duplicated += len(ms) - 1
			t.problem("patient %s has %d LINKED mappings", w.PatientID, len(ms))
		}
		switch w.Status {
		case "COMPLETED":
			t.Completed++
			t.Outcomes[w.Outcome]++
			if delivered[id] == 0 {
				t.Webhooks.Missing++
				t.problem("workflow %s is COMPLETED but its webhook never arrived", id)
			}
			t.checkOutcome(r, w, linkedBy[w.PatientID], snap.Delinked, delinked)
		case "FAILED":
			t.Failed++
			t.FailedWhy[w.Reason]++
			if !slices.Contains(allowedFailures, w.Reason) {
				t.problem("workflow %s FAILED: %s (outcome %q, notification %s)", id, w.Reason, w.Outcome, w.Notify)
			}
		default:
			t.Pending[w.Status]++
			t.problem("workflow %s is still %s (notification %q)", id, w.Status, w.Notify)
		}
	}
	for id := range snap.Workflows {
		if acked[id] == nil {
			t.Unacked++
		}
	}
	return t
}

// checkOutcome checks a COMPLETED workflow's outcome and its patient's
// mapping now. byDelink holds the DE-LINKED mappings by the workflow that
// de-linked them; delinked, each patient's completed de-link.
func (t *Tally) checkOutcome(r *Request, w WorkflowRow, linked []MappingRow, byDelink map[string]MappingRow, delinked map[string]string) {
	wrong := func(format string, args ...any) {
		t.WrongOutcome++
		t.problem(format, args...)
	}
	if r.Delink { // the mapping it ended is checked with the link's workflow
		if w.Outcome != "DE_LINKED" {
			wrong("de-link %s ended %s", w.ID, w.Outcome)
		}
		return
	}
	want, internal := "LINKED", r.Patient.InternalID
	switch {
	case internal == "":
		want = "NO_RESULTS"
	case r.Patient.Twin:
		want, internal = "AMBIGUOUS", r.Resolved // what the review decided
	}
	if w.Outcome != want {
		wrong("workflow %s ended %s, want %s", w.ID, w.Outcome, want)
		return
	}
	if by, ok := delinked[w.PatientID]; ok {
		if m := byDelink[by]; len(linked) > 0 || m.InternalID != internal || m.WorkflowID != w.ID {
			wrong("patient %s was de-linked by %s, but its mappings are LINKED %+v, DE-LINKED %+v; want %s by %s", w.PatientID, by, linked, m, internal, w.ID)
		}
		return
	}
	if internal == "" {
		if len(linked) > 0 {
			wrong("patient %s (%s, nothing to link) has a LINKED mapping", w.PatientID, want)
		}
		return
	}
	if len(linked) != 1 || linked[0].InternalID != internal || linked[0].WorkflowID != w.ID {
		wrong("workflow %s is %s but its mapping is %+v, want internal %s", w.ID, want, linked, internal)
	}
}

// FailedSummary is "n reason, m reason", or "0".
func (t Tally) FailedSummary() string {
	if t.Failed == 0 {
		return "0"
	}
	parts := make([]string, 0, len(t.FailedWhy))
	for _, why := range slices.Sorted(maps.Keys(t.FailedWhy)) {
		parts = append(parts, fmt.Sprintf("%d %s", t.FailedWhy[why], why))
	}
	return fmt.Sprintf("%d (%s)", t.Failed, strings.Join(parts, ", "))
}

// PendingSummary is "IN_PROGRESS 3, LINKED 1", or "".
func (t Tally) PendingSummary() string {
	keys := make([]string, 0, len(t.Pending))
	for k := range t.Pending {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, t.Pending[k])
	}
	return strings.Join(parts, ", ")
}

// waitSettled polls until no workflow is pending and every acknowledged
// one exists, or until deadline; it returns when that happened.
func waitSettled(ctx context.Context, conn querier, deadline time.Time) (time.Time, bool) {
	for {
		var pending int
		err := conn.QueryRow(ctx, `SELECT count(*) FROM workflows WHERE status NOT IN ('COMPLETED', 'FAILED')`).Scan(&pending)
		if err == nil && pending == 0 {
			return time.Now(), true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return time.Now(), false
		}
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
}
