package workflow

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/patientlink/patientlink/internal/postgres"
)

// Feed limits.
const (
	FeedDefaultLimit = 100
	FeedMaxLimit     = 500
)

// ErrBadCursor says a cursor is not one this service made.
var ErrBadCursor = errors.New("invalid cursor")

// FeedPage is one page of a customer's events: the bodies exactly as the
// webhooks send them, oldest first, and the cursor to ask with next. At the
// end the cursor points past the last event, so asking with it later
// returns only newer events.
type FeedPage struct {
	Events     []json.RawMessage
	NextCursor string
}

// Feed lists a customer's events after cursor ("" for the beginning).
func (s *Service) Feed(ctx context.Context, customerID uuid.UUID, cursor string, limit int) (FeedPage, error) {
	after, err := decodeCursor(cursor)
	if err != nil {
		return FeedPage{}, err
	}
	events, next, err := s.d.Store.Feed(ctx, customerID, after, limit)
	if err != nil {
		return FeedPage{}, err
	}
	page := FeedPage{Events: make([]json.RawMessage, len(events)), NextCursor: encodeCursor(next)}
	for i, e := range events {
		page.Events[i] = e.Body
	}
	return page, nil
}

// A cursor is opaque to customers: base64url of "v1.<tx>.<feed id>".
func encodeCursor(c postgres.FeedCursor) string {
	return packCursor("", c.Tx, c.FeedID)
}

func decodeCursor(s string) (postgres.FeedCursor, error) {
	if s == "" {
		return postgres.FeedCursor{}, nil
	}
	n, err := unpackCursor(s, "", 2)
	if err != nil || n[0] < 0 || n[1] < 0 {
		return postgres.FeedCursor{}, ErrBadCursor
	}
	return postgres.FeedCursor{Tx: n[0], FeedID: n[1]}, nil
}

// packCursor makes an opaque cursor: base64url of "v1[.<kind>].<n>…".
func packCursor(kind string, nums ...int64) string {
	parts := []string{"v1"}
	if kind != "" {
		parts = append(parts, kind)
	}
	for _, n := range nums {
		parts = append(parts, strconv.FormatInt(n, 10))
	}
	return base64.RawURLEncoding.EncodeToString([]byte(strings.Join(parts, ".")))
}

// unpackCursor reads a cursor packCursor made with kind and n numbers.
func unpackCursor(s, kind string, n int) ([]int64, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, ErrBadCursor
	}
	parts := strings.Split(string(raw), ".")
	head := []string{"v1"}
	if kind != "" {
		head = append(head, kind)
	}
	if len(parts) != len(head)+n || !slices.Equal(parts[:len(head)], head) {
		return nil, ErrBadCursor
	}
	out := make([]int64, n)
	for i, p := range parts[len(head):] {
		if out[i], err = strconv.ParseInt(p, 10, 64); err != nil {
			return nil, ErrBadCursor
		}
	}
	return out, nil
}
