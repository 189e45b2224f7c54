package chaos

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"

	"github.com/patientlink/patientlink/internal/harness"
)

// --- 7. an operator at work under load ----------------------------------------

// operatorStop is the reason the scenario's `workflow stop` gives; the
// workflows it stops end FAILED with it, which the accounting allows.
const operatorStop = "operator_stop: chaos"

func stageOperator(p Profile) stageOpts {
	return stageOpts{APIs: 2, Workers: 2, Patients: p.OperatorLinks + 100, AmbiguousRate: mixAmbiguousRate}
}

// runOperator does, under load, what an operator in River UI and at the
// command line can: retry, cancel and delete random jobs of every kind
// in every state (River's JobRetry, JobCancel, JobDelete), and run
// `workflow stop`, `workflow retry` and `webhooks redeliver` on random
// workflows; meanwhile customers de-link and operators resolve reviews
// (the mixer). Every checker must still pass, and every workflow end.
func runOperator(ctx context.Context, s *suite, st *stage, p Profile, r *Result) error {
	reqs := requests("s7", st.patients(p.OperatorLinks))
	st.watch(ctx, reqs)
	// A steady pace keeps work in every state for the operator to hit.
	pace := operatorLoadFor / time.Duration(len(reqs))
	r.Load = fmt.Sprintf("%d links at %.0f/s, 2 api + 2 worker processes; de-links and review resolutions mixed in", len(reqs), float64(time.Second)/float64(pace))
	rc, err := river.NewClient(riverpgxv5.New(st.db), &river.Config{})
	if err != nil {
		return fmt.Errorf("error making a River client: %w", err)
	}
	sent := st.sendPaced(ctx, reqs, pace)
	mix := st.mix(ctx, "s7", reqs, mixOpts{Delinks: len(reqs) / 10, Every: operatorLoadFor / time.Duration(len(reqs)/10+1), Resolutions: len(reqs) / 5})

	done := map[string]int{} // "action kind/state" or "command: result" → count
	actions := 0
	limit := time.Now().Add(5 * time.Minute)
	for actions < p.OperatorActions && time.Now().Before(limit) && ctx.Err() == nil {
		if isDone(sent) && st.pending(ctx) == 0 && actions >= p.OperatorActions/2 {
			break
		}
		sleepCtx(ctx, jitter(50*time.Millisecond, 250*time.Millisecond))
		var what string
		switch n := rand.IntN(10); {
		case n < 6:
			what = st.operateJob(ctx, rc)
		case n < 7:
			what = st.operateWorkflow(ctx, s.bin, "stop", "RECEIVED", "IN_PROGRESS", "REQUESTED")
		case n < 9:
			what = st.operateWorkflow(ctx, s.bin, "retry", "FAILED")
		default:
			what = st.operateWorkflow(ctx, s.bin, "redeliver", "LINKED", "NO_RESULTS", "COMPLETED", "FAILED")
		}
		if what != "" {
			done[what]++
			actions++
		}
	}
	<-sent
	delinks := mix.stop(ctx)
	faultEnd := time.Now()
	r.Faults = fmt.Sprintf("%d operator actions: River JobRetry/JobCancel/JobDelete on random jobs, workflow stop/retry, webhooks redeliver", actions)
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(done)) {
		parts = append(parts, fmt.Sprintf("%s ×%d", k, done[k]))
	}
	r.note("actions: %s", strings.Join(parts, ", "))
	r.note("de-links and reviews: %s", mix.summary())
	return st.settle(ctx, p, r, append(slices.Clone(reqs), delinks...), faultEnd, operatorStop, "reconcile_limit")
}

// operatorLoadFor is how long scenario 7's load lasts.
const operatorLoadFor = time.Minute

// sendPaced starts one request every pace, each sent until acknowledged
// (at most 64 at a time); the channel closes when all are done.
func (st *stage) sendPaced(ctx context.Context, reqs []*Request, pace time.Duration) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		sem := make(chan struct{}, 64)
		tick := time.NewTicker(pace)
		defer tick.Stop()
		for i, q := range reqs {
			select {
			case <-ctx.Done():
			case <-tick.C:
			}
			if ctx.Err() != nil {
				break
			}
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				st.client.Link(ctx, q, i)
			})
		}
		wg.Wait()
	}()
	return done
}

// liveJobStates are the states where an operator's action changes what
// happens next; half the picks go to them.
var liveJobStates = []rivertype.JobState{
	rivertype.JobStateAvailable, rivertype.JobStateRunning, rivertype.JobStateRetryable, rivertype.JobStateScheduled,
}

// operateJob retries, cancels or deletes one random job of a random state.
func (st *stage) operateJob(ctx context.Context, rc *river.Client[pgx.Tx]) string {
	states := rivertype.JobStates()
	if rand.IntN(2) == 0 {
		states = liveJobStates
	}
	state := states[rand.IntN(len(states))]
	res, err := rc.JobList(ctx, river.NewJobListParams().States(state).First(50))
	if err != nil || len(res.Jobs) == 0 {
		return ""
	}
	job := res.Jobs[rand.IntN(len(res.Jobs))]
	action := []string{"JobRetry", "JobCancel", "JobDelete"}[rand.IntN(3)]
	switch action {
	case "JobRetry":
		_, err = rc.JobRetry(ctx, job.ID)
	case "JobCancel":
		_, err = rc.JobCancel(ctx, job.ID)
	case "JobDelete":
		_, err = rc.JobDelete(ctx, job.ID)
	}
	result := "ok"
	if err != nil {
		result = "refused"
	}
	return fmt.Sprintf("%s %s/%s %s", action, job.Kind, state, result)
}

// operateWorkflow runs `patientlink workflow stop|retry` or `patientlink
// webhooks redeliver` on a random workflow in one of states, and records
// it in the history.
func (st *stage) operateWorkflow(ctx context.Context, bin, action string, states ...string) string {
	var id string
	if err := st.db.QueryRow(ctx, `SELECT id::text FROM workflows WHERE status = ANY($1) ORDER BY random() LIMIT 1`, states).Scan(&id); err != nil {
		return ""
	}
	args := []string{"workflow", action, id, "--actor", "chaos"}
	if action == "redeliver" {
		args[0] = "webhooks"
	}
	if action == "stop" {
		args = append(args, "--reason", "chaos")
	}
	op := Op{Kind: OpOperator, Proc: "cli", Key: action, WorkflowID: id, Customer: st.client.Customer, Invoke: time.Now()}
	_, err := harness.RunCommand(ctx, bin, st.env.Environ(), args...)
	op.Complete = time.Now()
	result := "ok"
	if err != nil {
		result = "refused"
		op.Status = 409
	} else {
		op.Status = 200
	}
	st.hist.Add(op)
	return fmt.Sprintf("workflow %s %s", action, result)
}
