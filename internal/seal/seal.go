// Package seal encrypts patient data at rest with AES-256-GCM. Each sealed
// value carries the id of the key that sealed it, so keys can rotate: new
// data is sealed with the current key, old data still opens with the
// previous ones.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
)

// KeySize is the length of a data key: AES-256.
const KeySize = 32

// ErrUnknownKey says a value was sealed with a key this keyring lacks.
var ErrUnknownKey = errors.New("sealed with an unknown key")

// Keyring seals with its current key and opens with any of its keys.
type Keyring struct {
	currentID string
	aeads     map[string]cipher.AEAD
	macKeys   map[string][]byte // fingerprint keys, derived from each data key
}

// KeyID names a key without revealing it: the first 8 bytes of its SHA-256.
func KeyID(key []byte) string {
	sum := sha256.Sum256(key)
	return hex.EncodeToString(sum[:8])
}

// NewKeyring takes the current key and any previous ones.
func NewKeyring(current []byte, previous ...[]byte) (*Keyring, error) {
	k := &Keyring{aeads: map[string]cipher.AEAD{}, macKeys: map[string][]byte{}}
	for i, key := range append([][]byte{current}, previous...) {
		if len(key) != KeySize {
			return nil, fmt.Errorf("data key %d is %d bytes, want %d", i, len(key), KeySize)
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		k.aeads[KeyID(key)] = aead
		k.macKeys[KeyID(key)] = derive(key, "patientlink fingerprint v1")
	}
	k.currentID = KeyID(current)
	return k, nil
}

// ParseKey decodes a standard base64 data key.
func ParseKey(s string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(key) != KeySize {
		return nil, fmt.Errorf("must be %d random bytes in standard base64", KeySize)
	}
	return key, nil
}

// Seal encrypts plaintext bound to aad (the row it belongs to): the result
// opens only with the same aad. It returns the key id and nonce‖ciphertext.
func (k *Keyring) Seal(plaintext, aad []byte) (keyID string, sealed []byte, err error) {
	aead := k.aeads[k.currentID]
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", nil, err
	}
	return k.currentID, aead.Seal(nonce, nonce, plaintext, aad), nil
}

// Open decrypts what Seal returned.
func (k *Keyring) Open(keyID string, sealed, aad []byte) ([]byte, error) {
	aead, ok := k.aeads[keyID]
	if !ok {
		return nil, fmt.Errorf("key %s: %w", keyID, ErrUnknownKey)
	}
	if len(sealed) < aead.NonceSize() {
		return nil, errors.New("sealed value too short")
	}
	nonce, ciphertext := sealed[:aead.NonceSize()], sealed[aead.NonceSize():]
	plaintext, err := aead.Open(nil, nonce, ciphertext, aad)
	if err != nil {
		return nil, fmt.Errorf("error opening sealed value: %w", err)
	}
	return plaintext, nil
}

// derive makes a key for one purpose from a data key, so the data key
// itself seals only.
func derive(key []byte, purpose string) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(purpose))
	return mac.Sum(nil)
}

// fingerprintIDLen is the length of the key id that starts a fingerprint.
const fingerprintIDLen = 8

// Fingerprint identifies data without revealing it: HMAC-SHA256 under a
// key derived from the current data key, prefixed by that key's id (8
// bytes), so fingerprints made before a rotation still compare. A
// fingerprint of guessable data (demographics) cannot be reversed by
// guessing without the key, unlike a plain hash.
func (k *Keyring) Fingerprint(data []byte) []byte {
	id, _ := hex.DecodeString(k.currentID)
	return append(id, fingerprintMAC(k.macKeys[k.currentID], data)...)
}

// FingerprintMatches reports whether stored is Fingerprint(data) under any
// key of the keyring.
func (k *Keyring) FingerprintMatches(stored, data []byte) bool {
	if len(stored) != fingerprintIDLen+sha256.Size {
		return false
	}
	macKey, ok := k.macKeys[hex.EncodeToString(stored[:fingerprintIDLen])]
	return ok && hmac.Equal(stored[fingerprintIDLen:], fingerprintMAC(macKey, data))
}

func fingerprintMAC(key, data []byte) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write(data)
	return mac.Sum(nil)
}
