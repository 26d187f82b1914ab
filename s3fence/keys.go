package s3fence

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"strings"

	"github.com/aicred/aicred"
)

// AccessKeyPrefix starts every access key id the fence derives, as AKIA
// starts AWS's long-term ones.
const AccessKeyPrefix = "AKAC"

// KeySize is the size of the fence's server secret.
const KeySize = 32

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// Keys derive each token's S3 key pair from one server secret. The pair
// is never stored: the access key id is the token's hash encrypted under
// a key derived from the secret (so it names the grant without showing
// the hash), the secret access key an HMAC of the hash. A request is
// authenticated by decrypting the id, looking the grant up (revoked and
// expired grants fail there) and checking the signature with the HMAC.
type Keys struct {
	block  cipher.Block
	secret []byte
}

// NewKeys derives the fence's keys from a server secret of KeySize bytes.
// Errors: ErrInvalid.
func NewKeys(server []byte) (*Keys, error) {
	if len(server) != KeySize {
		return nil, aicred.Errorf(aicred.ErrInvalid, "s3 fence: the server secret must be %d bytes", KeySize)
	}
	idKey := mac(server, "aicred s3 access key id v1")
	block, err := aes.NewCipher(idKey)
	if err != nil {
		return nil, err
	}
	return &Keys{block: block, secret: mac(server, "aicred s3 secret access key v1")}, nil
}

func mac(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// Pair returns the access key id and secret access key of the token whose
// hash (aicred.HashToken) is tokenHash.
func (k *Keys) Pair(tokenHash string) (id, secret string, err error) {
	h, err := hex.DecodeString(tokenHash)
	if err != nil || len(h) != sha256.Size {
		return "", "", aicred.Errorf(aicred.ErrInvalid, "s3 fence: not a token hash")
	}
	var out [sha256.Size]byte
	cipher.NewCBCEncrypter(k.block, make([]byte, aes.BlockSize)).CryptBlocks(out[:], h)
	return AccessKeyPrefix + b32.EncodeToString(out[:]), k.secretOf(h), nil
}

func (k *Keys) secretOf(hash []byte) string {
	m := hmac.New(sha256.New, k.secret)
	m.Write(hash)
	return base64.RawStdEncoding.EncodeToString(m.Sum(nil)[:30])
}

// Open returns the token hash an access key id names and its secret.
// ok is false for an id the fence did not derive.
func (k *Keys) Open(accessKeyID string) (tokenHash, secret string, ok bool) {
	rest, found := strings.CutPrefix(accessKeyID, AccessKeyPrefix)
	if !found || len(rest) != b32.EncodedLen(sha256.Size) {
		return "", "", false
	}
	ct, err := b32.DecodeString(rest)
	if err != nil || len(ct) != sha256.Size {
		return "", "", false
	}
	var h [sha256.Size]byte
	cipher.NewCBCDecrypter(k.block, make([]byte, aes.BlockSize)).CryptBlocks(h[:], ct)
	return hex.EncodeToString(h[:]), k.secretOf(h[:]), true
}
