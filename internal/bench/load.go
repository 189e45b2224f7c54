package bench

import (
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

// Next builds the next request, to the API at baseURL.
func (w *Workload) Next(ctx context.Context, baseURL string) (*http.Request, error) {
	i := int(w.n.Add(1) - 1)
	p := w.Patients[i%len(w.Patients)]
	c := w.Customers[(i/len(w.Patients))%len(w.Customers)]
	body, err := json.Marshal(linkBody{Patient: linkPatient{
		ID: uuid.NewString(), FullName: p.FullName, DOB: p.DOB,
		Contact: linkContact{
			Address: fmt.Sprintf("%d Harbour Street, Flat %d, Springfield SP%d 4AB", 1+i%180, 1+i%40, 1+i%9),
			Phone:   fmt.Sprintf("+44 20 7946 %04d", i%10000),
			Email:   emailOf(p.FullName),
		},
	}})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, baseURL+"/link", strings.NewReader(string(body)))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Customer-Token", c.Token)
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
	keep := func(r linkRecord) {
		mu.Lock()
		res.records = append(res.records, r)
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
					r := g.post(ctx, time.Now())
					if spec.Mode == "e2e" && r.err == "" {
						a, err := g.Receiver.Wait(ctx, r.wf, spec.E2ETimeout)
						if err != nil {
							r.e2e = "no webhook within " + spec.E2ETimeout.String()
						} else {
							r.hook = a.at
						}
					}
					keep(r)
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
					keep(g.post(ctx, due))
				})
			default:
				keep(linkRecord{sent: due, err: "dropped: generator at max in-flight"})
			}
		}
		wg.Wait()
	}
	return res
}

// post sends one link request; latency counts from due, so an open loop
// that falls behind does not hide the wait (no coordinated omission).
func (g *Generator) post(ctx context.Context, due time.Time) linkRecord {
	r := linkRecord{sent: due}
	req, err := g.Workload.Next(ctx, g.Workload.BaseURL)
	if err != nil {
		r.err = "request: " + err.Error()
		return r
	}
	res, err := g.Client.Do(req)
	if err != nil {
		r.err = errorKind(err)
		return r
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusAccepted {
		r.err = "http " + strconv.Itoa(res.StatusCode)
		return r
	}
	r.acked = time.Now()
	r.wf = strings.TrimPrefix(res.Header.Get("Location"), "/link/status/")
	if r.wf == "" {
		r.err = "202 without Location"
	}
	return r
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
