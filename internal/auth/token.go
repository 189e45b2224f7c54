// Package auth issues and checks customer tokens: HS256 JWTs whose subject
// is the customer id.
package auth

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

const issuer = "patientlink"

// ErrInvalidToken covers every reason a token is refused; callers answer 401
// without saying which, so a caller cannot probe.
var ErrInvalidToken = errors.New("invalid customer token")

// Tokens signs with the current secret and accepts the previous ones too,
// so the secret can rotate without cutting customers off.
type Tokens struct {
	current  []byte
	accepted jwt.VerificationKeySet
	now      func() time.Time
}

// NewTokens takes the current signing secret and any previous ones.
func NewTokens(current []byte, previous ...[]byte) *Tokens {
	t := &Tokens{current: current, now: time.Now}
	for _, k := range append([][]byte{current}, previous...) {
		t.accepted.Keys = append(t.accepted.Keys, k)
	}
	return t
}

// Issue makes a token for customerID valid for ttl.
func (t *Tokens) Issue(customerID uuid.UUID, ttl time.Duration) (string, error) {
	now := t.now()
	claims := jwt.RegisteredClaims{
		Issuer:    issuer,
		Subject:   customerID.String(),
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		ID:        uuid.NewString(),
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(t.current)
	if err != nil {
		return "", fmt.Errorf("error signing token: %w", err)
	}
	return s, nil
}

// Verify checks signature, algorithm, issuer and expiry and returns the
// customer id.
func (t *Tokens) Verify(token string) (uuid.UUID, error) {
	var claims jwt.RegisteredClaims
	_, err := jwt.ParseWithClaims(token, &claims,
		func(*jwt.Token) (any, error) { return t.accepted, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(issuer),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(t.now),
	)
	if err != nil {
		return uuid.Nil, ErrInvalidToken
	}
	id, err := uuid.Parse(claims.Subject)
	if err != nil {
		return uuid.Nil, ErrInvalidToken
	}
	return id, nil
}
