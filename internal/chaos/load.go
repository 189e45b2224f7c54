package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/uuid"
)

// Patient is one patient a load generator asks to link. InternalID is the
// index's id for a patient the index knows, "" for one it does not (the
// expected outcome is then NO_RESULTS). Twin is a patient the index holds
// twice (same name and dob): the outcome is AMBIGUOUS, for a review.
type Patient struct {
	ID         uuid.UUID
	Name, DOB  string
	InternalID string
	Twin       bool
}

// Request is one link request, or with Delink one de-link request (DELETE
// /link/{patient}), under one Idempotency-Key, and what its client saw.
type Request struct {
	Key     string
	Patient Patient
	Delink  bool

	mu         sync.Mutex
	WorkflowID string    // named by the first 202
	Others     []string  // other workflow ids named for the same key: a duplicate
	Answers    int       // answers naming a workflow (202 or a replay)
	Attempts   int       // HTTP attempts made
	CutOff     int       // attempts without an answer (connection refused, reset, EOF, timeout)
	MidRequest int       // of those, the ones cut off after the connection was made
	Replayed   bool      // the 202 was a replay (Idempotent-Replayed: true)
	Status     int       // last HTTP status
	Err        string    // why the client gave up, if it did
	AckedAt    time.Time // first 202
	// Resolved is how the review of a Twin's workflow ended, as the
	// review reads afterwards: the internal id linked, "" for none.
	Resolved string
}

// Acked reports whether the client got a 202 naming a workflow.
func (r *Request) Acked() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.WorkflowID != ""
}

func (r *Request) named(id string, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Answers++
	switch {
	case r.WorkflowID == "":
		r.WorkflowID, r.AckedAt = id, at
	case r.WorkflowID != id:
		r.Others = append(r.Others, id)
	}
}

// Client sends link requests the way a careful customer does: a 202 is
// final; a 5xx or no answer is retried with the same Idempotency-Key, on
// the next API process, with a capped backoff, for at most RetryFor.
type Client struct {
	APIs     []string // base URLs of the API processes
	Token    string
	HTTP     *http.Client
	RetryFor time.Duration
	History  *History // every operation is recorded here, when set
	Customer string   // the customer the token is for, as histories name it

	// Latency of 503 answers: the API must refuse fast, never hang.
	unavailable atomic.Int64 // 503 answers
	slowest503  atomic.Int64 // nanoseconds
	attempts    atomic.Int64
	cutOff      atomic.Int64
	statusMu    sync.Mutex
	statuses    map[int]int
}

// NewClient is a Client with a pooled transport and a per-attempt timeout.
func NewClient(apis []string, token string) *Client {
	transport := &http.Transport{MaxIdleConnsPerHost: 64, MaxIdleConns: 256, IdleConnTimeout: 30 * time.Second}
	return &Client{
		APIs: apis, Token: token, RetryFor: 2 * time.Minute,
		HTTP:     &http.Client{Transport: transport, Timeout: 10 * time.Second},
		statuses: map[int]int{},
	}
}

// ClientStats counts what the client saw across all requests.
type ClientStats struct {
	Attempts    int64
	CutOff      int64
	Unavailable int64
	Slowest503  time.Duration
	Statuses    map[int]int
}

// Stats returns the client's counters.
func (c *Client) Stats() ClientStats {
	c.statusMu.Lock()
	st := make(map[int]int, len(c.statuses))
	for k, v := range c.statuses {
		st[k] = v
	}
	c.statusMu.Unlock()
	return ClientStats{
		Attempts: c.attempts.Load(), CutOff: c.cutOff.Load(), Unavailable: c.unavailable.Load(),
		Slowest503: time.Duration(c.slowest503.Load()), Statuses: st,
	}
}

func linkBody(p Patient) []byte {
	b, _ := json.Marshal(map[string]any{"patient": map[string]any{
		"id": p.ID.String(), "full_name": p.Name, "dob": p.DOB,
	}})
	return b
}

// Answer is one HTTP answer to a link request.
type Answer struct {
	Status     int
	WorkflowID string
	Problem    string // problem+json type, when one came back
	Replayed   bool   // Idempotent-Replayed: true
	Latency    time.Duration
	Err        error // no answer at all
	Op         Op    // as recorded
}

// Post sends one attempt of r to api: POST /link, or DELETE
// /link/{patient} for a de-link.
func (c *Client) Post(ctx context.Context, api string, r *Request) Answer {
	method, path, body, kind := http.MethodPost, "/link", bytes.NewReader(linkBody(r.Patient)), OpLink
	if r.Delink {
		method, path, body, kind = http.MethodDelete, "/link/"+r.Patient.ID.String(), bytes.NewReader(nil), OpDelink
	}
	req, err := http.NewRequestWithContext(ctx, method, api+path, body)
	if err != nil {
		return Answer{Err: err}
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	if !r.Delink {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Idempotency-Key", r.Key)
	return c.do(req, Op{Kind: kind, Proc: api, Key: r.Key, Patient: r.Patient.ID.String()})
}

// do sends req and records it in the history as op.
func (c *Client) do(req *http.Request, op Op) Answer {
	c.attempts.Add(1)
	start := time.Now()
	op.Invoke, op.Customer = start, c.Customer
	res, err := c.HTTP.Do(req)
	if err != nil {
		c.cutOff.Add(1)
		c.History.Add(op) // no answer: its outcome is unknown
		return Answer{Err: err, Latency: time.Since(start)}
	}
	defer res.Body.Close()
	data, readErr := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if readErr != nil {
		c.cutOff.Add(1)
		c.History.Add(op)
		return Answer{Err: readErr, Latency: time.Since(start)}
	}
	op.Complete, op.Status = time.Now(), res.StatusCode
	op.Replayed = res.Header.Get("Idempotent-Replayed") == "true"
	fillOp(&op, data)
	c.History.Add(op)
	a := Answer{Status: res.StatusCode, Latency: time.Since(start), Replayed: op.Replayed, Op: op}
	var body struct {
		WorkflowID string `json:"workflow-id"`
		Type       string `json:"type"`
	}
	_ = json.Unmarshal(data, &body)
	a.WorkflowID, a.Problem = body.WorkflowID, body.Type
	c.statusMu.Lock()
	c.statuses[res.StatusCode]++
	c.statusMu.Unlock()
	if res.StatusCode == http.StatusServiceUnavailable {
		c.unavailable.Add(1)
		for {
			old := c.slowest503.Load()
			if int64(a.Latency) <= old || c.slowest503.CompareAndSwap(old, int64(a.Latency)) {
				break
			}
		}
	}
	return a
}

// Link sends r (a link or a de-link) until it is acknowledged, refused for
// good, RetryFor passes or ctx ends. start picks the first API process; each retry moves on to
// the next one.
func (c *Client) Link(ctx context.Context, r *Request, start int) {
	deadline := time.Now().Add(c.RetryFor)
	backoff := 50 * time.Millisecond
	for i := 0; ; i++ {
		if ctx.Err() != nil {
			r.giveUp(0, "context ended: "+ctx.Err().Error())
			return
		}
		api := c.APIs[(start+i)%len(c.APIs)]
		a := c.Post(ctx, api, r)
		r.mu.Lock()
		r.Attempts++
		r.Status = a.Status
		if a.Err != nil {
			r.CutOff++
			if !errors.Is(a.Err, syscall.ECONNREFUSED) {
				r.MidRequest++
			}
		}
		r.mu.Unlock()
		switch {
		case a.Status == http.StatusAccepted && a.WorkflowID != "":
			r.named(a.WorkflowID, time.Now())
			r.mu.Lock()
			r.Replayed = a.Replayed
			r.mu.Unlock()
			return
		case a.Err == nil && a.Status < 500:
			// 4xx: this request will never be acknowledged as it is.
			r.giveUp(a.Status, fmt.Sprintf("HTTP %d %s", a.Status, a.Problem))
			return
		}
		if time.Now().After(deadline) {
			why := fmt.Sprintf("HTTP %d", a.Status)
			if a.Err != nil {
				why = a.Err.Error()
			}
			r.giveUp(a.Status, "gave up retrying: "+why)
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, time.Second)
	}
}

func (r *Request) giveUp(status int, why string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if status != 0 {
		r.Status = status
	}
	r.Err = why
}

// Send runs Link for every request with concurrency clients; request i
// starts on API process i mod len(APIs). It returns when all are done or
// ctx ends.
func (c *Client) Send(ctx context.Context, reqs []*Request, concurrency int) {
	next := make(chan int)
	var wg sync.WaitGroup
	for range concurrency {
		wg.Go(func() {
			for i := range next {
				c.Link(ctx, reqs[i], i)
			}
		})
	}
	for i := range reqs {
		select {
		case next <- i:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(next)
	wg.Wait()
}

// Status is GET /link/status/{id} as the client's customer.
func (c *Client) Status(ctx context.Context, api, id string) (int, string, error) {
	a := c.get(ctx, api, "/link/status/"+id, Op{Kind: OpStatus, WorkflowID: id})
	return a.Status, a.Op.State, a.Err
}

// Patient is GET /patient/{id}.
func (c *Client) Patient(ctx context.Context, api, patientID string) Answer {
	return c.get(ctx, api, "/patient/"+patientID, Op{Kind: OpPatient, Patient: patientID})
}

// Events is one page of GET /events from cursor; it returns the page's
// next-cursor ("" when there was no answer).
func (c *Client) Events(ctx context.Context, api, cursor string) (Answer, string) {
	a := c.get(ctx, api, "/events?limit=500&cursor="+url.QueryEscape(cursor), Op{Kind: OpEvents})
	return a, a.Op.Key
}

func (c *Client) get(ctx context.Context, api, path string, op Op) Answer {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, api+path, nil)
	if err != nil {
		return Answer{Err: err}
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	op.Proc = api
	return c.do(req, op)
}
