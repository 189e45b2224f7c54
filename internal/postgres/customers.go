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

// CustomerCreate stores a new customer.
func (s *Store) CustomerCreate(ctx context.Context, c link.Customer) (link.Customer, error) {
	row, err := s.q.CustomerInsert(ctx, s.pool, dbsqlc.CustomerInsertParams{
		ID: c.ID, Name: c.Name, WebhookURL: nullString(c.WebhookURL), WebhookSecret: c.WebhookSecret,
	})
	if err != nil {
		return link.Customer{}, fmt.Errorf("error inserting customer: %w", err)
	}
	return customerFromRow(row), nil
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
	return customerFromRow(row), nil
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
	return customerFromRow(row), nil
}

// CustomerRotateSecret makes secret the customer's signing secret; the old
// one is sent alongside it until previousUntil.
func (s *Store) CustomerRotateSecret(ctx context.Context, id uuid.UUID, secret string, previousUntil time.Time) (link.Customer, error) {
	row, err := s.q.CustomerRotateSecret(ctx, s.pool, dbsqlc.CustomerRotateSecretParams{ID: id, WebhookSecret: secret, PreviousUntil: &previousUntil})
	if err != nil {
		return link.Customer{}, interpretError(err)
	}
	return customerFromRow(row), nil
}

// CustomerSetWebhookTx changes where a customer's events are delivered; an
// empty url leaves it the feed only.
func (s *Store) CustomerSetWebhookTx(ctx context.Context, tx pgx.Tx, id uuid.UUID, url string) (link.Customer, error) {
	row, err := s.q.CustomerSetWebhook(ctx, tx, dbsqlc.CustomerSetWebhookParams{ID: id, WebhookURL: nullString(url)})
	if err != nil {
		return link.Customer{}, interpretError(err)
	}
	return customerFromRow(row), nil
}

func customerFromRow(r dbsqlc.Customer) link.Customer {
	c := link.Customer{
		ID: r.ID, Name: r.Name, Active: r.Status == "active",
		WebhookSecret: r.WebhookSecret, CreatedAt: r.CreatedAt,
	}
	if r.WebhookURL != nil {
		c.WebhookURL = *r.WebhookURL
	}
	if r.WebhookSecretPrevious != nil && r.WebhookPreviousUntil != nil {
		c.PreviousSecret, c.PreviousUntil = *r.WebhookSecretPrevious, *r.WebhookPreviousUntil
	}
	return c
}
