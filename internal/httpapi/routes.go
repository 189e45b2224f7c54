package httpapi

import (
	"net/http"

	"github.com/gorilla/mux"
)

// Routes lists every route of the API, before the outer middleware (the
// OpenAPI test walks it).
func Routes(d Deps) *mux.Router {
	// SkipClean: an unclean path (//link, /./link) is a 404, not a 301
	// redirect that would turn a POST into a GET.
	r := mux.NewRouter().SkipClean(true)
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { writeProblem(w, r, errNotFound) })
	r.MethodNotAllowedHandler = methodNotAllowed(r)
	r.Use(withMetrics(d.Metrics))

	// One bucket per customer, shared by every customer route.
	limiter := newRateLimiter(d.Config.RateLimit, d.Config.RateBurst)
	customer := requireCustomer(d.Logger, d.Tokens, d.Service, limiter)
	r.Handle("/link", customer(handleLinkCreate(d))).Methods(http.MethodPost)
	r.Handle("/link/status/{workflowID}", requireToken(d.Tokens, limiter, handleLinkStatus(d))).Methods(http.MethodGet)
	r.Handle("/link/{patientID}", customer(handleLinkDelete(d))).Methods(http.MethodDelete)
	r.Handle("/patient/{patientID}", customer(handlePatientGet(d))).Methods(http.MethodGet)
	r.Handle("/patient/{patientID}/history", customer(handlePatientHistory(d))).Methods(http.MethodGet)
	r.Handle("/patients", customer(handlePatientsList(d))).Methods(http.MethodGet)
	r.Handle("/mappings", customer(handleMappingsList(d))).Methods(http.MethodGet)
	r.Handle("/events", customer(handleEventsList(d))).Methods(http.MethodGet)
	r.Handle("/events/{eventID}/redeliver", customer(handleEventRedeliver(d))).Methods(http.MethodPost)
	r.Handle("/internal/search-results/{searchID}", handleSearchResults(d)).Methods(http.MethodPost)
	r.Handle("/admin/workflows/{workflowID}/redeliver", requireAdmin(d.Config.AdminToken, handleAdminRedeliver(d))).Methods(http.MethodPost)
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
	return withRequestID(withRecover(d.Logger, withAccessLog(d.Logger,
		withHeaderLimit(d.Config.MaxHeaderBytes, withInflightLimit(d.Config.MaxInFlight, withMethods(Routes(d)))))))
}
