// Package indexsim simulates the internal patient index (see
// docs/internal-index.md) over a deterministic synthetic population, with
// faults that can be injected at start-up or changed live for chaos tests.
package indexsim

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Config describes a simulator. Zero values get the defaults noted.
type Config struct {
	Seed int64
	Size int // patients in the population; default 100,000

	// Initial faults; change them later with SetFaults or POST /_sim/faults.
	Latency     time.Duration // added to every search
	ErrorRate   float64       // share of searches answered 503
	TimeoutRate float64       // share of searches held until the client gives up or HangFor passes, then 504
	HangFor     time.Duration // default 30s

	Async          bool   // answer 202 and deliver results by callback
	CallbackURL    string // base URL, e.g. http://127.0.0.1:8080
	CallbackSecret []byte
	CallbackDelay  time.Duration

	AmbiguousRate float64 // share of patients with a planted twin (same name and dob)
	Logger        *slog.Logger
}

const (
	defaultSize    = 100_000
	defaultHangFor = 30 * time.Second

	// maxConcurrentCallbacks bounds outgoing callback requests.
	maxConcurrentCallbacks = 64
	callbackTries          = 5
	callbackBackoff        = 200 * time.Millisecond // doubled after each failed try
	callbackTimeout        = 5 * time.Second        // per try
)

// Stats counts what the simulator did; the chaos suite asserts on them.
type Stats struct {
	Searches         int64 `json:"searches"`          // /search requests received
	ErrorsInjected   int64 `json:"errors_injected"`   // 503s from ErrorRate or Down
	TimeoutsInjected int64 `json:"timeouts_injected"` // searches held by TimeoutRate
	AsyncAccepted    int64 `json:"async_accepted"`    // 202s, each owing one callback
	CallbacksSent    int64 `json:"callbacks_sent"`    // callbacks acknowledged with 2xx
	CallbacksFailed  int64 `json:"callbacks_failed"`  // callbacks given up on (tries exhausted, 4xx, or Close)
}

// Server is the simulated index. Create it with New and stop it with Close.
type Server struct {
	cfg        Config
	logger     *slog.Logger
	matcher    *matcher
	handler    http.Handler
	httpClient *http.Client
	backoff    time.Duration // first callback retry delay; tests shorten it

	faultsMu sync.RWMutex
	faults   Faults

	rngMu sync.Mutex
	rng   *rand.Rand // fault dice, seeded so runs are repeatable

	searches, errorsInjected, timeoutsInjected    atomic.Int64
	asyncAccepted, callbacksSent, callbacksFailed atomic.Int64

	// Background callback work, stopped by Close.
	ctx       context.Context
	cancel    context.CancelFunc
	callbacks chan struct{} // semaphore
	closeMu   sync.Mutex
	closed    bool
	wg        sync.WaitGroup
}

// New generates the population and returns a simulator ready to serve.
func New(cfg Config) *Server {
	if cfg.Size <= 0 {
		cfg.Size = defaultSize
	}
	if cfg.HangFor <= 0 {
		cfg.HangFor = defaultHangFor
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	pop := generatePopulation(cfg.Seed, cfg.Size, cfg.AmbiguousRate)
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		cfg:        cfg,
		logger:     cfg.Logger,
		matcher:    &matcher{pop},
		httpClient: &http.Client{},
		backoff:    callbackBackoff,
		faults: Faults{
			ErrorRate:   cfg.ErrorRate,
			TimeoutRate: cfg.TimeoutRate,
			Latency:     cfg.Latency,
		},
		rng:       rand.New(rand.NewPCG(uint64(cfg.Seed), 0x5eed)),
		ctx:       ctx,
		cancel:    cancel,
		callbacks: make(chan struct{}, maxConcurrentCallbacks),
	}
	s.handler = s.routes()
	return s
}

// Handler serves the index contract plus the /_sim control endpoints.
func (s *Server) Handler() http.Handler { return s.handler }

// Population returns a copy of the synthetic patients, in generation order.
func (s *Server) Population() []Patient { return slices.Clone(s.matcher.patients) }

// Stats returns the counters so far.
func (s *Server) Stats() Stats {
	return Stats{
		Searches:         s.searches.Load(),
		ErrorsInjected:   s.errorsInjected.Load(),
		TimeoutsInjected: s.timeoutsInjected.Load(),
		AsyncAccepted:    s.asyncAccepted.Load(),
		CallbacksSent:    s.callbacksSent.Load(),
		CallbacksFailed:  s.callbacksFailed.Load(),
	}
}

// Faults returns the faults in force.
func (s *Server) Faults() Faults {
	s.faultsMu.RLock()
	defer s.faultsMu.RUnlock()
	return s.faults
}

// SetFaults replaces the faults in force; searches already held keep theirs.
func (s *Server) SetFaults(f Faults) {
	s.faultsMu.Lock()
	s.faults = f
	s.faultsMu.Unlock()
	s.logFaults(f)
}

func (s *Server) logFaults(f Faults) {
	s.logger.Info("index simulator faults changed",
		slog.Float64("error_rate", f.ErrorRate),
		slog.Float64("timeout_rate", f.TimeoutRate),
		slog.Duration("latency", f.Latency),
		slog.Bool("down", f.Down))
}

// Close stops background work: pending callbacks are abandoned (counted as
// failed), held searches are released, and Close waits for all of it. After
// Close, async searches answer 503. It is safe to call more than once.
func (s *Server) Close() {
	s.closeMu.Lock()
	s.closed = true
	s.closeMu.Unlock()
	s.cancel()
	s.wg.Wait()
}

// roll returns a uniform number in [0, 1) for fault decisions.
func (s *Server) roll() float64 {
	s.rngMu.Lock()
	defer s.rngMu.Unlock()
	return s.rng.Float64()
}
