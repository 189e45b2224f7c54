package bench

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/patientlink/patientlink/internal/webhooksig"
)

// Receiver is the customers' webhook endpoint: it answers at once, records
// when each workflow's notification arrived and wakes whoever waits for it.
// Customer k posts to /hook/k and is verified with its own secret.
type Receiver struct {
	Verify bool
	// FailRate is the share of deliveries answered 503 before anything
	// else, like a flaky customer endpoint (the soak's 5 %).
	FailRate float64
	// Observe, when set, is told of each workflow's first notification.
	// It is called outside the receiver's lock.
	Observe func(workflowID string, at time.Time)

	mu      sync.Mutex
	secrets []string
	arrived map[string]arrival
	waiters map[string]chan struct{}

	received   atomic.Int64
	duplicates atomic.Int64
	badSig     atomic.Int64
	malformed  atomic.Int64
	failed     atomic.Int64

	srv *http.Server
	ln  net.Listener
}

type arrival struct {
	at      time.Time
	outcome string
	status  string
}

// NewReceiver listens on a free loopback port.
func NewReceiver(verify bool) (*Receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &Receiver{Verify: verify, arrived: map[string]arrival{}, waiters: map[string]chan struct{}{}, ln: ln}
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = r.srv.Serve(ln) }()
	return r, nil
}

// URL is customer k's webhook URL.
func (r *Receiver) URL(k int) string {
	return "http://" + r.ln.Addr().String() + "/hook/" + strconv.Itoa(k)
}

// SetSecret registers customer k's signing secret.
func (r *Receiver) SetSecret(k int, secret string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for len(r.secrets) <= k {
		r.secrets = append(r.secrets, "")
	}
	r.secrets[k] = secret
}

// Close stops the server.
func (r *Receiver) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = r.srv.Shutdown(ctx)
}

type hookBody struct {
	Data struct {
		WorkflowID string  `json:"workflow-id"`
		Outcome    *string `json:"outcome"`
		Status     string  `json:"status"`
	} `json:"data"`
}

func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	now := time.Now()
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil || req.Method != http.MethodPost {
		r.malformed.Add(1)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if r.FailRate > 0 && rand.Float64() < r.FailRate {
		r.failed.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	if r.Verify {
		k, err := strconv.Atoi(strings.TrimPrefix(req.URL.Path, "/hook/"))
		r.mu.Lock()
		secret := ""
		if err == nil && k >= 0 && k < len(r.secrets) {
			secret = r.secrets[k]
		}
		r.mu.Unlock()
		if secret == "" || webhooksig.Verify(secret, req.Header, body, now) != nil {
			r.badSig.Add(1)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
	}
	var b hookBody
	if err := json.Unmarshal(body, &b); err != nil || b.Data.WorkflowID == "" {
		r.malformed.Add(1)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusNoContent)
	r.received.Add(1)
	a := arrival{at: now, status: b.Data.Status}
	if b.Data.Outcome != nil {
		a.outcome = *b.Data.Outcome
	}
	r.mu.Lock()
	if _, seen := r.arrived[b.Data.WorkflowID]; seen {
		r.mu.Unlock()
		r.duplicates.Add(1)
		return
	}
	r.arrived[b.Data.WorkflowID] = a
	if ch, ok := r.waiters[b.Data.WorkflowID]; ok {
		close(ch)
		delete(r.waiters, b.Data.WorkflowID)
	}
	r.mu.Unlock()
	if r.Observe != nil {
		r.Observe(b.Data.WorkflowID, now)
	}
}

// errNoWebhook is a wait that timed out.
var errNoWebhook = errors.New("no webhook in time")

// Wait blocks until workflow id's webhook arrived (or has already), ctx
// ends or timeout passes.
func (r *Receiver) Wait(ctx context.Context, id string, timeout time.Duration) (arrival, error) {
	r.mu.Lock()
	if a, ok := r.arrived[id]; ok {
		r.mu.Unlock()
		return a, nil
	}
	ch := make(chan struct{})
	r.waiters[id] = ch
	r.mu.Unlock()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
	case <-ctx.Done():
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if a, ok := r.arrived[id]; ok {
		return a, nil
	}
	delete(r.waiters, id)
	return arrival{}, errNoWebhook
}

// Arrival reports when id's webhook came, if it did.
func (r *Receiver) Arrival(id string) (arrival, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	a, ok := r.arrived[id]
	return a, ok
}

// ReceiverStats are the receiver's counters.
type ReceiverStats struct {
	Received     int64 `json:"received"`
	Duplicates   int64 `json:"duplicates"`
	BadSignature int64 `json:"bad_signature"`
	Malformed    int64 `json:"malformed"`
	Failed       int64 `json:"failed_on_purpose,omitempty"` // FailRate's 503s
	Verified     bool  `json:"signatures_verified"`
}

// Stats snapshots the counters.
func (r *Receiver) Stats() ReceiverStats {
	return ReceiverStats{Received: r.received.Load(), Duplicates: r.duplicates.Load(), BadSignature: r.badSig.Load(), Malformed: r.malformed.Load(), Failed: r.failed.Load(), Verified: r.Verify}
}
