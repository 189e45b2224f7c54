package workflow

import (
	"bytes"
	"context"
	"net/http"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/patientlink/patientlink/internal/link"
	"github.com/patientlink/patientlink/internal/postgres"
)

// BatchItem is one patient of a bulk request as parsed: Err is why it is
// invalid (a *link.ValidationError or link.ErrMalformed), if it is.
type BatchItem struct {
	Request link.Request
	Raw     []byte // the item as sent, compacted: its identity when it could not be parsed
	Err     error
}

// BatchResult is what became of one item: its workflow, or why none.
type BatchResult struct {
	PatientID  string // the item's patient id; empty when it had no valid one
	WorkflowID uuid.UUID
	Err        error
}

// BatchRender renders the answer to a bulk request, stored with its
// idempotency key and replayed byte for byte.
type BatchRender func(batchID uuid.UUID, results []BatchResult) ([]byte, error)

// AcknowledgeBatch accepts a bulk link request in one transaction: each
// valid item as AcknowledgeLink would, set-based. Invalid items, a patient
// named twice (the first wins), and patients already linked or pending get
// their own error and do not stop the others. Either every valid item is
// acknowledged or nothing is.
func (s *Service) AcknowledgeBatch(ctx context.Context, customer link.Customer, items []BatchItem, key string, render BatchRender) (Receipt, error) {
	batchID, err := uuid.NewV7()
	if err != nil {
		return Receipt{}, err
	}
	results := make([]BatchResult, len(items))
	var links []postgres.BatchLink
	var linkItem []int // links[j] is items[linkItem[j]]
	seen := make(map[uuid.UUID]bool, len(items))
	identity := make([][]byte, len(items))
	for i, it := range items {
		if id, err := uuid.Parse(it.Request.Patient.ID); err == nil {
			results[i].PatientID = id.String() // only an id: anything else might be PHI
		}
		identity[i] = it.Raw
		if it.Err == nil && it.Request.Webhook != "" {
			it.Err = checkWebhookOverride(it.Request.Webhook, customer.WebhookURL, s.d.Webhook.AllowInsecure)
		}
		if it.Err != nil {
			results[i].Err = it.Err
			continue
		}
		canonical := it.Request.Canonical()
		identity[i] = canonical
		patient := it.Request.PatientUUID()
		if seen[patient] {
			results[i].Err = link.ErrDuplicatePatient
			continue
		}
		seen[patient] = true
		l, err := s.sealLink(canonical, patient, it.Request.Webhook)
		if err != nil {
			return Receipt{}, err
		}
		links = append(links, l)
		linkItem = append(linkItem, i)
	}

	fingerprinted := requestIdentity(http.MethodPost, "/links", bytes.Join(identity, []byte{'\n'}))
	in := postgres.BatchIntake{
		CustomerID: customer.ID, BatchID: batchID, Items: len(items), Links: links,
		IdempotencyKey: key, IdempotencyTTL: s.d.Maintenance.IdempotencyTTL,
		RequestHash: s.d.Keyring.Fingerprint(fingerprinted),
		SameRequest: func(stored []byte) bool { return s.d.Keyring.FingerprintMatches(stored, fingerprinted) },
	}
	enqueue := func(ctx context.Context, tx pgx.Tx, created []uuid.UUID) error {
		params := make([]river.InsertManyParams, len(created))
		for i, id := range created {
			params[i] = river.InsertManyParams{Args: ProcessArgs{WorkflowID: id, CustomerID: customer.ID, RequestType: link.RequestLink}}
		}
		// COPY: the workflow ids are fresh, so no job can clash with a
		// unique one already queued.
		_, err := s.river.InsertManyFastTx(ctx, tx, params)
		return err
	}
	answer := func(stored []postgres.BatchLinkResult) (postgres.Response, error) {
		for j, r := range stored {
			res := &results[linkItem[j]]
			switch {
			case r.Created:
				res.WorkflowID = links[j].WorkflowID
			case r.LinkedWorkflowID != uuid.Nil:
				res.Err = &link.ConflictError{WorkflowID: r.LinkedWorkflowID, Detail: "this patient is already linked"}
			case r.OpenWorkflowID != uuid.Nil:
				res.Err = &link.ConflictError{WorkflowID: r.OpenWorkflowID, Detail: "a workflow for this patient is still pending"}
			default:
				res.Err = link.ErrPatientBusy
			}
		}
		body, err := render(batchID, results)
		return postgres.Response{Status: http.StatusAccepted, Body: body}, err
	}
	resp, replayed, err := s.d.Store.AcknowledgeBatch(ctx, in, enqueue, answer)
	if err != nil {
		return Receipt{}, err
	}
	return Receipt{Status: resp.Status, Body: resp.Body, Replayed: replayed}, nil
}

// sealLink seals one valid item's patient data under a fresh workflow id,
// as AcknowledgeLink does.
func (s *Service) sealLink(canonical []byte, patient uuid.UUID, webhookURL string) (postgres.BatchLink, error) {
	workflowID, err := uuid.NewV7()
	if err != nil {
		return postgres.BatchLink{}, err
	}
	keyID, sealed, err := s.d.Keyring.Seal(canonical, workflowID[:])
	if err != nil {
		return postgres.BatchLink{}, err
	}
	return postgres.BatchLink{WorkflowID: workflowID, PatientID: patient, WebhookURL: webhookURL, PayloadKeyID: keyID, Payload: sealed}, nil
}

// Batch is a bulk request's progress; another customer's is
// link.ErrNotFound.
func (s *Service) Batch(ctx context.Context, customerID, batchID uuid.UUID) (link.Batch, error) {
	return s.d.Store.Batch(ctx, customerID, batchID)
}
