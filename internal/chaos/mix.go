package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// --- de-links and review resolutions mixed into a load ------------------------

// mixOpts bound what a mixer does.
type mixOpts struct {
	Delinks     int           // de-link requests at most
	Every       time.Duration // mean pause between two de-links
	Resolutions int           // reviews resolved at most
}

// mixFor bounds a mixer in time, from its start.
const mixFor = 4 * time.Minute

// mixer does, while a scenario's load runs, what a customer and an
// operator do besides linking: it de-links linked patients (DELETE /link
// with a key of its own, sent like a link; one in three sent once more, a
// replay) and resolves open reviews on the API processes' operator
// addresses — mostly the right candidate, sometimes another one or
// no-match, one in five twice at once from two addresses. Everything
// lands in the stage's history.
type mixer struct {
	st     *stage
	prefix string
	over   chan struct{} // closed by stop: the load is over
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	delinks   []*Request
	picked    map[*Request]bool
	byPatient map[string]*Request // patient id → its link request
	reviewed  map[string]*Request // review id → its patient's link request
	manual    []*Request          // twins a resolution linked: to de-link too
	counts    map[string]int
}

// mix starts a mixer on the load reqs; stop ends it.
func (st *stage) mix(ctx context.Context, prefix string, reqs []*Request, o mixOpts) *mixer {
	ctx, cancel := context.WithTimeout(ctx, mixFor)
	m := &mixer{st: st, prefix: prefix, over: make(chan struct{}), cancel: cancel, picked: map[*Request]bool{},
		byPatient: map[string]*Request{}, reviewed: map[string]*Request{}, counts: map[string]int{}}
	for _, q := range reqs {
		m.byPatient[q.Patient.ID.String()] = q
	}
	m.wg.Go(func() { m.delinkLoop(ctx, reqs, o) })
	m.wg.Go(func() { m.reviewLoop(ctx, o.Resolutions) })
	return m
}

// stop tells the mixer the load is over and waits for it: de-links in
// flight finish, open reviews are resolved while any remain (within the
// bounds). Then it reads every review it touched back, to learn what each
// decided — a resolution cut off may have won — and returns the de-link
// requests, for the accounting.
func (m *mixer) stop(ctx context.Context) []*Request {
	close(m.over)
	m.wg.Wait()
	m.cancel()
	for _, id := range slices.Sorted(maps.Keys(m.reviewed)) {
		q := m.reviewed[id]
		for try := range 3 {
			api := m.st.operator.APIs[try%len(m.st.operator.APIs)]
			a := m.st.operator.get(ctx, api, "/admin/reviews/"+id, Op{Kind: OpReview, Key: id})
			if a.Status != http.StatusOK {
				continue
			}
			q.mu.Lock()
			q.Resolved = ""
			if a.Op.State == "resolved" && a.Op.Outcome == "link" {
				q.Resolved = a.Op.Internal
			}
			q.mu.Unlock()
			break
		}
	}
	return m.delinks
}

// summary is what the mixer did, for the scenario's notes.
func (m *mixer) summary() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	parts := make([]string, 0, len(m.counts))
	for _, k := range slices.Sorted(maps.Keys(m.counts)) {
		parts = append(parts, fmt.Sprintf("%s ×%d", k, m.counts[k]))
	}
	return strings.Join(parts, ", ")
}

func (m *mixer) count(what string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.counts[what]++
}

// delinkLoop de-links up to o.Delinks patients, one every o.Every or so,
// at most eight at a time; once the load is over, until no patient is
// found to de-link.
func (m *mixer) delinkLoop(ctx context.Context, reqs []*Request, o mixOpts) {
	var inflight sync.WaitGroup
	defer inflight.Wait()
	sem := make(chan struct{}, 8)
	misses := 0
	for n := 0; n < o.Delinks && ctx.Err() == nil && (misses < 20 || !isDone(m.over)); {
		sleepCtx(ctx, jitter(o.Every/2, o.Every*3/2))
		q := m.pick(reqs)
		if q == nil {
			misses++
			continue
		}
		misses = 0
		dr := &Request{Key: fmt.Sprintf("%s-dl-%05d-%08x", m.prefix, n, rand.Uint32()), Patient: q.Patient, Delink: true}
		m.mu.Lock()
		m.delinks = append(m.delinks, dr)
		m.mu.Unlock()
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		start := n
		inflight.Go(func() {
			defer func() { <-sem }()
			m.delink(ctx, dr, start)
		})
		n++
	}
}

// pick is a patient to de-link: a twin a resolution linked, else a known
// patient whose link was acknowledged a moment ago; nil when none is
// found in a few draws.
func (m *mixer) pick(reqs []*Request) *Request {
	m.mu.Lock()
	defer m.mu.Unlock()
	if n := len(m.manual); n > 0 {
		q := m.manual[n-1]
		m.manual = m.manual[:n-1]
		return q
	}
	for range 30 {
		q := reqs[rand.IntN(len(reqs))]
		if m.picked[q] || q.Patient.InternalID == "" || q.Patient.Twin {
			continue
		}
		q.mu.Lock()
		ready := !q.AckedAt.IsZero() && time.Since(q.AckedAt) > 300*time.Millisecond
		q.mu.Unlock()
		if ready {
			m.picked[q] = true
			return q
		}
	}
	return nil
}

// delink sends dr until acknowledged; not-linked (the link not done yet)
// and conflict (a workflow in flight) are tried again a little later.
func (m *mixer) delink(ctx context.Context, dr *Request, i int) {
	for try := 0; try < 10 && ctx.Err() == nil; try++ {
		m.st.client.Link(ctx, dr, i+try)
		dr.mu.Lock()
		acked, status := dr.WorkflowID != "", dr.Status
		dr.mu.Unlock()
		if acked {
			m.st.track(dr)
			m.count("de-link acknowledged")
			if rand.IntN(3) == 0 {
				a := m.st.client.Post(ctx, m.st.client.APIs[(i+try+1)%len(m.st.client.APIs)], dr)
				if a.Replayed {
					m.count("de-link replayed")
				}
			}
			return
		}
		if status != http.StatusNotFound && status != http.StatusConflict {
			m.count(fmt.Sprintf("de-link gave up (%d)", status))
			return
		}
		sleepCtx(ctx, 500*time.Millisecond)
	}
	m.count("de-link not linked")
}

// reviewView is what the reviewer reads of a review.
type reviewView struct {
	ID         string      `json:"id"`
	WorkflowID string      `json:"workflow-id"`
	PatientID  string      `json:"patient-id"`
	Candidates []candidate `json:"candidates"`
}

type candidate struct {
	ID string `json:"internal-patient-id"`
}

// reviewLoop resolves up to n open reviews, one every 100–300 ms; once the
// load is over it stops when no review is open and no work is pending.
func (m *mixer) reviewLoop(ctx context.Context, n int) {
	for done := 0; done < n && ctx.Err() == nil; {
		sleepCtx(ctx, jitter(100*time.Millisecond, 300*time.Millisecond))
		open := m.openReviews(ctx)
		if len(open) == 0 {
			if isDone(m.over) && m.st.pending(ctx) == 0 {
				return
			}
			continue
		}
		m.resolve(ctx, open[rand.IntN(len(open))])
		done++
	}
}

// openReviews lists the open reviews (the first page) from a random
// operator address; not recorded, as it checks nothing.
func (m *mixer) openReviews(ctx context.Context) []reviewView {
	api := m.st.operator.APIs[rand.IntN(len(m.st.operator.APIs))]
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, api+"/admin/reviews?status=open&limit=100", nil)
	if err != nil {
		return nil
	}
	req.Header.Set("Authorization", "Bearer "+m.st.operator.Token)
	res, err := m.st.operator.HTTP.Do(req)
	if err != nil {
		return nil
	}
	defer res.Body.Close()
	var page struct {
		Reviews []reviewView `json:"reviews"`
	}
	if res.StatusCode != http.StatusOK || json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(&page) != nil {
		return nil
	}
	return page.Reviews
}

// resolve decides review v once, or one in five times twice at once from
// two operator addresses (one must win, the other be told review-closed).
// A decision with no answer is sent again (at most three times in all).
func (m *mixer) resolve(ctx context.Context, v reviewView) {
	q := m.byPatient[v.PatientID]
	m.mu.Lock()
	m.reviewed[v.ID] = q
	m.mu.Unlock()
	apis := m.st.operator.APIs
	first := rand.IntN(len(apis))
	if rand.IntN(5) == 0 {
		var wg sync.WaitGroup
		for k := range 2 {
			wg.Go(func() { m.decide(ctx, apis[(first+k)%len(apis)], v, q) })
		}
		wg.Wait()
		m.count("resolution twice at once")
		return
	}
	for try := range 3 {
		if a := m.decide(ctx, apis[(first+try)%len(apis)], v, q); a.Err == nil && a.Status < 500 {
			return
		}
	}
}

// decide sends one resolution: the patient's own candidate six times in
// ten, another candidate two in ten, else no-match.
func (m *mixer) decide(ctx context.Context, api string, v reviewView, q *Request) Answer {
	decision, internal := "no-match", ""
	switch n := rand.IntN(10); {
	case n < 6 && q != nil && slices.Contains(v.Candidates, candidate{q.Patient.InternalID}):
		decision, internal = "link", q.Patient.InternalID
	case n < 8 && len(v.Candidates) > 0:
		decision, internal = "link", v.Candidates[rand.IntN(len(v.Candidates))].ID
	}
	body, _ := json.Marshal(map[string]string{"decision": decision, "internal-patient-id": internal, "reason": "chaos"})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, api+"/admin/reviews/"+v.ID+"/resolve", bytes.NewReader(body))
	if err != nil {
		return Answer{Err: err}
	}
	req.Header.Set("Authorization", "Bearer "+m.st.operator.Token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Actor", "chaos")
	a := m.st.operator.do(req, Op{Kind: OpResolve, Proc: api, Key: v.ID, WorkflowID: v.WorkflowID, Patient: v.PatientID, State: decision, Internal: internal})
	switch {
	case a.Err != nil:
		m.count("resolution cut off")
	case a.Status == http.StatusOK:
		m.count("resolved " + decision)
		if decision == "link" && q != nil && rand.IntN(2) == 0 {
			m.mu.Lock()
			m.manual = append(m.manual, q)
			m.mu.Unlock()
		}
	default:
		m.count(fmt.Sprintf("resolution refused (%d %s)", a.Status, problemName(a.Problem)))
	}
	return a
}

// problemName is the last part of a problem type URL.
func problemName(typ string) string { return typ[strings.LastIndexByte(typ, '/')+1:] }
