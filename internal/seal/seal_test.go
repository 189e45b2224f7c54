package seal_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/patientlink/patientlink/internal/seal"
)

func newKey(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, seal.KeySize)
	_, err := rand.Read(k)
	require.NoError(t, err)
	return k
}

func TestSealOpen(t *testing.T) {
	t.Parallel()
	ring, err := seal.NewKeyring(newKey(t))
	require.NoError(t, err)
	plain := []byte(`{"full_name":"Ada Lovelace"}`)

	id, sealed, err := ring.Seal(plain, []byte("wf-1"))
	require.NoError(t, err)
	require.False(t, bytes.Contains(sealed, []byte("Lovelace")), "ciphertext must not contain the plaintext")

	got, err := ring.Open(id, sealed, []byte("wf-1"))
	require.NoError(t, err)
	require.Equal(t, plain, got)

	_, err = ring.Open(id, sealed, []byte("wf-2"))
	require.Error(t, err, "a value moved to another row must not open")

	sealed[len(sealed)-1] ^= 1
	_, err = ring.Open(id, sealed, []byte("wf-1"))
	require.Error(t, err, "a tampered value must not open")
}

func TestRotation(t *testing.T) {
	t.Parallel()
	oldKey, newKeyBytes := newKey(t), newKey(t)
	oldRing, err := seal.NewKeyring(oldKey)
	require.NoError(t, err)
	id, sealed, err := oldRing.Seal([]byte("x"), nil)
	require.NoError(t, err)

	rotated, err := seal.NewKeyring(newKeyBytes, oldKey)
	require.NoError(t, err)
	got, err := rotated.Open(id, sealed, nil)
	require.NoError(t, err)
	require.Equal(t, []byte("x"), got)
	newID, _, err := rotated.Seal([]byte("y"), nil)
	require.NoError(t, err)
	require.Equal(t, seal.KeyID(newKeyBytes), newID, "new data is sealed with the current key")

	withoutOld, err := seal.NewKeyring(newKeyBytes)
	require.NoError(t, err)
	_, err = withoutOld.Open(id, sealed, nil)
	require.ErrorIs(t, err, seal.ErrUnknownKey)
}

func TestKeyLength(t *testing.T) {
	t.Parallel()
	_, err := seal.NewKeyring(make([]byte, 16))
	require.Error(t, err)
	_, err = seal.ParseKey("c2hvcnQ=")
	require.Error(t, err)
}

// A fingerprint is keyed: not the plain SHA-256 of the data, not the same
// under another key, and still matched after the key rotates.
func TestFingerprint(t *testing.T) {
	t.Parallel()
	oldKey, newKey := bytes.Repeat([]byte{1}, seal.KeySize), bytes.Repeat([]byte{2}, seal.KeySize)
	old, err := seal.NewKeyring(oldKey)
	require.NoError(t, err)
	rotated, err := seal.NewKeyring(newKey, oldKey)
	require.NoError(t, err)
	other, err := seal.NewKeyring(newKey)
	require.NoError(t, err)
	data := []byte(`POST /link {"full_name":"Ada Lovelace","dob":"1815-12-10"}`)

	fp := old.Fingerprint(data)
	plain := sha256.Sum256(data)
	require.NotContains(t, string(fp), string(plain[:]))
	require.True(t, old.FingerprintMatches(fp, data))
	require.False(t, old.FingerprintMatches(fp, []byte("another request")))
	require.True(t, rotated.FingerprintMatches(fp, data), "made before the rotation")
	require.False(t, other.FingerprintMatches(fp, data), "without the key")
	require.NotEqual(t, fp, rotated.Fingerprint(data))
	require.False(t, old.FingerprintMatches(plain[:], data))
}
