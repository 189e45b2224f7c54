package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/patientlink/patientlink/internal/link"
	"github.com/patientlink/patientlink/internal/postgres/internal/dbsqlc"
)

// CustomerCreate stores a new customer, its webhook secret sealed.
func (s *Store) CustomerCreate(ctx context.Context, c link.Customer) (link.Customer, error) {
	secret, err := s.sealSecret(c.WebhookSecret, c.ID[:])
	if err != nil {
		return link.Customer{}, err
	}
	row, err := s.q.CustomerInsert(ctx, s.pool, dbsqlc.CustomerInsertParams{
		ID: c.ID, Name: c.Name, WebhookURL: nullString(c.WebhookURL), WebhookSecret: secret,
	})
	if err != nil {
		return link.Customer{}, fmt.Errorf("error inserting customer: %w", err)
	}
	return s.customerFromRow(row)
}

// Customer loads a customer; link.ErrNotFound when there is none.
func (s *Store) Customer(ctx context.Context, id uuid.UUID) (link.Customer, error) {
	return s.customer(ctx, s.pool, id)
}

// CustomerTx is Customer read in tx.
func (s *Store) CustomerTx(ctx context.Context, tx pgx.Tx, id uuid.UUID) (link.Customer, error) {
	return s.customer(ctx, tx, id)
}

func (s *Store) customer(ctx context.Context, db dbsqlc.DBTX, id uuid.UUID) (link.Customer, error) {
	row, err := s.q.CustomerGetByID(ctx, db, id)
	if err != nil {
		return link.Customer{}, interpretError(err)
	}
	return s.customerFromRow(row)
}

// CustomerSetActive enables or disables a customer.
func (s *Store) CustomerSetActive(ctx context.Context, id uuid.UUID, active bool) (link.Customer, error) {
	status := "disabled"
	if active {
		status = "active"
	}
	row, err := s.q.CustomerSetStatus(ctx, s.pool, dbsqlc.CustomerSetStatusParams{ID: id, Status: status})
	if err != nil {
		return link.Customer{}, interpretError(err)
	}
	return s.customerFromRow(row)
}

// CustomerRotateSecret makes secret the customer's signing secret; the old
// one is sent alongside it until previousUntil.
func (s *Store) CustomerRotateSecret(ctx context.Context, id uuid.UUID, secret string, previousUntil time.Time) (link.Customer, error) {
	sealed, err := s.sealSecret(secret, id[:])
	if err != nil {
		return link.Customer{}, err
	}
	row, err := s.q.CustomerRotateSecret(ctx, s.pool, dbsqlc.CustomerRotateSecretParams{ID: id, WebhookSecret: sealed, PreviousUntil: &previousUntil})
	if err != nil {
		return link.Customer{}, interpretError(err)
	}
	return s.customerFromRow(row)
}

// CustomerSetWebhookTx changes where a customer's events are delivered; an
// empty url leaves it the feed only.
func (s *Store) CustomerSetWebhookTx(ctx context.Context, tx pgx.Tx, id uuid.UUID, url string) (link.Customer, error) {
	row, err := s.q.CustomerSetWebhook(ctx, tx, dbsqlc.CustomerSetWebhookParams{ID: id, WebhookURL: nullString(url)})
	if err != nil {
		return link.Customer{}, interpretError(err)
	}
	return s.customerFromRow(row)
}

func (s *Store) customerFromRow(r dbsqlc.Customer) (link.Customer, error) {
	secret, err := s.openSecret(r.WebhookSecret, r.ID[:])
	if err != nil {
		return link.Customer{}, err
	}
	c := link.Customer{
		ID: r.ID, Name: r.Name, Active: r.Status == "active",
		WebhookSecret: secret, CreatedAt: r.CreatedAt,
	}
	if r.WebhookURL != nil {
		c.WebhookURL = *r.WebhookURL
	}
	if r.WebhookSecretPrevious != nil && r.WebhookPreviousUntil != nil {
		if c.PreviousSecret, err = s.openSecret(*r.WebhookSecretPrevious, r.ID[:]); err != nil {
			return link.Customer{}, err
		}
		c.PreviousUntil = *r.WebhookPreviousUntil
	}
	return c, nil
}

// Token is a customer token's record: its id (the JWT's jti), lifetime
// and revocation. The token itself is never stored.
type Token struct {
	ID         uuid.UUID  `json:"token-id"`
	CustomerID uuid.UUID  `json:"customer-id"`
	IssuedAt   time.Time  `json:"issued-at"`
	ExpiresAt  time.Time  `json:"expires-at"`
	RevokedAt  *time.Time `json:"revoked-at"`
}

// TokenRecord records an issued token's id.
func (s *Store) TokenRecord(ctx context.Context, customerID, tokenID uuid.UUID, expiresAt time.Time) error {
	err := s.q.CustomerTokenInsert(ctx, s.pool, dbsqlc.CustomerTokenInsertParams{ID: tokenID, CustomerID: customerID, ExpiresAt: expiresAt})
	if err != nil {
		return fmt.Errorf("error recording token: %w", err)
	}
	return nil
}

// Tokens lists a customer's tokens, oldest first.
func (s *Store) Tokens(ctx context.Context, customerID uuid.UUID) ([]Token, error) {
	rows, err := s.q.CustomerTokenList(ctx, s.pool, customerID)
	if err != nil {
		return nil, fmt.Errorf("error listing tokens: %w", err)
	}
	out := make([]Token, 0, len(rows))
	for _, r := range rows {
		out = append(out, Token(r))
	}
	return out, nil
}

// TokenRevoke revokes one of a customer's tokens; link.ErrNotFound when the
// customer has no token with that id.
func (s *Store) TokenRevoke(ctx context.Context, customerID, tokenID uuid.UUID) (Token, error) {
	row, err := s.q.CustomerTokenRevoke(ctx, s.pool, dbsqlc.CustomerTokenRevokeParams{CustomerID: customerID, ID: tokenID})
	if err != nil {
		return Token{}, interpretError(err)
	}
	return Token(row), nil
}

// TokenActive reports whether tokenID was issued to customerID and is
// neither revoked nor expired.
func (s *Store) TokenActive(ctx context.Context, customerID, tokenID uuid.UUID) (bool, error) {
	return s.q.CustomerTokenActive(ctx, s.pool, dbsqlc.CustomerTokenActiveParams{ID: tokenID, CustomerID: customerID})
}
