package chaos

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/patientlink/patientlink/internal/harness"
	"github.com/patientlink/patientlink/internal/indexsim"
	"github.com/patientlink/patientlink/internal/webhooksink"
)

// suite is one run: the binary and the private cluster.
type suite struct {
	bin string
	dir string // run directory: logs of every scenario
	// htmlDir receives porcupine's visualisation of a failing mappings
	// check: next to the report, else the scenario's directory.
	htmlDir string
	pg      *harness.Cluster
	log     io.Writer
}

// ServiceEnv is what makes the service fast enough for the suite: short
// polls, retries and reconciliation, no rate limit. Scenarios override
// single values.
var ServiceEnv = harness.Env{
	"PATIENTLINK_FETCH_POLL_INTERVAL":    "100ms",
	"PATIENTLINK_WEBHOOK_RETRY_SCHEDULE": "0s,200ms,500ms,1s,2s,5s,10s,10s,10s,10s",
	"PATIENTLINK_RETRY_BASE":             "100ms",
	"PATIENTLINK_RECONCILE_INTERVAL":     "2s",
	"PATIENTLINK_RECONCILE_AFTER":        "5s",
	"PATIENTLINK_RATE_LIMIT":             "0",
	"PATIENTLINK_INDEX_TIMEOUT":          "2s",
	"PATIENTLINK_WEBHOOK_TIMEOUT":        "5s",
	"PATIENTLINK_LOG_FORMAT":             "json",
	"PATIENTLINK_LOG_LEVEL":              "info",
}

// stageOpts shape one scenario's deployment.
type stageOpts struct {
	APIs, Workers int
	Patients      int         // index population size
	Env           harness.Env // overrides of ServiceEnv
	// AmbiguousRate is the share of the index's patients planted twice
	// (indexsim's twins): their links end AMBIGUOUS, with a review.
	AmbiguousRate float64
}

// stage is one scenario's deployment: its own database, index simulator,
// webhook receiver, customer and patientlink processes.
type stage struct {
	n       int
	dir     string
	dbURL   string
	db      *pgxpool.Pool // the suite's own view of the database
	env     harness.Env
	sim     *indexsim.Server
	simURL  string
	sink    *webhooksink.Sink
	sinkURL string
	token   string
	apis    []*harness.Service
	workers []*harness.Service
	client  *Client // the load
	reader  *Client // the watcher's reads, apart from the load's counters
	// operator speaks to the API processes' operator addresses (reviews)
	// with the admin token.
	operator *Client
	hist     *History
	trackMu  sync.Mutex
	tracked  []*Request // what the watcher reads: the load, and de-links as they are made
	watcher  *watcher
	htmlDir  string // where a failing mappings check writes porcupine's visualisation
	closers  []func()
}

// serve serves h on a fresh loopback port until the stage closes.
func (st *stage) serve(h http.Handler) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	st.closers = append(st.closers, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		if srv.Shutdown(ctx) != nil {
			_ = srv.Close()
		}
	})
	return "http://" + ln.Addr().String(), nil
}

// newStage deploys scenario n. The caller must close the stage, even when
// newStage fails.
func (s *suite) newStage(ctx context.Context, n int, o stageOpts) (*stage, error) {
	st := &stage{n: n, dir: filepath.Join(s.dir, fmt.Sprintf("scenario-%d", n)), hist: &History{}, htmlDir: s.htmlDir}
	if st.htmlDir == "" {
		st.htmlDir = st.dir
	}
	if err := os.MkdirAll(st.dir, 0o755); err != nil {
		return st, err
	}
	var err error
	if st.dbURL, err = s.pg.FreshDatabase(ctx, fmt.Sprintf("chaos_s%d", n)); err != nil {
		return st, err
	}

	// The index simulator and the webhook receiver run in this process, on
	// loopback: the suite reads their counters directly.
	simLog, err := os.Create(filepath.Join(st.dir, "index-sim.log"))
	if err != nil {
		return st, err
	}
	st.closers = append(st.closers, func() { simLog.Close() })
	st.sim = indexsim.New(indexsim.Config{Seed: 1, Size: max(o.Patients, 1000), HangFor: 30 * time.Second,
		AmbiguousRate: o.AmbiguousRate, Logger: slog.New(slog.NewTextHandler(simLog, nil))})
	st.closers = append(st.closers, st.sim.Close)
	if st.simURL, err = st.serve(st.sim.Handler()); err != nil {
		return st, err
	}
	var sinkHandler atomic.Pointer[http.Handler]
	if st.sinkURL, err = st.serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h := sinkHandler.Load(); h != nil {
			(*h).ServeHTTP(w, r)
			return
		}
		http.Error(w, "not ready", http.StatusServiceUnavailable)
	})); err != nil {
		return st, err
	}

	adminToken := harness.Secrets()["PATIENTLINK_TOKEN_SECRET"] // 32 random bytes, as the admin token wants
	st.env = harness.ServiceEnv(st.dbURL, st.simURL).With(ServiceEnv).With(o.Env).With(harness.Env{"PATIENTLINK_ADMIN_TOKEN": adminToken})
	if _, err := harness.RunCommand(ctx, s.bin, st.env.Environ(), "migrate", "up"); err != nil {
		return st, err
	}
	created, err := harness.CreateCustomer(ctx, s.bin, st.env, fmt.Sprintf("chaos-%d", n), st.sinkURL+"/hook")
	if err != nil {
		return st, err
	}
	st.token = created.Token
	sinkLog, err := os.Create(filepath.Join(st.dir, "webhook-sink.log"))
	if err != nil {
		return st, err
	}
	st.closers = append(st.closers, func() { sinkLog.Close() })
	st.sink = webhooksink.New(webhooksink.Config{Secrets: []string{created.WebhookSecret}, Out: sinkLog, Observe: st.hist.Deliver})
	h := st.sink.Handler()
	sinkHandler.Store(&h)

	if st.db, err = pgxpool.New(ctx, st.dbURL+"&pool_max_conns=4"); err != nil {
		return st, fmt.Errorf("error connecting to %s: %w", st.dbURL, err)
	}

	var urls, operatorURLs []string
	for i := range o.APIs {
		addr, err := harness.FreeAddr()
		if err != nil {
			return st, err
		}
		opAddr, err := harness.FreeAddr()
		if err != nil {
			return st, err
		}
		env := st.env.With(harness.Env{"PATIENTLINK_OPERATOR_ADDR": opAddr})
		st.apis = append(st.apis, harness.NewService(s.bin, fmt.Sprintf("api-%d", i+1), "api", addr, st.dir, env))
		urls, operatorURLs = append(urls, "http://"+addr), append(operatorURLs, "http://"+opAddr)
	}
	for i := range o.Workers {
		addr, err := harness.FreeAddr()
		if err != nil {
			return st, err
		}
		st.workers = append(st.workers, harness.NewService(s.bin, fmt.Sprintf("worker-%d", i+1), "worker", addr, st.dir, st.env))
	}
	for _, p := range st.procs() {
		if err := p.Start(); err != nil {
			return st, err
		}
	}
	for _, p := range st.procs() {
		if err := p.WaitReady(ctx, 30*time.Second); err != nil {
			return st, err
		}
	}
	customer := fmt.Sprintf("chaos-%d", n)
	st.client = NewClient(urls, st.token)
	st.client.History, st.client.Customer = st.hist, customer
	st.reader = NewClient(urls, st.token)
	st.reader.History, st.reader.Customer = st.hist, customer
	st.operator = NewClient(operatorURLs, adminToken)
	st.operator.History, st.operator.Customer = st.hist, customer
	return st, nil
}

func (st *stage) procs() []*harness.Service {
	return append(append([]*harness.Service{}, st.apis...), st.workers...)
}

// close stops every process (SIGTERM, then SIGKILL) and the in-process
// servers. It is safe on a half-built stage.
func (st *stage) close() {
	for _, p := range st.procs() {
		p.Stop(5 * time.Second)
	}
	if st.db != nil {
		st.db.Close()
	}
	for i := len(st.closers) - 1; i >= 0; i-- {
		st.closers[i]()
	}
}

// patients picks n patients: nine in ten known to the index (each a
// different index patient, so none CONFLICTs), one in ten unknown. A
// patient the index holds twice is a Twin.
func (st *stage) patients(n int) []Patient {
	pop := st.sim.Population()
	same := func(a, b int) bool {
		return a >= 0 && b < len(pop) && pop[a].FullName == pop[b].FullName && pop[a].DOB == pop[b].DOB
	}
	out := make([]Patient, 0, n)
	k := 0
	for i := range n {
		if i%10 == 9 || k >= len(pop) {
			out = append(out, Patient{ID: uuid.New(), Name: "Nemo " + strings.ToUpper(rand.Text()[:6]) + " Unknown", DOB: "1925-06-15"})
			continue
		}
		p := pop[k]
		out = append(out, Patient{ID: uuid.New(), Name: p.FullName, DOB: p.DOB, InternalID: p.ID, Twin: same(k-1, k) || same(k, k+1)})
		k++
	}
	return out
}

// requests makes one request (one Idempotency-Key) per patient.
func requests(prefix string, patients []Patient) []*Request {
	out := make([]*Request, len(patients))
	for i, p := range patients {
		out[i] = &Request{Key: fmt.Sprintf("%s-%05d-%s", prefix, i, rand.Text()[:8]), Patient: p}
	}
	return out
}

// setFaults changes the simulator's faults through its HTTP control API,
// as an operator would.
func (st *stage) setFaults(ctx context.Context, faults string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, st.simURL+"/_sim/faults", strings.NewReader(faults))
	if err != nil {
		return err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(res.Body)
		return fmt.Errorf("POST /_sim/faults: HTTP %d: %s", res.StatusCode, body)
	}
	return nil
}
