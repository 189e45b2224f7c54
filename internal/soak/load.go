package soak

import (
	"context"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/patientlink/patientlink/internal/bench"
)

// generator sends the workload's link requests to the API processes in
// turn and tells the tracker what came back.
type generator struct {
	workload *bench.Workload
	apis     []string
	recv     *bench.Receiver
	client   *http.Client
	tracker  atomic.Pointer[tracker] // the soak's, once it starts; nil during the peak
	next     atomic.Int64
}

func newGenerator(w *bench.Workload, apis []string, recv *bench.Receiver) *generator {
	g := &generator{workload: w, apis: apis, recv: recv, client: bench.NewClient(2048)}
	recv.Observe = func(id string, at time.Time) {
		if t := g.tracker.Load(); t != nil {
			t.completed(id, at)
		}
	}
	return g
}

// post sends one link request; latency counts from due, so a generator
// that falls behind does not hide the wait. It returns the workflow id of
// a 202, or what went wrong.
func (g *generator) post(ctx context.Context, due time.Time) (string, time.Time, string) {
	api := g.apis[int(g.next.Add(1))%len(g.apis)]
	req, err := g.workload.Next(ctx, api)
	if err != nil {
		return "", time.Time{}, "request: " + err.Error()
	}
	res, err := g.client.Do(req)
	if err != nil {
		return "", time.Time{}, "no answer"
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusAccepted {
		return "", time.Time{}, res.Status
	}
	id := strings.TrimPrefix(res.Header.Get("Location"), "/link/status/")
	if id == "" {
		return "", time.Time{}, "202 without Location"
	}
	return id, time.Now(), ""
}

// peak runs clients closed loops for d, each sending a link and waiting
// for its webhook, and returns the links completed per second.
func (d *deployment) peak(ctx context.Context, dur time.Duration, clients int) float64 {
	end := time.Now().Add(dur)
	var done atomic.Int64
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for i := 0; i < 1_000_000 && time.Now().Before(end) && ctx.Err() == nil; i++ {
				id, _, why := d.gen.post(ctx, time.Now())
				if why != "" {
					sleepCtx(ctx, 100*time.Millisecond)
					continue
				}
				if _, err := d.recv.Wait(ctx, id, 30*time.Second); err == nil && time.Now().Before(end) {
					done.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return float64(done.Load()) / dur.Seconds()
}

// event is an acknowledgement or a completion: when, and its latency.
type event struct {
	at  time.Time
	lat time.Duration
}

// tracker pairs each acknowledgement with its webhook and keeps every
// event, for the samples, the windows and the gaps.
type tracker struct {
	mu      sync.Mutex
	ackedAt map[string]time.Time // acknowledged, webhook not yet in
	early   map[string]time.Time // webhooks in before their 202 was read
	acks    []event              // every acknowledgement: latency from when it was due
	dones   []event              // every completion: latency from its 202
	all     []string             // every acknowledged workflow
	errors  map[string]int
	offered int
}

func newTracker() *tracker {
	return &tracker{ackedAt: map[string]time.Time{}, early: map[string]time.Time{}, errors: map[string]int{}}
}

func (t *tracker) sent() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.offered++
}

func (t *tracker) acked(id string, due, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.acks = append(t.acks, event{at, at.Sub(due)})
	t.all = append(t.all, id)
	if hook, ok := t.early[id]; ok {
		delete(t.early, id)
		t.dones = append(t.dones, event{hook, max(0, hook.Sub(at))})
		return
	}
	t.ackedAt[id] = at
}

func (t *tracker) failed(why string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.errors[why]++
}

func (t *tracker) completed(id string, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ack, ok := t.ackedAt[id]
	if !ok {
		t.early[id] = at
		return
	}
	delete(t.ackedAt, id)
	t.dones = append(t.dones, event{at, at.Sub(ack)})
}

// counts is how many events there are so far, for a sample's interval.
func (t *tracker) counts() (offered, acks, dones, errs int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, n := range t.errors {
		errs += n
	}
	return t.offered, len(t.acks), len(t.dones), errs
}

// between copies the acknowledgements [a0, a1) and completions [d0, d1).
func (t *tracker) between(a0, a1, d0, d1 int) (acks, dones []event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.acks[a0:a1]), slices.Clone(t.dones[d0:d1])
}

// last is when the latest acknowledgement and completion came.
func (t *tracker) last() (ack, done time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if n := len(t.acks); n > 0 {
		ack = t.acks[n-1].at
	}
	if n := len(t.dones); n > 0 {
		done = t.dones[n-1].at
	}
	return ack, done
}

func (t *tracker) ids() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.all)
}

// maxInFlight bounds the open loop's outstanding requests; a request due
// while that many are out is dropped and counted.
const maxInFlight = 1024

// openLoop sends rate requests a second from start until end, each on
// its own goroutine (at most maxInFlight), and returns when all answered.
func (g *generator) openLoop(ctx context.Context, t *tracker, rate float64, start, end time.Time) {
	interval := time.Duration(float64(time.Second) / rate)
	limit := int(end.Sub(start)/interval) + 1
	sem := make(chan struct{}, maxInFlight)
	var wg sync.WaitGroup
	for i := 0; i < limit && ctx.Err() == nil; i++ {
		due := start.Add(time.Duration(i) * interval)
		if !due.Before(end) {
			break
		}
		sleepCtx(ctx, time.Until(due))
		t.sent()
		select {
		case sem <- struct{}{}:
			wg.Go(func() {
				defer func() { <-sem }()
				if id, at, why := g.post(ctx, due); why != "" {
					t.failed(why)
				} else {
					t.acked(id, due, at)
				}
			})
		default:
			t.failed("dropped: generator at its in-flight bound")
		}
	}
	wg.Wait()
}
