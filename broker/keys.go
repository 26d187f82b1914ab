package broker

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"io"
	"os"
	"slices"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/aicred/aicred"
)

// The only signature algorithms the broker accepts. HMAC is refused because
// a verifier holding a shared secret can forge tokens, and "none" for the
// obvious reason; PS* and the larger hashes are not used by the issuers we
// trust and every algorithm accepted is one more to get wrong.
const (
	AlgRS256 = string(jose.RS256)
	AlgES256 = string(jose.ES256)
	AlgEdDSA = string(jose.EdDSA)
)

func allowedAlgs() []jose.SignatureAlgorithm {
	return []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA}
}

func algAllowed(alg string) bool {
	return alg == AlgRS256 || alg == AlgES256 || alg == AlgEdDSA
}

// minRSABits is the smallest RSA modulus accepted for a verification key.
const minRSABits = 2048

// maxJWKSBytes bounds a key set read from a file or an endpoint.
const maxJWKSBytes = 1 << 20

// A Key is one public verification key from a key set.
type Key struct {
	// ID is the key's kid; it may be empty in a set of one key.
	ID string
	// Alg is the algorithm this key verifies: RS256, ES256 or EdDSA,
	// derived from the key type (and equal to the JWK's alg when set).
	Alg string
	// Public is *rsa.PublicKey, *ecdsa.PublicKey (P-256) or ed25519.PublicKey.
	Public crypto.PublicKey
}

// A KeySource gives the verification keys of one issuer.
type KeySource interface {
	// Keys returns the keys whose id is kid, or every key when kid is
	// empty. A source backed by an endpoint refreshes its cache on an
	// unknown kid, at most once per interval.
	// Errors: ErrUnavailable when no key set can be had (never fetched,
	// or cached keys older than their maximum age and the endpoint
	// failing): the caller must refuse, never fall back.
	Keys(ctx context.Context, kid string) ([]Key, error)
}

// The JWK "use" values accepted for signature keys: absent or "sig" in an
// OIDC key set; SPIFFE bundles mark JWT-SVID keys "jwt-svid" (and X.509
// roots "x509-svid", which are skipped).
func usesOIDC() []string   { return []string{"", "sig"} }
func usesSPIFFE() []string { return []string{"jwt-svid"} }

// ParseJWKS reads a JSON Web Key Set and keeps the keys the broker can use:
// public RSA keys of at least 2048 bits, P-256 keys and Ed25519 keys whose
// "use" is one of uses (nil means absent or "sig"). Symmetric keys, keys of
// other types or curves, keys declaring another algorithm and keys that do
// not parse are skipped, so one odd key does not take the whole set down;
// skipped counts them. A set with no usable key is an error (ErrInvalid).
func ParseJWKS(data []byte, uses []string) (keys []Key, skipped int, err error) {
	if uses == nil {
		uses = usesOIDC()
	}
	if len(data) > maxJWKSBytes {
		return nil, 0, aicred.Errorf(aicred.ErrInvalid, "key set: larger than %d bytes", maxJWKSBytes)
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, 0, aicred.Errorf(aicred.ErrInvalid, "key set: %w", err)
	}
	for _, raw := range set.Keys {
		var meta struct {
			Use *string `json:"use"`
		}
		if json.Unmarshal(raw, &meta) != nil {
			skipped++
			continue
		}
		use := ""
		if meta.Use != nil {
			use = *meta.Use
		}
		var jwk jose.JSONWebKey
		if !slices.Contains(uses, use) || jwk.UnmarshalJSON(raw) != nil {
			skipped++
			continue
		}
		k, ok := usableKey(jwk)
		if !ok {
			skipped++
			continue
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, skipped, aicred.Errorf(aicred.ErrInvalid, "key set: no usable signature key (%d skipped)", skipped)
	}
	return keys, skipped, nil
}

// usableKey returns the public key of jwk when it is one the broker
// accepts. A private key in a published set is a misconfiguration of the
// issuer, not ours to use: only its public half is kept.
func usableKey(jwk jose.JSONWebKey) (Key, bool) {
	if !jwk.Valid() {
		return Key{}, false
	}
	if !jwk.IsPublic() {
		jwk = jwk.Public()
	}
	var alg string
	switch pub := jwk.Key.(type) {
	case *rsa.PublicKey:
		if pub.N.BitLen() < minRSABits {
			return Key{}, false
		}
		alg = AlgRS256
	case *ecdsa.PublicKey:
		if pub.Curve != elliptic.P256() {
			return Key{}, false
		}
		alg = AlgES256
	case ed25519.PublicKey:
		alg = AlgEdDSA
	default:
		return Key{}, false
	}
	if jwk.Algorithm != "" && jwk.Algorithm != alg {
		return Key{}, false
	}
	return Key{ID: jwk.KeyID, Alg: alg, Public: jwk.Key}, true
}

// selectKeys returns the keys whose id is kid, or all keys for "".
func selectKeys(keys []Key, kid string) []Key {
	if kid == "" {
		return keys
	}
	var out []Key
	for _, k := range keys {
		if k.ID == kid {
			out = append(out, k)
		}
	}
	return out
}

// StaticKeys is a fixed key set: a Kubernetes cluster's JWKS copied out of
// the API server (/openid/v1/jwks) when discovery is not reachable, or a
// SPIFFE trust bundle.
type StaticKeys struct{ keys []Key }

// NewStaticKeys parses a key set held in memory; uses as for ParseJWKS.
// Errors: ErrInvalid.
func NewStaticKeys(jwks []byte, uses []string) (*StaticKeys, error) {
	keys, _, err := ParseJWKS(jwks, uses)
	if err != nil {
		return nil, err
	}
	return &StaticKeys{keys: keys}, nil
}

// LoadStaticKeys reads a key set from a file. Errors: ErrNotFound,
// ErrInvalid.
func LoadStaticKeys(path string, uses []string) (*StaticKeys, error) {
	data, err := readFileLimited(path, maxJWKSBytes)
	if err != nil {
		return nil, err
	}
	s, err := NewStaticKeys(data, uses)
	if err != nil {
		return nil, aicred.Errorf(aicred.ErrInvalid, "%s: %w", path, err)
	}
	return s, nil
}

// Keys implements KeySource.
func (s *StaticKeys) Keys(_ context.Context, kid string) ([]Key, error) {
	return selectKeys(s.keys, kid), nil
}

func readFileLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		kind := aicred.ErrInvalid
		if errors.Is(err, os.ErrNotExist) {
			kind = aicred.ErrNotFound
		}
		return nil, aicred.Errorf(kind, "key set: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, aicred.Errorf(aicred.ErrInvalid, "key set: %w", err)
	}
	if int64(len(data)) > limit {
		return nil, aicred.Errorf(aicred.ErrInvalid, "key set %s: larger than %d bytes", path, limit)
	}
	return data, nil
}
