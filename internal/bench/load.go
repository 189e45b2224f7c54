package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode"

	"github.com/google/uuid"

	"github.com/patientlink/patientlink/internal/harness"
)

// Patient is one of the index simulator's patients (index-sim --list).
type Patient struct {
	ID       string `json:"id"`
	FullName string `json:"full_name"`
	DOB      string `json:"dob"`
}

// Workload makes link requests that really link: request i asks for
// patient i mod P of the simulator's population as customer (i / P) mod K,
// under a fresh customer patient id, so no two requests of a run collide
// (a customer links an internal patient once) while K·P requests last.
type Workload struct {
	BaseURL   string
	Customers []harness.Customer
	Patients  []Patient
	RunID     string

	n atomic.Int64
}

type linkBody struct {
	Patient linkPatient `json:"patient"`
}

// bulkBody is POST /links: each item is a POST /link body.
type bulkBody struct {
	Patients []linkBody `json:"patients"`
}

// bulkAnswer is POST /links's 202: one item per patient, in request order.
type bulkAnswer struct {
	BatchID string `json:"batch-id"`
	Items   []struct {
		WorkflowID string `json:"workflow-id"`
		Error      *struct {
			Title  string `json:"title"`
			Status int    `json:"status"`
		} `json:"error"`
	} `json:"items"`
}

type linkPatient struct {
	ID       string      `json:"id"`
	FullName string      `json:"full_name"`
	DOB      string      `json:"dob"`
	Contact  linkContact `json:"contact"`
}

type linkContact struct {
	Address string `json:"address"`
	Phone   string `json:"phone"`
	Email   string `json:"email"`
}

// Capacity is how many requests link before patients repeat per customer.
func (w *Workload) Capacity() int { return len(w.Customers) * len(w.Patients) }

// Issued is how many requests were made.
func (w *Workload) Issued() int64 { return w.n.Load() }

// Next builds the next POST /link, to the API at baseURL.
func (w *Workload) Next(ctx context.Context, baseURL string) (*http.Request, error) {
	return w.next(ctx, baseURL, 0)
}

// item is the i-th patient's link request body.
func (w *Workload) item(i int) linkBody {
	p := w.Patients[i%len(w.Patients)]
	return linkBody{Patient: linkPatient{
		ID: uuid.NewString(), FullName: p.FullName, DOB: p.DOB,
		Contact: linkContact{
			Address: fmt.Sprintf("%d Harbour Street, Flat %d, Springfield SP%d 4AB", 1+i%180, 1+i%40, 1+i%9),
			Phone:   fmt.Sprintf("+44 20 7946 %04d", i%10000),
			Email:   emailOf(p.FullName),
		},
	}}
}

// customer is the customer of the i-th request.
func (w *Workload) customer(i int) harness.Customer {
	return w.Customers[(i/len(w.Patients))%len(w.Customers)]
}

// reserve takes the next n request numbers, all of one customer: a batch
// that would cross into the next customer's numbers starts there instead
// (the numbers skipped are never used), so each item links its own
// patient for the batch's customer.
func (w *Workload) reserve(n int) int {
	p := len(w.Patients)
	for {
		cur := w.n.Load()
		start := int(cur)
		if n <= p && start/p != (start+n-1)/p {
			start = (start/p + 1) * p
		}
		if w.n.CompareAndSwap(cur, int64(start+n)) {
			return start
		}
	}
}

// next builds the next POST /link, or, batch > 0, the next POST /links of
// batch patients, to the API at baseURL.
func (w *Workload) next(ctx context.Context, baseURL string, batch int) (*http.Request, error) {
	var (
		body []byte
		err  error
		path = "/link"
		i    = w.reserve(max(batch, 1))
	)
	if batch > 0 {
		b := bulkBody{Patients: make([]linkBody, batch)}
		for k := range b.Patients {
			b.Patients[k] = w.item(i + k)
		}
		body, err = json.Marshal(b)
		path = "/links"
	} else {
		body, err = json.Marshal(w.item(i))
	}
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, baseURL+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Customer-Token", w.customer(i).Token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", w.RunID+"-"+strconv.Itoa(i))
	return req, nil
}

func emailOf(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		switch {
		case r == ' ':
			b.WriteByte('.')
		case r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)):
			b.WriteRune(r)
		}
	}
	return b.String() + "@example.org"
}

// linkRecord is one request's story.
type linkRecord struct {
	sent  time.Time // when it was due (open loop) or sent (closed loop)
	acked time.Time // when the 202 arrived; zero on error
	wf    string
	err   string // error kind of the acknowledgement
	e2e   string // error kind of the wait for the webhook (e2e mode)
	hook  time.Time
}

// LoadSpec is one phase's load.
type LoadSpec struct {
	Mode        string // closed: wait for the 202; open: fixed rate; e2e: wait for the webhook
	Concurrency int
	Rate        float64
	Warmup      time.Duration
	Duration    time.Duration
	MaxRequests int           // bound on requests, warm-up included
	Batch       int           // > 0: POST /links of Batch patients instead of POST /link
	E2ETimeout  time.Duration // e2e mode: longest wait for a webhook
	MaxInFlight int           // open loop: requests outstanding before new ones are dropped
}

// loadResult is what a phase's generator saw.
type loadResult struct {
	records     []linkRecord
	start       time.Time
	windowStart time.Time
	windowEnd   time.Time
}

// Generator drives the service.
type Generator struct {
	Workload *Workload
	Receiver *Receiver
	Client   *http.Client
}

// NewClient is an HTTP client with room for conns keep-alive connections.
func NewClient(conns int) *http.Client {
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// Run drives one phase. Every loop ends by the window's end, the request
// bound or ctx, whichever comes first.
func (g *Generator) Run(ctx context.Context, spec LoadSpec) loadResult {
	start := time.Now()
	res := loadResult{start: start, windowStart: start.Add(spec.Warmup), windowEnd: start.Add(spec.Warmup + spec.Duration)}
	ctx, cancel := context.WithDeadline(ctx, res.windowEnd.Add(spec.E2ETimeout+30*time.Second))
	defer cancel()
	var (
		mu     sync.Mutex
		issued atomic.Int64
	)
	keep := func(r ...linkRecord) {
		mu.Lock()
		res.records = append(res.records, r...)
		mu.Unlock()
	}
	more := func() bool {
		return ctx.Err() == nil && time.Now().Before(res.windowEnd) && issued.Add(1) <= int64(spec.MaxRequests)
	}
	switch spec.Mode {
	case "closed", "e2e":
		var wg sync.WaitGroup
		for range spec.Concurrency {
			wg.Go(func() {
				for more() {
					recs := g.post(ctx, time.Now(), spec.Batch)
					if spec.Mode == "e2e" {
						g.awaitWebhooks(ctx, recs, spec.E2ETimeout)
					}
					keep(recs...)
				}
			})
		}
		wg.Wait()
	case "open":
		sem := make(chan struct{}, spec.MaxInFlight)
		var wg sync.WaitGroup
		interval := time.Duration(float64(time.Second) / spec.Rate)
		for i := 0; more(); i++ {
			due := start.Add(time.Duration(i) * interval)
			if d := time.Until(due); d > 0 {
				time.Sleep(d)
			}
			select {
			case sem <- struct{}{}:
				wg.Go(func() {
					defer func() { <-sem }()
					keep(g.post(ctx, due, spec.Batch)...)
				})
			default:
				keep(linkRecord{sent: due, err: "dropped: generator at max in-flight"})
			}
		}
		wg.Wait()
	}
	return res
}

// post sends one POST /link, or POST /links of batch patients, and tells
// each patient's story; latency counts from due, so an open loop that
// falls behind does not hide the wait (no coordinated omission).
func (g *Generator) post(ctx context.Context, due time.Time, batch int) []linkRecord {
	recs := make([]linkRecord, max(batch, 1))
	fail := func(kind string) []linkRecord {
		for k := range recs {
			recs[k] = linkRecord{sent: due, err: kind}
		}
		return recs
	}
	req, err := g.Workload.next(ctx, g.Workload.BaseURL, batch)
	if err != nil {
		return fail("request: " + err.Error())
	}
	res, err := g.Client.Do(req)
	if err != nil {
		return fail(errorKind(err))
	}
	defer res.Body.Close()
	var body []byte
	if batch > 0 {
		body, err = io.ReadAll(io.LimitReader(res.Body, 16<<20))
	} else {
		_, err = io.Copy(io.Discard, res.Body)
	}
	switch {
	case err != nil:
		return fail(errorKind(err))
	case res.StatusCode != http.StatusAccepted:
		return fail("http " + strconv.Itoa(res.StatusCode))
	}
	acked := time.Now()
	if batch == 0 {
		recs[0] = linkRecord{sent: due, acked: acked, wf: strings.TrimPrefix(res.Header.Get("Location"), "/link/status/")}
		if recs[0].wf == "" {
			recs[0].err = "202 without Location"
		}
		return recs
	}
	var ans bulkAnswer
	if err := json.Unmarshal(body, &ans); err != nil || len(ans.Items) != batch {
		return fail("202 body not one item per patient")
	}
	for k, it := range ans.Items {
		switch {
		case it.Error != nil:
			recs[k] = linkRecord{sent: due, err: fmt.Sprintf("item %d %s", it.Error.Status, it.Error.Title)}
		case it.WorkflowID == "":
			recs[k] = linkRecord{sent: due, err: "item without workflow-id"}
		default:
			recs[k] = linkRecord{sent: due, acked: acked, wf: it.WorkflowID}
		}
	}
	return recs
}

// hasBulk reports whether the service has POST /links: an empty list of
// patients is refused (422) where it has, and the route is not found (404
// or 405) where it has not, as in builds before issue 17.
func (g *Generator) hasBulk(ctx context.Context) (bool, error) {
	w := g.Workload
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.BaseURL+"/links", strings.NewReader(`{"patients": []}`))
	if err != nil {
		return false, err
	}
	req.Header.Set("Customer-Token", w.customer(0).Token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", w.RunID+"-probe")
	res, err := g.Client.Do(req)
	if err != nil {
		return false, err
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode != http.StatusNotFound && res.StatusCode != http.StatusMethodNotAllowed, nil
}

// awaitWebhooks waits until the acknowledged recs' webhooks arrived, all
// within one timeout.
func (g *Generator) awaitWebhooks(ctx context.Context, recs []linkRecord, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for k := range recs {
		if recs[k].err != "" {
			continue
		}
		a, err := g.Receiver.Wait(ctx, recs[k].wf, max(time.Until(deadline), time.Millisecond))
		if err != nil {
			recs[k].e2e = "no webhook within " + timeout.String()
			continue
		}
		recs[k].hook = a.at
	}
}

func errorKind(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "client timeout"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection reset"
	case errors.Is(err, syscall.EADDRNOTAVAIL), errors.Is(err, os.ErrDeadlineExceeded):
		return "no local port"
	}
	return "transport error"
}
