// Package metrics holds patientlink's Prometheus metrics: one registry per
// process, handed to the parts that record into it.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the service's instruments. A nil *Metrics records nothing, so
// tests and tools need not build one.
type Metrics struct {
	registry *prometheus.Registry

	httpRequests    *prometheus.CounterVec
	httpDuration    *prometheus.HistogramVec
	transitions     *prometheus.CounterVec
	pending         *prometheus.GaugeVec
	indexCalls      *prometheus.CounterVec
	indexDuration   prometheus.Histogram
	webhookAttempts *prometheus.CounterVec
	queueDepth      *prometheus.GaugeVec
	stuckPending    prometheus.Gauge
	openReviews     *prometheus.GaugeVec
}

// New registers every metric, plus Go runtime and process collectors.
func New() *Metrics {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := &Metrics{registry: r}
	m.httpRequests = counterVec(r, "patientlink_http_requests_total", "HTTP requests by route template and status code.", "route", "code")
	m.httpDuration = histogramVec(r, "patientlink_http_request_duration_seconds", "HTTP request latency by route template.", "route")
	m.transitions = counterVec(r, "patientlink_workflow_transitions_total", "Workflow state transitions by from and to state.", "from", "to")
	m.pending = gaugeVec(r, "patientlink_workflows_pending", "Workflows not yet COMPLETED or FAILED, by state (refreshed by workers).", "state")
	m.indexCalls = counterVec(r, "patientlink_index_requests_total", "Internal index searches by outcome (sync, async, transient_error, permanent_error, circuit_open).", "outcome")
	m.indexDuration = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "patientlink_index_request_duration_seconds", Help: "Internal index search latency.", Buckets: buckets})
	r.MustRegister(m.indexDuration)
	m.webhookAttempts = counterVec(r, "patientlink_webhook_attempts_total", "Webhook delivery attempts by result (delivered, retry, gone, refused, failed).", "result")
	m.queueDepth = gaugeVec(r, "patientlink_river_jobs", "River jobs by queue and state (available, running, retryable, scheduled).", "queue", "state")
	m.stuckPending = prometheus.NewGauge(prometheus.GaugeOpts{Name: "patientlink_stuck_report_pending", Help: "Pending workflows in the latest stuck-workflow report."})
	r.MustRegister(m.stuckPending)
	m.openReviews = gaugeVec(r, "patientlink_reviews_open", "Open reviews of uncertain outcomes by age (<1h, 1h-24h, >24h; refreshed by workers).", "age")
	return m
}

// buckets span a fast acknowledgement (1 ms) to a slow index call (10 s).
var buckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

func counterVec(r *prometheus.Registry, name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	r.MustRegister(c)
	return c
}

func histogramVec(r *prometheus.Registry, name, help string, labels ...string) *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
	r.MustRegister(h)
	return h
}

func gaugeVec(r *prometheus.Registry, name, help string, labels ...string) *prometheus.GaugeVec {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
	r.MustRegister(g)
	return g
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// HTTPRequest records one served request.
func (m *Metrics) HTTPRequest(route, code string, d time.Duration) {
	if m == nil {
		return
	}
	m.httpRequests.WithLabelValues(route, code).Inc()
	m.httpDuration.WithLabelValues(route).Observe(d.Seconds())
}

// Transition records a workflow state change.
func (m *Metrics) Transition(from, to string) {
	if m == nil {
		return
	}
	m.transitions.WithLabelValues(from, to).Inc()
}

// IndexCall records one index search.
func (m *Metrics) IndexCall(outcome string, d time.Duration) {
	if m == nil {
		return
	}
	m.indexCalls.WithLabelValues(outcome).Inc()
	m.indexDuration.Observe(d.Seconds())
}

// WebhookAttempt records one delivery attempt.
func (m *Metrics) WebhookAttempt(result string) {
	if m == nil {
		return
	}
	m.webhookAttempts.WithLabelValues(result).Inc()
}

// SetPending replaces the pending-workflow gauge with counts by state.
func (m *Metrics) SetPending(byState map[string]int) {
	if m == nil {
		return
	}
	m.pending.Reset()
	for state, n := range byState {
		m.pending.WithLabelValues(state).Set(float64(n))
	}
}

// SetQueueDepth replaces the River job gauge with counts by queue and state.
func (m *Metrics) SetQueueDepth(counts map[[2]string]int) {
	if m == nil {
		return
	}
	m.queueDepth.Reset()
	for k, n := range counts {
		m.queueDepth.WithLabelValues(k[0], k[1]).Set(float64(n))
	}
}

// SetStuckReport records the latest stuck report's total.
func (m *Metrics) SetStuckReport(pending int) {
	if m == nil {
		return
	}
	m.stuckPending.Set(float64(pending))
}

// SetOpenReviews replaces the open-review gauge with counts by age.
func (m *Metrics) SetOpenReviews(byAge map[string]int) {
	if m == nil {
		return
	}
	for age, n := range byAge {
		m.openReviews.WithLabelValues(age).Set(float64(n))
	}
}
