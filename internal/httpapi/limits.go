package httpapi

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/mux"
	"golang.org/x/time/rate"

	"github.com/patientlink/patientlink/internal/metrics"
)

// withInflightLimit sheds load: past max requests at once, new ones get 503
// with Retry-After at once instead of queueing without bound. Health and
// metrics are never shed, so probes see the truth.
func withInflightLimit(max int, next http.Handler) http.Handler {
	if max <= 0 {
		return next
	}
	slots := make(chan struct{}, max)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz", "/readyz", "/metrics":
			next.ServeHTTP(w, r)
			return
		}
		select {
		case slots <- struct{}{}:
			defer func() { <-slots }()
			next.ServeHTTP(w, r)
		default:
			p := problem(http.StatusServiceUnavailable, "overloaded", "Overloaded", "too many requests in flight; retry shortly")
			p.RetryAfter = 1
			writeProblem(w, r, p)
		}
	})
}

// rateLimiter is a token bucket per customer. Limits are per API process:
// with N processes a customer may reach N× the rate.
type rateLimiter struct {
	limit rate.Limit
	burst int

	mu      sync.Mutex
	buckets map[uuid.UUID]*bucket
	swept   time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

func newRateLimiter(perSecond float64, burst int) *rateLimiter {
	if perSecond <= 0 {
		return nil
	}
	return &rateLimiter{limit: rate.Limit(perSecond), burst: max(burst, 1), buckets: map[uuid.UUID]*bucket{}, swept: time.Now()}
}

// allow takes a token for customer; when none is left it says how long
// until one is.
func (l *rateLimiter) allow(customer uuid.UUID) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	now := time.Now()
	l.mu.Lock()
	b, ok := l.buckets[customer]
	if !ok {
		b = &bucket{lim: rate.NewLimiter(l.limit, l.burst)}
		l.buckets[customer] = b
	}
	b.seen = now
	if now.Sub(l.swept) > time.Minute {
		// Forget idle customers, so the map stays as small as the active set.
		for id, b := range l.buckets {
			if now.Sub(b.seen) > 10*time.Minute {
				delete(l.buckets, id)
			}
		}
		l.swept = now
	}
	l.mu.Unlock()

	res := b.lim.ReserveN(now, 1)
	if delay := res.DelayFrom(now); delay > 0 {
		res.CancelAt(now)
		return false, delay
	}
	return true, 0
}

func writeRateLimited(w http.ResponseWriter, r *http.Request, wait time.Duration) {
	p := problem(http.StatusTooManyRequests, "rate-limited", "Too many requests", "the customer's request rate is over its limit; retry after the time in Retry-After")
	p.RetryAfter = int(math.Ceil(wait.Seconds()))
	writeProblem(w, r, p)
}

// withMetrics records each request under its route template, never its
// path: paths carry ids, which would make labels unbounded.
func withMetrics(m *metrics.Metrics) mux.MiddlewareFunc {
	return func(next http.Handler) http.Handler {
		if m == nil {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
			next.ServeHTTP(rec, r)
			route := "unmatched"
			if cur := mux.CurrentRoute(r); cur != nil {
				if tpl, err := cur.GetPathTemplate(); err == nil {
					route = r.Method + " " + tpl
				}
			}
			m.HTTPRequest(route, strconv.Itoa(rec.status), time.Since(start))
		})
	}
}
