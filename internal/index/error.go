package index

import (
	"errors"
	"fmt"
)

// ErrCircuitOpen is returned, wrapped in an *Error marked Temporary, when the
// breaker is open and the call was refused without reaching the index.
var ErrCircuitOpen = errors.New("index circuit breaker is open")

// ErrInvalidQuery is returned, wrapped in a permanent *Error, when a Query lacks
// what the index needs; the index is not called.
var ErrInvalidQuery = errors.New("invalid index query")

// Error is the error type of every failed Search.
type Error struct {
	// StatusCode is the HTTP status of the index answer, 0 when there was none.
	StatusCode int
	// Temporary reports whether trying again later may succeed (timeouts,
	// network errors, 429, 5xx, garbled answers, open breaker).
	Temporary bool
	Err       error
}

func (e *Error) Error() string {
	kind := "permanent"
	if e.Temporary {
		kind = "temporary"
	}
	if e.StatusCode != 0 {
		return fmt.Sprintf("index search failed (%s, status %d): %v", kind, e.StatusCode, e.Err)
	}
	return fmt.Sprintf("index search failed (%s): %v", kind, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// IsTemporary reports whether err is worth retrying later.
func IsTemporary(err error) bool {
	var ie *Error
	if errors.As(err, &ie) {
		return ie.Temporary
	}
	return errors.Is(err, ErrCircuitOpen)
}
