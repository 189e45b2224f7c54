package indexsim

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/patientlink/patientlink/internal/index"
)

type testBundle struct {
	sim    *Server
	server *httptest.Server
	client *index.Client
}

// setup serves a simulator on 127.0.0.1 and points an index client at it.
func setup(t *testing.T, cfg Config) *testBundle {
	t.Helper()
	if cfg.Size == 0 {
		cfg.Size = 2_000
	}
	if cfg.Logger == nil {
		cfg.Logger = discardLogger()
	}
	sim := New(cfg)
	server := httptest.NewServer(sim.Handler())
	// Cleanups run last-in first-out: Close releases held searches so the
	// server can close without waiting.
	t.Cleanup(server.Close)
	t.Cleanup(sim.Close)
	return &testBundle{
		sim:    sim,
		server: server,
		client: index.New(server.URL, index.Options{Logger: discardLogger(), BreakerFailures: 1_000, AllowInsecure: true}),
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func (b *testBundle) do(t *testing.T, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, b.server.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	resp, err := b.server.Client().Do(req)
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(data)
}

func TestSearchMatches(t *testing.T) {
	t.Parallel()

	bundle := setup(t, Config{Seed: 42})
	population := bundle.sim.Population()
	// Find a two-token name and a three-token one to reorder.
	var two, three Patient
	for _, p := range population {
		switch len(strings.Fields(p.FullName)) {
		case 2:
			if two.ID == "" && !strings.ContainsAny(p.FullName, "-") {
				two = p
			}
		case 3:
			if three.ID == "" && !strings.ContainsAny(p.FullName, "-") {
				three = p
			}
		}
	}
	require.NotEmpty(t, two.ID)
	require.NotEmpty(t, three.ID)
	twoTokens, threeTokens := strings.Fields(two.FullName), strings.Fields(three.FullName)

	tests := []struct {
		name      string
		query     index.Query
		wantID    string
		wantScore []float64 // empty: no match; two values: a range
	}{
		{name: "exact", query: index.Query{FullName: two.FullName, DOB: two.DOB}, wantID: two.ID, wantScore: []float64{0.97, 0.99}},
		{name: "exact despite case and spacing", query: index.Query{FullName: "  " + strings.ToUpper(two.FullName) + " ", DOB: two.DOB}, wantID: two.ID, wantScore: []float64{0.97, 0.99}},
		{name: "email and phone are ignored", query: index.Query{FullName: two.FullName, DOB: two.DOB, Email: "x@example.com", Phone: "+15550100"}, wantID: two.ID, wantScore: []float64{0.97, 0.99}},
		{name: "reordered", query: index.Query{FullName: twoTokens[1] + ", " + twoTokens[0], DOB: two.DOB}, wantID: two.ID, wantScore: []float64{0.91, 0.91}},
		{name: "reordered three tokens", query: index.Query{FullName: threeTokens[2] + " " + threeTokens[0] + " " + threeTokens[1], DOB: three.DOB}, wantID: three.ID, wantScore: []float64{0.91, 0.91}},
		{name: "other dob", query: index.Query{FullName: two.FullName, DOB: "1929-12-31"}},
		{name: "missing token", query: index.Query{FullName: twoTokens[0], DOB: two.DOB}},
		{name: "unknown name", query: index.Query{FullName: "Nobody Atall", DOB: two.DOB}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp, err := bundle.client.Search(t.Context(), tt.query)
			require.NoError(t, err)
			require.Empty(t, resp.SearchID)
			if len(tt.wantScore) == 0 {
				require.Empty(t, resp.Results)
				return
			}
			require.Len(t, resp.Results, 1)
			require.Equal(t, tt.wantID, resp.Results[0].ID)
			require.GreaterOrEqual(t, resp.Results[0].Score, tt.wantScore[0])
			require.LessOrEqual(t, resp.Results[0].Score, tt.wantScore[1])
		})
	}
}

func TestSearchAccentsFolded(t *testing.T) {
	t.Parallel()

	bundle := setup(t, Config{Seed: 9})
	for _, p := range bundle.sim.Population() {
		folded := normalizeName(p.FullName)
		if folded == strings.ToLower(p.FullName) {
			continue // no accent or punctuation to fold
		}
		resp, err := bundle.client.Search(t.Context(), index.Query{FullName: folded, DOB: p.DOB})
		require.NoError(t, err)
		require.Len(t, resp.Results, 1)
		require.Equal(t, p.ID, resp.Results[0].ID)
		return
	}
	t.Fatal("no patient with an accented or punctuated name")
}

func TestSearchScoresAreDeterministic(t *testing.T) {
	t.Parallel()

	a, b := setup(t, Config{Seed: 5}), setup(t, Config{Seed: 5})
	p := a.sim.Population()[10]
	q := index.Query{FullName: p.FullName, DOB: p.DOB}
	respA, err := a.client.Search(t.Context(), q)
	require.NoError(t, err)
	respB, err := b.client.Search(t.Context(), q)
	require.NoError(t, err)
	require.Equal(t, respA, respB)
}

func TestSearchAmbiguousTwins(t *testing.T) {
	t.Parallel()

	bundle := setup(t, Config{Seed: 3, AmbiguousRate: 0.5})
	population := bundle.sim.Population()
	var first, twin Patient
	for i := 1; i < len(population); i += 2 {
		if population[i].FullName == population[i-1].FullName && population[i].DOB == population[i-1].DOB {
			first, twin = population[i-1], population[i]
			break
		}
	}
	require.NotEmpty(t, twin.ID)
	require.NotEqual(t, first.ID, twin.ID)

	resp, err := bundle.client.Search(t.Context(), index.Query{FullName: first.FullName, DOB: first.DOB})
	require.NoError(t, err)
	exact := map[string]string{"full_name": "exact", "dob": "exact"}
	require.Equal(t, []index.Result{{ID: first.ID, Score: 0.95, Matched: exact}, {ID: twin.ID, Score: 0.94, Matched: exact}}, resp.Results,
		"scores and the per-field agreement (the match vector)")
}

func TestSearchRejectsBadRequests(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		body string
	}{
		{name: "not json", body: `{"full_name":`},
		{name: "no name", body: `{"dob":"1990-01-01"}`},
		{name: "no dob", body: `{"full_name":"Ada Lovelace"}`},
		{name: "bad dob", body: `{"full_name":"Ada Lovelace","dob":"10/12/1815"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			bundle := setup(t, Config{Size: 10})
			status, body := bundle.do(t, http.MethodPost, "/search", tt.body)
			require.Equal(t, http.StatusBadRequest, status)
			require.NotContains(t, body, "Ada", "errors never echo PHI")
		})
	}
}

func TestSearchWireFormat(t *testing.T) {
	t.Parallel()

	bundle := setup(t, Config{Size: 10})
	status, body := bundle.do(t, http.MethodPost, "/search", `{"full_name":"Nobody Atall","dob":"1990-01-01"}`)
	require.Equal(t, http.StatusOK, status)
	require.JSONEq(t, `{"results":[]}`, body)

	p := bundle.sim.Population()[0]
	query, err := json.Marshal(index.Query{FullName: p.FullName, DOB: p.DOB})
	require.NoError(t, err)
	status, body = bundle.do(t, http.MethodPost, "/search", string(query))
	require.Equal(t, http.StatusOK, status)
	var got struct {
		Results []map[string]any `json:"results"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &got))
	require.Len(t, got.Results, 1)
	require.Equal(t, p.ID, got.Results[0]["id"])
	require.IsType(t, float64(0), got.Results[0]["score"])
}

func TestInjectedErrors(t *testing.T) {
	t.Parallel()

	bundle := setup(t, Config{Size: 10, ErrorRate: 1})
	for range 3 {
		_, err := bundle.client.Search(t.Context(), index.Query{FullName: "Ada Lovelace", DOB: "1815-12-10"})
		var ie *index.Error
		require.ErrorAs(t, err, &ie)
		require.Equal(t, http.StatusServiceUnavailable, ie.StatusCode)
		require.True(t, ie.Temporary)
	}
	require.Equal(t, Stats{Searches: 3, ErrorsInjected: 3}, bundle.sim.Stats())
}

func TestInjectedErrorRateIsAShare(t *testing.T) {
	t.Parallel()

	bundle := setup(t, Config{Size: 10, ErrorRate: 0.3})
	for range 200 {
		_, _ = bundle.client.Search(t.Context(), index.Query{FullName: "Ada Lovelace", DOB: "1815-12-10"})
	}
	stats := bundle.sim.Stats()
	require.Equal(t, int64(200), stats.Searches)
	require.InDelta(t, 60, stats.ErrorsInjected, 25)
}

func TestInjectedTimeoutHoldsUntilClientGivesUp(t *testing.T) {
	t.Parallel()

	bundle := setup(t, Config{Size: 10, TimeoutRate: 1}) // HangFor stays 30s
	client := index.New(bundle.server.URL, index.Options{Logger: discardLogger(), Timeout: 100 * time.Millisecond, AllowInsecure: true})

	start := time.Now()
	_, err := client.Search(t.Context(), index.Query{FullName: "Ada Lovelace", DOB: "1815-12-10"})
	require.Less(t, time.Since(start), time.Second)
	var ie *index.Error
	require.ErrorAs(t, err, &ie)
	require.True(t, ie.Temporary)
	require.Zero(t, ie.StatusCode)
	require.Equal(t, int64(1), bundle.sim.Stats().TimeoutsInjected)
}

func TestInjectedTimeoutAnswers504AfterHangFor(t *testing.T) {
	t.Parallel()

	bundle := setup(t, Config{Size: 10, TimeoutRate: 1, HangFor: 50 * time.Millisecond})
	_, err := bundle.client.Search(t.Context(), index.Query{FullName: "Ada Lovelace", DOB: "1815-12-10"})
	var ie *index.Error
	require.ErrorAs(t, err, &ie)
	require.Equal(t, http.StatusGatewayTimeout, ie.StatusCode)
	require.True(t, ie.Temporary)
}

func TestLatencyIsAdded(t *testing.T) {
	t.Parallel()

	bundle := setup(t, Config{Size: 10, Latency: 80 * time.Millisecond})
	start := time.Now()
	_, err := bundle.client.Search(t.Context(), index.Query{FullName: "Ada Lovelace", DOB: "1815-12-10"})
	require.NoError(t, err)
	require.GreaterOrEqual(t, time.Since(start), 80*time.Millisecond)
}

func TestFaultControlEndpoint(t *testing.T) {
	t.Parallel()

	bundle := setup(t, Config{Size: 10, Latency: 5 * time.Millisecond})
	query := index.Query{FullName: "Ada Lovelace", DOB: "1815-12-10"}

	status, body := bundle.do(t, http.MethodGet, "/_sim/faults", "")
	require.Equal(t, http.StatusOK, status)
	require.JSONEq(t, `{"error_rate":0,"timeout_rate":0,"latency":"5ms","down":false}`, body)

	// A partial update keeps the other fields.
	status, body = bundle.do(t, http.MethodPost, "/_sim/faults", `{"down":true,"error_rate":0.25}`)
	require.Equal(t, http.StatusOK, status)
	require.JSONEq(t, `{"error_rate":0.25,"timeout_rate":0,"latency":"5ms","down":true}`, body)
	require.Equal(t, Faults{ErrorRate: 0.25, Latency: 5 * time.Millisecond, Down: true}, bundle.sim.Faults())

	_, err := bundle.client.Search(t.Context(), query)
	var ie *index.Error
	require.ErrorAs(t, err, &ie)
	require.Equal(t, http.StatusServiceUnavailable, ie.StatusCode)

	status, _ = bundle.do(t, http.MethodPost, "/_sim/faults", `{"down":false,"error_rate":0,"latency":"0s"}`)
	require.Equal(t, http.StatusOK, status)
	_, err = bundle.client.Search(t.Context(), query)
	require.NoError(t, err)

	status, body = bundle.do(t, http.MethodGet, "/_sim/stats", "")
	require.Equal(t, http.StatusOK, status)
	require.JSONEq(t, `{"searches":2,"errors_injected":1,"timeouts_injected":0,"async_accepted":0,"callbacks_sent":0,"callbacks_failed":0}`, body)
}

func TestFaultControlRejectsBadInput(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		body string
	}{
		{name: "not json", body: `{`},
		{name: "rate above one", body: `{"error_rate":1.5}`},
		{name: "negative rate", body: `{"timeout_rate":-0.1}`},
		{name: "bad latency", body: `{"latency":"soon"}`},
		{name: "negative latency", body: `{"latency":"-5ms"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			bundle := setup(t, Config{Size: 10})
			status, _ := bundle.do(t, http.MethodPost, "/_sim/faults", tt.body)
			require.Equal(t, http.StatusBadRequest, status)
			require.Equal(t, Faults{}, bundle.sim.Faults())
		})
	}
}

func TestSetFaults(t *testing.T) {
	t.Parallel()

	bundle := setup(t, Config{Size: 10})
	bundle.sim.SetFaults(Faults{Down: true})
	status, _ := bundle.do(t, http.MethodPost, "/search", `{"full_name":"Ada Lovelace","dob":"1815-12-10"}`)
	require.Equal(t, http.StatusServiceUnavailable, status)

	bundle.sim.SetFaults(Faults{})
	status, _ = bundle.do(t, http.MethodPost, "/search", `{"full_name":"Ada Lovelace","dob":"1815-12-10"}`)
	require.Equal(t, http.StatusOK, status)
}

func TestCloseReleasesHeldSearches(t *testing.T) {
	t.Parallel()

	bundle := setup(t, Config{Size: 10, TimeoutRate: 1})
	done := make(chan int, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, bundle.server.URL+"/search",
			bytes.NewReader([]byte(`{"full_name":"Ada Lovelace","dob":"1815-12-10"}`)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- 0
			return
		}
		_ = resp.Body.Close()
		done <- resp.StatusCode
	}()
	require.Eventually(t, func() bool { return bundle.sim.Stats().TimeoutsInjected == 1 }, time.Second, time.Millisecond)

	bundle.sim.Close()
	select {
	case status := <-done:
		require.Equal(t, http.StatusGatewayTimeout, status)
	case <-time.After(time.Second):
		t.Fatal("held search not released by Close")
	}
}
