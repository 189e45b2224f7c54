package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

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
	return mappingFromRow(row), nil
}

func mappingFromRow(row dbsqlc.PatientMapping) link.Mapping {
	m := link.Mapping{
		CustomerID: row.CustomerID, CustomerPatientID: row.CustomerPatientID, InternalPatientID: row.InternalPatientID,
		Status: row.Status, Score: row.Score, Source: row.LinkSource, WorkflowID: row.WorkflowID, LinkedAt: row.LinkedAt,
		UpdatedAt: row.UpdatedAt, Seq: row.ID,
	}
	if row.DelinkWorkflowID != nil {
		m.DelinkWorkflowID = *row.DelinkWorkflowID
	}
	if row.DelinkedAt != nil {
		m.DelinkedAt = *row.DelinkedAt
	}
	return m
}

func mappingsFromRows(rows []dbsqlc.PatientMapping) []link.Mapping {
	out := make([]link.Mapping, len(rows))
	for i, r := range rows {
		out[i] = mappingFromRow(r)
	}
	return out
}

// MappingCursor is a position in a customer's mappings by update time, then
// row id.
type MappingCursor struct {
	UpdatedAt time.Time
	Seq       int64
}

// Mappings lists up to limit of a customer's mappings after cursor, by
// update time then id, with one status or any (""). Only mappings whose
// transactions have all ended are listed: first the horizon is read, then
// the page, in a later statement, so a mapping changed by a transaction
// that commits late is never behind a cursor already handed out.
func (s *Store) Mappings(ctx context.Context, customerID uuid.UUID, status string, after MappingCursor, limit int) ([]link.Mapping, error) {
	horizon, err := s.q.MappingListHorizon(ctx, s.pool)
	if err != nil {
		return nil, fmt.Errorf("error reading mapping horizon: %w", err)
	}
	var rows []dbsqlc.PatientMapping
	if status == "" {
		rows, err = s.q.MappingList(ctx, s.pool, dbsqlc.MappingListParams{
			CustomerID: customerID, AfterUpdatedAt: after.UpdatedAt, AfterID: after.Seq, Before: horizon, MaxRows: int32(limit),
		})
	} else {
		rows, err = s.q.MappingListByStatus(ctx, s.pool, dbsqlc.MappingListByStatusParams{
			CustomerID: customerID, Status: status, AfterUpdatedAt: after.UpdatedAt, AfterID: after.Seq, Before: horizon, MaxRows: int32(limit),
		})
	}
	if err != nil {
		return nil, fmt.Errorf("error listing mappings: %w", err)
	}
	return mappingsFromRows(rows), nil
}

// MappingsByInternal lists a customer's mappings to an internal patient,
// oldest first: the LINKED one, or all of them with history.
func (s *Store) MappingsByInternal(ctx context.Context, customerID uuid.UUID, internalID string, history bool, limit int) ([]link.Mapping, error) {
	rows, err := s.q.MappingListByInternal(ctx, s.pool, dbsqlc.MappingListByInternalParams{
		CustomerID: customerID, InternalPatientID: internalID, IncludeHistory: history, MaxRows: int32(limit),
	})
	if err != nil {
		return nil, fmt.Errorf("error listing mappings by internal patient: %w", err)
	}
	return mappingsFromRows(rows), nil
}

// PatientHistory lists up to limit workflow transitions and mapping changes
// of a customer's patient, oldest first.
func (s *Store) PatientHistory(ctx context.Context, customerID, patientID uuid.UUID, limit int) ([]link.HistoryEntry, error) {
	rows, err := s.q.HistoryListForPatient(ctx, s.pool, dbsqlc.HistoryListForPatientParams{
		CustomerID: customerID, PatientID: patientID, MaxRows: int32(limit),
	})
	if err != nil {
		return nil, fmt.Errorf("error listing patient history: %w", err)
	}
	out := make([]link.HistoryEntry, len(rows))
	for i, r := range rows {
		out[i] = link.HistoryEntry{
			At: r.At, Kind: link.HistoryKind(r.Kind), WorkflowID: r.WorkflowID, RequestType: link.RequestType(r.RequestType),
			From: deref(r.FromStatus), To: r.ToStatus, Reason: deref(r.Reason), InternalPatientID: deref(r.InternalPatientID),
			Rule: link.Rule(r.Rule),
		}
	}
	return out, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
