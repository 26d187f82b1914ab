package aicred

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// A Secret holds raw credential material. It refuses to print itself: every
// formatting verb, String, GoString and JSON/text marshalling yield a
// placeholder, so a Secret that slips into a log line or a report leaks
// nothing. Reveal is the one way to read it, and is used only at the moment
// of use (a liveness probe, an upstream call).
type Secret struct{ v string }

const redactedPlaceholder = "[REDACTED]"

// NewSecret wraps raw secret material.
func NewSecret(raw string) Secret { return Secret{v: raw} }

// Reveal returns the raw secret. Callers must not log or store the result.
func (s Secret) Reveal() string { return s.v }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.v == "" }

// Len returns the length of the raw secret in bytes.
func (s Secret) Len() int { return len(s.v) }

// Fingerprint returns the fingerprint of the raw secret.
func (s Secret) Fingerprint() Fingerprint { return FingerprintOf([]byte(s.v)) }

// Redacted returns a short, safe preview of the secret.
func (s Secret) Redacted() string { return Redact(s.v) }

func (Secret) String() string   { return redactedPlaceholder }
func (Secret) GoString() string { return redactedPlaceholder }

// Format makes every fmt verb (%v, %+v, %s, %q, %x ...) print the placeholder.
func (Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redactedPlaceholder)) }

// MarshalJSON never emits the raw value.
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redactedPlaceholder + `"`), nil }

// MarshalText never emits the raw value.
func (Secret) MarshalText() ([]byte, error) { return []byte(redactedPlaceholder), nil }

// A Fingerprint identifies a secret without revealing it: "sha256:" followed
// by the lower-case hex SHA-256 of the exact secret bytes.
type Fingerprint string

// FingerprintOf returns the fingerprint of raw secret bytes.
func FingerprintOf(raw []byte) Fingerprint {
	sum := sha256.Sum256(raw)
	return Fingerprint("sha256:" + hex.EncodeToString(sum[:]))
}

// Valid reports whether f has the fingerprint shape.
func (f Fingerprint) Valid() bool {
	h, ok := strings.CutPrefix(string(f), "sha256:")
	if !ok || len(h) != 64 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// Short returns the first 12 hex digits, enough to name a credential in a table.
func (f Fingerprint) Short() string {
	h := strings.TrimPrefix(string(f), "sha256:")
	if len(h) > 12 {
		h = h[:12]
	}
	return h
}

// Redact returns a preview of a secret that is safe to print: a short prefix
// (at most the well-known part of the format, never more than a quarter of
// the secret) and the last four characters. Secrets too short to preview
// safely are fully masked.
func Redact(raw string) string {
	n := len(raw)
	if n < 16 {
		return strings.Repeat("*", min(n, 8))
	}
	head := min(n/4, 8)
	// Stop the prefix at the end of a well-known marker such as "sk-proj-",
	// so the preview names the format without showing random characters.
	if i := strings.LastIndexAny(raw[:head], "-_."); i >= 2 {
		head = i + 1
	}
	return raw[:head] + "..." + raw[n-4:]
}
