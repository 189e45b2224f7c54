package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// sleepCtx sleeps for d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

func jitter(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(rand.Int64N(int64(hi-lo)+1))
}

// pending counts workflows not yet in an end state.
func (st *stage) pending(ctx context.Context) int {
	var n int
	if err := st.db.QueryRow(ctx, `SELECT count(*) FROM workflows WHERE status NOT IN ('COMPLETED', 'FAILED')`).Scan(&n); err != nil {
		return -1
	}
	return n
}

// drained waits until every workflow created up to cutoff has ended.
func (st *stage) drained(ctx context.Context, cutoff time.Time, limit time.Duration) (time.Time, bool) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		var n int
		err := st.db.QueryRow(ctx, `SELECT count(*) FROM workflows WHERE created_at <= $1 AND status NOT IN ('COMPLETED', 'FAILED')`, cutoff).Scan(&n)
		if err == nil && n == 0 {
			return time.Now(), true
		}
		sleepCtx(ctx, 100*time.Millisecond)
	}
	return time.Now(), false
}

// sendAsync sends reqs in the background; the returned channel closes when
// every request is acknowledged or given up on.
func (st *stage) sendAsync(ctx context.Context, reqs []*Request, concurrency int) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		st.client.Send(ctx, reqs, concurrency)
	}()
	return done
}

func isDone(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// --- 1. kill -9 of worker processes while links flow -----------------------

func stageWorkerKill(p Profile) stageOpts {
	return stageOpts{APIs: 2, Workers: 2, Patients: p.WorkerKillLinks + 100}
}

func runWorkerKill(ctx context.Context, s *suite, st *stage, p Profile, r *Result) error {
	reqs := requests("s1", st.patients(p.WorkerKillLinks))
	st.watch(ctx, reqs)
	r.Load = fmt.Sprintf("%d links, 16 clients, 2 api + 2 worker processes", len(reqs))
	sent := st.sendAsync(ctx, reqs, 16)

	// Kill a random worker every 1–4 s while work is in flight, and start
	// it again 0.2–1.5 s later; bounded in count and in time.
	kills := 0
	limit := time.Now().Add(10 * time.Minute)
	faultEnd := time.Now()
	for kills < p.WorkerKills && time.Now().Before(limit) && ctx.Err() == nil {
		sleepCtx(ctx, jitter(time.Second, 4*time.Second))
		if isDone(sent) && st.pending(ctx) == 0 {
			break
		}
		w := st.workers[rand.IntN(len(st.workers))]
		w.Kill9()
		kills++
		sleepCtx(ctx, jitter(200*time.Millisecond, 1500*time.Millisecond))
		if err := w.Restart(ctx); err != nil {
			return err
		}
		faultEnd = time.Now()
	}
	<-sent
	r.Faults = fmt.Sprintf("%d × kill -9 of a worker (restarted 0.2–1.5 s later)", kills)
	if kills < p.WorkerKills {
		r.note("the work drained after %d of %d planned kills", kills, p.WorkerKills)
	}
	return st.settle(ctx, p, r, reqs, faultEnd)
}

// --- 2. kill -9 of an api process mid-request ------------------------------

func stageAPIKill(p Profile) stageOpts {
	return stageOpts{APIs: 2, Workers: 1, Patients: p.APIKillLinks + 100, AmbiguousRate: mixAmbiguousRate}
}

// mixAmbiguousRate plants twins in the index of the scenarios that mix
// de-links and reviews into their load: about one patient in ten.
const mixAmbiguousRate = 0.1

func runAPIKill(ctx context.Context, s *suite, st *stage, p Profile, r *Result) error {
	reqs := requests("s2", st.patients(p.APIKillLinks))
	st.watch(ctx, reqs)
	r.Load = fmt.Sprintf("%d links, 32 clients over 2 api processes + 1 worker; de-links and review resolutions mixed in", len(reqs))
	sent := st.sendAsync(ctx, reqs, 32)
	mix := st.mix(ctx, "s2", reqs, mixOpts{Delinks: len(reqs) / 10, Every: 100 * time.Millisecond, Resolutions: len(reqs) / 5})

	victim := st.apis[0]
	kills := 0
	faultEnd := time.Now()
	for kills < p.APIKills && !isDone(sent) && ctx.Err() == nil {
		sleepCtx(ctx, jitter(150*time.Millisecond, 600*time.Millisecond))
		victim.Kill9()
		kills++
		sleepCtx(ctx, jitter(200*time.Millisecond, 500*time.Millisecond))
		if err := victim.Restart(ctx); err != nil {
			return err
		}
		faultEnd = time.Now()
	}
	<-sent
	delinks := mix.stop(ctx)
	r.Faults = fmt.Sprintf("%d × kill -9 of api-1 under load (restarted 0.2–0.5 s later)", kills)
	r.note("de-links and reviews: %s", mix.summary())

	cut, mid, replayed := 0, 0, 0
	for _, q := range reqs {
		if q.CutOff > 0 {
			cut++
		}
		if q.MidRequest > 0 {
			mid++
			if q.Replayed {
				replayed++
			}
		}
	}
	r.note("%d request(s) got no answer from api-1 and were retried with the same key on api-2; %d were cut off mid-request (reset or EOF, not refused), and for %d of those api-1 had committed before dying: the retry was answered with the stored 202 (Idempotent-Replayed)", cut, mid, replayed)
	if mid == 0 {
		r.fail("no request was cut off mid-request: the kills did not land on one")
	}
	if err := st.settle(ctx, p, r, append(slices.Clone(reqs), delinks...), faultEnd); err != nil {
		return err
	}
	if r.Tally.Unacked > 0 {
		r.fail("%d workflow(s) exist that no client was told about", r.Tally.Unacked)
	}
	// Every client that got a 202 finds its workflow through the API.
	missing := 0
	for _, q := range reqs {
		if q.WorkflowID == "" {
			continue
		}
		code, _, err := st.client.Status(ctx, st.client.APIs[1], q.WorkflowID)
		if err != nil || code != http.StatusOK {
			missing++
		}
	}
	if missing > 0 {
		r.fail("%d acknowledged workflow(s) not found through GET /link/status", missing)
	}
	return nil
}

// --- 3. PostgreSQL stopped under load --------------------------------------

func stageDBDown(p Profile) stageOpts {
	return stageOpts{APIs: 2, Workers: 2, Patients: p.DBDownLinks + 100}
}

// fastBound is how fast the API must refuse while the database is down.
const fastBound = 2 * time.Second

func runDBDown(ctx context.Context, s *suite, st *stage, p Profile, r *Result) error {
	reqs := requests("s3", st.patients(p.DBDownLinks))
	st.watch(ctx, reqs)
	st.client.RetryFor = p.DBDown + 2*time.Minute
	// A steady pace: the load spans before, during and after the outage.
	pace := (p.DBDown + 25*time.Second) / time.Duration(len(reqs))
	r.Load = fmt.Sprintf("%d links at %.0f/s, 2 api + 2 worker processes", len(reqs), float64(time.Second)/float64(pace))
	sent := st.sendPaced(ctx, reqs, pace)

	readyz := st.probe(ctx, st.client.APIs[0]+"/readyz")
	hasReadyz := readyz.status == http.StatusOK
	sleepCtx(ctx, 5*time.Second)

	if err := s.pg.KillImmediate(ctx); err != nil {
		return err
	}
	downAt := time.Now()
	r.Faults = fmt.Sprintf("PostgreSQL stopped (immediate: SIGQUIT to the postmaster) for %s under load", p.DBDown)

	// While it is down, every API answer must be a fast 503 problem+json.
	var probes, slow, wrong int
	var slowest time.Duration
	for time.Since(downAt) < p.DBDown && ctx.Err() == nil {
		for _, path := range []string{"/link/status/" + firstAcked(reqs), "/readyz"} {
			if path == "/readyz" && !hasReadyz {
				continue
			}
			for _, api := range st.client.APIs {
				pr := st.probe(ctx, api+path)
				probes++
				slowest = max(slowest, pr.latency)
				if pr.latency > fastBound {
					slow++
				}
				if pr.status != http.StatusServiceUnavailable || !strings.HasPrefix(pr.contentType, "application/problem+json") {
					wrong++
					if wrong <= 3 {
						r.fail("while the database was down %s answered %d %q in %s (want a fast 503 problem+json)", path, pr.status, pr.contentType, pr.latency.Round(time.Millisecond))
					}
				}
			}
		}
		sleepCtx(ctx, 250*time.Millisecond)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	cs := st.client.Stats()
	r.note("while down: %d probes, slowest answer %s; load clients got %d 503s, slowest %s",
		probes, slowest.Round(time.Millisecond), cs.Unavailable, cs.Slowest503.Round(time.Millisecond))
	if slow > 0 || cs.Slowest503 > fastBound {
		r.fail("%d probe(s) and the slowest load 503 (%s) exceeded the %s bound: the API hung", slow, cs.Slowest503.Round(time.Millisecond), fastBound)
	}
	if !hasReadyz {
		r.note("no /readyz endpoint yet (GET /readyz answered %d before the outage)", readyz.status)
	}

	restartAt := time.Now()
	if err := s.pg.Start(ctx); err != nil {
		return fmt.Errorf("error restarting PostgreSQL: %w", err)
	}
	pgUp := time.Now()
	// The API recovers by itself: the first 200 from an API process.
	apiBack := time.Duration(-1)
	for time.Since(pgUp) < time.Minute && ctx.Err() == nil {
		ok := true
		for _, api := range st.client.APIs {
			if st.probe(ctx, api+"/link/status/"+firstAcked(reqs)).status != http.StatusOK {
				ok = false
			}
		}
		if ok {
			apiBack = time.Since(pgUp)
			break
		}
		sleepCtx(ctx, 100*time.Millisecond)
	}
	r.note("PostgreSQL restart (crash recovery) took %s; both api processes answered 200 again %s after it accepted connections",
		pgUp.Sub(restartAt).Round(time.Millisecond), apiBack.Round(time.Millisecond))
	if apiBack < 0 {
		r.fail("the API did not recover within a minute of PostgreSQL's restart")
	}
	// Workers resume: the backlog acknowledged before the restart drains
	// while the load goes on.
	drainedAt, drained := st.drained(ctx, pgUp, p.Settle)
	<-sent
	if err := st.settle(ctx, p, r, reqs, pgUp); err != nil {
		return err
	}
	if drained {
		r.Recovery = drainedAt.Sub(pgUp)
		r.note("recovery time: from PostgreSQL accepting connections until every workflow acknowledged before it had ended")
	}
	for _, w := range st.workers {
		if !w.Alive() {
			r.fail("%s exited during the outage:\n%s", w.Name, w.LogTail(5))
		}
	}
	return nil
}

func firstAcked(reqs []*Request) string {
	for _, q := range reqs {
		q.mu.Lock()
		id := q.WorkflowID
		q.mu.Unlock()
		if id != "" {
			return id
		}
	}
	return "00000000-0000-0000-0000-000000000000"
}

type probeResult struct {
	status      int
	contentType string
	latency     time.Duration
}

// probe is one authenticated GET; status 0 when there was no answer.
func (st *stage) probe(ctx context.Context, url string) probeResult {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return probeResult{}
	}
	req.Header.Set("Authorization", "Bearer "+st.token)
	start := time.Now()
	res, err := st.client.HTTP.Do(req)
	if err != nil {
		return probeResult{latency: time.Since(start)}
	}
	defer res.Body.Close()
	return probeResult{status: res.StatusCode, contentType: res.Header.Get("Content-Type"), latency: time.Since(start)}
}

// --- 4. the index failing, then down, then back -----------------------------

func stageIndex(p Profile) stageOpts {
	return stageOpts{APIs: 1, Workers: 2, Patients: p.IndexLinks*3/2 + 100}
}

func runIndex(ctx context.Context, s *suite, st *stage, p Profile, r *Result) error {
	all := requests("s4", st.patients(p.IndexLinks+p.IndexLinks/2))
	st.watch(ctx, all)
	flaky, during := all[:p.IndexLinks], all[p.IndexLinks:]
	r.Load = fmt.Sprintf("%d links while the index fails, %d more while it is down; 1 api + 2 workers", len(flaky), len(during))
	r.Faults = fmt.Sprintf("index 30%% errors + 10%% timeouts, then down %s, then back", p.IndexDown)
	if err := st.setFaults(ctx, `{"error_rate": 0.3, "timeout_rate": 0.1}`); err != nil {
		return err
	}
	<-st.sendAsync(ctx, flaky, 16)
	// Let the flaky phase work for a while before the outage.
	for i := 0; i < 120 && st.pending(ctx) > len(flaky)/10 && ctx.Err() == nil; i++ {
		sleepCtx(ctx, 500*time.Millisecond)
	}
	if err := st.setFaults(ctx, `{"error_rate": 0, "timeout_rate": 0, "down": true}`); err != nil {
		return err
	}
	downAt := time.Now()
	<-st.sendAsync(ctx, during, 16)
	sleepCtx(ctx, p.IndexDown-time.Since(downAt))
	if err := st.setFaults(ctx, `{"down": false}`); err != nil {
		return err
	}
	backAt := time.Now()
	stats := st.sim.Stats()
	r.note("index: %d searches, %d errors and %d timeouts injected", stats.Searches, stats.ErrorsInjected, stats.TimeoutsInjected)
	if err := st.settle(ctx, p, r, all, backAt); err != nil {
		return err
	}
	breakerOpened := 0
	for _, w := range st.workers {
		breakerOpened += w.LogGrep("circuit", "open")
	}
	if breakerOpened > 0 {
		r.note("circuit breaker log lines mentioning open: %d", breakerOpened)
	}
	return nil
}

// --- 5. the webhook receiver down, then back ---------------------------------

// webhookSchedule spans an outage of down with room to spare: the quick
// retries, then one every 30 s.
func webhookSchedule(down time.Duration) string {
	steps := []string{"0s", "200ms", "500ms", "1s", "2s", "5s", "10s", "20s"}
	for range int(down/(30*time.Second)) + 3 {
		steps = append(steps, "30s")
	}
	return strings.Join(steps, ",")
}

func stageWebhook(p Profile) stageOpts {
	return stageOpts{APIs: 1, Workers: 1, Patients: p.WebhookLinks + 100,
		Env: map[string]string{"PATIENTLINK_WEBHOOK_RETRY_SCHEDULE": webhookSchedule(p.WebhookDown)}}
}

func runWebhook(ctx context.Context, s *suite, st *stage, p Profile, r *Result) error {
	reqs := requests("s5", st.patients(p.WebhookLinks))
	st.watch(ctx, reqs)
	r.Load = fmt.Sprintf("%d links, 1 api + 1 worker; retry schedule %s", len(reqs), webhookSchedule(p.WebhookDown))
	r.Faults = fmt.Sprintf("webhook receiver answering 503 (Retry-After: 1) for %s", p.WebhookDown)
	st.sink.SetDown(true)
	downAt := time.Now()
	<-st.sendAsync(ctx, reqs, 16)
	sleepCtx(ctx, p.WebhookDown-time.Since(downAt))
	st.sink.SetDown(false)
	backAt := time.Now()
	r.note("the receiver refused %d delivery attempts while down", st.sink.Stats().Failed)
	if err := st.settle(ctx, p, r, reqs, backAt); err != nil {
		return err
	}
	if r.Tally.Webhooks.Received < r.Tally.Completed {
		r.fail("%d notifications received for %d COMPLETED workflows", r.Tally.Webhooks.Received, r.Tally.Completed)
	}
	return nil
}

// --- 6. duplicate storms across two api processes ----------------------------

func stageStorm(p Profile) stageOpts {
	return stageOpts{APIs: 2, Workers: 1, Patients: p.StormKeys + 100}
}

func runStorm(ctx context.Context, s *suite, st *stage, p Profile, r *Result) error {
	reqs := requests("s6", st.patients(p.StormKeys))
	st.watch(ctx, reqs)
	r.Load = fmt.Sprintf("%d keys × %d identical requests at once, over 2 api processes + 1 worker", len(reqs), p.StormCopies)
	r.Faults = "duplicate storms: one key sent in parallel from many clients"
	var mu sync.Mutex
	bad := 0
	sem := make(chan struct{}, 4) // four storms at a time
	var all sync.WaitGroup
	for _, q := range reqs {
		sem <- struct{}{}
		all.Go(func() {
			defer func() { <-sem }()
			start := make(chan struct{})
			var wg sync.WaitGroup
			for c := range p.StormCopies {
				wg.Go(func() {
					<-start
					a := st.client.Post(ctx, st.client.APIs[c%len(st.client.APIs)], q)
					if a.Status == http.StatusAccepted && a.WorkflowID != "" {
						q.named(a.WorkflowID, time.Now())
						return
					}
					mu.Lock()
					bad++
					if bad <= 3 {
						r.fail("key %s: an answer was %d %s %v (want 202 naming the workflow)", q.Key, a.Status, a.Problem, a.Err)
					}
					mu.Unlock()
				})
			}
			close(start)
			wg.Wait()
		})
	}
	all.Wait()
	named := 0
	for _, q := range reqs {
		if q.Answers == p.StormCopies && len(q.Others) == 0 {
			named++
		}
	}
	r.note("%d of %d keys got %d answers all naming one workflow", named, len(reqs), p.StormCopies)
	if bad > 3 {
		r.fail("%d answers in all were not a 202 naming the workflow", bad)
	}
	var workflows int
	if err := st.db.QueryRow(ctx, `SELECT count(*) FROM workflows`).Scan(&workflows); err != nil {
		return err
	}
	if workflows != len(reqs) {
		r.fail("%d workflows for %d keys", workflows, len(reqs))
	}
	return st.settle(ctx, p, r, reqs, time.Now())
}
