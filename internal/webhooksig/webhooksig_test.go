package webhooksig_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/patientlink/patientlink/internal/webhooksig"
)

// The test vector published with the Standard Webhooks specification.
const (
	vectorSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorTS     = 1614265330
	vectorBody   = `{"test": 2432232314}`
	vectorSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func newSecret(t *testing.T) string {
	t.Helper()
	s, err := webhooksig.NewSecret()
	require.NoError(t, err)
	return s
}

func TestSignStandardWebhooksVector(t *testing.T) {
	t.Parallel()

	sig, err := webhooksig.Sign(vectorSecret, vectorID, time.Unix(vectorTS, 0), []byte(vectorBody))
	require.NoError(t, err)
	require.Equal(t, vectorSig, sig)

	h := http.Header{}
	h.Set("webhook-id", vectorID)
	h.Set("webhook-timestamp", "1614265330")
	h.Set("webhook-signature", vectorSig)
	require.NoError(t, webhooksig.Verify(vectorSecret, h, []byte(vectorBody), time.Unix(vectorTS+10, 0)))
}

func TestSignMatchesIndependentHMAC(t *testing.T) {
	t.Parallel()

	key := []byte("0123456789abcdef0123456789abcdef")
	secret := "whsec_" + base64.StdEncoding.EncodeToString(key)
	body := []byte(`{"type":"link.completed"}`)

	m := hmac.New(sha256.New, key)
	m.Write([]byte("msg_1.1700000000." + string(body)))
	want := "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))

	got, err := webhooksig.Sign(secret, "msg_1", time.Unix(1700000000, 0), body)
	require.NoError(t, err)
	require.Equal(t, want, got)
}

func TestNewSecret(t *testing.T) {
	t.Parallel()

	a, b := newSecret(t), newSecret(t)
	require.True(t, strings.HasPrefix(a, "whsec_"))
	require.NotEqual(t, a, b)
	key, err := webhooksig.DecodeSecret(a)
	require.NoError(t, err)
	require.Len(t, key, 32)
}

func TestDecodeSecret(t *testing.T) {
	t.Parallel()

	key32 := base64.StdEncoding.EncodeToString(make([]byte, 32))
	tests := []struct {
		name    string
		secret  string
		wantLen int
		wantErr bool
	}{
		{name: "with prefix", secret: "whsec_" + key32, wantLen: 32},
		{name: "without prefix", secret: key32, wantLen: 32},
		{name: "spec vector, 24 bytes", secret: vectorSecret, wantLen: 24},
		{name: "trailing newline from a file", secret: "whsec_" + key32 + "\n", wantLen: 32},
		{name: "empty", secret: "", wantErr: true},
		{name: "prefix only", secret: "whsec_", wantErr: true},
		{name: "not base64", secret: "whsec_not base64!", wantErr: true},
		{name: "too short", secret: "whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 16)), wantErr: true},
		{name: "too long", secret: "whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 65)), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			key, err := webhooksig.DecodeSecret(tt.secret)
			if tt.wantErr {
				require.ErrorIs(t, err, webhooksig.ErrInvalidSecret)
				return
			}
			require.NoError(t, err)
			require.Len(t, key, tt.wantLen)
		})
	}
}

func TestSignAllAndHeaders(t *testing.T) {
	t.Parallel()

	s1, s2 := newSecret(t), newSecret(t)
	ts := time.Unix(1700000000, 0)
	body := []byte(`{}`)

	one1, err := webhooksig.Sign(s1, "msg_1", ts, body)
	require.NoError(t, err)
	one2, err := webhooksig.Sign(s2, "msg_1", ts, body)
	require.NoError(t, err)
	all, err := webhooksig.SignAll([]string{s1, s2}, "msg_1", ts, body)
	require.NoError(t, err)
	require.Equal(t, one1+" "+one2, all)

	h, err := webhooksig.Headers([]string{s1, s2}, "msg_1", ts, body)
	require.NoError(t, err)
	require.Equal(t, "msg_1", h.Get("webhook-id"))
	require.Equal(t, "1700000000", h.Get("webhook-timestamp"))
	require.Equal(t, all, h.Get("webhook-signature"))
}

func TestSignRejectsBadInput(t *testing.T) {
	t.Parallel()

	secret := newSecret(t)
	tests := []struct {
		name    string
		secrets []string
		msgID   string
	}{
		{name: "no secrets", secrets: nil, msgID: "msg_1"},
		{name: "bad secret", secrets: []string{"whsec_???"}, msgID: "msg_1"},
		{name: "empty id", secrets: []string{secret}, msgID: ""},
		{name: "id with space", secrets: []string{secret}, msgID: "msg 1"},
		{name: "id with newline", secrets: []string{secret}, msgID: "msg_1\r\nx-injected: 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := webhooksig.Headers(tt.secrets, tt.msgID, time.Now(), []byte(`{}`))
			require.Error(t, err)
		})
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()

	secret, other, rotated := newSecret(t), newSecret(t), newSecret(t)
	now := time.Unix(1700000000, 0)
	body := []byte(`{"type":"link.completed","data":{"workflow-id":"wf_1"}}`)

	signed := func(t *testing.T, secrets []string, ts time.Time) http.Header {
		h, err := webhooksig.Headers(secrets, "msg_1", ts, body)
		require.NoError(t, err)
		return h
	}
	withSig := func(t *testing.T, sig string) http.Header {
		h := signed(t, []string{secret}, now)
		h.Set("webhook-signature", sig)
		return h
	}
	valid := signed(t, []string{secret}, now).Get("webhook-signature")
	_, validMAC, _ := strings.Cut(valid, ",")

	tests := []struct {
		name    string
		secrets []string // verifier's secrets
		header  func(t *testing.T) http.Header
		body    []byte
		wantErr error
	}{
		{
			name:    "round trip",
			secrets: []string{secret},
			header:  func(t *testing.T) http.Header { return signed(t, []string{secret}, now) },
		},
		{
			name:    "rotation: receiver has the old secret",
			secrets: []string{secret},
			header:  func(t *testing.T) http.Header { return signed(t, []string{secret, rotated}, now) },
		},
		{
			name:    "rotation: receiver has the new secret",
			secrets: []string{rotated},
			header:  func(t *testing.T) http.Header { return signed(t, []string{secret, rotated}, now) },
		},
		{
			name:    "receiver holds two secrets, sender signs with one",
			secrets: []string{other, rotated},
			header:  func(t *testing.T) http.Header { return signed(t, []string{rotated}, now) },
		},
		{
			name:    "signatures split over two header lines",
			secrets: []string{secret},
			header: func(t *testing.T) http.Header {
				h := withSig(t, "v1,AAAA")
				h.Add("webhook-signature", valid)
				return h
			},
		},
		{
			name:    "unknown version skipped, v1 matches",
			secrets: []string{secret},
			header:  func(t *testing.T) http.Header { return withSig(t, "v1a,xyz "+valid) },
		},
		{
			name:    "valid mac under an unknown version",
			secrets: []string{secret},
			header:  func(t *testing.T) http.Header { return withSig(t, "v2,"+validMAC) },
			wantErr: webhooksig.ErrNoMatchingSignature,
		},
		{
			name:    "timestamp exactly at tolerance",
			secrets: []string{secret},
			header: func(t *testing.T) http.Header {
				return signed(t, []string{secret}, now.Add(-webhooksig.Tolerance))
			},
		},
		{
			name:    "tampered body",
			secrets: []string{secret},
			header:  func(t *testing.T) http.Header { return signed(t, []string{secret}, now) },
			body:    []byte(`{"type":"delink.completed","data":{"workflow-id":"wf_1"}}`),
			wantErr: webhooksig.ErrNoMatchingSignature,
		},
		{
			name:    "wrong secret",
			secrets: []string{other},
			header:  func(t *testing.T) http.Header { return signed(t, []string{secret}, now) },
			wantErr: webhooksig.ErrNoMatchingSignature,
		},
		{
			name:    "tampered id",
			secrets: []string{secret},
			header: func(t *testing.T) http.Header {
				h := signed(t, []string{secret}, now)
				h.Set("webhook-id", "msg_2")
				return h
			},
			wantErr: webhooksig.ErrNoMatchingSignature,
		},
		{
			name:    "tampered timestamp",
			secrets: []string{secret},
			header: func(t *testing.T) http.Header {
				h := signed(t, []string{secret}, now)
				h.Set("webhook-timestamp", "1700000001")
				return h
			},
			wantErr: webhooksig.ErrNoMatchingSignature,
		},
		{
			name:    "stale timestamp",
			secrets: []string{secret},
			header: func(t *testing.T) http.Header {
				return signed(t, []string{secret}, now.Add(-webhooksig.Tolerance-time.Second))
			},
			wantErr: webhooksig.ErrTimestamp,
		},
		{
			name:    "future timestamp",
			secrets: []string{secret},
			header: func(t *testing.T) http.Header {
				return signed(t, []string{secret}, now.Add(webhooksig.Tolerance+time.Second))
			},
			wantErr: webhooksig.ErrTimestamp,
		},
		{
			name:    "timestamp not a number",
			secrets: []string{secret},
			header: func(t *testing.T) http.Header {
				h := signed(t, []string{secret}, now)
				h.Set("webhook-timestamp", "2023-11-14T22:13:20Z")
				return h
			},
			wantErr: webhooksig.ErrTimestamp,
		},
		{
			name:    "timestamp near int64 minimum",
			secrets: []string{secret},
			header: func(t *testing.T) http.Header {
				h := signed(t, []string{secret}, now)
				h.Set("webhook-timestamp", "-9223372036854775808")
				return h
			},
			wantErr: webhooksig.ErrTimestamp,
		},
		{
			name:    "missing id",
			secrets: []string{secret},
			header: func(t *testing.T) http.Header {
				h := signed(t, []string{secret}, now)
				h.Del("webhook-id")
				return h
			},
			wantErr: webhooksig.ErrMissingHeaders,
		},
		{
			name:    "missing timestamp",
			secrets: []string{secret},
			header: func(t *testing.T) http.Header {
				h := signed(t, []string{secret}, now)
				h.Del("webhook-timestamp")
				return h
			},
			wantErr: webhooksig.ErrMissingHeaders,
		},
		{
			name:    "missing signature",
			secrets: []string{secret},
			header: func(t *testing.T) http.Header {
				h := signed(t, []string{secret}, now)
				h.Del("webhook-signature")
				return h
			},
			wantErr: webhooksig.ErrMissingHeaders,
		},
		{
			name:    "blank signature",
			secrets: []string{secret},
			header:  func(t *testing.T) http.Header { return withSig(t, "   ") },
			wantErr: webhooksig.ErrMissingHeaders,
		},
		{
			name:    "garbage signatures",
			secrets: []string{secret},
			header: func(t *testing.T) http.Header {
				return withSig(t, "v1 v1, ,v1 v1,!!!not-base64 garbage v1,AAAA "+strings.Repeat(",", 10))
			},
			wantErr: webhooksig.ErrNoMatchingSignature,
		},
		{
			name:    "truncated mac",
			secrets: []string{secret},
			header:  func(t *testing.T) http.Header { return withSig(t, valid[:len(valid)-8]) },
			wantErr: webhooksig.ErrNoMatchingSignature,
		},
		{
			name:    "no secrets",
			secrets: nil,
			header:  func(t *testing.T) http.Header { return signed(t, []string{secret}, now) },
			wantErr: webhooksig.ErrInvalidSecret,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := body
			if tt.body != nil {
				b = tt.body
			}
			err := webhooksig.VerifyAny(tt.secrets, tt.header(t), b, now)
			if tt.wantErr == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tt.wantErr)
		})
	}
}

func FuzzVerify(f *testing.F) {
	const secret = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
	now := time.Unix(1700000000, 0)

	f.Add("msg_1", "1700000000", "v1,AAAA", []byte(`{}`))
	f.Add(vectorID, "1614265330", vectorSig, []byte(vectorBody))
	f.Add("", "", "", []byte(nil))
	f.Add("msg_1", "-9223372036854775808", "v1, v1,,, v2,x", []byte(`{"a":1}`))
	f.Add("msg.1.2", "+1700000000", "v1,"+strings.Repeat("A", 4096), []byte("\x00\xff"))

	f.Fuzz(func(t *testing.T, id, ts, sig string, body []byte) {
		h := http.Header{}
		h.Set("webhook-id", id)
		h.Set("webhook-timestamp", ts)
		h.Set("webhook-signature", sig)
		_ = webhooksig.Verify(secret, h, body, now)

		// Whatever the body and id, what we sign must verify.
		signed, err := webhooksig.Headers([]string{secret}, id, now, body)
		if err != nil {
			return // ids outside visible ascii are refused by design
		}
		if err := webhooksig.Verify(secret, signed, body, now); err != nil {
			t.Fatalf("round trip failed: %v", err)
		}
	})
}
