package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

var (
	fuzzSecret = []byte("fuzz-secret-fuzz-secret-fuzz-sec")
	fuzzNow    = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
)

func fuzzTokens() *Tokens {
	t := NewTokens(fuzzSecret)
	t.now = func() time.Time { return fuzzNow }
	return t
}

// FuzzVerify feeds arbitrary tokens to Verify. It must never panic, and it
// may accept a token only when an independent check agrees: three
// segments, an HS256 header, a signature that is our HMAC of the first
// two, our issuer and audience, a future expiry and the customer id as subject.
func FuzzVerify(f *testing.F) {
	tokens := fuzzTokens()
	customer := uuid.MustParse("6f1c2a34-8f1e-4c4e-9d6b-0c1f2e3d4a5b")
	issued, err := tokens.Issue(customer, time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	valid := issued.Token
	expired, _ := tokens.Issue(customer, -time.Minute)
	parts := strings.Split(valid, ".")
	enc := base64.RawURLEncoding.EncodeToString
	f.Add(valid)
	f.Add(expired.Token)
	f.Add(enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + ".")
	f.Add(enc([]byte(`{"alg":"HS512","typ":"JWT"}`)) + "." + parts[1] + "." + parts[2])
	f.Add(parts[0] + "." + enc([]byte(`{"iss":"patientlink","sub":"`+uuid.NewString()+`","exp":9999999999}`)) + "." + parts[2])
	f.Add(parts[0] + "." + parts[1])
	f.Add("")
	f.Add("..")
	f.Add("a.b.c.d")
	f.Add(strings.Repeat("A", 4096) + "." + strings.Repeat("B", 4096) + ".")

	f.Fuzz(func(t *testing.T, token string) {
		claims, err := tokens.Verify(token)
		if err != nil {
			if err != ErrInvalidToken {
				t.Fatalf("Verify returned %v, want only ErrInvalidToken", err)
			}
			return
		}
		if why := independentlyValid(token, claims.CustomerID); why != "" {
			t.Fatalf("Verify accepted %q: %s", token, why)
		}
	})
}

// independentlyValid checks an accepted token without golang-jwt; it
// returns why the token should not have been accepted, or "".
func independentlyValid(token string, id uuid.UUID) string {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "not three segments"
	}
	decode := func(s string) ([]byte, error) {
		return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	}
	header, err := decode(parts[0])
	if err != nil {
		return "header is not base64url"
	}
	var h struct {
		Alg string `json:"alg"`
	}
	if json.Unmarshal(header, &h) != nil || h.Alg != "HS256" {
		return "header algorithm is not HS256"
	}
	sig, err := decode(parts[2])
	if err != nil {
		return "signature is not base64url"
	}
	mac := hmac.New(sha256.New, fuzzSecret)
	mac.Write([]byte(parts[0] + "." + parts[1]))
	if !hmac.Equal(sig, mac.Sum(nil)) {
		return "signature is not our HMAC of the signing string"
	}
	claimsJSON, err := decode(parts[1])
	if err != nil {
		return "claims are not base64url"
	}
	// exp may be a number or a numeric string: golang-jwt reads both.
	var c struct {
		Iss string      `json:"iss"`
		Sub string      `json:"sub"`
		Aud any         `json:"aud"`
		Exp json.Number `json:"exp"`
	}
	if json.Unmarshal(claimsJSON, &c) != nil {
		return "claims are not JSON"
	}
	exp, err := c.Exp.Float64()
	switch {
	case c.Iss != issuer:
		return "issuer is " + c.Iss
	case c.Aud != audience && !slices.Contains(asStrings(c.Aud), audience):
		return "audience is not ours"
	case err != nil || exp <= float64(fuzzNow.Unix()):
		return "expired or no expiry"
	case mustParse(c.Sub) != id:
		return "subject is not the id returned"
	}
	return ""
}

func asStrings(v any) []string {
	list, _ := v.([]any)
	var out []string
	for _, e := range list {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func mustParse(s string) uuid.UUID {
	id, err := uuid.Parse(s)
	if err != nil {
		return uuid.Nil
	}
	return id
}

// The seeds behave as their names say, so the fuzzer starts from both
// sides of the line.
func TestFuzzSeeds(t *testing.T) {
	t.Parallel()
	tokens := fuzzTokens()
	customer := uuid.New()
	issued, err := tokens.Issue(customer, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	valid := issued.Token
	claims, err := tokens.Verify(valid)
	id := claims.CustomerID
	if err != nil || id != customer || claims.TokenID != issued.ID {
		t.Fatalf("valid token: %v %v", id, err)
	}
	if why := independentlyValid(valid, id); why != "" {
		t.Fatalf("the oracle refuses a valid token: %s", why)
	}
	parts := strings.Split(valid, ".")
	if why := independentlyValid(parts[0]+"."+parts[1]+".AAAA", id); why == "" {
		t.Fatal("the oracle accepts a bad signature")
	}
}
