package bench

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"runtime"
	"time"

	"github.com/google/uuid"

	"github.com/patientlink/patientlink/internal/auth"
	"github.com/patientlink/patientlink/internal/link"
	"github.com/patientlink/patientlink/internal/seal"
)

// StepCost is the in-process cost of one Go step of the acknowledgement.
type StepCost struct {
	Step        string  `json:"step"`
	NsPerOp     float64 `json:"ns_per_op"`
	AllocsPerOp float64 `json:"allocs_per_op"`
	BytesPerOp  float64 `json:"bytes_per_op"`
}

// measure runs fn repeatedly for about d (at most a million times).
func measure(step string, d time.Duration, fn func()) StepCost {
	fn() // warm
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	n := 0
	for time.Since(start) < d && n < 1_000_000 {
		for range 16 {
			fn()
		}
		n += 16
	}
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)
	return StepCost{
		Step:        step,
		NsPerOp:     float64(int(float64(elapsed.Nanoseconds())/float64(n)*10)) / 10,
		AllocsPerOp: round3(float64(after.Mallocs-before.Mallocs) / float64(n)),
		BytesPerOp:  float64(int((after.TotalAlloc - before.TotalAlloc) / uint64(n))),
	}
}

// ackSteps measures the CPU work of POST /link outside the database, with
// the service's own packages and a body like the load generator's.
func ackSteps(p Patient, d time.Duration) ([]StepCost, error) {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	tokens := auth.NewTokens(key)
	issued, err := tokens.Issue(uuid.New(), time.Hour)
	if err != nil {
		return nil, err
	}
	keyring, err := seal.NewKeyring(key)
	if err != nil {
		return nil, err
	}
	body, _ := json.Marshal(linkBody{Patient: linkPatient{
		ID: uuid.NewString(), FullName: p.FullName, DOB: p.DOB,
		Contact: linkContact{Address: "12 Harbour Street, Flat 3, Springfield SP4 4AB", Phone: "+44 20 7946 0123", Email: emailOf(p.FullName)},
	}})
	now := time.Now()
	req, err := link.ParseRequest(body, now)
	if err != nil {
		return nil, fmt.Errorf("the benchmark body does not validate: %w", err)
	}
	canonical := req.Canonical()
	wf := uuid.Must(uuid.NewV7())
	var sink any
	out := []StepCost{
		measure("token check (HS256 JWT verify)", d, func() { sink, _ = tokens.Verify(issued.Token) }),
		measure("JSON decode + validation (link.ParseRequest)", d, func() { sink, _ = link.ParseRequest(body, now) }),
		measure("canonical form (Request.Canonical)", d, func() { sink = req.Canonical() }),
		measure("seal (AES-256-GCM)", d, func() { _, sink, _ = keyring.Seal(canonical, wf[:]) }),
		measure("request fingerprint (HMAC-SHA256)", d, func() { sink = keyring.Fingerprint(canonical) }),
		measure("workflow id (UUIDv7)", d, func() { sink, _ = uuid.NewV7() }),
		measure("202 body (json.Marshal)", d, func() {
			sink, _ = json.Marshal(struct {
				WorkflowID uuid.UUID `json:"workflow-id"`
				Status     string    `json:"status"`
			}{wf, "RECEIVED"})
		}),
	}
	_ = sink
	return out, nil
}
