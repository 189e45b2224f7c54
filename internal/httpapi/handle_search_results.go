package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gorilla/mux"

	"github.com/patientlink/patientlink/internal/index"
	"github.com/patientlink/patientlink/internal/link"
)

var errSearchUnknown = &Problem{
	Type: problemTypeBase + "search-unknown", Title: "Unknown search", Status: http.StatusServiceUnavailable,
	Detail: "no workflow awaits this search id (yet); retry later", RetryAfter: 1,
}

var errBadSignature = func() *Problem {
	p := problem(http.StatusUnauthorized, "bad-signature", "Bad signature", "the callback must carry a valid, fresh Index-Signature")
	p.Challenge = `Index-Signature realm="patientlink-index"`
	return p
}()

// validSearchID says whether id can be a search id at all: 1–200 bytes of
// UTF-8 without control characters. Anything else is no search of ours.
func validSearchID(id string) bool {
	return id != "" && len(id) <= 200 && utf8.ValidString(id) && strings.IndexFunc(id, unicode.IsControl) < 0
}

// handleSearchResults is POST /internal/search-results/{searchID}: the
// index's answer to an async search, signed with the shared secret. The
// result is applied once; repeats answer 200 and change nothing. The
// signature header is checked before the body is read, and the body is
// capped small; the signature binds the path (the search id) and the body.
func handleSearchResults(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		searchID := mux.Vars(r)["searchID"]
		if !validSearchID(searchID) {
			writeProblem(w, r, errNotFound)
			return
		}
		header := r.Header.Get(index.SignatureHeader)
		if err := index.CheckCallbackHeader(header, d.Now()); err != nil || len(d.Config.CallbackSecret) == 0 {
			writeProblem(w, r, errBadSignature)
			return
		}
		body, p := readBody(w, r, index.MaxCallbackBytes)
		if p != nil {
			writeProblem(w, r, p)
			return
		}
		if err := index.VerifyCallback(d.Config.CallbackSecret, header, index.CallbackPath(searchID), body, d.Now()); err != nil {
			writeProblem(w, r, errBadSignature)
			return
		}
		var cb index.CallbackBody
		if err := json.Unmarshal(body, &cb); err != nil {
			writeProblem(w, r, errMalformed)
			return
		}
		if cb.SearchID != "" && cb.SearchID != searchID {
			writeProblem(w, r, problem(http.StatusUnprocessableEntity, "validation", "Invalid request", "search-id in the body does not match the path"))
			return
		}
		err := d.Service.RecordSearchResults(r.Context(), searchID, cb.Results)
		if errors.Is(err, link.ErrNotFound) {
			// A fast index can call back before the transaction recording
			// the search id commits: ask it to try again shortly.
			writeProblem(w, r, errSearchUnknown)
			return
		}
		if err != nil {
			serverError(d.Logger, w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "accepted"})
	})
}
