package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"time"
)

// watcher reads the service while a scenario's load runs: the status of
// acknowledged workflows and the mappings of patients, from every API
// process, the events feed (one reader following next-cursor), and
// samples of the LINKED mappings. Everything lands in the stage's history.
type watcher struct {
	cancel context.CancelFunc
	done   sync.WaitGroup
	cursor string // the feed's, owned by the reader until done
}

const (
	readPause      = 25 * time.Millisecond // between two reads of the reader
	feedEvery      = 500 * time.Millisecond
	sampleEvery    = 2 * time.Second
	maxSamples     = 90
	sweepReaders   = 8
	feedPageEvents = 500
)

// watch starts the watcher on reqs (and on what is tracked later);
// settle stops it.
func (st *stage) watch(ctx context.Context, reqs []*Request) {
	ctx, cancel := context.WithCancel(ctx)
	w := &watcher{cancel: cancel}
	st.watcher = w
	st.track(reqs...)
	w.done.Go(func() {
		last := time.Time{}
		for i := 0; ctx.Err() == nil; i++ {
			q := st.anyTracked()
			api := st.reader.APIs[i%len(st.reader.APIs)]
			if id := q.workflow(); id != "" {
				_, _, _ = st.reader.Status(ctx, api, id)
			}
			st.reader.Patient(ctx, api, q.Patient.ID.String())
			if time.Since(last) > feedEvery {
				w.cursor = st.readFeed(ctx, api, w.cursor)
				last = time.Now()
			}
			sleepCtx(ctx, readPause)
		}
	})
	w.done.Go(func() {
		for range maxSamples {
			st.sampleMappings(ctx)
			sleepCtx(ctx, sampleEvery)
			if ctx.Err() != nil {
				return
			}
		}
	})
}

// track adds requests to what the watcher reads.
func (st *stage) track(reqs ...*Request) {
	st.trackMu.Lock()
	defer st.trackMu.Unlock()
	st.tracked = append(st.tracked, reqs...)
}

// anyTracked is a random tracked request.
func (st *stage) anyTracked() *Request {
	st.trackMu.Lock()
	defer st.trackMu.Unlock()
	return st.tracked[rand.IntN(len(st.tracked))]
}

func (q *Request) workflow() string {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.WorkflowID
}

// readFeed reads GET /events from cursor until a page is not full, and
// returns the cursor to go on from.
func (st *stage) readFeed(ctx context.Context, api, cursor string) string {
	for ctx.Err() == nil {
		a, next := st.reader.Events(ctx, api, cursor)
		if a.Err != nil || a.Status != 200 || next == "" {
			return cursor
		}
		cursor = next
		if len(a.Op.Events) < feedPageEvents {
			return cursor
		}
	}
	return cursor
}

// sampleMappings reads the LINKED mappings in one statement.
func (st *stage) sampleMappings(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	rows, err := st.db.Query(ctx, `SELECT customer_patient_id::text, internal_patient_id FROM patient_mappings WHERE status = 'LINKED'`)
	if err != nil {
		return // the database may be down (scenario 3)
	}
	defer rows.Close()
	s := MappingSample{At: time.Now()}
	for rows.Next() {
		var m [2]string
		if rows.Scan(&m[0], &m[1]) != nil {
			return
		}
		s.Linked = append(s.Linked, m)
	}
	if rows.Err() == nil {
		st.hist.Sample(s)
	}
}

// check stops the watcher, reads what the run left — every acknowledged
// workflow's status and every patient's mapping from each API process in
// turn, the rest of the feed, the mapping changes with their commit times
// — and runs every checker on the scenario's history.
func (st *stage) check(ctx context.Context, reqs []*Request, r *Result) error {
	cursor := ""
	if w := st.watcher; w != nil {
		w.cancel()
		w.done.Wait()
		cursor = w.cursor
		st.watcher = nil
	}
	st.sampleMappings(ctx)
	st.deliveriesDone(ctx, time.Minute)
	next := make(chan int)
	var wg sync.WaitGroup
	for range sweepReaders {
		wg.Go(func() {
			for i := range next {
				api := st.reader.APIs[i%len(st.reader.APIs)]
				q := reqs[i]
				if id := q.workflow(); id != "" {
					_, _, _ = st.reader.Status(ctx, api, id)
				}
				st.reader.Patient(ctx, api, q.Patient.ID.String())
			}
		})
	}
	for i := range reqs {
		next <- i
	}
	close(next)
	wg.Wait()
	st.readFeed(ctx, st.reader.APIs[0], cursor)
	writes, err := loadMappingWrites(ctx, st.db)
	if err != nil {
		return err
	}
	st.hist.SetWrites(writes)
	if len(writes) > 0 && writes[0].Commit.IsZero() {
		r.note("commit times unknown (the cluster runs without track_commit_timestamp): mapping changes were checked as writes open to the end of the run")
	}
	r.Checked = CheckHistory(st.hist.Snapshot(), filepath.Join(st.htmlDir, fmt.Sprintf("mappings-s%d.html", st.n)))
	return nil
}

// deliveriesDone waits, up to limit, until no event is waiting for
// delivery: a workflow may end (FAILED) before its event is delivered.
func (st *stage) deliveriesDone(ctx context.Context, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		var n int
		err := st.db.QueryRow(ctx, `SELECT count(*) FROM events WHERE delivery_status = 'pending'`).Scan(&n)
		if err == nil && n == 0 {
			return
		}
		sleepCtx(ctx, 200*time.Millisecond)
	}
}

// loadMappingWrites reads mapping_events with each change's commit time
// (track_commit_timestamp); without it, commit times are unknown.
func loadMappingWrites(ctx context.Context, conn querier) ([]MappingWrite, error) {
	if ws, err := scanMappingWrites(ctx, conn, true); err == nil {
		return ws, nil
	}
	return scanMappingWrites(ctx, conn, false)
}

func scanMappingWrites(ctx context.Context, conn querier, withCommit bool) ([]MappingWrite, error) {
	commit := "NULL::timestamptz"
	if withCommit {
		commit = "pg_xact_commit_timestamp(xmin)"
	}
	rows, err := conn.Query(ctx, `SELECT customer_patient_id::text, status, internal_patient_id, workflow_id::text, created_at, `+commit+` FROM mapping_events ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("error reading mapping_events: %w", err)
	}
	defer rows.Close()
	var ws []MappingWrite
	for rows.Next() {
		var w MappingWrite
		var at *time.Time
		if err := rows.Scan(&w.Patient, &w.Status, &w.Internal, &w.Workflow, &w.Start, &at); err != nil {
			return nil, err
		}
		if at != nil {
			w.Commit = *at
		}
		ws = append(ws, w)
	}
	return ws, rows.Err()
}
