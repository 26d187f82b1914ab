// Package seal keeps secrets encrypted at rest with envelope encryption.
//
// Each secret is encrypted with AES-256-GCM under a fresh random 256-bit
// data key; the data key is encrypted (wrapped) with AES-256-GCM under a
// master key. The blob names the master key, so a keyring holding an old
// and a new master key opens blobs of both, and a master key rotation only
// re-wraps data keys: secrets are never decrypted to rotate.
//
// The caller's additional authenticated data (the record's id and
// fingerprint, see aicred.HeldCredential.AAD) is bound into both layers: a
// blob copied onto another record does not open.
//
// Blob layout (version 1):
//
//	0x01 | len(keyID) | keyID | wrapNonce(12) | wrappedDataKey(32+16) | dataNonce(12) | ciphertext+tag
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/aicred/aicred"
)

// KeySize is the size of master and data keys: AES-256.
const KeySize = 32

const (
	blobVersion = 1
	nonceSize   = 12
	tagSize     = 16
	wrappedSize = KeySize + tagSize
)

// KeyID returns the id of a master key: a short hash that names the key
// without revealing it.
func KeyID(key []byte) string {
	sum := sha256.Sum256(append([]byte("aicred master key id\x00"), key...))
	return "mk_" + hex.EncodeToString(sum[:8])
}

// NewKey returns a fresh random master key.
func NewKey() []byte {
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		panic("seal: no randomness: " + err.Error()) // crypto/rand does not fail on supported platforms
	}
	return k
}

type header struct {
	keyID      string
	wrapNonce  []byte
	wrapped    []byte
	dataNonce  []byte
	ciphertext []byte
}

func parse(blob []byte) (*header, error) {
	bad := func(what string) error { return aicred.Errorf(aicred.ErrInvalid, "sealed blob: %s", what) }
	if len(blob) < 2 || blob[0] != blobVersion {
		return nil, bad("unknown version")
	}
	n := int(blob[1])
	rest := blob[2:]
	if n == 0 || len(rest) < n+nonceSize+wrappedSize+nonceSize+tagSize {
		return nil, bad("too short")
	}
	h := &header{keyID: string(rest[:n])}
	rest = rest[n:]
	h.wrapNonce, rest = rest[:nonceSize], rest[nonceSize:]
	h.wrapped, rest = rest[:wrappedSize], rest[wrappedSize:]
	h.dataNonce, h.ciphertext = rest[:nonceSize], rest[nonceSize:]
	return h, nil
}

func (h *header) marshal() []byte {
	out := make([]byte, 0, 2+len(h.keyID)+nonceSize+wrappedSize+nonceSize+len(h.ciphertext))
	out = append(out, blobVersion, byte(len(h.keyID)))
	out = append(out, h.keyID...)
	out = append(out, h.wrapNonce...)
	out = append(out, h.wrapped...)
	out = append(out, h.dataNonce...)
	return append(out, h.ciphertext...)
}

// KeyIDOf returns the id of the master key that wraps blob's data key.
// Errors: ErrInvalid (not a sealed blob).
func KeyIDOf(blob []byte) (string, error) {
	h, err := parse(blob)
	if err != nil {
		return "", err
	}
	return h.keyID, nil
}

func wrapAAD(keyID string, aad []byte) []byte {
	return append([]byte("aicred/seal/v1/key\x00"+keyID+"\x00"), aad...)
}

func dataAAD(aad []byte) []byte {
	return append([]byte("aicred/seal/v1/data\x00"), aad...)
}

func gcm(key []byte) cipher.AEAD {
	block, err := aes.NewCipher(key)
	if err != nil {
		panic(fmt.Sprintf("seal: %v", err)) // keys are always KeySize
	}
	a, err := cipher.NewGCM(block)
	if err != nil {
		panic(fmt.Sprintf("seal: %v", err))
	}
	return a
}

func nonce() []byte {
	n := make([]byte, nonceSize)
	if _, err := rand.Read(n); err != nil {
		panic("seal: no randomness: " + err.Error())
	}
	return n
}

func wrap(master []byte, keyID string, dataKey, aad []byte) (wn, wrapped []byte) {
	wn = nonce()
	return wn, gcm(master).Seal(nil, wn, dataKey, wrapAAD(keyID, aad))
}

func unwrap(master []byte, h *header, aad []byte) ([]byte, error) {
	dk, err := gcm(master).Open(nil, h.wrapNonce, h.wrapped, wrapAAD(h.keyID, aad))
	if err != nil {
		return nil, aicred.Errorf(aicred.ErrUnauthorized, "sealed blob does not open under master key %s: wrong key, wrong record or tampered", h.keyID)
	}
	return dk, nil
}

func sealWith(master []byte, keyID string, plain, aad []byte) []byte {
	dk := NewKey()
	defer clear(dk)
	h := &header{keyID: keyID, dataNonce: nonce()}
	h.ciphertext = gcm(dk).Seal(nil, h.dataNonce, plain, dataAAD(aad))
	h.wrapNonce, h.wrapped = wrap(master, keyID, dk, aad)
	return h.marshal()
}

func openWith(master []byte, h *header, aad []byte) (aicred.Secret, error) {
	dk, err := unwrap(master, h, aad)
	if err != nil {
		return aicred.Secret{}, err
	}
	defer clear(dk)
	plain, err := gcm(dk).Open(nil, h.dataNonce, h.ciphertext, dataAAD(aad))
	if err != nil {
		return aicred.Secret{}, aicred.Errorf(aicred.ErrUnauthorized, "sealed blob does not open: wrong record or tampered")
	}
	s := aicred.NewSecret(string(plain))
	clear(plain)
	return s, nil
}

func rewrapWith(oldMaster, newMaster []byte, newID string, h *header, aad []byte) ([]byte, error) {
	dk, err := unwrap(oldMaster, h, aad)
	if err != nil {
		return nil, err
	}
	defer clear(dk)
	n := *h
	n.keyID = newID
	n.wrapNonce, n.wrapped = wrap(newMaster, newID, dk, aad)
	return n.marshal(), nil
}
