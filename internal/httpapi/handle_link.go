package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/mux"
	"github.com/jackc/pgx/v5"

	"github.com/patientlink/patientlink/internal/jobs"
	"github.com/patientlink/patientlink/internal/link"
	"github.com/patientlink/patientlink/internal/postgres"
	"github.com/patientlink/patientlink/internal/webhook"
)

type linkAccepted struct {
	WorkflowID uuid.UUID  `json:"workflow-id"`
	Status     link.State `json:"status"`
}

// handleLinkCreate is POST /link: validate, then acknowledge in one
// transaction (idempotency record, workflow, history, sealed payload, job).
func handleLinkCreate(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		customer := customerFrom(r.Context())
		key, p := idempotencyKey(r)
		if p != nil {
			writeProblem(w, r, p)
			return
		}
		if !isJSON(r.Header.Get("Content-Type")) {
			writeProblem(w, r, errMediaType)
			return
		}
		body, p := readBody(w, r, d.MaxBodyBytes)
		if p != nil {
			writeProblem(w, r, p)
			return
		}
		req, err := link.ParseRequest(body, d.Now())
		var verr *link.ValidationError
		switch {
		case errors.Is(err, link.ErrMalformed):
			writeProblem(w, r, errMalformed)
			return
		case errors.As(err, &verr):
			writeProblem(w, r, validationProblem(verr.Fields))
			return
		}
		if req.Webhook != "" {
			detail := ""
			if err := webhook.ValidateURL(req.Webhook, d.AllowInsecureWebhooks); err != nil {
				detail = "must be an https URL without credentials or fragment"
			} else if !sameOrigin(req.Webhook, customer.WebhookURL) {
				detail = "must have the same origin (scheme, host, port) as the registered webhook URL"
			}
			if detail != "" {
				writeProblem(w, r, validationProblem([]link.FieldError{{Pointer: "/webhook", Detail: detail}}))
				return
			}
		}

		workflowID, err := uuid.NewV7()
		if err != nil {
			serverError(d.Logger, w, r, err)
			return
		}
		canonical := req.Canonical()
		keyID, sealed, err := d.Keyring.Seal(canonical, workflowID[:])
		if err != nil {
			serverError(d.Logger, w, r, err)
			return
		}
		acknowledge(d, w, r, postgres.Intake{
			CustomerID:     customer.ID,
			WorkflowID:     workflowID,
			PatientID:      req.PatientUUID(),
			RequestType:    link.RequestLink,
			WebhookURL:     req.Webhook,
			IdempotencyKey: key,
			RequestHash:    requestHash(r.Method, "/link", canonical),
			PayloadKeyID:   keyID,
			Payload:        sealed,
		})
	})
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
		workflowID, err := uuid.NewV7()
		if err != nil {
			serverError(d.Logger, w, r, err)
			return
		}
		acknowledge(d, w, r, postgres.Intake{
			CustomerID:     customerFrom(r.Context()).ID,
			WorkflowID:     workflowID,
			PatientID:      patientID,
			RequestType:    link.RequestDelink,
			IdempotencyKey: key,
			RequestHash:    requestHash(r.Method, "/link/"+patientID.String(), nil),
		})
	})
}

// acknowledge stores an intake with its answer and its link.process job in
// one transaction and answers (or replays) it.
func acknowledge(d Deps, w http.ResponseWriter, r *http.Request, in postgres.Intake) {
	accepted, _ := json.Marshal(linkAccepted{WorkflowID: in.WorkflowID, Status: link.StateReceived})
	in.IdempotencyTTL = d.IdempotencyTTL
	in.Response = postgres.Response{Status: http.StatusAccepted, Body: accepted}
	args := jobs.LinkProcessArgs{WorkflowID: in.WorkflowID, CustomerID: in.CustomerID, RequestType: in.RequestType}
	resp, replayed, err := d.Store.Acknowledge(r.Context(), in, func(ctx context.Context, tx pgx.Tx) error {
		_, err := d.River.InsertTx(ctx, tx, args, nil)
		return err
	})
	writeAcknowledgement(d, w, r, resp, replayed, err)
}

// writeAcknowledgement answers an intake: the (possibly replayed) stored
// response, or the problem the store reported.
func writeAcknowledgement(d Deps, w http.ResponseWriter, r *http.Request, resp postgres.Response, replayed bool, err error) {
	var conflict *link.ConflictError
	switch {
	case errors.As(err, &conflict):
		p := problem(http.StatusConflict, "conflict", "Conflict", conflict.Detail)
		p.WorkflowID = &conflict.WorkflowID
		writeProblem(w, r, p)
		return
	case errors.Is(err, link.ErrIdempotencyMismatch):
		writeProblem(w, r, errKeyMismatch)
		return
	case errors.Is(err, link.ErrNotFound):
		writeProblem(w, r, problem(http.StatusNotFound, "not-linked", "Not linked", "this patient has no LINKED mapping to de-link"))
		return
	case err != nil:
		serverError(d.Logger, w, r, err)
		return
	}
	if resp.WorkflowID != uuid.Nil {
		noteWorkflow(r.Context(), resp.WorkflowID.String(), replayed)
	}
	if replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	if resp.Status == http.StatusAccepted && resp.WorkflowID != uuid.Nil {
		w.Header().Set("Location", "/link/status/"+resp.WorkflowID.String())
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(resp.Status)
	_, _ = w.Write(resp.Body)
}

type linkStatus struct {
	WorkflowID   uuid.UUID         `json:"workflow-id"`
	Status       link.State        `json:"status"`
	RequestType  link.RequestType  `json:"request-type"`
	PatientID    uuid.UUID         `json:"patient-id"`
	Outcome      *link.State       `json:"outcome"`
	Reason       string            `json:"reason,omitempty"`
	Notification *notificationView `json:"notification,omitempty"`
	CreatedAt    time.Time         `json:"created_at"`
	UpdatedAt    time.Time         `json:"updated_at"`
}

type notificationView struct {
	Status        string     `json:"status"`
	Attempts      int        `json:"attempts"`
	LastAttemptAt *time.Time `json:"last_attempt_at"`
	LastError     *string    `json:"last_error"`
}

func notificationOf(n link.Notification) *notificationView {
	if n.Status == "" {
		return nil
	}
	v := &notificationView{Status: n.Status, Attempts: n.Attempts}
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
		wf, active, err := d.Store.WorkflowForStatus(r.Context(), customerFrom(r.Context()).ID, id)
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
		if wf.Status.IsPending() && d.StatusRetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(d.StatusRetryAfter))
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

// idempotencyKey reads the required Idempotency-Key: 1–255 printable ASCII.
func idempotencyKey(r *http.Request) (string, *Problem) {
	key := r.Header.Get("Idempotency-Key")
	if key == "" {
		return "", problem(http.StatusBadRequest, "idempotency-key-missing", "Idempotency-Key missing", "the Idempotency-Key header is required")
	}
	if len(key) > 255 {
		return "", problem(http.StatusBadRequest, "idempotency-key-invalid", "Idempotency-Key invalid", "the Idempotency-Key must be 1 to 255 printable ASCII characters")
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x20 || key[i] > 0x7e {
			return "", problem(http.StatusBadRequest, "idempotency-key-invalid", "Idempotency-Key invalid", "the Idempotency-Key must be 1 to 255 printable ASCII characters")
		}
	}
	return key, nil
}

func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/json"
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

// sameOrigin compares scheme, host and port (RFC 6454), default ports
// included.
func sameOrigin(a, b string) bool {
	ua, errA := url.Parse(a)
	ub, errB := url.Parse(b)
	if errA != nil || errB != nil {
		return false
	}
	port := func(u *url.URL) string {
		if p := u.Port(); p != "" {
			return p
		}
		if u.Scheme == "https" {
			return "443"
		}
		return "80"
	}
	return ua.Scheme == ub.Scheme && ua.Hostname() == ub.Hostname() && port(ua) == port(ub)
}

// requestHash identifies a request for idempotency: the same key with
// another hash is a different request.
func requestHash(method, route string, canonicalBody []byte) []byte {
	h := sha256.New()
	h.Write([]byte(method + " " + route + "\n"))
	h.Write(canonicalBody)
	return h.Sum(nil)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
