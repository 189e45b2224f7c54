package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/patientlink/patientlink/internal/link"
	"github.com/patientlink/patientlink/internal/postgres/internal/dbsqlc"
)

// LinkPatientTx records the LINKED mapping of wf's patient to m.ID with its
// history event; source is link.LinkAuto, or link.LinkManual with the
// person who decided. linked is false when a LINKED mapping already holds
// the internal patient (or the patient).
func (s *Store) LinkPatientTx(ctx context.Context, tx pgx.Tx, wf link.Workflow, m link.Match, source, actor string) (linked bool, err error) {
	_, err = s.q.MappingLink(ctx, tx, dbsqlc.MappingLinkParams{
		CustomerID: wf.CustomerID, CustomerPatientID: wf.PatientID, InternalPatientID: m.ID,
		Score: m.Score, WorkflowID: wf.ID, LinkSource: source, LinkedBy: nullString(actor),
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("error inserting mapping: %w", err)
	}
	return true, nil
}

// DelinkPatientTx marks wf's patient's LINKED mapping DE-LINKED, with its
// history event; found is false when there was none.
func (s *Store) DelinkPatientTx(ctx context.Context, tx pgx.Tx, wf link.Workflow) (found bool, err error) {
	_, err = s.q.MappingDelink(ctx, tx, dbsqlc.MappingDelinkParams{
		WorkflowID: &wf.ID, CustomerID: wf.CustomerID, CustomerPatientID: wf.PatientID,
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("error de-linking mapping: %w", err)
	}
	return true, nil
}

// Mapping is a patient's current mapping: the LINKED one, else the latest.
func (s *Store) Mapping(ctx context.Context, customerID, patientID uuid.UUID) (link.Mapping, error) {
	row, err := s.q.MappingGetLatest(ctx, s.pool, dbsqlc.MappingGetLatestParams{CustomerID: customerID, CustomerPatientID: patientID})
	if err != nil {
		return link.Mapping{}, interpretError(err)
	}
	m := link.Mapping{
		CustomerID: row.CustomerID, CustomerPatientID: row.CustomerPatientID, InternalPatientID: row.InternalPatientID,
		Status: row.Status, Score: row.Score, Source: row.LinkSource, WorkflowID: row.WorkflowID, LinkedAt: row.LinkedAt,
	}
	if row.DelinkWorkflowID != nil {
		m.DelinkWorkflowID = *row.DelinkWorkflowID
	}
	if row.DelinkedAt != nil {
		m.DelinkedAt = *row.DelinkedAt
	}
	return m, nil
}
