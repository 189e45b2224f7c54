package workflow

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/patientlink/patientlink/internal/link"
	"github.com/patientlink/patientlink/internal/postgres"
)

// Mapping query limits: GET /mappings pages, and the most rows the reverse
// lookup and a patient's history answer with.
const (
	MappingsDefaultLimit = 100
	MappingsMaxLimit     = 500
	lookupMaxRows        = 1000
)

// MappingQuery asks for a customer's mappings: with a status or any (""),
// changed since a time (zero: any), after a cursor ("" for the beginning).
type MappingQuery struct {
	Status       string
	UpdatedSince time.Time
	Cursor       string
	Limit        int
}

// MappingPage is one page of mappings, by update time then id, and the
// cursor to ask with next. At the end the cursor points past the last
// mapping, so asking with it later returns only mappings changed since.
type MappingPage struct {
	Mappings   []link.Mapping
	NextCursor string
}

// Mappings lists a customer's mappings, keyset-paged by (update time, id):
// a mapping that changes while a customer pages moves behind the others
// and is listed again there, and none is skipped.
func (s *Service) Mappings(ctx context.Context, customerID uuid.UUID, q MappingQuery) (MappingPage, error) {
	var after postgres.MappingCursor
	if q.Cursor != "" {
		n, err := unpackCursor(q.Cursor, "m", 2)
		if err != nil {
			return MappingPage{}, err
		}
		after = postgres.MappingCursor{UpdatedAt: time.UnixMicro(n[0]).UTC(), Seq: n[1]}
	}
	if since := q.UpdatedSince; !since.IsZero() && since.After(after.UpdatedAt) {
		// Row ids start at 1: (since, 0) is just before every mapping
		// changed at since.
		after = postgres.MappingCursor{UpdatedAt: since}
	}
	rows, err := s.d.Store.Mappings(ctx, customerID, q.Status, after, q.Limit)
	if err != nil {
		return MappingPage{}, err
	}
	if len(rows) > 0 {
		last := rows[len(rows)-1]
		after = postgres.MappingCursor{UpdatedAt: last.UpdatedAt, Seq: last.Seq}
	}
	return MappingPage{Mappings: rows, NextCursor: packCursor("m", after.UpdatedAt.UnixMicro(), after.Seq)}, nil
}

// PatientsByInternal is the reverse lookup: the customer's patients mapped
// to an internal patient, the LINKED one or, with history, every mapping
// ever made, oldest first.
func (s *Service) PatientsByInternal(ctx context.Context, customerID uuid.UUID, internalID string, history bool) ([]link.Mapping, error) {
	return s.d.Store.MappingsByInternal(ctx, customerID, internalID, history, lookupMaxRows)
}

// PatientHistory is every workflow transition and mapping change of the
// customer's patient, oldest first.
func (s *Service) PatientHistory(ctx context.Context, customerID, patientID uuid.UUID) ([]link.HistoryEntry, error) {
	return s.d.Store.PatientHistory(ctx, customerID, patientID, lookupMaxRows)
}
