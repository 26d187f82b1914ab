package broker

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/aicred/aicred"
)

// Bounds of JWT verification.
const (
	// MaxTokenBytes: larger subject tokens are refused before parsing.
	MaxTokenBytes = 16 << 10
	// DefaultLeeway absorbs clock skew on exp, nbf and iat.
	DefaultLeeway = 30 * time.Second
	// MaxLeeway bounds the configurable leeway.
	MaxLeeway = 5 * time.Minute
	// DefaultMaxAge: a token issued longer ago than this is refused, so a
	// stolen workload token is worth little even when its exp is far off.
	DefaultMaxAge = time.Hour
	// MaxMaxAge bounds the configurable maximum age.
	MaxMaxAge = 24 * time.Hour
)

// VerifierConfig describes what a valid JWT from one issuer looks like.
type VerifierConfig struct {
	// Issuer is the exact "iss" required. Empty means iss is not checked,
	// which only SPIFFE may use (JWT-SVIDs need not carry iss; the trust
	// domain of sub and the bundle stand in for it).
	Issuer string
	// Audiences: "aud" (a string or an array) must hold at least one of
	// them. Required: a token minted for another service must not be
	// accepted here.
	Audiences []string
	// Keys gives the issuer's verification keys.
	Keys KeySource
	// Leeway absorbs clock skew (default 30s, at most 5 min).
	Leeway time.Duration
	// MaxAge refuses tokens whose iat is older (default 1h, at most 24h).
	// A token without iat is refused when it expires later than MaxAge
	// from now.
	MaxAge time.Duration
	// Replay, when set, refuses a second token with the same iss and jti
	// before it expires.
	Replay ReplayCache
	// RequireJTI refuses tokens without jti (only with Replay).
	RequireJTI bool
	// Clock returns the current time; nil means time.Now.
	Clock func() time.Time
}

// A Verifier checks the signature and registered claims of JWTs from one
// issuer.
type Verifier struct {
	cfg VerifierConfig
}

// NewVerifier checks cfg. Errors: ErrInvalid.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	if cfg.Keys == nil {
		return nil, aicred.Errorf(aicred.ErrInvalid, "verifier: no key source")
	}
	if len(cfg.Audiences) == 0 || slices.Contains(cfg.Audiences, "") {
		return nil, aicred.Errorf(aicred.ErrInvalid, "verifier: at least one non-empty audience is required")
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = DefaultLeeway
	}
	if cfg.Leeway < 0 || cfg.Leeway > MaxLeeway {
		return nil, aicred.Errorf(aicred.ErrInvalid, "verifier: leeway %s outside 0..%s", cfg.Leeway, MaxLeeway)
	}
	if cfg.MaxAge == 0 {
		cfg.MaxAge = DefaultMaxAge
	}
	if cfg.MaxAge < time.Minute || cfg.MaxAge > MaxMaxAge {
		return nil, aicred.Errorf(aicred.ErrInvalid, "verifier: max_age %s outside 1m..%s", cfg.MaxAge, MaxMaxAge)
	}
	if cfg.RequireJTI && cfg.Replay == nil {
		return nil, aicred.Errorf(aicred.ErrInvalid, "verifier: require_jti needs a replay cache")
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	return &Verifier{cfg: cfg}, nil
}

// Issuer returns the iss the verifier requires ("" when unchecked).
func (v *Verifier) Issuer() string { return v.cfg.Issuer }

// A JWT is a verified token: its header, registered claims and every claim
// as decoded JSON (numbers as json.Number).
type JWT struct {
	Alg, KeyID string
	Issuer     string
	Subject    string
	Audience   []string
	Expiry     time.Time
	NotBefore  time.Time // zero when absent
	IssuedAt   time.Time // zero when absent
	ID         string    // jti
	Claims     map[string]any
}

// header is the part of the JOSE header read before the library parses it.
type header struct {
	Alg  string          `json:"alg"`
	Kid  string          `json:"kid"`
	Typ  string          `json:"typ"`
	Crit json.RawMessage `json:"crit"`
}

// splitJWT checks the compact serialisation's shape and size and decodes
// its header and payload without verifying anything.
func splitJWT(raw string) (header, []byte, error) {
	var h header
	if len(raw) > MaxTokenBytes {
		return h, nil, refuse(CodeInvalidRequest, ReasonTooLarge, fmt.Sprintf("subject_token is larger than %d bytes", MaxTokenBytes), nil)
	}
	malformed := func(what string, err error) error {
		return refuse(CodeInvalidRequest, ReasonMalformed, "subject_token is not a well-formed JWT: "+what, err)
	}
	if strings.Count(raw, ".") != 2 {
		return h, nil, malformed("want three dot-separated parts (signed, compact serialization)", nil)
	}
	hdr, rest, _ := strings.Cut(raw, ".")
	payload, sig, _ := strings.Cut(rest, ".")
	// An empty signature is left to the algorithm check ("none") and
	// then the signature check.
	if hdr == "" || payload == "" {
		return h, nil, malformed("empty header or payload", nil)
	}
	hb, err := base64.RawURLEncoding.DecodeString(hdr)
	if err != nil {
		return h, nil, malformed("header is not base64url", nil)
	}
	if err := json.Unmarshal(hb, &h); err != nil {
		return h, nil, malformed("header is not a JSON object", nil)
	}
	pb, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return h, nil, malformed("payload is not base64url", nil)
	}
	if _, err := base64.RawURLEncoding.DecodeString(sig); err != nil {
		return h, nil, malformed("signature is not base64url", nil)
	}
	return h, pb, nil
}

// checkHeader refuses algorithms, types and critical extensions the
// broker does not accept, before any key is looked up.
func checkHeader(h header) error {
	if !algAllowed(h.Alg) {
		return refuse(CodeInvalidGrant, ReasonAlgNotAllowed, "signature algorithm not accepted (want RS256, ES256 or EdDSA)", nil)
	}
	switch strings.ToLower(h.Typ) {
	case "", "jwt", "jose", "application/jwt":
	default:
		return refuse(CodeInvalidGrant, ReasonTypNotAllowed, "token type (typ) not accepted", nil)
	}
	if len(h.Crit) > 0 {
		return refuse(CodeInvalidGrant, ReasonCritUnsupported, "critical header extensions are not supported", nil)
	}
	return nil
}

// Verify checks raw and returns its claims. The order matters: size and
// shape, then the algorithm, then the issuer, all before any key lookup
// (so a forged token cannot make the broker fetch keys), then the key and
// signature, then the time claims, audience and replay.
func (v *Verifier) Verify(ctx context.Context, raw string) (*JWT, error) {
	h, payload, err := splitJWT(raw)
	if err != nil {
		return nil, err
	}
	if err := checkHeader(h); err != nil {
		return nil, err
	}
	// The issuer is compared on the unverified payload only to refuse
	// early; the decision below rests on the verified payload.
	if v.cfg.Issuer != "" {
		var peek struct {
			Iss any `json:"iss"`
		}
		if json.Unmarshal(payload, &peek) != nil {
			return nil, refuse(CodeInvalidRequest, ReasonMalformed, "subject_token is not a well-formed JWT: payload is not a JSON object", nil)
		}
		if s, _ := peek.Iss.(string); s != v.cfg.Issuer {
			return nil, refuse(CodeInvalidGrant, ReasonWrongIssuer, "token issuer is not accepted", nil)
		}
	}

	jws, err := jose.ParseSignedCompact(raw, allowedAlgs())
	if err != nil {
		return nil, refuse(CodeInvalidRequest, ReasonMalformed, "subject_token is not a well-formed JWS", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, refuse(CodeInvalidRequest, ReasonMalformed, "subject_token must carry exactly one signature", nil)
	}
	// Two JSON parsers read the header; a header they read differently
	// (duplicate keys) is refused rather than resolved.
	if jh := jws.Signatures[0].Header; jh.Algorithm != h.Alg || jh.KeyID != h.Kid {
		return nil, refuse(CodeInvalidRequest, ReasonMalformed, "subject_token header is ambiguous", nil)
	}
	key, err := v.key(ctx, h)
	if err != nil {
		return nil, err
	}
	verified, err := jws.Verify(key.Public)
	if err != nil {
		return nil, refuse(CodeInvalidGrant, ReasonBadSignature, "token signature is invalid", nil)
	}
	tok, err := parseClaims(verified)
	if err != nil {
		return nil, err
	}
	tok.Alg, tok.KeyID = h.Alg, h.Kid
	if err := v.checkClaims(tok); err != nil {
		return nil, err
	}
	if err := v.checkReplay(ctx, tok); err != nil {
		return nil, err
	}
	return tok, nil
}

// key finds the one key that may verify a token with header h.
func (v *Verifier) key(ctx context.Context, h header) (Key, error) {
	keys, err := v.cfg.Keys.Keys(ctx, h.Kid)
	if err != nil {
		if aicred.KindOf(err) == aicred.ErrUnavailable {
			return Key{}, refuse(CodeTemporarilyUnavailable, ReasonKeysUnavailable, "the issuer's keys are unavailable; try again later", err)
		}
		return Key{}, refuse(CodeServerError, ReasonKeysUnavailable, "the issuer's keys could not be read", err)
	}
	switch {
	case len(keys) == 0 && h.Kid != "":
		return Key{}, refuse(CodeInvalidGrant, ReasonUnknownKID, "token key id (kid) is not in the issuer's key set", nil)
	case len(keys) == 0:
		return Key{}, refuse(CodeInvalidGrant, ReasonUnknownKID, "the issuer's key set is empty", nil)
	case len(keys) > 1 && h.Kid == "":
		return Key{}, refuse(CodeInvalidGrant, ReasonKIDRequired, "token has no key id (kid) and the issuer has several keys", nil)
	case len(keys) > 1:
		// Two keys under one kid: take the one matching the algorithm
		// only if exactly one does.
		keys = slices.DeleteFunc(slices.Clone(keys), func(k Key) bool { return k.Alg != h.Alg })
		if len(keys) != 1 {
			return Key{}, refuse(CodeInvalidGrant, ReasonKeyMismatch, "token key id (kid) is ambiguous in the issuer's key set", nil)
		}
	}
	k := keys[0]
	if k.Alg != h.Alg || !keyMatchesAlg(k, h.Alg) {
		return Key{}, refuse(CodeInvalidGrant, ReasonKeyMismatch, "token algorithm does not match the type of the key it names", nil)
	}
	return k, nil
}

func keyMatchesAlg(k Key, alg string) bool {
	switch k.Public.(type) {
	case *rsa.PublicKey:
		return alg == AlgRS256
	case *ecdsa.PublicKey:
		return alg == AlgES256
	case ed25519.PublicKey:
		return alg == AlgEdDSA
	}
	return false
}

// checkClaims checks iss, aud and the time claims of a verified token.
func (v *Verifier) checkClaims(t *JWT) error {
	if v.cfg.Issuer != "" && t.Issuer != v.cfg.Issuer {
		return refuse(CodeInvalidGrant, ReasonWrongIssuer, "token issuer is not accepted", nil)
	}
	if !slices.ContainsFunc(t.Audience, func(a string) bool { return slices.Contains(v.cfg.Audiences, a) }) {
		return refuse(CodeInvalidGrant, ReasonWrongAudience, "token audience (aud) does not name this service", nil)
	}
	now, leeway := v.cfg.Clock(), v.cfg.Leeway
	if t.Expiry.IsZero() {
		return refuse(CodeInvalidGrant, ReasonClaims, "token has no expiry (exp)", nil)
	}
	if !now.Before(t.Expiry.Add(leeway)) {
		return refuse(CodeInvalidGrant, ReasonExpired, "token has expired", nil)
	}
	if !t.NotBefore.IsZero() && now.Add(leeway).Before(t.NotBefore) {
		return refuse(CodeInvalidGrant, ReasonNotYetValid, "token is not valid yet (nbf)", nil)
	}
	if t.IssuedAt.IsZero() {
		if t.Expiry.Sub(now) > v.cfg.MaxAge {
			return refuse(CodeInvalidGrant, ReasonLifetime, "token has no issue time (iat) and lives longer than the maximum age", nil)
		}
		return nil
	}
	if now.Add(leeway).Before(t.IssuedAt) {
		return refuse(CodeInvalidGrant, ReasonIssuedInFuture, "token issue time (iat) is in the future", nil)
	}
	if now.Sub(t.IssuedAt) > v.cfg.MaxAge {
		return refuse(CodeInvalidGrant, ReasonTooOld, "token was issued too long ago (iat)", nil)
	}
	return nil
}

func (v *Verifier) checkReplay(ctx context.Context, t *JWT) error {
	if v.cfg.Replay == nil {
		return nil
	}
	if t.ID == "" {
		if v.cfg.RequireJTI {
			return refuse(CodeInvalidGrant, ReasonJTIRequired, "token has no token id (jti)", nil)
		}
		return nil
	}
	// Keyed by a hash, so a long jti costs the cache 32 bytes.
	key := sha256.Sum256([]byte(t.Issuer + "\x00" + t.ID))
	fresh, err := v.cfg.Replay.Remember(ctx, key, t.Expiry.Add(v.cfg.Leeway))
	if err != nil {
		return refuse(CodeTemporarilyUnavailable, ReasonReplayCacheError, "replay protection is unavailable; try again later", err)
	}
	if !fresh {
		return refuse(CodeInvalidGrant, ReasonReplayed, "token was already used (jti)", nil)
	}
	return nil
}

// parseClaims decodes a verified payload. Registered claims must have
// their registered types; a numeric date is a finite JSON number.
func parseClaims(payload []byte) (*JWT, error) {
	bad := func(what string) error {
		return refuse(CodeInvalidGrant, ReasonClaims, "token claims are invalid: "+what, nil)
	}
	dec := json.NewDecoder(strings.NewReader(string(payload)))
	dec.UseNumber()
	var claims map[string]any
	if err := dec.Decode(&claims); err != nil || claims == nil {
		return nil, bad("payload is not a JSON object")
	}
	if dec.More() {
		return nil, bad("trailing data after the claims")
	}
	// A claim named twice in one object is read as the last by this
	// parser and as the first by others: refuse it rather than pick.
	if hasDuplicateKeys(payload) {
		return nil, refuse(CodeInvalidGrant, ReasonClaims, "token claims are ambiguous: a claim name appears twice in one object", nil)
	}
	t := &JWT{Claims: claims}
	var ok bool
	if t.Issuer, ok = optString(claims, "iss"); !ok {
		return nil, bad("iss is not a string")
	}
	if t.Subject, ok = optString(claims, "sub"); !ok {
		return nil, bad("sub is not a string")
	}
	if t.ID, ok = optString(claims, "jti"); !ok {
		return nil, bad("jti is not a string")
	}
	switch a := claims["aud"].(type) {
	case nil:
	case string:
		t.Audience = []string{a}
	case []any:
		for _, x := range a {
			s, ok := x.(string)
			if !ok {
				return nil, bad("aud holds a non-string")
			}
			t.Audience = append(t.Audience, s)
		}
	default:
		return nil, bad("aud is neither a string nor an array")
	}
	for _, d := range []struct {
		name string
		dst  *time.Time
	}{{"exp", &t.Expiry}, {"nbf", &t.NotBefore}, {"iat", &t.IssuedAt}} {
		v, present := claims[d.name]
		if !present {
			continue
		}
		tm, err := numericDate(v)
		if err != nil {
			return nil, bad(d.name + " " + err.Error())
		}
		*d.dst = tm
	}
	return t, nil
}

// optString returns a string claim; ok is false when present with another type.
func optString(claims map[string]any, name string) (string, bool) {
	v, present := claims[name]
	if !present {
		return "", true
	}
	s, ok := v.(string)
	return s, ok
}

// maxNumericDate is year 5138: later dates are refused rather than
// overflowing time arithmetic.
const maxNumericDate = 1e11

func numericDate(v any) (time.Time, error) {
	n, ok := v.(json.Number)
	if !ok {
		return time.Time{}, errors.New("is not a number")
	}
	f, err := n.Float64()
	if err != nil || f != f || f < 0 || f > maxNumericDate {
		return time.Time{}, errors.New("is not a valid date")
	}
	sec := int64(f)
	return time.Unix(sec, int64((f-float64(sec))*1e9)).UTC(), nil
}

// hasDuplicateKeys reports whether any JSON object in data, at any depth,
// names a member twice. data has been decoded once already, so it is
// well-formed; a decoding error here is reported as a duplicate (refused).
func hasDuplicateKeys(data []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	// One frame per open object or array: the names seen so far (nil for
	// an array) and whether the next token of an object is a name.
	type frame struct {
		names  map[string]struct{}
		object bool
		key    bool
	}
	var stack []frame
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return false
		}
		if err != nil {
			return true
		}
		if n := len(stack); n > 0 && stack[n-1].object && stack[n-1].key {
			if name, ok := tok.(string); ok {
				if _, dup := stack[n-1].names[name]; dup {
					return true
				}
				stack[n-1].names[name] = struct{}{}
				stack[n-1].key = false
				continue
			}
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, frame{names: map[string]struct{}{}, object: true, key: true})
			continue
		case json.Delim('['):
			stack = append(stack, frame{})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		// A value ended: in an object, a name comes next.
		if n := len(stack); n > 0 && stack[n-1].object {
			stack[n-1].key = true
		}
	}
}
