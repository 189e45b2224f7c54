package workflow

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/patientlink/patientlink/internal/link"
	"github.com/patientlink/patientlink/internal/postgres"
	"github.com/patientlink/patientlink/internal/webhook"
)

// Receipt is the answer to an acknowledged request: stored with its
// idempotency key and replayed byte for byte for the same key.
type Receipt struct {
	WorkflowID uuid.UUID
	Status     int // the HTTP status first answered
	Body       []byte
	Replayed   bool
}

type accepted struct {
	WorkflowID uuid.UUID  `json:"workflow-id"`
	Status     link.State `json:"status"`
}

// AcknowledgeLink accepts a link request in one transaction: idempotency
// record, workflow RECEIVED with its history, sealed payload and the
// link.process job. A per-request webhook must be a valid URL of the
// customer's registered origin (a *link.ValidationError otherwise).
func (s *Service) AcknowledgeLink(ctx context.Context, customer link.Customer, req link.Request, key string) (Receipt, error) {
	if req.Webhook != "" {
		if err := checkWebhookOverride(req.Webhook, customer.WebhookURL, s.d.Webhook.AllowInsecure); err != nil {
			return Receipt{}, err
		}
	}
	canonical := req.Canonical()
	l, err := s.sealLink(canonical, req.PatientUUID(), req.Webhook)
	if err != nil {
		return Receipt{}, err
	}
	return s.acknowledge(ctx, postgres.Intake{
		CustomerID:     customer.ID,
		WorkflowID:     l.WorkflowID,
		PatientID:      l.PatientID,
		RequestType:    link.RequestLink,
		WebhookURL:     l.WebhookURL,
		IdempotencyKey: key,
		RequestHash:    requestIdentity(http.MethodPost, "/link", canonical),
		PayloadKeyID:   l.PayloadKeyID,
		Payload:        l.Payload,
	})
}

// AcknowledgeDelink accepts a de-link request for a LINKED patient, with
// the same idempotency rules as a link. A patient with no LINKED mapping
// is link.ErrNotFound.
func (s *Service) AcknowledgeDelink(ctx context.Context, customerID, patientID uuid.UUID, key string) (Receipt, error) {
	workflowID, err := uuid.NewV7()
	if err != nil {
		return Receipt{}, err
	}
	return s.acknowledge(ctx, postgres.Intake{
		CustomerID:     customerID,
		WorkflowID:     workflowID,
		PatientID:      patientID,
		RequestType:    link.RequestDelink,
		IdempotencyKey: key,
		RequestHash:    requestIdentity(http.MethodDelete, "/link/"+patientID.String(), nil),
	})
}

func (s *Service) acknowledge(ctx context.Context, in postgres.Intake) (Receipt, error) {
	body, err := json.Marshal(accepted{WorkflowID: in.WorkflowID, Status: link.StateReceived})
	if err != nil {
		return Receipt{}, err
	}
	in.IdempotencyTTL = s.d.Maintenance.IdempotencyTTL
	fingerprinted := in.RequestHash
	in.RequestHash = s.d.Keyring.Fingerprint(fingerprinted)
	in.SameRequest = func(stored []byte) bool { return s.d.Keyring.FingerprintMatches(stored, fingerprinted) }
	in.Response = postgres.Response{Status: http.StatusAccepted, Body: body}
	args := ProcessArgs{WorkflowID: in.WorkflowID, CustomerID: in.CustomerID, RequestType: in.RequestType}
	resp, replayed, err := s.d.Store.Acknowledge(ctx, in, func(ctx context.Context, tx pgx.Tx) error {
		_, err := s.river.InsertTx(ctx, tx, args, nil)
		return err
	})
	if err != nil {
		return Receipt{}, err
	}
	return Receipt{WorkflowID: resp.WorkflowID, Status: resp.Status, Body: resp.Body, Replayed: replayed}, nil
}

// CheckWebhook checks a per-request webhook for customer as AcknowledgeLink
// does, so a request's every bad field can be listed at once: a
// *link.ValidationError naming /webhook, or nil.
func (s *Service) CheckWebhook(customer link.Customer, raw string) error {
	return checkWebhookOverride(raw, customer.WebhookURL, s.d.Webhook.AllowInsecure)
}

// checkWebhookOverride allows a per-request webhook only at the origin the
// customer registered: a token cannot send outcomes elsewhere.
func checkWebhookOverride(raw, registered string, allowInsecure bool) error {
	detail := ""
	if err := webhook.ValidateURL(raw, allowInsecure); err != nil {
		detail = "must be an https URL without credentials or fragment"
	} else if !sameOrigin(raw, registered) {
		detail = "must have the same origin (scheme, host, port) as the registered webhook URL"
	}
	if detail == "" {
		return nil
	}
	return &link.ValidationError{Fields: []link.FieldError{{Pointer: "/webhook", Detail: detail}}}
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

// requestIdentity is what identifies a request for idempotency (the
// same key with another request is refused): method, route and canonical
// body. acknowledge stores only its keyed fingerprint (seal.Keyring), never
// a plain hash: the body is demographics, which a plain hash would give
// away to a guessing loop.
func requestIdentity(method, route string, canonicalBody []byte) []byte {
	return fmt.Appendf(nil, "%s %s\n%s", method, route, canonicalBody)
}
