package link

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// ErrTooManyItems: a bulk request carries more than MaxBatchItems patients.
var ErrTooManyItems = fmt.Errorf("a bulk request carries at most %d patients", MaxBatchItems)

// ParseBatch splits the body of a bulk request, {"patients": [...]}, into
// its items, each as sent (compacted), to be parsed one by one with
// ParseRequest: a bad item is that item's problem, not the request's. The
// envelope itself must be sound: ErrMalformed when the body is not a JSON
// object with unique keys, ErrTooManyItems over MaxBatchItems, a
// *ValidationError for a missing, empty or non-array "patients" or another
// key.
func ParseBatch(body []byte) ([][]byte, error) {
	if !utf8.Valid(body) || !json.Valid(body) {
		return nil, fmt.Errorf("%w: the body is not valid JSON in UTF-8", ErrMalformed)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, _ := dec.Token(); tok != json.Delim('{') {
		return nil, fmt.Errorf("%w: the body is not a JSON object", ErrMalformed)
	}
	v := &validator{}
	var items [][]byte
	found := false
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		key, _ := tok.(string)
		if seen[key] {
			return nil, fmt.Errorf("%w: the key %q appears twice", ErrMalformed, key)
		}
		seen[key] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		if key != "patients" {
			v.add("/"+escapePointer(key), "unknown field")
			continue
		}
		found = true
		items, err = splitArray(raw)
		if err != nil {
			v.add("/patients", "must be an array of link requests")
		}
	}
	if _, err := dec.Token(); err != nil || dec.More() {
		return nil, fmt.Errorf("%w: the body is not a JSON object", ErrMalformed)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: data after the JSON value", ErrMalformed)
	}
	switch {
	case !found:
		v.add("/patients", "is required")
	case len(items) > MaxBatchItems:
		return nil, ErrTooManyItems
	case len(items) == 0 && !v.has("/patients"):
		v.add("/patients", fmt.Sprintf("must list 1 to %d link requests", MaxBatchItems))
	}
	if v.fields != nil {
		return nil, &ValidationError{Fields: v.sorted()}
	}
	return items, nil
}

// splitArray returns the elements of a JSON array, each compacted.
func splitArray(raw json.RawMessage) ([][]byte, error) {
	var elems []json.RawMessage
	if err := json.Unmarshal(raw, &elems); err != nil || elems == nil {
		return nil, errors.New("not an array")
	}
	out := make([][]byte, len(elems))
	for i, e := range elems {
		var buf bytes.Buffer
		if err := json.Compact(&buf, e); err != nil {
			return nil, err
		}
		out[i] = buf.Bytes()
	}
	return out, nil
}

// Batch is a bulk request's progress: its workflows by status and by
// outcome, and those still pending.
type Batch struct {
	ID        uuid.UUID
	Items     int
	CreatedAt time.Time
	ByStatus  map[State]int
	ByOutcome map[State]int
	Pending   []uuid.UUID
}

// Accepted is how many of the batch's items became workflows.
func (b Batch) Accepted() int {
	n := 0
	for _, c := range b.ByStatus {
		n += c
	}
	return n
}
