package postgres

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/patientlink/patientlink/internal/postgres/internal/dbsqlc"
)

// Sealer seals and opens values with the data keyring (seal.Keyring).
type Sealer interface {
	Seal(plaintext, aad []byte) (keyID string, sealed []byte, err error)
	Open(keyID string, sealed, aad []byte) ([]byte, error)
}

// sealedPrefix marks a sealed webhook secret: "sealed:<key id>:<base64>".
// The customers table's CHECK refuses any other new value.
const sealedPrefix = "sealed:"

var errNoSealer = errors.New("the store has no keyring for webhook secrets")

// sealSecret seals a customer's webhook secret, bound to the customer id.
func (s *Store) sealSecret(secret string, customerID []byte) (string, error) {
	if s.sealer == nil {
		return "", errNoSealer
	}
	keyID, sealed, err := s.sealer.Seal([]byte(secret), customerID)
	if err != nil {
		return "", fmt.Errorf("error sealing webhook secret: %w", err)
	}
	return sealedPrefix + keyID + ":" + base64.StdEncoding.EncodeToString(sealed), nil
}

// openSecret opens what sealSecret made; a plain value (from before
// secrets were sealed) is returned as it is until SealPlainSecrets runs.
func (s *Store) openSecret(stored string, customerID []byte) (string, error) {
	rest, ok := strings.CutPrefix(stored, sealedPrefix)
	if !ok {
		return stored, nil
	}
	if s.sealer == nil {
		// A process without the data key (the operator commands) reads a
		// customer's other fields; it never signs, so the secret stays
		// unknown to it.
		return "", nil
	}
	keyID, b64, _ := strings.Cut(rest, ":")
	sealed, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return "", fmt.Errorf("error decoding sealed webhook secret: %w", err)
	}
	plain, err := s.sealer.Open(keyID, sealed, customerID)
	if err != nil {
		return "", fmt.Errorf("error opening webhook secret: %w", err)
	}
	return string(plain), nil
}

// PurgeExpiredSecrets forgets previous webhook secrets whose overlap ended.
func (s *Store) PurgeExpiredSecrets(ctx context.Context) (int64, error) {
	return s.q.CustomerPurgeExpiredSecrets(ctx, s.pool)
}

// SealPlainSecrets seals up to batch customers' webhook secrets still in
// plain text (written before migration 000021) and returns how many.
func (s *Store) SealPlainSecrets(ctx context.Context, batch int) (int64, error) {
	rows, err := s.q.CustomerListPlainSecrets(ctx, s.pool, int32(batch))
	if err != nil {
		return 0, fmt.Errorf("error listing plain webhook secrets: %w", err)
	}
	for _, r := range rows {
		p := dbsqlc.CustomerSealSecretsParams{ID: r.ID, OldSecret: r.WebhookSecret, OldPrevious: r.WebhookSecretPrevious}
		if p.WebhookSecret, err = s.resealed(r.WebhookSecret, r.ID[:]); err != nil {
			return 0, err
		}
		if r.WebhookSecretPrevious != nil {
			prev, err := s.resealed(*r.WebhookSecretPrevious, r.ID[:])
			if err != nil {
				return 0, err
			}
			p.WebhookSecretPrevious = &prev
		}
		if err := s.q.CustomerSealSecrets(ctx, s.pool, p); err != nil {
			return 0, fmt.Errorf("error sealing webhook secrets: %w", err)
		}
	}
	return int64(len(rows)), nil
}

// resealed is stored sealed: as it is when it already is.
func (s *Store) resealed(stored string, customerID []byte) (string, error) {
	if strings.HasPrefix(stored, sealedPrefix) {
		return stored, nil
	}
	return s.sealSecret(stored, customerID)
}
