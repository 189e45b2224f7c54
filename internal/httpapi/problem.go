package httpapi

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"

	"github.com/google/uuid"

	"github.com/patientlink/patientlink/internal/link"
)

// problemTypeBase prefixes every problem type; docs/openapi.yaml lists them.
const problemTypeBase = "https://patientlink.dev/problems/"

// Problem is an RFC 9457 problem details object.
type Problem struct {
	Type       string            `json:"type"`
	Title      string            `json:"title"`
	Status     int               `json:"status"`
	Detail     string            `json:"detail,omitempty"`
	Instance   string            `json:"instance,omitempty"`
	Errors     []link.FieldError `json:"errors,omitempty"`
	WorkflowID *uuid.UUID        `json:"workflow-id,omitempty"`
	PatientID  *uuid.UUID        `json:"patient-id,omitempty"` // internal-patient-taken: the customer's patient that holds it
	RetryAfter int               `json:"-"`
	// Challenge is the WWW-Authenticate of a 401 (RFC 9110 §11.6.1);
	// Bearer unless set.
	Challenge string `json:"-"`
}

func problem(status int, slug, title, detail string) *Problem {
	return &Problem{Type: problemTypeBase + slug, Title: title, Status: status, Detail: detail}
}

// Problems the API answers with, by slug.
var (
	errUnauthorized   = problem(http.StatusUnauthorized, "unauthorized", "Unauthorized", "a valid customer token is required (Customer-Token or Authorization: Bearer)")
	errNotFound       = problem(http.StatusNotFound, "not-found", "Not found", "no such resource for this customer")
	errMalformed      = problem(http.StatusBadRequest, "malformed-json", "Malformed JSON", "the body is not a JSON object")
	errMediaType      = problem(http.StatusUnsupportedMediaType, "unsupported-media-type", "Unsupported media type", "Content-Type must be application/json")
	errInternal       = problem(http.StatusInternalServerError, "internal", "Internal error", "the request could not be completed; it is safe to retry with the same Idempotency-Key")
	errUnavailable    = problem(http.StatusServiceUnavailable, "unavailable", "Service unavailable", "the database is not reachable; retry later with the same Idempotency-Key")
	errKeyMismatch    = problem(http.StatusUnprocessableEntity, "idempotency-key-reused", "Idempotency-Key reused", "this Idempotency-Key was used with a different request")
	errMethodNotAllow = problem(http.StatusMethodNotAllowed, "method-not-allowed", "Method not allowed", "")
)

func writeProblem(w http.ResponseWriter, r *http.Request, p *Problem) {
	cp := *p
	// A URI reference (RFC 3986): the path percent-encoded, whatever
	// bytes it holds.
	cp.Instance = (&url.URL{Path: r.URL.Path}).EscapedPath()
	w.Header().Set("Content-Type", "application/problem+json")
	if cp.Status == http.StatusUnauthorized {
		challenge := cp.Challenge
		if challenge == "" {
			challenge = `Bearer realm="patientlink"`
		}
		w.Header().Set("WWW-Authenticate", challenge)
	}
	if cp.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(cp.RetryAfter))
	}
	w.WriteHeader(cp.Status)
	_ = json.NewEncoder(w).Encode(cp)
}
