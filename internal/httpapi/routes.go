package httpapi

import (
	"net/http"

	"github.com/gorilla/mux"
)

// Routes lists every route of the API, before the outer middleware (the
// OpenAPI test walks it).
func Routes(d Deps) *mux.Router {
	r := mux.NewRouter()
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { writeProblem(w, r, errNotFound) })
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { writeProblem(w, r, errMethodNotAllow) })
	r.Use(withMetrics(d.Metrics))

	// One bucket per customer, shared by every customer route.
	limiter := newRateLimiter(d.Config.RateLimit, d.Config.RateBurst)
	customer := requireCustomer(d.Logger, d.Tokens, d.Service, limiter)
	r.Handle("/link", customer(handleLinkCreate(d))).Methods(http.MethodPost)
	r.Handle("/link/status/{workflowID}", requireToken(d.Tokens, limiter, handleLinkStatus(d))).Methods(http.MethodGet)
	r.Handle("/link/{patientID}", customer(handleLinkDelete(d))).Methods(http.MethodDelete)
	r.Handle("/patient/{patientID}", customer(handlePatientGet(d))).Methods(http.MethodGet)
	r.Handle("/events", customer(handleEventsList(d))).Methods(http.MethodGet)
	r.Handle("/events/{eventID}/redeliver", customer(handleEventRedeliver(d))).Methods(http.MethodPost)
	r.Handle("/internal/search-results/{searchID}", handleSearchResults(d)).Methods(http.MethodPost)
	r.Handle("/admin/workflows/{workflowID}/redeliver", requireAdmin(d.Config.AdminToken, handleAdminRedeliver(d))).Methods(http.MethodPost)
	r.Handle("/admin/reviews", requireAdmin(d.Config.AdminToken, handleReviewsList(d))).Methods(http.MethodGet)
	r.Handle("/admin/reviews/{reviewID}", requireAdmin(d.Config.AdminToken, handleReviewGet(d))).Methods(http.MethodGet)
	r.Handle("/admin/reviews/{reviewID}/resolve", requireAdmin(d.Config.AdminToken, handleReviewResolve(d))).Methods(http.MethodPost)
	r.Handle("/healthz", handleHealthz()).Methods(http.MethodGet)
	r.Handle("/readyz", handleReadyz(d)).Methods(http.MethodGet)
	r.Handle("/openapi.yaml", handleOpenAPI(d.OpenAPI)).Methods(http.MethodGet)
	if d.Metrics != nil && d.Config.OperatorAddr == "" {
		r.Handle("/metrics", d.Metrics.Handler()).Methods(http.MethodGet)
	}
	return r
}

// NewServer builds the API handler: the routes behind request ids, panic
// recovery, access logs and load shedding.
func NewServer(d Deps) http.Handler {
	if d.Now == nil {
		d.Now = timeNow
	}
	return withRequestID(withRecover(d.Logger, withAccessLog(d.Logger, withInflightLimit(d.Config.MaxInFlight, Routes(d)))))
}
