package httpapi

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/aicred/aicred"
)

// GitHub's secret-scanning partner program signs each alert it sends a
// token issuer with ECDSA P-256 over SHA-256 of the raw body; the
// signature (base64 of ASN.1 DER) and the id of the signing key come in
// these headers, and the public keys are published at a URL
// (https://api.github.com/meta/public_keys/secret_scanning) as
// {"public_keys":[{"key_identifier","key","is_current"}]} with PEM keys.
// See https://docs.github.com/code-security/secret-scanning/secret-scanning-partnership-program/secret-scanning-partner-program.
const (
	GitHubKeyIDHeader     = "Github-Public-Key-Identifier"
	GitHubSignatureHeader = "Github-Public-Key-Signature"
	// DefaultGitHubKeysURL is where GitHub publishes the keys.
	DefaultGitHubKeysURL = "https://api.github.com/meta/public_keys/secret_scanning"
)

// Defaults and bounds of GitHubKeys.
const (
	defaultKeysTTL     = time.Hour
	defaultKeysRefetch = time.Minute
	maxKeysBody        = 1 << 20
	maxKeys            = 64
)

// GitHubKeys verifies the signatures of GitHub's secret-scanning alerts
// with the public keys published at URL. Keys are cached for TTL; an
// unknown key id triggers a refetch, at most once per MinRefetch, so a
// flood of forged key ids cannot turn into a flood of requests. It fails
// closed: keys that cannot be fetched, or are older than TTL and cannot be
// refreshed, verify nothing. A key GitHub stops publishing is forgotten at
// the next fetch. Keys listed with is_current false are still accepted:
// GitHub keeps a key published while alerts signed with it may be in
// flight.
type GitHubKeys struct {
	URL string
	// Client fetches the keys (default: a client with a 10 s timeout).
	Client *http.Client
	// Token, when set, is sent as a bearer token with the fetch, to stay
	// clear of GitHub's rate limit for anonymous requests (no scope needed).
	Token      string
	TTL        time.Duration // default 1h
	MinRefetch time.Duration // default 1m
	Now        func() time.Time

	mu      sync.Mutex
	keys    map[string]*ecdsa.PublicKey
	fetched time.Time // when keys were fetched
	tried   time.Time // when a fetch was last attempted
}

type githubKeysDoc struct {
	PublicKeys []struct {
		KeyIdentifier string `json:"key_identifier"`
		Key           string `json:"key"`
		IsCurrent     bool   `json:"is_current"`
	} `json:"public_keys"`
}

func (k *GitHubKeys) now() time.Time {
	if k.Now != nil {
		return k.Now()
	}
	return time.Now()
}

// Verify checks that sig (the signature header) is the signature of body
// by the key named keyID. Errors: ErrUnauthorized (malformed or wrong
// signature, a key id that is not published), ErrUnavailable (the keys
// cannot be fetched, or are stale and cannot be refreshed).
func (k *GitHubKeys) Verify(ctx context.Context, keyID, sig string, body []byte) error {
	if keyID == "" || sig == "" {
		return aicred.Errorf(aicred.ErrUnauthorized, "github alert: missing %s or %s", GitHubKeyIDHeader, GitHubSignatureHeader)
	}
	der, err := base64.StdEncoding.DecodeString(sig)
	if err != nil || len(der) == 0 || len(der) > 128 {
		return aicred.Errorf(aicred.ErrUnauthorized, "github alert: the signature is not base64 DER")
	}
	pub, err := k.key(ctx, keyID)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(body)
	if !ecdsa.VerifyASN1(pub, sum[:], der) {
		return aicred.Errorf(aicred.ErrUnauthorized, "github alert: bad signature")
	}
	return nil
}

// key returns the published key named id, fetching the keys when the
// cache is stale or does not know id (rate-limited).
func (k *GitHubKeys) key(ctx context.Context, id string) (*ecdsa.PublicKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.now()
	ttl, every := k.TTL, k.MinRefetch
	if ttl <= 0 {
		ttl = defaultKeysTTL
	}
	if every <= 0 {
		every = defaultKeysRefetch
	}
	fresh := k.keys != nil && now.Sub(k.fetched) < ttl
	if pub, ok := k.keys[id]; ok && fresh {
		return pub, nil
	}
	if !k.tried.IsZero() && now.Sub(k.tried) < every {
		if !fresh {
			return nil, aicred.Errorf(aicred.ErrUnavailable, "github alert: signing keys are stale and were fetched moments ago without success")
		}
		return nil, aicred.Errorf(aicred.ErrUnauthorized, "github alert: unknown key id")
	}
	k.tried = now
	keys, err := k.fetch(ctx)
	if err != nil {
		if fresh {
			// The cached keys stand; the id is not among them.
			return nil, aicred.Errorf(aicred.ErrUnauthorized, "github alert: unknown key id (refetch failed: %v)", err)
		}
		return nil, err
	}
	k.keys, k.fetched = keys, now
	if pub, ok := keys[id]; ok {
		return pub, nil
	}
	return nil, aicred.Errorf(aicred.ErrUnauthorized, "github alert: unknown key id")
}

// fetch reads and parses the published keys. Keys that are not ECDSA
// P-256 are left out; a document with none is an error.
func (k *GitHubKeys) fetch(ctx context.Context) (map[string]*ecdsa.PublicKey, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.URL, nil)
	if err != nil {
		return nil, aicred.Errorf(aicred.ErrUnavailable, "github keys: %v", err)
	}
	req.Header.Set("Accept", "application/json")
	if k.Token != "" {
		req.Header.Set("Authorization", "Bearer "+k.Token)
	}
	c := k.Client
	if c == nil {
		c = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, aicred.Errorf(aicred.ErrUnavailable, "github keys: fetch: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, aicred.Errorf(aicred.ErrUnavailable, "github keys: fetch: %s", resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxKeysBody+1))
	if err != nil {
		return nil, aicred.Errorf(aicred.ErrUnavailable, "github keys: read: %v", err)
	}
	if len(data) > maxKeysBody {
		return nil, aicred.Errorf(aicred.ErrUnavailable, "github keys: the document exceeds %d bytes", maxKeysBody)
	}
	keys, err := ParseGitHubKeys(data)
	if err != nil {
		return nil, aicred.Errorf(aicred.ErrUnavailable, "github keys: %v", err)
	}
	return keys, nil
}

// ParseGitHubKeys reads GitHub's public-keys document: the ECDSA P-256
// keys by key identifier. Other keys are skipped; a document without any
// usable key is an error.
func ParseGitHubKeys(data []byte) (map[string]*ecdsa.PublicKey, error) {
	var doc githubKeysDoc
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("malformed keys document: %v", err)
	}
	keys := map[string]*ecdsa.PublicKey{}
	for _, pk := range doc.PublicKeys {
		if len(keys) == maxKeys {
			break
		}
		if pk.KeyIdentifier == "" {
			continue
		}
		block, _ := pem.Decode([]byte(pk.Key))
		if block == nil {
			continue
		}
		pub, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			continue
		}
		if ec, ok := pub.(*ecdsa.PublicKey); ok && ec.Curve == elliptic.P256() {
			keys[pk.KeyIdentifier] = ec
		}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("no ECDSA P-256 key in the keys document")
	}
	return keys, nil
}
