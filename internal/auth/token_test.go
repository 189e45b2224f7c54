package auth

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

func TestTokens(t *testing.T) {
	t.Parallel()
	secret := []byte("0123456789abcdef0123456789abcdef")
	tokens := NewTokens(secret)
	customer := uuid.New()
	issued, err := tokens.Issue(customer, time.Hour)
	require.NoError(t, err)
	good := issued.Token

	got, err := tokens.Verify(good)
	require.NoError(t, err)
	require.Equal(t, Claims{CustomerID: customer, TokenID: issued.ID}, got)
	require.WithinDuration(t, time.Now().Add(time.Hour), issued.ExpiresAt, 2*time.Second)

	expired := NewTokens(secret)
	expired.now = func() time.Time { return time.Now().Add(-2 * time.Hour) }
	old, err := expired.Issue(customer, time.Hour)
	require.NoError(t, err)

	other, err := NewTokens([]byte("another-secret-another-secret-xx")).Issue(customer, time.Hour)
	require.NoError(t, err)

	parts := strings.Split(good, ".")
	noneHeader := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	algNone := noneHeader + "." + parts[1] + "."
	tamperedClaims := base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"patientlink","sub":"` + uuid.NewString() + `","exp":9999999999}`))
	tampered := parts[0] + "." + tamperedClaims + "." + parts[2]
	noExp, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{Issuer: issuer, Subject: customer.String(), Audience: jwt.ClaimStrings{audience}, ID: uuid.NewString()}).SignedString(secret)
	require.NoError(t, err)
	hs512, err := jwt.NewWithClaims(jwt.SigningMethodHS512, jwt.RegisteredClaims{Issuer: issuer, Subject: customer.String(), Audience: jwt.ClaimStrings{audience}, ID: uuid.NewString(), ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))}).SignedString(secret)
	require.NoError(t, err)
	later := jwt.NewNumericDate(time.Now().Add(time.Hour))
	noAud, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{Issuer: issuer, Subject: customer.String(), ID: uuid.NewString(), ExpiresAt: later}).SignedString(secret)
	require.NoError(t, err)
	otherAud, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{Issuer: issuer, Subject: customer.String(), Audience: jwt.ClaimStrings{"another-api"}, ID: uuid.NewString(), ExpiresAt: later}).SignedString(secret)
	require.NoError(t, err)
	noID, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{Issuer: issuer, Subject: customer.String(), Audience: jwt.ClaimStrings{audience}, ExpiresAt: later}).SignedString(secret)
	require.NoError(t, err)

	for name, token := range map[string]string{
		"expired": old.Token, "wrong key": other.Token, "alg none": algNone, "tampered": tampered,
		"no expiry": noExp, "other algorithm": hs512, "garbage": "not.a.token", "empty": "",
		"no audience": noAud, "another audience": otherAud, "no token id": noID,
	} {
		_, err := tokens.Verify(token)
		require.ErrorIs(t, err, ErrInvalidToken, name)
	}
}

func TestRotation(t *testing.T) {
	t.Parallel()
	oldSecret := []byte("old-secret-old-secret-old-secret")
	newSecret := []byte("new-secret-new-secret-new-secret")
	customer := uuid.New()
	old, err := NewTokens(oldSecret).Issue(customer, time.Hour)
	require.NoError(t, err)

	got, err := NewTokens(newSecret, oldSecret).Verify(old.Token)
	require.NoError(t, err)
	require.Equal(t, customer, got.CustomerID)

	_, err = NewTokens(newSecret).Verify(old.Token)
	require.ErrorIs(t, err, ErrInvalidToken)
}
