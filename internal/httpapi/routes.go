package httpapi

import (
	"net/http"

	"github.com/gorilla/mux"
)

// Routes lists every route of the customer listener, before the outer
// middleware (the OpenAPI test walks it).
func Routes(d Deps) *mux.Router {
	if d.Now == nil {
		d.Now = timeNow
	}
	r := newRouter(d)

	// One bucket per customer, shared by every customer route.
	limiter := newRateLimiter(d.Config.RateLimit, d.Config.RateBurst)
	gate := newTokenGate(d.Tokens, d.Service, d.Now)
	customer := requireCustomer(d.Logger, gate, d.Service, limiter)
	r.Handle("/link", customer(handleLinkCreate(d))).Methods(http.MethodPost)
	r.Handle("/links", customer(handleLinksCreate(d))).Methods(http.MethodPost)
	r.Handle("/batches/{batchID}", customer(handleBatchGet(d))).Methods(http.MethodGet)
	r.Handle("/link/status/{workflowID}", requireToken(d.Logger, gate, limiter, handleLinkStatus(d))).Methods(http.MethodGet)
	r.Handle("/link/{patientID}", customer(handleLinkDelete(d))).Methods(http.MethodDelete)
	r.Handle("/patient/{patientID}", customer(handlePatientGet(d))).Methods(http.MethodGet)
	r.Handle("/patient/{patientID}/history", customer(handlePatientHistory(d))).Methods(http.MethodGet)
	r.Handle("/patients", customer(handlePatientsList(d))).Methods(http.MethodGet)
	r.Handle("/mappings", customer(handleMappingsList(d))).Methods(http.MethodGet)
	r.Handle("/events", customer(handleEventsList(d))).Methods(http.MethodGet)
	r.Handle("/events/{eventID}/redeliver", customer(handleEventRedeliver(d))).Methods(http.MethodPost)
	r.Handle("/healthz", handleHealthz()).Methods(http.MethodGet)
	r.Handle("/readyz", handleReadyz(d)).Methods(http.MethodGet)
	r.Handle("/openapi.yaml", handleOpenAPI(d.OpenAPI)).Methods(http.MethodGet)
	if d.Metrics != nil && d.Config.OperatorAddr == "" {
		r.Handle("/metrics", d.Metrics.Handler()).Methods(http.MethodGet)
	}
	return r
}

// OperatorRoutes lists every route of the operator listener
// (PATIENTLINK_OPERATOR_ADDR): the index's callbacks, the admin endpoints
// and the metrics, kept off the address customers reach.
func OperatorRoutes(d Deps) *mux.Router {
	if d.Now == nil {
		d.Now = timeNow
	}
	r := newRouter(d)
	r.Handle("/internal/search-results/{searchID}", handleSearchResults(d)).Methods(http.MethodPost)
	r.Handle("/admin/workflows/{workflowID}/redeliver", requireAdmin(d.Config.AdminToken, handleAdminRedeliver(d))).Methods(http.MethodPost)
	r.Handle("/admin/reviews", requireAdmin(d.Config.AdminToken, handleReviewsList(d))).Methods(http.MethodGet)
	r.Handle("/admin/reviews/{reviewID}", requireAdmin(d.Config.AdminToken, handleReviewGet(d))).Methods(http.MethodGet)
	r.Handle("/admin/reviews/{reviewID}/resolve", requireAdmin(d.Config.AdminToken, handleReviewResolve(d))).Methods(http.MethodPost)
	if d.Metrics != nil {
		r.Handle("/metrics", d.Metrics.Handler()).Methods(http.MethodGet)
	}
	return r
}

// newRouter is a router with patientlink's manners: an unclean path
// (//link, /./link) is a 404, not a 301 redirect that would turn a POST
// into a GET; unknown routes and methods are problems (405 with Allow).
func newRouter(d Deps) *mux.Router {
	r := mux.NewRouter().SkipClean(true)
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { writeProblem(w, r, errNotFound) })
	r.MethodNotAllowedHandler = methodNotAllowed(r)
	r.Use(noteRoute, withMetrics(d.Metrics))
	return r
}

// NewServer builds the customer listener's handler: the routes behind
// request ids, panic recovery, access logs, header and load limits.
func NewServer(d Deps) http.Handler {
	return withRequestID(withRecover(d.Logger, withAccessLog(d.Logger,
		withHeaderLimit(d.Config.MaxHeaderBytes, withInflightLimit(d.Config.MaxInFlight, withMethods(Routes(d)))))))
}

// NewOperatorServer builds the operator listener's handler, behind the
// same request ids, recovery and access logs.
func NewOperatorServer(d Deps) http.Handler {
	return withRequestID(withRecover(d.Logger, withAccessLog(d.Logger, withMethods(OperatorRoutes(d)))))
}
