// Package auth issues and checks customer tokens: HS256 JWTs whose subject
// is the customer id, whose audience is the customer API and whose id
// (jti) the service records at issue, so one token can be revoked.
package auth

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

const (
	issuer   = "patientlink"
	audience = "patientlink-customer-api"
)

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

// Issued is a new token and what is recorded of it.
type Issued struct {
	Token     string    `json:"token"`
	ID        uuid.UUID `json:"token-id"`
	ExpiresAt time.Time `json:"expires-at"`
}

// Issue makes a token for customerID valid for ttl. The caller records
// Issued.ID: the API refuses a token whose id it does not know.
func (t *Tokens) Issue(customerID uuid.UUID, ttl time.Duration) (Issued, error) {
	now := t.now()
	id := uuid.New()
	expires := now.Add(ttl).Truncate(time.Second)
	claims := jwt.RegisteredClaims{
		Issuer:    issuer,
		Subject:   customerID.String(),
		Audience:  jwt.ClaimStrings{audience},
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(expires),
		ID:        id.String(),
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(t.current)
	if err != nil {
		return Issued{}, fmt.Errorf("error signing token: %w", err)
	}
	return Issued{Token: s, ID: id, ExpiresAt: expires}, nil
}

// Claims are what a valid token says.
type Claims struct {
	CustomerID uuid.UUID
	TokenID    uuid.UUID
}

// Verify checks signature, algorithm, issuer, audience and expiry and
// returns the customer and token ids. Whether the token id is known and
// not revoked is the caller's check.
func (t *Tokens) Verify(token string) (Claims, error) {
	var claims jwt.RegisteredClaims
	_, err := jwt.ParseWithClaims(token, &claims,
		func(*jwt.Token) (any, error) { return t.accepted, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(issuer),
		jwt.WithAudience(audience),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(t.now),
	)
	if err != nil {
		return Claims{}, ErrInvalidToken
	}
	customer, err := uuid.Parse(claims.Subject)
	if err != nil {
		return Claims{}, ErrInvalidToken
	}
	id, err := uuid.Parse(claims.ID)
	if err != nil {
		return Claims{}, ErrInvalidToken
	}
	return Claims{CustomerID: customer, TokenID: id}, nil
}
