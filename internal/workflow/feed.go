package workflow

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
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
	return base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("v1.%d.%d", c.Tx, c.FeedID)))
}

func decodeCursor(s string) (postgres.FeedCursor, error) {
	if s == "" {
		return postgres.FeedCursor{}, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return postgres.FeedCursor{}, ErrBadCursor
	}
	parts := strings.Split(string(raw), ".")
	if len(parts) != 3 || parts[0] != "v1" {
		return postgres.FeedCursor{}, ErrBadCursor
	}
	tx, err1 := strconv.ParseInt(parts[1], 10, 64)
	id, err2 := strconv.ParseInt(parts[2], 10, 64)
	if err1 != nil || err2 != nil || tx < 0 || id < 0 {
		return postgres.FeedCursor{}, ErrBadCursor
	}
	return postgres.FeedCursor{Tx: tx, FeedID: id}, nil
}
