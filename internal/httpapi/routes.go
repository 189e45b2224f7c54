package httpapi

import (
	"net/http"

	"github.com/gorilla/mux"
)

// addRoutes lists every route of the API.
func addRoutes(d Deps) http.Handler {
	r := mux.NewRouter()
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { writeProblem(w, r, errNotFound) })
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { writeProblem(w, r, errMethodNotAllow) })

	customer := requireCustomer(d.Logger, d.Tokens, d.Store)
	r.Handle("/link", customer(handleLinkCreate(d))).Methods(http.MethodPost)
	r.Handle("/link/status/{workflowID}", customer(handleLinkStatus(d))).Methods(http.MethodGet)
	r.Handle("/link/{patientID}", customer(handleLinkDelete(d))).Methods(http.MethodDelete)
	r.Handle("/patient/{patientID}", customer(handlePatientGet(d))).Methods(http.MethodGet)
	r.Handle("/internal/search-results/{searchID}", handleSearchResults(d)).Methods(http.MethodPost)
	r.Handle("/admin/workflows/{workflowID}/redeliver", requireAdmin(d.AdminToken, handleAdminRedeliver(d))).Methods(http.MethodPost)
	r.Handle("/healthz", handleHealthz()).Methods(http.MethodGet)

	return withRequestID(withRecover(d.Logger, withAccessLog(d.Logger, r)))
}
