package httpapi

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/mux"

	"github.com/patientlink/patientlink/internal/link"
	"github.com/patientlink/patientlink/internal/workflow"
)

// handleLinkCreate is POST /link: validate, then acknowledge in one
// transaction (idempotency record, workflow, history, sealed payload, job).
func handleLinkCreate(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, body, p := readIntake(w, r, d.Config.MaxBodyBytes)
		if p != nil {
			writeProblem(w, r, p)
			return
		}
		req, err := parseLinkRequest(d, r, body)
		if err != nil {
			writeAcknowledgement(d, w, r, workflow.Receipt{}, err)
			return
		}
		receipt, err := d.Service.AcknowledgeLink(r.Context(), customerFrom(r.Context()), req, key)
		writeAcknowledgement(d, w, r, receipt, err)
	})
}

// readIntake reads what every intake needs before its body is parsed: the
// Idempotency-Key, a JSON Content-Type and a body of at most limit bytes.
func readIntake(w http.ResponseWriter, r *http.Request, limit int64) (string, []byte, *Problem) {
	key, p := idempotencyKey(r)
	if p != nil {
		return "", nil, p
	}
	if p := mediaTypeProblem(r.Header.Get("Content-Type")); p != nil {
		return "", nil, p
	}
	body, p := readBody(w, r, limit)
	return key, body, p
}

// parseLinkRequest parses one link request, checking its webhook against
// the customer's too, so a 422 lists every bad field at once.
func parseLinkRequest(d Deps, r *http.Request, body []byte) (link.Request, error) {
	req, err := link.ParseRequest(body, d.Now())
	var verr *link.ValidationError
	if errors.As(err, &verr) && req.Webhook != "" {
		// The webhook's origin rule needs the customer.
		var werr *link.ValidationError
		if errors.As(d.Service.CheckWebhook(customerFrom(r.Context()), req.Webhook), &werr) {
			err = verr.With(werr.Fields...)
		}
	}
	return req, err
}

// handleLinkDelete is DELETE /link/{patientID}: acknowledge a DELINK
// workflow, with the same idempotency rules as POST /link.
func handleLinkDelete(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		patientID, err := uuid.Parse(mux.Vars(r)["patientID"])
		if err != nil {
			writeProblem(w, r, errNotFound)
			return
		}
		key, p := idempotencyKey(r)
		if p != nil {
			writeProblem(w, r, p)
			return
		}
		receipt, err := d.Service.AcknowledgeDelink(r.Context(), customerFrom(r.Context()).ID, patientID, key)
		writeAcknowledgement(d, w, r, receipt, err)
	})
}

// writeAcknowledgement answers an intake: the (possibly replayed) stored
// response, or the problem the use case reported.
func writeAcknowledgement(d Deps, w http.ResponseWriter, r *http.Request, rc workflow.Receipt, err error) {
	if err != nil {
		if p := acknowledgementProblem(err); p != nil {
			writeProblem(w, r, p)
		} else {
			serverError(d.Logger, w, r, err)
		}
		return
	}
	if rc.WorkflowID != uuid.Nil {
		noteWorkflow(r.Context(), rc.WorkflowID.String(), rc.Replayed)
	}
	if rc.Replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	if rc.Status == http.StatusAccepted && rc.WorkflowID != uuid.Nil {
		w.Header().Set("Location", "/link/status/"+rc.WorkflowID.String())
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(rc.Status)
	_, _ = w.Write(rc.Body)
}

// acknowledgementProblem is the problem an intake error is answered with;
// nil for an unexpected error (a 500).
func acknowledgementProblem(err error) *Problem {
	var conflict *link.ConflictError
	var verr *link.ValidationError
	switch {
	case errors.Is(err, link.ErrMalformed):
		p := *errMalformed
		if msg := err.Error(); msg != link.ErrMalformed.Error() {
			p.Detail = msg
		}
		return &p
	case errors.As(err, &verr):
		return validationProblem(verr.Fields)
	case errors.As(err, &conflict):
		p := problem(http.StatusConflict, "conflict", "Conflict", conflict.Detail)
		p.WorkflowID = &conflict.WorkflowID
		return p
	case errors.Is(err, link.ErrIdempotencyMismatch):
		return errKeyMismatch
	case errors.Is(err, link.ErrNotFound):
		return problem(http.StatusNotFound, "not-linked", "Not linked", "this patient has no LINKED mapping to de-link")
	case errors.Is(err, link.ErrDuplicatePatient):
		return problem(http.StatusUnprocessableEntity, "duplicate-patient", "Duplicate patient", err.Error())
	case errors.Is(err, link.ErrPatientBusy):
		return problem(http.StatusConflict, "conflict", "Conflict", err.Error())
	}
	return nil
}

type linkStatus struct {
	WorkflowID   uuid.UUID         `json:"workflow-id"`
	Status       link.State        `json:"status"`
	RequestType  link.RequestType  `json:"request-type"`
	PatientID    uuid.UUID         `json:"patient-id"`
	Outcome      *link.State       `json:"outcome"`
	Reason       string            `json:"reason,omitempty"`
	Notification *notificationView `json:"notification,omitempty"`
	Decision     *decisionView     `json:"decision,omitempty"`
	Review       *reviewView       `json:"review,omitempty"`
	CreatedAt    time.Time         `json:"created-at"`
	UpdatedAt    time.Time         `json:"updated-at"`
}

type notificationView struct {
	EventID       string     `json:"event-id"`
	Status        string     `json:"status"`
	Attempts      int        `json:"attempts"`
	LastAttemptAt *time.Time `json:"last-attempt-at"`
	LastError     *string    `json:"last-error"`
}

// decisionView says which rule decided the outcome and, for CONFLICT,
// which of the customer's own patients holds the match. Internal candidate
// ids are not shown: they would name people who are not the customer's.
type decisionView struct {
	Rule              link.Rule  `json:"rule"`
	ConflictPatientID *uuid.UUID `json:"conflicting-patient-id,omitempty"`
}

// reviewView is where a person's review of an uncertain outcome stands,
// and, once resolved, what was decided: the new outcome beside the first.
type reviewView struct {
	Status   string      `json:"status"`
	Decision string      `json:"decision,omitempty"`
	Outcome  *link.State `json:"outcome,omitempty"`
	ClosedAt *time.Time  `json:"closed-at,omitempty"`
}

func decisionOf(wf link.Workflow) *decisionView {
	if wf.Rule == "" {
		return nil
	}
	v := &decisionView{Rule: wf.Rule}
	if wf.ConflictPatientID != uuid.Nil {
		v.ConflictPatientID = &wf.ConflictPatientID
	}
	return v
}

func reviewOf(r link.ReviewState) *reviewView {
	if r.Status == "" {
		return nil
	}
	v := &reviewView{Status: r.Status, Decision: r.Decision}
	switch r.Decision {
	case link.DecideLink:
		o := link.StateLinked
		v.Outcome = &o
	case link.DecideNoMatch:
		o := link.StateNoResults
		v.Outcome = &o
	}
	if !r.ClosedAt.IsZero() {
		at := r.ClosedAt.UTC()
		v.ClosedAt = &at
	}
	return v
}

func notificationOf(n link.Notification) *notificationView {
	if n.Status == "" {
		return nil
	}
	v := &notificationView{EventID: n.EventID, Status: n.Status, Attempts: n.Attempts}
	if !n.LastAttemptAt.IsZero() {
		at := n.LastAttemptAt.UTC()
		v.LastAttemptAt = &at
	}
	if n.LastError != "" {
		v.LastError = &n.LastError
	}
	return v
}

// handleLinkStatus is GET /link/status/{workflowID}. Another customer's
// workflow is a 404, exactly like a missing one. Customers poll it, so it
// costs one indexed read, answers If-None-Match with 304, and tells a
// pending workflow's pollers when to come back (Retry-After).
func handleLinkStatus(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := uuid.Parse(mux.Vars(r)["workflowID"])
		if err != nil {
			writeProblem(w, r, errNotFound)
			return
		}
		wf, active, err := d.Service.Status(r.Context(), customerFrom(r.Context()).ID, id)
		switch {
		case errors.Is(err, link.ErrNotFound):
			writeProblem(w, r, errNotFound)
			return
		case err != nil:
			serverError(d.Logger, w, r, err)
			return
		case !active:
			writeProblem(w, r, errUnauthorized)
			return
		}
		st := linkStatus{
			WorkflowID: wf.ID, Status: wf.Status, RequestType: wf.RequestType, PatientID: wf.PatientID,
			Reason: wf.Reason, Notification: notificationOf(wf.Notification),
			Decision: decisionOf(wf), Review: reviewOf(wf.Review),
			CreatedAt: wf.CreatedAt.UTC(), UpdatedAt: wf.UpdatedAt.UTC(),
		}
		if wf.Outcome != "" {
			st.Outcome = &wf.Outcome
		}
		body, _ := json.Marshal(st)
		sum := sha256.Sum256(body)
		etag := `"` + hex.EncodeToString(sum[:12]) + `"`
		w.Header().Set("ETag", etag)
		w.Header().Set("Cache-Control", "no-cache")
		if wf.Status.IsPending() && d.Config.StatusRetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(d.Config.StatusRetryAfter))
		}
		if etagMatches(r.Header.Get("If-None-Match"), etag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(append(body, '\n'))
	})
}

// etagMatches applies If-None-Match (RFC 9110 §13.1.2, weak comparison).
func etagMatches(header, etag string) bool {
	for _, candidate := range strings.Split(header, ",") {
		candidate = strings.TrimPrefix(strings.TrimSpace(candidate), "W/")
		if candidate == "*" || candidate == etag {
			return true
		}
	}
	return false
}

var errKeyInvalid = problem(http.StatusBadRequest, "idempotency-key-invalid", "Idempotency-Key invalid",
	"the Idempotency-Key must be one header of 1 to 255 printable ASCII characters, not only spaces")

// idempotencyKey reads the required Idempotency-Key: one header, 1–255
// printable ASCII, not blank. HTTP drops the spaces around a header value
// (RFC 9110 §5.5), so " k " arrives as "k": the spec says so.
func idempotencyKey(r *http.Request) (string, *Problem) {
	values, ok := r.Header["Idempotency-Key"]
	if !ok {
		return "", problem(http.StatusBadRequest, "idempotency-key-missing", "Idempotency-Key missing", "the Idempotency-Key header is required")
	}
	if len(values) != 1 {
		return "", errKeyInvalid
	}
	key := values[0]
	if strings.Trim(key, " \t") == "" || len(key) > 255 {
		return "", errKeyInvalid
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x20 || key[i] > 0x7e {
			return "", errKeyInvalid
		}
	}
	return key, nil
}

// mediaTypeProblem checks a request's Content-Type: application/json,
// in UTF-8 if a charset is named (RFC 8259 §8.1).
func mediaTypeProblem(contentType string) *Problem {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "application/json" {
		return errMediaType
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return problem(http.StatusUnsupportedMediaType, "unsupported-media-type", "Unsupported media type", "the body must be UTF-8 (charset=utf-8 or none)")
	}
	return nil
}

func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, *Problem) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, problem(http.StatusRequestEntityTooLarge, "body-too-large", "Body too large", fmt.Sprintf("the body must be at most %d bytes", limit))
	}
	if err != nil {
		return nil, errMalformed
	}
	return body, nil
}

func validationProblem(fields []link.FieldError) *Problem {
	p := problem(http.StatusUnprocessableEntity, "validation", "Invalid request", "one or more fields are invalid; see errors")
	p.Errors = fields
	return p
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
