package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/patientlink/patientlink/internal/harness"
	"github.com/patientlink/patientlink/internal/index"
	"github.com/patientlink/patientlink/internal/indexsim"
	"github.com/patientlink/patientlink/internal/pgtest"
	"github.com/patientlink/patientlink/internal/webhooksink"
)

// service is the binary serving --role all in-process, with an index
// simulator and a webhook sink on loopback.
type service struct {
	base     string
	operator string // the operator listener
	token    string
	env      harness.Env
	sim      *indexsim.Server
	sink     *webhooksink.Sink
	secret   []byte // index callback secret
}

func startService(t *testing.T, simCfg indexsim.Config, sinkFailFirst int) *service {
	t.Helper()
	return startServiceLogging(t, simCfg, sinkFailFirst, nil)
}

// startServiceLogging is startService with its log, at debug level and in
// JSON, written to logs (nil: warnings only, discarded).
func startServiceLogging(t *testing.T, simCfg indexsim.Config, sinkFailFirst int, logs io.Writer) *service {
	t.Helper()
	ctx := context.Background()
	addr, operatorAddr := freeAddr(t), freeAddr(t)
	env := harness.ServiceEnv(pgtest.URL(t), "").With(harness.Env{
		"PATIENTLINK_ADDR":                   addr,
		"PATIENTLINK_OPERATOR_ADDR":          operatorAddr,
		"PATIENTLINK_FETCH_POLL_INTERVAL":    "50ms",
		"PATIENTLINK_WEBHOOK_RETRY_SCHEDULE": "0s,20ms,20ms,20ms,20ms",
		"PATIENTLINK_ADMIN_TOKEN":            harness.Secrets()["PATIENTLINK_DATA_KEY"],
		"PATIENTLINK_LOG_LEVEL":              "warn",
	})
	if logs != nil {
		env["PATIENTLINK_LOG_LEVEL"], env["PATIENTLINK_LOG_FORMAT"] = "debug", "json"
	} else {
		logs = io.Discard
	}
	callbackSecret := []byte(env["PATIENTLINK_INDEX_CALLBACK_SECRET"])
	simCfg.Seed, simCfg.Size = 1, 1000
	if simCfg.Async {
		simCfg.CallbackURL, simCfg.CallbackSecret = "http://"+operatorAddr, callbackSecret
	}
	sim := indexsim.New(simCfg)
	simSrv := httptest.NewServer(sim.Handler())
	env["PATIENTLINK_INDEX_URL"] = simSrv.URL
	require.NoError(t, run(ctx, []string{"migrate", "up"}, env.Getenv, io.Discard, io.Discard))

	// The sink needs the customer's secret, and the customer the sink's URL.
	sinkHolder := &struct{ h http.Handler }{}
	sinkSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { sinkHolder.h.ServeHTTP(w, r) }))
	t.Cleanup(func() {
		sim.Close()
		simSrv.Close()
		sinkSrv.Close()
	})
	created := createCustomer(ctx, t, env, sinkSrv.URL+"/hook")
	sink := webhooksink.New(webhooksink.Config{Secrets: []string{created.WebhookSecret}, FailFirst: sinkFailFirst})
	sinkHolder.h = sink.Handler()

	startServeLogging(ctx, t, env, "all", logs)
	return &service{base: "http://" + addr, operator: "http://" + operatorAddr, token: created.Token, env: env, sim: sim, sink: sink, secret: callbackSecret}
}

func (s *service) call(t *testing.T, method, path, key string, body any) (int, map[string]any) {
	t.Helper()
	code, m, err := s.try(method, path, key, body)
	require.NoError(t, err)
	return code, m
}

// try is call that reports a failed request instead of ending the test,
// for conditions polled inside EventuallyWithT.
func (s *service) try(method, path, key string, body any) (int, map[string]any, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(res.Body).Decode(&m)
	return res.StatusCode, m, nil
}

func (s *service) link(t *testing.T, patient uuid.UUID, name, dob string) string {
	t.Helper()
	code, body := s.call(t, http.MethodPost, "/link", uuid.NewString(), map[string]any{"patient": map[string]any{"id": patient, "full_name": name, "dob": dob}})
	require.Equal(t, http.StatusAccepted, code, body)
	return body["workflow-id"].(string)
}

// waitStatus polls the status API until the workflow reaches status.
func (s *service) waitStatus(t *testing.T, id, status string) map[string]any {
	t.Helper()
	var body map[string]any
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		var err error
		_, body, err = s.try(http.MethodGet, "/link/status/"+id, "", nil)
		if assert.NoError(c, err) {
			assert.Equal(c, status, body["status"])
		}
	}, 20*time.Second, 20*time.Millisecond, "workflow %s never reached %s", id, status)
	return body
}

// Must show (issues 3 and 4): a known patient links to the right internal
// id and the customer is told; an unknown one is NO_RESULTS; DELETE
// de-links; GET /patient reflects each.
func TestServeLinkLifecycle(t *testing.T) {
	t.Parallel()
	s := startService(t, indexsim.Config{}, 0)
	known := s.sim.Population()[0]
	patient := uuid.New()

	id := s.link(t, patient, known.FullName, known.DOB)
	st := s.waitStatus(t, id, "COMPLETED")
	require.Equal(t, "LINKED", st["outcome"], "the outcome stays visible after COMPLETED")
	require.Equal(t, "delivered", st["notification"].(map[string]any)["status"])
	code, m := s.call(t, http.MethodGet, "/patient/"+patient.String(), "", nil)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, known.ID, m["internal-patient-id"])
	require.Equal(t, "LINKED", m["status"])

	code, _ = s.call(t, http.MethodPost, "/link", uuid.NewString(), map[string]any{"patient": map[string]any{"id": patient, "full_name": known.FullName, "dob": known.DOB}})
	require.Equal(t, http.StatusConflict, code, "already linked")

	unknown := uuid.New()
	st = s.waitStatus(t, s.link(t, unknown, "Nobody Known", "1901-02-03"), "COMPLETED")
	require.Equal(t, "NO_RESULTS", st["outcome"])
	code, _ = s.call(t, http.MethodGet, "/patient/"+unknown.String(), "", nil)
	require.Equal(t, http.StatusNotFound, code)

	code, body := s.call(t, http.MethodDelete, "/link/"+patient.String(), "del-1", nil)
	require.Equal(t, http.StatusAccepted, code)
	st = s.waitStatus(t, body["workflow-id"].(string), "COMPLETED")
	require.Equal(t, "DE_LINKED", st["outcome"])
	require.Equal(t, "DELINK", st["request-type"])
	_, m = s.call(t, http.MethodGet, "/patient/"+patient.String(), "", nil)
	require.Equal(t, "DE-LINKED", m["status"])
	require.Equal(t, body["workflow-id"], m["delink-workflow-id"])

	code, _ = s.call(t, http.MethodDelete, "/link/"+patient.String(), "del-2", nil)
	require.Equal(t, http.StatusNotFound, code, "nothing left to de-link")

	// The sink verified every notification, and none carries demographics.
	events := s.sink.Events()
	require.Len(t, events, 3)
	types := map[string]int{}
	for _, e := range events {
		types[e.Type]++
		require.NotContains(t, string(e.Body), known.FullName)
		require.NotContains(t, string(e.Body), known.DOB)
	}
	require.Equal(t, map[string]int{"link.completed": 2, "delink.completed": 1}, types)
}

// Must show (issue 4): a receiver failing the first 3 attempts, then
// succeeding: one COMPLETED workflow, 4 attempts, one webhook-id.
func TestServeWebhookRetries(t *testing.T) {
	t.Parallel()
	s := startService(t, indexsim.Config{}, 3)
	p := s.sim.Population()[1]
	id := s.link(t, uuid.New(), p.FullName, p.DOB)
	st := s.waitStatus(t, id, "COMPLETED")
	n := st["notification"].(map[string]any)
	require.EqualValues(t, 4, n["attempts"])
	require.Equal(t, "delivered", n["status"])
	events := s.sink.Events()
	require.Len(t, events, 1)
	require.Equal(t, 4, events[0].Attempts, "all 4 attempts carried the same webhook-id")
	require.Equal(t, 3, s.sink.Stats().Failed)
}

// Must show (issue 3): async mode end to end, a forged callback refused
// and a repeated one ignored.
func TestServeAsyncSearch(t *testing.T) {
	t.Parallel()
	s := startService(t, indexsim.Config{Async: true}, 0)
	p := s.sim.Population()[2]
	patient := uuid.New()
	id := s.link(t, patient, p.FullName, p.DOB)
	st := s.waitStatus(t, id, "COMPLETED")
	require.Equal(t, "LINKED", st["outcome"])
	require.Positive(t, s.sim.Stats().CallbacksSent)

	// Find the search id, then replay and forge callbacks for it.
	var searchID string
	require.NoError(t, queryRow(t, s.env["DATABASE_URL"], "SELECT search_id FROM workflows WHERE id = $1", id).Scan(&searchID))
	body, _ := json.Marshal(index.CallbackBody{SearchID: searchID, Results: []index.Result{{ID: "someone-else", Score: 0.99}}})
	post := func(sig string) int {
		req, _ := http.NewRequest(http.MethodPost, s.operator+index.CallbackPath(searchID), bytes.NewReader(body))
		req.Header.Set(index.SignatureHeader, sig)
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		return res.StatusCode
	}
	require.Equal(t, http.StatusUnauthorized, post(index.SignCallback([]byte("wrong-secret-wrong-secret"), index.CallbackPath(searchID), body, time.Now())))
	require.Equal(t, http.StatusUnauthorized, post(index.SignCallback(s.secret, index.CallbackPath(searchID), body, time.Now().Add(-time.Hour))), "stale")
	require.Equal(t, http.StatusUnauthorized, post(""), "unsigned")
	require.Equal(t, http.StatusOK, post(index.SignCallback(s.secret, index.CallbackPath(searchID), body, time.Now())), "a repeat is a harmless no-op")

	_, m := s.call(t, http.MethodGet, "/patient/"+patient.String(), "", nil)
	require.Equal(t, p.ID, m["internal-patient-id"], "the repeat changed nothing")
	var events int
	require.NoError(t, queryRow(t, s.env["DATABASE_URL"], "SELECT count(*) FROM workflow_events WHERE workflow_id = $1 AND to_status = 'LINKED'", id).Scan(&events))
	require.Equal(t, 1, events)
	require.True(t, strings.HasPrefix(searchID, "srch_"))
}

// Bulk intake through the real binary: every patient of a POST /links ends,
// and GET /batches/{id} says so.
func TestServeBulkLinks(t *testing.T) {
	t.Parallel()
	s := startService(t, indexsim.Config{}, 0)
	pop := s.sim.Population()
	var patients []any
	for i := range 20 {
		patients = append(patients, map[string]any{"patient": map[string]any{"id": uuid.New(), "full_name": pop[i].FullName, "dob": pop[i].DOB}})
	}
	code, body := s.call(t, http.MethodPost, "/links", uuid.NewString(), map[string]any{"patients": patients})
	require.Equal(t, http.StatusAccepted, code, body)
	require.EqualValues(t, 20, body["accepted"])
	batch := body["batch-id"].(string)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		code, b, err := s.try(http.MethodGet, "/batches/"+batch, "", nil)
		if assert.NoError(c, err) && assert.Equal(c, http.StatusOK, code) {
			assert.Equal(c, true, b["done"])
			assert.EqualValues(c, 20, b["by-status"].(map[string]any)["COMPLETED"])
		}
	}, 30*time.Second, 50*time.Millisecond)
}
