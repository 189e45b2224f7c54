package chaos

import (
	"encoding/json"
	"sync"
	"time"
)

// OpKind is what a recorded client operation asked.
type OpKind string

// The operations a history records.
const (
	OpLink    OpKind = "link"    // POST /link with an Idempotency-Key
	OpDelink  OpKind = "delink"  // DELETE /link/{patient-id}
	OpStatus  OpKind = "status"  // GET /link/status/{workflow-id}
	OpPatient OpKind = "patient" // GET /patient/{patient-id}
	OpEvents  OpKind = "events"  // GET /events?cursor=…
	// OpOperator is an operator's action (Key: stop, retry, redeliver) on
	// WorkflowID; retry and redeliver may bring a FAILED workflow back.
	OpOperator OpKind = "operator"
	// OpResolve is POST /admin/reviews/{Key}/resolve on an operator
	// address: the review of WorkflowID (Patient's), decided State ("link"
	// to Internal, or "no-match").
	OpResolve OpKind = "resolve"
	// OpReview is GET /admin/reviews/{Key}: its State (open, resolved …),
	// decision (Outcome) and the Internal id it linked.
	OpReview OpKind = "review"
)

// Op is one client operation, Jepsen-style: when it was invoked, when it
// completed (zero: unknown — no answer, a timeout or a crash), the process
// it hit, what it asked and what it was told.
type Op struct {
	Kind     OpKind
	Proc     string // API base URL
	Invoke   time.Time
	Complete time.Time // zero when the outcome is unknown
	Customer string
	Key      string // OpLink, OpDelink: the Idempotency-Key
	Patient  string // OpLink, OpDelink, OpPatient, OpResolve: the customer's patient id

	Status     int    // HTTP status; 0 when unknown
	Replayed   bool   // OpLink, OpDelink: answered Idempotent-Replayed: true
	Body       []byte // OpLink, OpDelink: the answer's bytes
	WorkflowID string // OpLink, OpDelink: named by the answer; OpStatus: asked for
	State      string // OpStatus: status; OpPatient: mapping status ("" for 404)
	Outcome    string // OpStatus: outcome
	Internal   string // OpPatient: internal-patient-id
	Events     []FeedEvent
}

// Known reports whether the operation completed with an answer.
func (o Op) Known() bool { return !o.Complete.IsZero() && o.Status != 0 }

// FeedEvent is one event of a GET /events page.
type FeedEvent struct {
	ID       string
	Patient  string
	Sequence int
	Body     []byte // compact
}

// Delivery is one webhook the receiver verified and answered 2xx (a
// repeat of an id included).
type Delivery struct {
	ID       string
	At       time.Time
	Patient  string
	Sequence int
	Body     []byte // as received
}

// MappingWrite is one row of mapping_events: a change of a patient's
// mapping, taken as a register write between its transaction's start and
// its commit.
type MappingWrite struct {
	Patient  string
	Status   string // LINKED or DE-LINKED
	Internal string
	Workflow string    // the workflow that made the change
	Start    time.Time // the transaction's start (created_at)
	Commit   time.Time // its commit; zero when unknown
}

// MappingSample is the LINKED mappings read in one statement during a run.
type MappingSample struct {
	At     time.Time
	Linked [][2]string // customer patient id, internal patient id
}

// maxOps bounds a history; the bounded loads stay well under it.
const maxOps = 400_000

// History is everything observed in one scenario. Safe for concurrent use.
type History struct {
	mu         sync.Mutex
	ops        []Op
	deliveries []Delivery
	writes     []MappingWrite
	samples    []MappingSample
	dropped    int
}

// Add records an operation.
func (h *History) Add(op Op) {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.ops) >= maxOps {
		h.dropped++
		return
	}
	h.ops = append(h.ops, op)
}

// Deliver records a webhook the receiver accepted (or accepted again).
func (h *History) Deliver(id string, body []byte, at time.Time) {
	if h == nil {
		return
	}
	d := Delivery{ID: id, At: at, Body: append([]byte(nil), body...)}
	d.Patient, d.Sequence = eventPosition(body)
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.deliveries) >= maxOps {
		h.dropped++
		return
	}
	h.deliveries = append(h.deliveries, d)
}

// Sample records one read of the LINKED mappings.
func (h *History) Sample(s MappingSample) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.samples = append(h.samples, s)
}

// SetWrites records the mapping changes, read from the database at the end.
func (h *History) SetWrites(ws []MappingWrite) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.writes = ws
}

// Recorded is a copy of a history, for the checkers.
type Recorded struct {
	Ops        []Op
	Deliveries []Delivery
	Writes     []MappingWrite
	Samples    []MappingSample
	Dropped    int // operations not recorded: the bound was reached
}

// Size is how many observations a check covers.
func (r Recorded) Size() int { return len(r.Ops) + len(r.Deliveries) + len(r.Writes) + len(r.Samples) }

// Snapshot copies what was recorded so far.
func (h *History) Snapshot() Recorded {
	h.mu.Lock()
	defer h.mu.Unlock()
	return Recorded{
		Ops: append([]Op(nil), h.ops...), Deliveries: append([]Delivery(nil), h.deliveries...),
		Writes: append([]MappingWrite(nil), h.writes...), Samples: append([]MappingSample(nil), h.samples...),
		Dropped: h.dropped,
	}
}

// eventPosition reads data.patient-id and data.sequence of an event body.
func eventPosition(body []byte) (string, int) {
	var ev struct {
		Data struct {
			PatientID string `json:"patient-id"`
			Sequence  int    `json:"sequence"`
		} `json:"data"`
	}
	if json.Unmarshal(body, &ev) != nil {
		return "", 0
	}
	return ev.Data.PatientID, ev.Data.Sequence
}

// fillOp reads what an answer says into op. An events page's next-cursor
// is kept in Key, for the reader that follows it.
func fillOp(op *Op, data []byte) {
	switch op.Kind {
	case OpLink, OpDelink:
		op.Body = data
		var b struct {
			WorkflowID string `json:"workflow-id"`
		}
		_ = json.Unmarshal(data, &b)
		op.WorkflowID = b.WorkflowID
	case OpStatus:
		var b struct {
			Status  string  `json:"status"`
			Outcome *string `json:"outcome"`
		}
		_ = json.Unmarshal(data, &b)
		op.State = b.Status
		if b.Outcome != nil {
			op.Outcome = *b.Outcome
		}
	case OpPatient:
		if op.Status != 200 {
			return
		}
		var b struct {
			Status   string `json:"status"`
			Internal string `json:"internal-patient-id"`
		}
		_ = json.Unmarshal(data, &b)
		op.State, op.Internal = b.Status, b.Internal
	case OpResolve:
		op.Body = data
	case OpReview:
		var b struct {
			Status   string `json:"status"`
			Decision string `json:"decision"`
			Internal string `json:"internal-patient-id"`
		}
		_ = json.Unmarshal(data, &b)
		op.State, op.Outcome, op.Internal = b.Status, b.Decision, b.Internal
	case OpEvents:
		var b struct {
			Events     []json.RawMessage `json:"events"`
			NextCursor string            `json:"next-cursor"`
		}
		if json.Unmarshal(data, &b) != nil {
			return
		}
		op.Key = b.NextCursor
		for _, raw := range b.Events {
			var e struct {
				ID string `json:"id"`
			}
			_ = json.Unmarshal(raw, &e)
			patient, seq := eventPosition(raw)
			op.Events = append(op.Events, FeedEvent{ID: e.ID, Patient: patient, Sequence: seq, Body: compactJSON(raw)})
		}
	}
}
