package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/patientlink/patientlink/internal/webhook"
	"github.com/patientlink/patientlink/internal/webhooksink"
)

// world is a consistent outcome of three requests: a linked known
// patient, an unknown one, and their notifications.
func world(t *testing.T) ([]*Request, Snapshot, []webhooksink.Event) {
	t.Helper()
	known := &Request{Key: "k1", Patient: Patient{ID: uuid.New(), InternalID: "int-1"}, WorkflowID: "w1"}
	unknown := &Request{Key: "k2", Patient: Patient{ID: uuid.New()}, WorkflowID: "w2"}
	snap := Snapshot{
		Workflows: map[string]WorkflowRow{
			"w1": {ID: "w1", PatientID: known.Patient.ID.String(), Status: "COMPLETED", Outcome: "LINKED", Attempt: 1},
			"w2": {ID: "w2", PatientID: unknown.Patient.ID.String(), Status: "COMPLETED", Outcome: "NO_RESULTS", Attempt: 1},
		},
		OutcomeEvents: map[string]int{"w1": 1, "w2": 1},
		Linked:        []MappingRow{{PatientID: known.Patient.ID.String(), InternalID: "int-1", WorkflowID: "w1"}},
		Keys:          map[string]string{"k1": "w1", "k2": "w2"},
	}
	events := []webhooksink.Event{event(t, "w1"), event(t, "w2")}
	return []*Request{known, unknown}, snap, events
}

func event(t *testing.T, workflowID string) webhooksink.Event {
	t.Helper()
	body, err := json.Marshal(map[string]any{"type": "link.completed", "data": map[string]any{"workflow-id": workflowID, "status": "COMPLETED"}})
	require.NoError(t, err)
	return webhooksink.Event{ID: "msg_" + workflowID, Type: "link.completed", Body: body}
}

func TestAccount(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		break_ func(reqs []*Request, s *Snapshot, ev *[]webhooksink.Event)
		check  func(t *testing.T, tl Tally)
	}{
		{"all kept", func([]*Request, *Snapshot, *[]webhooksink.Event) {}, func(t *testing.T, tl Tally) {
			require.True(t, tl.OK(), tl.Problems)
			require.Equal(t, 2, tl.Acknowledged)
			require.Equal(t, 2, tl.Completed)
			require.Equal(t, map[string]int{"LINKED": 1, "NO_RESULTS": 1}, tl.Outcomes)
			require.Equal(t, "0", tl.FailedSummary())
		}},
		{"lost", func(_ []*Request, s *Snapshot, _ *[]webhooksink.Event) { delete(s.Workflows, "w2") }, func(t *testing.T, tl Tally) {
			require.Equal(t, 1, tl.Lost)
			require.False(t, tl.OK())
		}},
		{"two workflows for one key", func(reqs []*Request, _ *Snapshot, _ *[]webhooksink.Event) { reqs[0].Others = []string{"w9"} }, func(t *testing.T, tl Tally) {
			require.Equal(t, 1, tl.Duplicated)
		}},
		{"key stored for another workflow", func(_ []*Request, s *Snapshot, _ *[]webhooksink.Event) { s.Keys["k1"] = "w9" }, func(t *testing.T, tl Tally) {
			require.Equal(t, 1, tl.Duplicated)
		}},
		{"outcome recorded twice", func(_ []*Request, s *Snapshot, _ *[]webhooksink.Event) { s.OutcomeEvents["w1"] = 2 }, func(t *testing.T, tl Tally) {
			require.Equal(t, 1, tl.Duplicated)
		}},
		{"a second attempt may record again", func(_ []*Request, s *Snapshot, _ *[]webhooksink.Event) {
			s.OutcomeEvents["w1"] = 2
			w := s.Workflows["w1"]
			w.Attempt = 2
			s.Workflows["w1"] = w
		}, func(t *testing.T, tl Tally) {
			require.True(t, tl.OK(), tl.Problems)
		}},
		{"two LINKED mappings", func(_ []*Request, s *Snapshot, _ *[]webhooksink.Event) {
			s.Linked = append(s.Linked, MappingRow{PatientID: s.Linked[0].PatientID, InternalID: "int-2", WorkflowID: "w1"})
		}, func(t *testing.T, tl Tally) {
			require.Equal(t, 1, tl.Duplicated)
			require.Equal(t, 1, tl.WrongOutcome, "and the mapping is not the one expected")
		}},
		{"linked to the wrong patient", func(_ []*Request, s *Snapshot, _ *[]webhooksink.Event) { s.Linked[0].InternalID = "int-9" }, func(t *testing.T, tl Tally) {
			require.Equal(t, 1, tl.WrongOutcome)
			require.False(t, tl.OK())
		}},
		{"still pending", func(_ []*Request, s *Snapshot, ev *[]webhooksink.Event) {
			s.Workflows["w1"] = WorkflowRow{ID: "w1", Status: "LINKED", Outcome: "LINKED", Attempt: 1, Notify: "pending"}
		}, func(t *testing.T, tl Tally) {
			require.Equal(t, map[string]int{"LINKED": 1}, tl.Pending)
			require.Equal(t, "LINKED 1", tl.PendingSummary())
			require.False(t, tl.OK())
		}},
		{"failed", func(_ []*Request, s *Snapshot, _ *[]webhooksink.Event) {
			s.Workflows["w2"] = WorkflowRow{ID: "w2", Status: "FAILED", Reason: "index_unavailable", Attempt: 1}
		}, func(t *testing.T, tl Tally) {
			require.Equal(t, 1, tl.Failed)
			require.Equal(t, "1 (1 index_unavailable)", tl.FailedSummary())
			require.False(t, tl.OK(), "no failure is allowed unless named")
		}},
		{"webhook missing", func(_ []*Request, _ *Snapshot, ev *[]webhooksink.Event) { *ev = (*ev)[:1] }, func(t *testing.T, tl Tally) {
			require.Equal(t, 1, tl.Webhooks.Missing)
			require.False(t, tl.OK())
		}},
		{"never acknowledged", func(reqs []*Request, _ *Snapshot, _ *[]webhooksink.Event) {
			reqs[1].WorkflowID, reqs[1].Err = "", "gave up retrying: HTTP 503"
		}, func(t *testing.T, tl Tally) {
			require.Equal(t, 1, tl.Refused)
			require.Equal(t, 1, tl.Unacked, "w2 exists but no client was told")
			require.False(t, tl.OK())
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reqs, snap, events := world(t)
			tt.break_(reqs, &snap, &events)
			tt.check(t, Account(reqs, snap, events, webhooksink.Stats{}, nil))
		})
	}
}

func TestAccountAllowedFailure(t *testing.T) {
	t.Parallel()
	reqs, snap, events := world(t)
	snap.Workflows["w2"] = WorkflowRow{ID: "w2", Status: "FAILED", Reason: "index_unavailable", Attempt: 1}
	tl := Account(reqs, snap, events, webhooksink.Stats{Duplicates: 3}, []string{"index_unavailable"})
	require.True(t, tl.OK(), tl.Problems)
	require.Equal(t, 3, tl.Webhooks.Duplicates, "duplicate deliveries are counted, not failed")
}

func TestAccountCapsProblems(t *testing.T) {
	t.Parallel()
	var reqs []*Request
	for i := range 50 {
		reqs = append(reqs, &Request{Key: strconv.Itoa(i), WorkflowID: "missing-" + strconv.Itoa(i)})
	}
	tl := Account(reqs, Snapshot{Workflows: map[string]WorkflowRow{}}, nil, webhooksink.Stats{}, nil)
	require.Equal(t, 50, tl.Lost)
	require.Len(t, tl.Problems, maxProblems+1)
}

func TestWriteReport(t *testing.T) {
	t.Parallel()
	reqs, snap, events := world(t)
	ok := Result{N: 6, Name: "duplicate storms", Load: "2 keys", Faults: "storms | parallel", Recovery: 1500 * time.Millisecond,
		Tally: Account(reqs, snap, events, webhooksink.Stats{}, nil), Notes: []string{"all named one workflow"}}
	bad := Result{N: 1, Name: "kill -9 workers", Recovery: -1, Failures: []string{"workflows still pending"}}
	var b strings.Builder
	require.NoError(t, WriteReport(&b, []Result{ok, bad}))
	out := b.String()
	require.Contains(t, out, "| 6 | duplicate storms | 2 keys | storms \\| parallel | 2 | 2 | 0 | 0 | 0 | 0 / 0 | 1.5s | PASS |")
	require.Contains(t, out, "| did not recover | **FAIL** |")
	require.Contains(t, out, "outcomes: 1 LINKED, 1 NO_RESULTS")
	require.Contains(t, out, "- all named one workflow")
	require.Contains(t, out, "- FAILED: workflows still pending")
}

// The receiver-outage scenario's schedule must outlast the outage, or
// notifications would fail for want of attempts, not for a bug.
func TestWebhookScheduleOutlastsOutage(t *testing.T) {
	t.Parallel()
	for _, down := range []time.Duration{45 * time.Second, 5 * time.Minute} {
		s, err := webhook.Schedule(webhookSchedule(down))
		require.NoError(t, err)
		var total time.Duration
		for _, d := range s {
			total += d
		}
		require.Greater(t, total, down+30*time.Second, down)
	}
}

func TestProfiles(t *testing.T) {
	t.Parallel()
	for _, n := range []int{1, 3, 6, 8} {
		require.Contains(t, Profiles["ci"].Scenarios, n, "CI runs at least scenarios 1, 3, 6 and 8")
	}
	require.Equal(t, []int{1, 2, 3, 4, 5, 6, 7, 8}, Profiles["full"].Scenarios)
	require.NotContains(t, Profiles["ci"].Scenarios, 7, "operator chaos is for the full profile only")
	for name, p := range Profiles {
		for _, n := range p.Scenarios {
			require.Contains(t, scenarios, n, name)
		}
		require.Equal(t, 20, p.StormCopies, name)
		require.Equal(t, 20*time.Second, p.DBDown, name)
	}
	require.Equal(t, 5000, Profiles["full"].WorkerKillLinks)
	require.Equal(t, 2*time.Minute, Profiles["full"].IndexDown)
	require.Equal(t, 5*time.Minute, Profiles["full"].WebhookDown)
}

// A cut-off request is retried with the same key on the next API process,
// and the client records the one workflow named; a 4xx is final.
func TestClientRetriesWithSameKey(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var keys []string
	record := func(r *http.Request) {
		mu.Lock()
		keys = append(keys, r.Header.Get("Idempotency-Key"))
		mu.Unlock()
	}
	dying := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		record(r)
		if conn, _, err := w.(http.Hijacker).Hijack(); err == nil { // the process dies mid-request
			conn.Close()
		}
	}))
	defer dying.Close()
	unavailable := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		record(r)
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer unavailable.Close()
	healthy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		record(r)
		w.Header().Set("Idempotent-Replayed", "true")
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte(`{"workflow-id":"wf-1","status":"RECEIVED"}`))
	}))
	defer healthy.Close()

	c := NewClient([]string{dying.URL, unavailable.URL, healthy.URL}, "token")
	r := &Request{Key: "key-1", Patient: Patient{ID: uuid.New(), Name: "A B", DOB: "1980-01-01"}}
	c.Link(context.Background(), r, 0)
	require.Equal(t, "wf-1", r.WorkflowID)
	require.True(t, r.Replayed)
	require.Equal(t, 3, r.Attempts)
	require.Equal(t, 1, r.CutOff)
	require.Equal(t, 1, r.MidRequest, "a reset connection is not a refused one")
	for _, k := range keys {
		require.Equal(t, "key-1", k)
	}
	st := c.Stats()
	require.EqualValues(t, 1, st.Unavailable)
	require.Positive(t, st.Slowest503)

	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnprocessableEntity)
		_, _ = w.Write([]byte(`{"type":"https://patientlink.dev/problems/validation"}`))
	}))
	defer refusing.Close()
	r2 := &Request{Key: "key-2"}
	NewClient([]string{refusing.URL}, "token").Link(context.Background(), r2, 0)
	require.False(t, r2.Acked())
	require.Equal(t, 1, r2.Attempts)
	require.Contains(t, r2.Err, "422")
}

// A refused connection (nothing listening) is told apart from a cut one.
func TestClientRefusedIsNotMidRequest(t *testing.T) {
	t.Parallel()
	// A socket bound but not listening holds the port, so no other test
	// can take it between here and the dial: connections are refused.
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	require.NoError(t, err)
	defer syscall.Close(fd)
	require.NoError(t, syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}))
	sa, err := syscall.Getsockname(fd)
	require.NoError(t, err)
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
	c := NewClient([]string{"http://" + addr}, "token")
	c.RetryFor = 0
	r := &Request{Key: "k"}
	c.Link(context.Background(), r, 0)
	require.Equal(t, 1, r.CutOff)
	require.Zero(t, r.MidRequest)
	require.Contains(t, r.Err, "gave up retrying")
}

// A worker serves no HTTP: it is ready once its log says River started,
// and restarts after a kill -9 (the group killing is harness's to test).
func TestWorkerReadyWhenRiverStarted(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	script := filepath.Join(dir, "fake")
	require.NoError(t, os.WriteFile(script, []byte("#!/bin/sh\necho 'River workers started'\nexec sleep 60\n"), 0o755))
	p := newProc(script, "worker-1", "worker", "127.0.0.1:0", dir, nil)
	require.NoError(t, p.Start())
	t.Cleanup(func() { p.Stop(time.Second) })
	require.NoError(t, p.WaitReady(context.Background(), 10*time.Second))
	p.Kill9()
	require.False(t, p.Running())
	require.NoError(t, p.Restart(context.Background()))
	require.Contains(t, p.LogTail(10), "start 2 of worker-1")
}
