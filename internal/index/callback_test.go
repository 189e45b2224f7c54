package index

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestCallbackSignatureRoundTrip(t *testing.T) {
	t.Parallel()

	secret := []byte("s3cret")
	body := []byte(`{"search-id":"s-1","results":[{"id":"p-1","score":0.98}]}`)
	now := time.Unix(1_700_000_000, 0)

	path := CallbackPath("s-1")
	require.Equal(t, "/internal/search-results/s-1", path)
	header := SignCallback(secret, path, body, now)
	require.Regexp(t, `^t=1700000000,v1=[0-9a-f]{64}$`, header)
	require.NoError(t, VerifyCallback(secret, header, path, body, now))
	require.NoError(t, VerifyCallback(secret, header, path, body, now.Add(SignatureTolerance)))
	require.NoError(t, VerifyCallback(secret, header, path, body, now.Add(-SignatureTolerance)))
	require.NoError(t, CheckCallbackHeader(header, now))
	require.ErrorIs(t, CheckCallbackHeader(header, now.Add(SignatureTolerance+time.Second)), ErrSignatureStale)
	require.ErrorIs(t, CheckCallbackHeader("", now), ErrSignatureMalformed)
}

func TestCallbackSignatureRejects(t *testing.T) {
	t.Parallel()

	secret := []byte("s3cret")
	body := []byte(`{"search-id":"s-1","results":[]}`)
	signedAt := time.Unix(1_700_000_000, 0)
	good := SignCallback(secret, CallbackPath("s-1"), body, signedAt)
	goodSig := strings.TrimPrefix(good, "t=1700000000,")

	tests := []struct {
		name    string
		secret  []byte
		header  string
		path    string
		body    []byte
		now     time.Time
		wantErr error
	}{
		{name: "tampered body", header: good, body: []byte(`{"search-id":"s-2","results":[]}`), wantErr: ErrSignatureMismatch},
		{name: "another search's path", header: good, path: CallbackPath("s-2"), wantErr: ErrSignatureMismatch},
		{name: "wrong secret", secret: []byte("other"), header: good, wantErr: ErrSignatureMismatch},
		{name: "empty secret", secret: []byte{}, header: good, wantErr: ErrSignatureMismatch},
		{name: "other timestamp in header", header: "t=1700000001," + goodSig, wantErr: ErrSignatureMismatch},
		{name: "stale", header: good, now: signedAt.Add(SignatureTolerance + time.Second), wantErr: ErrSignatureStale},
		{name: "from the future", header: good, now: signedAt.Add(-SignatureTolerance - time.Second), wantErr: ErrSignatureStale},
		{name: "missing", header: "", wantErr: ErrSignatureMalformed},
		{name: "garbage", header: "garbage", wantErr: ErrSignatureMalformed},
		{name: "no timestamp", header: goodSig, wantErr: ErrSignatureMalformed},
		{name: "no signature", header: "t=1700000000", wantErr: ErrSignatureMalformed},
		{name: "bad timestamp", header: "t=soon," + goodSig, wantErr: ErrSignatureMalformed},
		{name: "bad hex", header: "t=1700000000,v1=zz", wantErr: ErrSignatureMalformed},
		{name: "short signature", header: "t=1700000000,v1=abcd", wantErr: ErrSignatureMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.secret == nil {
				tt.secret = secret
			}
			if tt.body == nil {
				tt.body = body
			}
			if tt.now.IsZero() {
				tt.now = signedAt
			}
			if tt.path == "" {
				tt.path = CallbackPath("s-1")
			}
			err := VerifyCallback(tt.secret, tt.header, tt.path, tt.body, tt.now)
			require.ErrorIs(t, err, tt.wantErr)
		})
	}
}

func TestCallbackSignatureAcceptsAnyOfSeveral(t *testing.T) {
	t.Parallel()

	body := []byte(`{}`)
	now := time.Unix(1_700_000_000, 0)
	path := CallbackPath("s-1")
	oldHeader := SignCallback([]byte("old"), path, body, now)
	newHeader := SignCallback([]byte("new"), path, body, now)
	header := fmt.Sprintf("%s,%s", oldHeader, strings.TrimPrefix(newHeader, "t=1700000000,"))

	require.NoError(t, VerifyCallback([]byte("new"), header, path, body, now))
	require.NoError(t, VerifyCallback([]byte("old"), header, path, body, now))
}
