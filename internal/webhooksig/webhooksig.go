// Package webhooksig signs and verifies webhooks with the Standard Webhooks
// scheme (https://www.standardwebhooks.com). It uses only the standard
// library so that customers can copy it into their own receivers.
package webhooksig

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Header names of the scheme. http.Header canonicalizes them on Set and Get.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// SecretPrefix marks a webhook secret so it is recognizable when pasted
// into configuration or found in a leak scanner.
const SecretPrefix = "whsec_"

// Tolerance is how far webhook-timestamp may be from the receiver's clock,
// either way. It bounds how long a captured request can be replayed.
const Tolerance = 5 * time.Minute

const (
	secretBytes = 32
	// The scheme allows keys of 24 to 64 bytes; its own test vector uses 24.
	minSecretBytes = 24
	maxSecretBytes = 64
)

var (
	ErrMissingHeaders      = errors.New("missing webhook-id, webhook-timestamp or webhook-signature header")
	ErrTimestamp           = errors.New("webhook timestamp is invalid or too far from now")
	ErrNoMatchingSignature = errors.New("no matching webhook signature")
	ErrInvalidSecret       = errors.New("invalid webhook secret")
)

// NewSecret returns a fresh secret: "whsec_" and 32 random bytes in
// standard base64.
func NewSecret() (string, error) {
	key := make([]byte, secretBytes)
	if _, err := rand.Read(key); err != nil {
		return "", fmt.Errorf("error generating webhook secret: %w", err)
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(key), nil
}

// DecodeSecret returns the HMAC key of a secret given with or without the
// "whsec_" prefix. Errors never contain the secret itself.
func DecodeSecret(s string) ([]byte, error) {
	s = strings.TrimPrefix(strings.TrimSpace(s), SecretPrefix)
	if s == "" {
		return nil, fmt.Errorf("%w: empty", ErrInvalidSecret)
	}
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: not standard base64", ErrInvalidSecret)
	}
	if len(key) < minSecretBytes || len(key) > maxSecretBytes {
		return nil, fmt.Errorf("%w: key is %d bytes, want %d to %d", ErrInvalidSecret, len(key), minSecretBytes, maxSecretBytes)
	}
	return key, nil
}

// Sign returns one "v1,<base64 HMAC-SHA256>" signature of
// "<msgID>.<unix seconds>.<body>".
func Sign(secret string, msgID string, ts time.Time, body []byte) (string, error) {
	return SignAll([]string{secret}, msgID, ts, body)
}

// SignAll signs with every secret and joins the signatures with spaces; during
// a rotation the receiver accepts whichever of its secrets matches.
func SignAll(secrets []string, msgID string, ts time.Time, body []byte) (string, error) {
	if len(secrets) == 0 {
		return "", fmt.Errorf("%w: no secrets to sign with", ErrInvalidSecret)
	}
	if err := checkMsgID(msgID); err != nil {
		return "", err
	}
	sigs := make([]string, 0, len(secrets))
	for i, secret := range secrets {
		key, err := DecodeSecret(secret)
		if err != nil {
			return "", fmt.Errorf("error signing with secret %d: %w", i, err)
		}
		sigs = append(sigs, "v1,"+base64.StdEncoding.EncodeToString(mac(key, msgID, ts.Unix(), body)))
	}
	return strings.Join(sigs, " "), nil
}

// Headers returns webhook-id, webhook-timestamp and webhook-signature for one
// delivery attempt.
func Headers(secrets []string, msgID string, ts time.Time, body []byte) (http.Header, error) {
	sig, err := SignAll(secrets, msgID, ts, body)
	if err != nil {
		return nil, err
	}
	h := make(http.Header, 3)
	h.Set(HeaderID, msgID)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, sig)
	return h, nil
}

// Verify checks a received webhook against one secret. See VerifyAny.
func Verify(secret string, header http.Header, body []byte, now time.Time) error {
	return VerifyAny([]string{secret}, header, body, now)
}

// VerifyAny checks a received webhook against several secrets (a receiver in
// the middle of a rotation). It passes when any "v1," signature in the
// header matches any secret; other versions and malformed entries are
// skipped. The timestamp must be within Tolerance of now.
func VerifyAny(secrets []string, header http.Header, body []byte, now time.Time) error {
	if len(secrets) == 0 {
		return fmt.Errorf("%w: no secrets to verify with", ErrInvalidSecret)
	}
	keys := make([][]byte, 0, len(secrets))
	for i, secret := range secrets {
		key, err := DecodeSecret(secret)
		if err != nil {
			return fmt.Errorf("error verifying with secret %d: %w", i, err)
		}
		keys = append(keys, key)
	}

	msgID := header.Get(HeaderID)
	rawTS := header.Get(HeaderTimestamp)
	// Senders may split signatures over several header lines; treat them as one list.
	sigs := strings.Fields(strings.Join(header.Values(HeaderSignature), " "))
	if msgID == "" || rawTS == "" || len(sigs) == 0 {
		return ErrMissingHeaders
	}

	ts, err := strconv.ParseInt(rawTS, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: not unix seconds", ErrTimestamp)
	}
	// Compare in seconds: time.Unix with a hostile value would overflow Sub.
	tolerance := int64(Tolerance / time.Second)
	if nowS := now.Unix(); ts < nowS-tolerance || ts > nowS+tolerance {
		return fmt.Errorf("%w: more than %s from now", ErrTimestamp, Tolerance)
	}

	want := make([][]byte, len(keys))
	for i, key := range keys {
		want[i] = mac(key, msgID, ts, body)
	}
	for _, sig := range sigs {
		version, value, ok := strings.Cut(sig, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(value)
		if err != nil {
			continue
		}
		for _, w := range want {
			if hmac.Equal(got, w) {
				return nil
			}
		}
	}
	return ErrNoMatchingSignature
}

func mac(key []byte, msgID string, ts int64, body []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(msgID))
	h.Write([]byte{'.'})
	h.Write(strconv.AppendInt(nil, ts, 10))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// checkMsgID keeps ids to visible ASCII: they travel in a header and are
// part of the signed content.
func checkMsgID(msgID string) error {
	if msgID == "" {
		return errors.New("webhook message id is empty")
	}
	for i := 0; i < len(msgID); i++ {
		if c := msgID[i]; c <= ' ' || c > '~' {
			return fmt.Errorf("webhook message id has a byte outside visible ascii at %d", i)
		}
	}
	return nil
}
