package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"
)

// --- 8. bulk requests under kill -9 of api and worker processes ------------

func stageBulk(p Profile) stageOpts {
	return stageOpts{APIs: 2, Workers: 2, Patients: p.BulkLinks + 100}
}

// batch is one bulk request (one Idempotency-Key) and what its client saw.
type batch struct {
	key   string
	items []*Request // one per patient, in request order
	first []byte     // the first 202's body
	diff  int        // later 202s whose body differed from the first
	tries int
}

// runBulk sends every patient in bulk requests while api-1 and the
// workers are killed with -9 and restarted. A bulk request is one
// transaction: whatever moment a kill lands, its batch is in the database
// whole or not at all, and a retry with the same key gets the first answer
// byte for byte.
func runBulk(ctx context.Context, s *suite, st *stage, p Profile, r *Result) error {
	reqs := requests("s8", st.patients(p.BulkLinks))
	st.watch(ctx, reqs)
	var batches []*batch
	for i := 0; i < len(reqs); i += p.BulkSize {
		b := &batch{key: fmt.Sprintf("s8-batch-%04d", i/p.BulkSize), items: reqs[i:min(i+p.BulkSize, len(reqs))]}
		batches = append(batches, b)
	}
	r.Load = fmt.Sprintf("%d links in %d bulk requests of %d, 4 clients, 2 api + 2 worker processes", len(reqs), len(batches), p.BulkSize)

	sent := make(chan struct{})
	go func() {
		defer close(sent)
		next := make(chan *batch)
		var wg sync.WaitGroup
		for c := range 4 {
			wg.Go(func() {
				for b := range next {
					st.sendBatch(ctx, b, c)
				}
			})
		}
		for _, b := range batches {
			select {
			case next <- b:
			case <-ctx.Done():
			}
		}
		close(next)
		wg.Wait()
	}()

	kills := 0
	faultEnd := time.Now()
	for kills < p.BulkKills && !isDone(sent) && ctx.Err() == nil {
		sleepCtx(ctx, jitter(300*time.Millisecond, 1200*time.Millisecond))
		victim := st.apis[0]
		if kills%2 == 1 {
			victim = st.workers[rand.IntN(len(st.workers))]
		}
		victim.Kill9()
		kills++
		sleepCtx(ctx, jitter(200*time.Millisecond, 600*time.Millisecond))
		if err := victim.Restart(ctx); err != nil {
			return err
		}
		faultEnd = time.Now()
	}
	<-sent
	r.Faults = fmt.Sprintf("%d × kill -9, alternately api-1 and a random worker (restarted 0.2–0.6 s later)", kills)

	retried, differed := 0, 0
	for _, b := range batches {
		if b.tries > 1 {
			retried++
		}
		differed += b.diff
	}
	r.note("%d bulk request(s) needed more than one attempt", retried)
	if differed > 0 {
		r.fail("%d replayed bulk answer(s) differed from the first answer to their key", differed)
	}
	if err := st.settle(ctx, p, r, reqs, faultEnd); err != nil {
		return err
	}
	return st.checkBatchesWhole(ctx, batches, r)
}

// sendBatch posts b until it is acknowledged or RetryFor passes: a 5xx or
// no answer is retried with the same key on the next API process.
func (st *stage) sendBatch(ctx context.Context, b *batch, start int) {
	items := make([]json.RawMessage, len(b.items))
	for i, q := range b.items {
		items[i] = linkBody(q.Patient)
	}
	body, _ := json.Marshal(map[string]any{"patients": items})
	deadline := time.Now().Add(st.client.RetryFor)
	backoff := 50 * time.Millisecond
	for i := 0; ctx.Err() == nil; i++ {
		b.tries++
		status, data, err := st.client.postBulk(ctx, st.client.APIs[(start+i)%len(st.client.APIs)], b.key, body)
		switch {
		case err == nil && status == http.StatusAccepted:
			b.answered(data)
			return
		case err == nil && status < 500:
			for _, q := range b.items {
				q.giveUp(status, fmt.Sprintf("bulk HTTP %d", status))
			}
			return
		case time.Now().After(deadline):
			for _, q := range b.items {
				q.giveUp(status, "gave up retrying the bulk request")
			}
			return
		}
		sleepCtx(ctx, backoff)
		backoff = min(backoff*2, time.Second)
	}
}

// answered takes a 202: each item's workflow is named to its request.
func (b *batch) answered(data []byte) {
	if b.first == nil {
		b.first = data
	} else if !bytes.Equal(b.first, data) {
		b.diff++
	}
	var answer struct {
		Items []struct {
			WorkflowID string `json:"workflow-id"`
			Error      *struct {
				Type string `json:"type"`
			} `json:"error"`
		} `json:"items"`
	}
	_ = json.Unmarshal(data, &answer)
	now := time.Now()
	for i, q := range b.items {
		switch {
		case i >= len(answer.Items):
			q.giveUp(http.StatusAccepted, "missing from the bulk answer")
		case answer.Items[i].WorkflowID != "":
			q.named(answer.Items[i].WorkflowID, now)
		case answer.Items[i].Error != nil:
			q.giveUp(http.StatusAccepted, "bulk item refused: "+answer.Items[i].Error.Type)
		}
	}
}

// postBulk sends one attempt of POST /links.
func (c *Client) postBulk(ctx context.Context, api, key string, body []byte) (int, []byte, error) {
	c.attempts.Add(1)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, api+"/links", bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	res, err := c.HTTP.Do(req)
	if err != nil {
		c.cutOff.Add(1)
		return 0, nil, err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, 4<<20))
	if err != nil {
		c.cutOff.Add(1)
		return 0, nil, err
	}
	return res.StatusCode, data, nil
}

// checkBatchesWhole checks that every batch in the database holds all of
// its items (each one a workflow: the patients are all valid and new) and
// that every batch is one a client was answered for: a kill never left
// half a batch, nor a batch nobody knows of.
func (st *stage) checkBatchesWhole(ctx context.Context, batches []*batch, r *Result) error {
	rows, err := st.db.Query(ctx, `SELECT b.items, count(w.id)::int FROM batches AS b LEFT JOIN workflows AS w ON w.batch_id = b.id GROUP BY b.id, b.items`)
	if err != nil {
		return err
	}
	defer rows.Close()
	stored, partial := 0, 0
	for rows.Next() {
		var items, workflows int
		if err := rows.Scan(&items, &workflows); err != nil {
			return err
		}
		stored++
		if items != workflows {
			partial++
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	answered := 0
	for _, b := range batches {
		if b.first != nil {
			answered++
		}
	}
	r.note("%d batches stored, %d answered", stored, answered)
	if partial > 0 {
		r.fail("%d batch(es) stored with fewer workflows than items", partial)
	}
	if stored != answered {
		r.fail("%d batches stored but %d answered: a batch without its answer, or an answer without its batch", stored, answered)
	}
	return nil
}
