package postgres_test

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/patientlink/patientlink/internal/link"
	"github.com/patientlink/patientlink/internal/pgtest"
	"github.com/patientlink/patientlink/internal/postgres"
	"github.com/patientlink/patientlink/internal/seal"
)

// Webhook secrets are stored sealed, open through the store, are refused
// in plain text by the table, and a previous secret is forgotten after its
// overlap; plain ones from before are sealed by SealPlainSecrets.
func TestWebhookSecretsSealed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, store := sealedStore(t)

	c, err := store.CustomerCreate(ctx, link.Customer{ID: uuid.New(), Name: "Clinic", WebhookURL: "https://h.example/x", WebhookSecret: "whsec_first"})
	require.NoError(t, err)
	require.Equal(t, "whsec_first", c.WebhookSecret)
	_, err = store.CustomerRotateSecret(ctx, c.ID, "whsec_second", time.Now().Add(-time.Second))
	require.NoError(t, err)
	var current, previous string
	require.NoError(t, pool.QueryRow(ctx, "SELECT webhook_secret, webhook_secret_previous FROM customers WHERE id = $1", c.ID).Scan(&current, &previous))
	for _, stored := range []string{current, previous} {
		require.Regexp(t, `^sealed:[0-9a-f]{16}:`, stored)
		require.NotContains(t, stored, "whsec_")
	}
	got, err := store.Customer(ctx, c.ID)
	require.NoError(t, err)
	require.Equal(t, "whsec_second", got.WebhookSecret)
	require.Equal(t, "whsec_first", got.PreviousSecret)

	_, err = pool.Exec(ctx, "UPDATE customers SET webhook_secret = 'whsec_plain' WHERE id = $1", c.ID)
	require.ErrorContains(t, err, "customers_webhook_secret_sealed")

	n, err := store.PurgeExpiredSecrets(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
	got, err = store.Customer(ctx, c.ID)
	require.NoError(t, err)
	require.Empty(t, got.PreviousSecret, "the overlap ended")

	// A row from before migration 000021.
	_, err = pool.Exec(ctx, `ALTER TABLE customers DROP CONSTRAINT customers_webhook_secret_sealed;
		INSERT INTO customers (id, name, webhook_url, webhook_secret) VALUES ('`+uuid.NewString()+`', 'Old', 'https://h.example', 'whsec_old')`)
	require.NoError(t, err)
	n, err = store.SealPlainSecrets(ctx, 10)
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
	var plain int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM customers WHERE webhook_secret NOT LIKE 'sealed:%'").Scan(&plain))
	require.Zero(t, plain)
}

// sealedStore is a store on a fresh database, sealing with a random key.
func sealedStore(t *testing.T) (*pgxpool.Pool, *postgres.Store) {
	t.Helper()
	pool, _ := pgtest.Pool(t)
	key := make([]byte, seal.KeySize)
	_, _ = rand.Read(key)
	keyring, err := seal.NewKeyring(key)
	require.NoError(t, err)
	return pool, postgres.New(pool, nil).WithSealer(keyring)
}
