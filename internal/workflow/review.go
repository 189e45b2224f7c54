package workflow

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/patientlink/patientlink/internal/link"
	"github.com/patientlink/patientlink/internal/postgres"
)

// Errors of the review use cases.
var (
	ErrReviewClosed  = errors.New("the review is already resolved or superseded")
	ErrNotACandidate = errors.New("the internal patient is not one of the review's candidates")
	ErrBadDecision   = errors.New(`decision must be "link" with an internal-patient-id, or "no-match"`)
	ErrReviewStatus  = errors.New("status must be open, resolved or superseded")
)

// ReviewPage is one page of reviews, oldest first, and the cursor to ask
// with next.
type ReviewPage struct {
	Reviews    []link.Review
	NextCursor string
}

// Reviews lists reviews of one status (open, resolved, superseded) after
// cursor ("" for the beginning).
func (s *Service) Reviews(ctx context.Context, status, cursor string, limit int) (ReviewPage, error) {
	switch status {
	case link.ReviewOpen, link.ReviewResolved, link.ReviewSuperseded:
	default:
		return ReviewPage{}, ErrReviewStatus
	}
	after, err := decodeReviewCursor(cursor)
	if err != nil {
		return ReviewPage{}, err
	}
	reviews, next, err := s.d.Store.Reviews(ctx, status, after, limit)
	if err != nil {
		return ReviewPage{}, err
	}
	return ReviewPage{Reviews: reviews, NextCursor: encodeReviewCursor(next)}, nil
}

// Review is one review with its candidates.
func (s *Service) Review(ctx context.Context, id uuid.UUID) (link.Review, error) {
	return s.d.Store.Review(ctx, id)
}

// ReviewDecision is a person's resolution of a review.
type ReviewDecision struct {
	Decision          string // link.DecideLink or link.DecideNoMatch
	InternalPatientID string // with DecideLink: one of the candidates
	Actor, Reason     string
}

// ResolveReview records a person's decision on an open review, in one
// transaction under the review's row lock: for link, the mapping (MANUAL,
// with the actor; the one-to-one rules hold), then the review closed, the
// decision and the action in the history, and a link.resolved event for
// the customer. A second resolution finds the review closed.
func (s *Service) ResolveReview(ctx context.Context, id uuid.UUID, d ReviewDecision) (link.Review, error) {
	if (d.Decision != link.DecideLink && d.Decision != link.DecideNoMatch) || (d.Decision == link.DecideLink) == (d.InternalPatientID == "") {
		return link.Review{}, ErrBadDecision
	}
	var out link.Review
	err := s.d.Store.WithTx(ctx, func(tx pgx.Tx) error {
		rv, err := s.d.Store.LockReviewTx(ctx, tx, id)
		if err != nil {
			return err
		}
		if rv.Status != link.ReviewOpen {
			return ErrReviewClosed
		}
		wf, err := s.d.Store.LockWorkflowTx(ctx, tx, rv.WorkflowID)
		if err != nil {
			return err
		}
		rec := postgres.DecisionRecord{
			Workflow: wf, Decision: link.Decision{Candidates: rv.Candidates, Policy: s.d.Policy},
			Outcome: link.StateNoResults, Rule: link.RuleManualNoMatch, ReviewID: rv.ID, Actor: d.Actor, Reason: d.Reason,
		}
		if d.Decision == link.DecideLink {
			c, ok := rv.Candidate(d.InternalPatientID)
			if !ok {
				return ErrNotACandidate
			}
			if err := s.linkManuallyTx(ctx, tx, wf, c, d.Actor); err != nil {
				return err
			}
			rec.Outcome, rec.Rule, rec.InternalPatientID = link.StateLinked, link.RuleManualLink, c.ID
		}
		rv.Decision, rv.InternalPatientID, rv.Actor, rv.Reason = d.Decision, d.InternalPatientID, d.Actor, d.Reason
		if out, err = s.d.Store.ResolveReviewTx(ctx, tx, rv); err != nil {
			return err
		}
		if err := s.d.Store.RecordDecisionTx(ctx, tx, rec); err != nil {
			return err
		}
		if err := s.d.Store.RecordActionTx(ctx, tx, postgres.Action{
			Actor: d.Actor, Action: "resolve-review", CustomerID: rv.CustomerID, WorkflowID: rv.WorkflowID, Reason: d.Reason,
			Detail: map[string]any{"review_id": rv.ID, "decision": d.Decision, "internal_patient_id": d.InternalPatientID},
		}); err != nil {
			return err
		}
		outcome := rec.Outcome
		data := EventData{
			WorkflowID: wf.ID, PatientID: wf.PatientID, RequestType: wf.RequestType, Outcome: &outcome,
			Status: link.StateCompleted, InternalPatientID: rec.InternalPatientID, Rule: rec.Rule,
			Resolution: &Resolution{Decision: d.Decision, PreviousOutcome: rv.Outcome},
		}
		_, err = s.recordEventTx(ctx, tx, wf, EventLinkResolved, data)
		return err
	})
	return out, err
}

// linkManuallyTx links wf's patient to a candidate a person chose, inside
// tx. The database's one-to-one rules hold: an internal patient another of
// the customer's patients holds is a *link.TakenError naming it.
func (s *Service) linkManuallyTx(ctx context.Context, tx pgx.Tx, wf link.Workflow, c link.Match, actor string) error {
	linked, err := s.d.Store.LinkPatientTx(ctx, tx, wf, c, link.LinkManual, actor)
	if err != nil || linked {
		return err
	}
	holder, err := s.d.Store.MappingHolderTx(ctx, tx, wf.CustomerID, c.ID)
	if errors.Is(err, link.ErrNotFound) { // the patient itself is linked meanwhile
		return &link.ConflictError{WorkflowID: wf.ID, Detail: "this patient is already linked"}
	}
	if err != nil {
		return err
	}
	return &link.TakenError{InternalPatientID: c.ID, PatientID: holder}
}

// A review cursor is opaque: base64url of "r1.<created unix nanos>.<id>".
func encodeReviewCursor(c postgres.ReviewCursor) string {
	if c.ID == uuid.Nil {
		return base64.RawURLEncoding.EncodeToString([]byte("r1.0." + uuid.Nil.String()))
	}
	return base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("r1.%d.%s", c.CreatedAt.UnixNano(), c.ID)))
}

func decodeReviewCursor(s string) (postgres.ReviewCursor, error) {
	if s == "" {
		return postgres.ReviewCursor{CreatedAt: time.Unix(0, 0)}, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return postgres.ReviewCursor{}, ErrBadCursor
	}
	parts := strings.Split(string(raw), ".")
	if len(parts) != 3 || parts[0] != "r1" {
		return postgres.ReviewCursor{}, ErrBadCursor
	}
	nanos, err1 := strconv.ParseInt(parts[1], 10, 64)
	id, err2 := uuid.Parse(parts[2])
	if err1 != nil || err2 != nil {
		return postgres.ReviewCursor{}, ErrBadCursor
	}
	return postgres.ReviewCursor{CreatedAt: time.Unix(0, nanos), ID: id}, nil
}
