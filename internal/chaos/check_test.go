package chaos

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// at is a moment of a hand-made history: t0 plus ms milliseconds.
func at(ms int) time.Time {
	return time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC).Add(time.Duration(ms) * time.Millisecond)
}

func linkAnswer(proc, key, workflow, body string, from, to int) Op {
	return Op{Kind: OpLink, Proc: proc, Customer: "c1", Key: key, Invoke: at(from), Complete: at(to), Status: 202, WorkflowID: workflow, Body: []byte(body)}
}

func statusRead(workflow, state, outcome string, from, to int) Op {
	return Op{Kind: OpStatus, Proc: "api-1", WorkflowID: workflow, Invoke: at(from), Complete: at(to), Status: 200, State: state, Outcome: outcome}
}

func checkers(t *testing.T, vs []Violation, want string) {
	t.Helper()
	for _, v := range vs {
		require.Equal(t, want, v.Checker, v.What)
	}
}

func TestCheckIdempotency(t *testing.T) {
	t.Parallel()
	good := []Op{
		linkAnswer("api-1", "k1", "w1", `{"workflow-id":"w1"}`, 0, 10),
		linkAnswer("api-2", "k1", "w1", `{"workflow-id":"w1"}`, 20, 30),
		{Kind: OpLink, Proc: "api-1", Customer: "c1", Key: "k1", Invoke: at(5)}, // cut off: unknown
		linkAnswer("api-1", "k2", "w2", `{"workflow-id":"w2"}`, 0, 10),
	}
	require.Empty(t, CheckIdempotency(good))

	tests := map[string][]Op{
		"two workflows for one key": {
			linkAnswer("api-1", "k1", "w1", `{"workflow-id":"w1"}`, 0, 10),
			linkAnswer("api-2", "k1", "w9", `{"workflow-id":"w9"}`, 20, 30),
		},
		"a replay that is not byte-identical": {
			linkAnswer("api-1", "k1", "w1", `{"workflow-id":"w1"}`, 0, 10),
			linkAnswer("api-2", "k1", "w1", `{"workflow-id": "w1"}`, 20, 30),
		},
	}
	for name, ops := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			vs := CheckIdempotency(ops)
			require.Len(t, vs, 1)
			checkers(t, vs, CheckerIdempotency)
		})
	}
	// Another customer may use the same key for another workflow.
	other := linkAnswer("api-1", "k1", "w3", `{"workflow-id":"w3"}`, 0, 10)
	other.Customer = "c2"
	require.Empty(t, CheckIdempotency(append(good, other)))
}

func TestCheckMonotonicStatus(t *testing.T) {
	t.Parallel()
	good := []Op{
		statusRead("w1", "RECEIVED", "", 0, 10),
		statusRead("w1", "REQUESTED", "", 20, 30),
		statusRead("w1", "IN_PROGRESS", "", 40, 50), // REQUESTED ↔ IN_PROGRESS
		statusRead("w1", "LINKED", "", 60, 70),
		statusRead("w1", "COMPLETED", "LINKED", 80, 90),
		statusRead("w1", "COMPLETED", "LINKED", 100, 110),
		// Concurrent reads may be seen in either order.
		statusRead("w2", "LINKED", "", 0, 50),
		statusRead("w2", "IN_PROGRESS", "", 10, 20),
		{Kind: OpStatus, WorkflowID: "w2", Invoke: at(60), Status: 503},
		// An operator's retry brings a FAILED workflow back.
		statusRead("w3", "IN_PROGRESS", "", 0, 10),
		statusRead("w3", "FAILED", "", 20, 30),
		{Kind: OpOperator, Key: "retry", WorkflowID: "w3", Invoke: at(40), Complete: at(50), Status: 200},
		statusRead("w3", "RECEIVED", "", 60, 70),
		statusRead("w3", "COMPLETED", "LINKED", 80, 90),
	}
	require.Empty(t, CheckMonotonicStatus(good))

	tests := map[string][]Op{
		"backwards": {statusRead("w1", "IN_PROGRESS", "", 0, 10), statusRead("w1", "RECEIVED", "", 20, 30)},
		"end state left": {
			statusRead("w1", "COMPLETED", "LINKED", 0, 10), statusRead("w1", "LINKED", "", 20, 30),
		},
		"end state changed": {
			statusRead("w1", "COMPLETED", "LINKED", 0, 10), statusRead("w1", "FAILED", "", 20, 30),
		},
		"outcome changed": {
			statusRead("w1", "LINKED", "", 0, 10), statusRead("w1", "COMPLETED", "NO_RESULTS", 20, 30),
		},
		"outcome then failed": {statusRead("w1", "LINKED", "", 0, 10), statusRead("w1", "FAILED", "", 20, 30)},
		"unknown status":      {statusRead("w1", "LIMBO", "", 0, 10)},
		"a retry does not excuse reads after it": {
			statusRead("w1", "FAILED", "", 0, 10),
			{Kind: OpOperator, Key: "retry", WorkflowID: "w1", Invoke: at(20), Complete: at(30), Status: 200},
			statusRead("w1", "IN_PROGRESS", "", 40, 50), statusRead("w1", "RECEIVED", "", 60, 70),
		},
	}
	for name, ops := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			vs := CheckMonotonicStatus(ops)
			require.Len(t, vs, 1)
			checkers(t, vs, CheckerStatus)
		})
	}
}

func eventBody(id, patient string, seq int) []byte {
	return []byte(`{"id":"` + id + `","data":{"patient-id":"` + patient + `","sequence":` + itoa(seq) + `}}`)
}

func itoa(n int) string { return strconv.Itoa(n) }

func feedPage(from int, events ...FeedEvent) Op {
	return Op{Kind: OpEvents, Invoke: at(from), Complete: at(from + 5), Status: 200, Events: events}
}

func feedEvent(id, patient string, seq int) FeedEvent {
	return FeedEvent{ID: id, Patient: patient, Sequence: seq, Body: eventBody(id, patient, seq)}
}

func delivery(id, patient string, seq, ms int) Delivery {
	return Delivery{ID: id, Patient: patient, Sequence: seq, At: at(ms), Body: eventBody(id, patient, seq)}
}

func TestCheckEvents(t *testing.T) {
	t.Parallel()
	feed := []Op{
		feedPage(0, feedEvent("e1", "p1", 1), feedEvent("e2", "p2", 1)),
		feedPage(100, feedEvent("e3", "p1", 2)),
	}
	deliveries := []Delivery{
		delivery("e3", "p1", 2, 10), delivery("e1", "p1", 1, 20), // out of order: allowed
		delivery("e2", "p2", 1, 30), delivery("e2", "p2", 1, 40), // a repeat: allowed
	}
	require.Empty(t, CheckEvents(feed, deliveries))

	changed := delivery("e2", "p2", 1, 50)
	changed.Body = []byte(`{"id":"e2","data":{"patient-id":"p2","sequence":1,"outcome":"X"}}`)
	tests := map[string]struct {
		feed       []Op
		deliveries []Delivery
	}{
		"feed gap": {
			[]Op{feedPage(0, feedEvent("e1", "p1", 1), feedEvent("e3", "p1", 3))},
			[]Delivery{delivery("e1", "p1", 1, 0), delivery("e3", "p1", 3, 0)},
		},
		"feed out of order": {
			[]Op{feedPage(0, feedEvent("e2", "p1", 2)), feedPage(10, feedEvent("e1", "p1", 1))},
			[]Delivery{delivery("e1", "p1", 1, 0), delivery("e2", "p1", 2, 0)},
		},
		"never received":        {feed, deliveries[:3][1:]},
		"a body changed":        {feed, append(append([]Delivery{}, deliveries...), changed)},
		"received, not in feed": {feed, append(append([]Delivery{}, deliveries...), delivery("e9", "p3", 1, 60))},
	}
	// Two ids under one sequence number, both in the feed.
	tests["two ids, one sequence"] = struct {
		feed       []Op
		deliveries []Delivery
	}{
		[]Op{feedPage(0, feedEvent("e1", "p1", 1), feedEvent("e2", "p2", 1))},
		[]Delivery{delivery("e1", "p1", 1, 0), delivery("e2", "p2", 1, 0), delivery("e7", "p1", 1, 5)},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			vs := CheckEvents(tc.feed, tc.deliveries)
			require.NotEmpty(t, vs)
			checkers(t, vs, CheckerEvents)
		})
	}
}

func patientRead(patient, status, internal string, from, to int) Op {
	code := 200
	if status == "" {
		code = 404
	}
	return Op{Kind: OpPatient, Patient: patient, Invoke: at(from), Complete: at(to), Status: code, State: status, Internal: internal}
}

func TestCheckMappings(t *testing.T) {
	t.Parallel()
	link := MappingWrite{Patient: "p1", Status: "LINKED", Internal: "i1", Start: at(100), Commit: at(110)}
	good := []Op{
		patientRead("p1", "", "", 0, 50),            // before the link
		patientRead("p1", "", "", 105, 2000),        // concurrent with it: either
		patientRead("p1", "LINKED", "i1", 300, 310), // during the slack: may see it
		patientRead("p1", "LINKED", "i1", 3000, 3010),
	}
	vs, written := CheckMappings(good, []MappingWrite{link}, "")
	require.Empty(t, vs)
	require.False(t, written)

	tests := map[string][]Op{
		"seen before it was written": {patientRead("p1", "LINKED", "i1", 0, 50)},
		"stale after the commit":     {patientRead("p1", "LINKED", "i1", 3000, 3010), patientRead("p1", "", "", 4000, 4010)},
		"a value never written":      {patientRead("p1", "LINKED", "i2", 3000, 3010)},
		"lost after the commit":      {patientRead("p1", "", "", 5000, 5010)},
	}
	for name, ops := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			html := filepath.Join(t.TempDir(), "mappings.html")
			vs, written := CheckMappings(ops, []MappingWrite{link}, html)
			require.Len(t, vs, 1)
			checkers(t, vs, CheckerMappings)
			require.True(t, written)
			data, err := os.ReadFile(html)
			require.NoError(t, err)
			require.Contains(t, string(data), "<html")
		})
	}
}

func delinkAnswer(patient string, status int, replayed bool, from, to int) Op {
	body := `{"workflow-id":"d1","status":"RECEIVED"}`
	if status == 404 {
		body = `{"type":"https://patientlink.dev/problems/not-linked","status":404}`
	}
	return Op{Kind: OpDelink, Patient: patient, Key: "dk", Invoke: at(from), Complete: at(to), Status: status, Replayed: replayed, Body: []byte(body)}
}

// A de-link's acknowledgement looks at the register: 202 when the patient
// was LINKED, 404 not-linked when it was not; its change is a write.
func TestCheckMappingsDelinks(t *testing.T) {
	t.Parallel()
	writes := []MappingWrite{
		{Patient: "p1", Status: "LINKED", Internal: "i1", Workflow: "w1", Start: at(100), Commit: at(110)},
		{Patient: "p1", Status: "DE-LINKED", Internal: "i1", Workflow: "d1", Start: at(5000), Commit: at(5010)},
	}
	good := []Op{
		delinkAnswer("p1", 404, false, 0, 50), // before the link
		patientRead("p1", "LINKED", "i1", 3000, 3010),
		delinkAnswer("p1", 202, false, 3100, 3200),
		patientRead("p1", "LINKED", "i1", 3300, 3310), // acknowledged, not yet done
		patientRead("p1", "DE-LINKED", "i1", 7000, 7010),
		delinkAnswer("p1", 404, false, 7100, 7200),
		delinkAnswer("p1", 202, true, 7300, 7400), // a replay tells of its first attempt
	}
	vs, _ := CheckMappings(good, writes, "")
	require.Empty(t, vs)

	tests := map[string][]Op{
		"acknowledged before the link": {delinkAnswer("p1", 202, false, 0, 50)},
		"acknowledged after the de-link": {
			patientRead("p1", "DE-LINKED", "i1", 7000, 7010), delinkAnswer("p1", 202, false, 7100, 7200),
		},
		"not-linked while LINKED": {delinkAnswer("p1", 404, false, 3000, 3010)},
		"de-linked before the de-link's change": {
			patientRead("p1", "DE-LINKED", "i1", 3000, 3010),
		},
	}
	for name, ops := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			vs, _ := CheckMappings(ops, writes, "")
			require.Len(t, vs, 1)
			checkers(t, vs, CheckerMappings)
		})
	}
}

func TestCheckOneToOne(t *testing.T) {
	t.Parallel()
	good := []MappingSample{{At: at(0), Linked: [][2]string{{"p1", "i1"}, {"p2", "i2"}}}, {At: at(10), Linked: [][2]string{{"p1", "i2"}}}}
	require.Empty(t, CheckOneToOne(good))
	for name, linked := range map[string][][2]string{
		"one source, two targets": {{"p1", "i1"}, {"p1", "i2"}},
		"one target, two sources": {{"p1", "i1"}, {"p2", "i1"}},
	} {
		vs := CheckOneToOne(append(good, MappingSample{At: at(20), Linked: linked}))
		require.Len(t, vs, 1, name)
		checkers(t, vs, CheckerOneToOne)
	}
}

func TestCheckHistory(t *testing.T) {
	t.Parallel()
	rec := Recorded{Ops: []Op{
		linkAnswer("api-1", "k1", "w1", `{"workflow-id":"w1"}`, 0, 10),
		linkAnswer("api-2", "k1", "w9", `{"workflow-id":"w9"}`, 20, 30),
		statusRead("w1", "COMPLETED", "LINKED", 0, 10), statusRead("w1", "RECEIVED", "", 20, 30),
	}}
	c := CheckHistory(rec, "")
	require.Equal(t, 4, c.Operations)
	require.Equal(t, "checked 4 operations, 2 violations (idempotency 1, monotonic-status 1)", c.Line())
	require.Equal(t, "checked 0 operations, 0 violations", CheckHistory(Recorded{}, "").Line())
}
