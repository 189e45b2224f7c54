package httpapi

import (
	"errors"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/mux"

	"github.com/patientlink/patientlink/internal/link"
)

type patientMapping struct {
	PatientID         uuid.UUID  `json:"patient-id"`
	InternalPatientID string     `json:"internal-patient-id"`
	Status            string     `json:"status"`
	LinkedAt          time.Time  `json:"linked_at"`
	WorkflowID        uuid.UUID  `json:"workflow-id"`
	DelinkedAt        *time.Time `json:"delinked_at,omitempty"`
	DelinkWorkflowID  *uuid.UUID `json:"delink-workflow-id,omitempty"`
}

// handlePatientGet is GET /patient/{patientID}: the patient's current
// mapping (the LINKED one, else the latest, DE-LINKED). Never linked, or
// another customer's patient: 404.
func handlePatientGet(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		patientID, err := uuid.Parse(mux.Vars(r)["patientID"])
		if err != nil {
			writeProblem(w, r, errNotFound)
			return
		}
		m, err := d.Service.Mapping(r.Context(), customerFrom(r.Context()).ID, patientID)
		if errors.Is(err, link.ErrNotFound) {
			writeProblem(w, r, errNotFound)
			return
		}
		if err != nil {
			serverError(d.Logger, w, r, err)
			return
		}
		out := patientMapping{
			PatientID: m.CustomerPatientID, InternalPatientID: m.InternalPatientID, Status: m.Status,
			LinkedAt: m.LinkedAt.UTC(), WorkflowID: m.WorkflowID,
		}
		if m.Status == link.MappingDeLinked {
			at := m.DelinkedAt.UTC()
			out.DelinkedAt, out.DelinkWorkflowID = &at, &m.DelinkWorkflowID
		}
		writeJSON(w, http.StatusOK, out)
	})
}
