// Package sigv4 verifies AWS Signature Version 4 on requests a server
// receives: the Authorization header and presigned query forms, and the
// chunk signatures of streaming uploads (aws-chunked). It never buffers a
// body: payload hashes and chunk signatures are checked as the body is
// read, and a body whose check fails ends in an error before its last
// byte is released, so a proxy reading it aborts its upstream request.
package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Algorithm is the only signing algorithm accepted.
const Algorithm = "AWS4-HMAC-SHA256"

// Payload hash values of x-amz-content-sha256 other than a hex digest.
const (
	UnsignedPayload        = "UNSIGNED-PAYLOAD"
	StreamingSigned        = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	StreamingUnsignedTrail = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
	StreamingSignedTrail   = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
)

// Bounds.
const (
	// MaxSkew: a header-signed request dated further from now is refused.
	MaxSkew = 15 * time.Minute
	// MaxPresignExpiry is the longest X-Amz-Expires accepted (7 days, as S3).
	MaxPresignExpiry = 7 * 24 * time.Hour
)

// Error codes, as S3 names them in its XML error answers.
const (
	CodeAccessDenied          = "AccessDenied"
	CodeSignatureDoesNotMatch = "SignatureDoesNotMatch"
	CodeInvalidAccessKeyID    = "InvalidAccessKeyId"
	CodeRequestTimeTooSkewed  = "RequestTimeTooSkewed"
	CodeAuthorizationMalform  = "AuthorizationHeaderMalformed"
	CodeInvalidRequest        = "InvalidRequest"
	CodeMissingAuth           = "MissingSecurityHeader"
	CodeXAmzContentSHA256     = "XAmzContentSHA256Mismatch"
	CodeBadDigest             = "BadDigest"
	CodeIncompleteBody        = "IncompleteBody"
	CodeNotImplemented        = "NotImplemented"
)

// An Error is a refusal with the S3 error code and HTTP status to answer.
// Its message never quotes a key or signature.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func refuse(status int, code, msg string) *Error {
	return &Error{Status: status, Code: code, Message: msg}
}

// Credential is the parsed credential scope of a signature.
type Credential struct {
	AccessKeyID string
	Date        string // yyyymmdd
	Region      string
	Service     string
}

// Scope is "date/region/service/aws4_request".
func (c Credential) Scope() string {
	return c.Date + "/" + c.Region + "/" + c.Service + "/aws4_request"
}

// A Signed is a request whose signature has been parsed, not yet checked.
type Signed struct {
	Credential    Credential
	SignedHeaders []string
	Signature     []byte
	Time          time.Time // X-Amz-Date
	// PayloadHash is x-amz-content-sha256 (or UNSIGNED-PAYLOAD for a
	// presigned URL without it).
	PayloadHash string
	Presigned   bool
	Expires     time.Duration // presigned only
	amzDate     string
}

// Parse reads the signature of r, header or query form. service is the
// one signatures must name ("s3").
func Parse(r *http.Request, service string) (*Signed, error) {
	q := r.URL.Query()
	auth := r.Header.Get("Authorization")
	switch {
	case auth != "" && q.Has("X-Amz-Signature"):
		return nil, refuse(http.StatusBadRequest, CodeInvalidRequest, "only one auth mechanism allowed")
	case auth != "":
		return parseHeader(r, auth, service)
	case q.Has("X-Amz-Signature") || q.Has("X-Amz-Credential"):
		return parseQuery(r, q, service)
	}
	return nil, refuse(http.StatusForbidden, CodeAccessDenied, "the request is not signed (SigV4 required)")
}

func parseHeader(r *http.Request, auth, service string) (*Signed, error) {
	malformed := func(what string) error {
		return refuse(http.StatusBadRequest, CodeAuthorizationMalform, "the authorization header is malformed: "+what)
	}
	alg, rest, ok := strings.Cut(auth, " ")
	if !ok || alg != Algorithm {
		return nil, malformed("want " + Algorithm)
	}
	s := &Signed{}
	var cred, signed, sig string
	for _, part := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return nil, malformed("a part without '='")
		}
		switch k {
		case "Credential":
			cred = v
		case "SignedHeaders":
			signed = v
		case "Signature":
			sig = v
		default:
			return nil, malformed("unknown part")
		}
	}
	if cred == "" || signed == "" || sig == "" {
		return nil, malformed("Credential, SignedHeaders and Signature are required")
	}
	if err := s.parseCommon(cred, signed, sig, r.Header.Get("X-Amz-Date"), service); err != nil {
		return nil, err
	}
	s.PayloadHash = r.Header.Get("X-Amz-Content-Sha256")
	// S3 requires the header; other services sign the body's hash
	// without sending it, and the caller sets PayloadHash.
	if s.PayloadHash == "" && service == "s3" {
		return nil, refuse(http.StatusBadRequest, CodeInvalidRequest, "missing required header for this request: x-amz-content-sha256")
	}
	return s, nil
}

func parseQuery(r *http.Request, q url.Values, service string) (*Signed, error) {
	if q.Get("X-Amz-Algorithm") != Algorithm {
		return nil, refuse(http.StatusBadRequest, CodeAuthorizationMalform, "X-Amz-Algorithm must be "+Algorithm)
	}
	for _, p := range []string{"X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Signature"} {
		if len(q[p]) != 1 {
			return nil, refuse(http.StatusBadRequest, CodeAuthorizationMalform, "presigned URL needs exactly one "+p)
		}
	}
	s := &Signed{Presigned: true}
	if err := s.parseCommon(q.Get("X-Amz-Credential"), q.Get("X-Amz-SignedHeaders"), q.Get("X-Amz-Signature"), q.Get("X-Amz-Date"), service); err != nil {
		return nil, err
	}
	n, err := strconv.Atoi(q.Get("X-Amz-Expires"))
	if err != nil || n <= 0 || time.Duration(n)*time.Second > MaxPresignExpiry {
		return nil, refuse(http.StatusBadRequest, CodeAuthorizationMalform, "X-Amz-Expires must be 1..604800 seconds")
	}
	s.Expires = time.Duration(n) * time.Second
	s.PayloadHash = UnsignedPayload
	if h := q.Get("X-Amz-Content-Sha256"); h != "" {
		s.PayloadHash = h
	} else if h := r.Header.Get("X-Amz-Content-Sha256"); h != "" {
		s.PayloadHash = h
	}
	return s, nil
}

func (s *Signed) parseCommon(cred, signed, sig, date, service string) error {
	malformed := func(what string) error {
		return refuse(http.StatusBadRequest, CodeAuthorizationMalform, "the signature is malformed: "+what)
	}
	parts := strings.Split(cred, "/")
	if len(parts) != 5 || parts[4] != "aws4_request" || parts[0] == "" || len(parts[1]) != 8 || parts[2] == "" {
		return malformed("the credential must be KEY/DATE/REGION/SERVICE/aws4_request")
	}
	if parts[3] != service {
		return malformed("the credential names another service")
	}
	s.Credential = Credential{AccessKeyID: parts[0], Date: parts[1], Region: parts[2], Service: parts[3]}
	s.SignedHeaders = strings.Split(signed, ";")
	if !slices.IsSorted(s.SignedHeaders) || slices.Contains(s.SignedHeaders, "") {
		return malformed("signed headers must be sorted lower-case names")
	}
	for _, h := range s.SignedHeaders {
		if h != strings.ToLower(h) {
			return malformed("signed headers must be lower-case")
		}
	}
	if !slices.Contains(s.SignedHeaders, "host") {
		return malformed("the host header must be signed")
	}
	b, err := hex.DecodeString(sig)
	if err != nil || len(b) != sha256.Size {
		return malformed("the signature is not 64 hex digits")
	}
	s.Signature = b
	t, err := time.Parse("20060102T150405Z", date)
	if err != nil {
		return refuse(http.StatusForbidden, CodeAccessDenied, "X-Amz-Date is missing or malformed (want yyyymmddThhmmssZ)")
	}
	if t.Format("20060102") != s.Credential.Date {
		return malformed("the credential date is not the X-Amz-Date's")
	}
	s.Time, s.amzDate = t, date
	return nil
}

// CheckTime refuses a header signature dated more than MaxSkew from now
// and a presigned URL that has expired (or is dated in the future).
func (s *Signed) CheckTime(now time.Time) error {
	if s.Presigned {
		if now.Add(MaxSkew).Before(s.Time) {
			return refuse(http.StatusForbidden, CodeAccessDenied, "the presigned URL is dated in the future")
		}
		if !now.Before(s.Time.Add(s.Expires)) {
			return refuse(http.StatusForbidden, CodeAccessDenied, "request has expired")
		}
		return nil
	}
	if d := now.Sub(s.Time); d > MaxSkew || d < -MaxSkew {
		return refuse(http.StatusForbidden, CodeRequestTimeTooSkewed, "the difference between the request time and the current time is too large")
	}
	return nil
}

// SigningKey derives the SigV4 signing key of secret for the credential.
func SigningKey(secret string, c Credential) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), c.Date)
	k = hmacSHA256(k, c.Region)
	k = hmacSHA256(k, c.Service)
	return hmacSHA256(k, "aws4_request")
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// Verify checks the signature against secret; on success it returns the
// signing key (for the chunk signatures of a streaming body).
func (s *Signed) Verify(r *http.Request, secret string) ([]byte, error) {
	creq, err := CanonicalRequest(r, s.SignedHeaders, s.PayloadHash, s.Presigned)
	if err != nil {
		return nil, err
	}
	key := SigningKey(secret, s.Credential)
	sts := Algorithm + "\n" + s.amzDate + "\n" + s.Credential.Scope() + "\n" + hexSHA256([]byte(creq))
	if !hmac.Equal(hmacSHA256(key, sts), s.Signature) {
		return nil, refuse(http.StatusForbidden, CodeSignatureDoesNotMatch, "the request signature we calculated does not match the signature you provided")
	}
	return key, nil
}

// Seed is the request signature, the seed of a streaming body's chunk
// signatures.
func (s *Signed) Seed() []byte { return s.Signature }

// AmzDate is the X-Amz-Date signed.
func (s *Signed) AmzDate() string { return s.amzDate }

func hexSHA256(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// CanonicalRequest builds the SigV4 canonical request of r as an S3
// client signs it: the path as sent (S3 signs it escaped once), the query
// sorted and escaped, the signed headers' values trimmed.
func CanonicalRequest(r *http.Request, signedHeaders []string, payloadHash string, presigned bool) (string, error) {
	path := r.URL.EscapedPath()
	if r.RequestURI != "" && !strings.HasPrefix(r.RequestURI, "http") {
		path, _, _ = strings.Cut(r.RequestURI, "?")
	}
	if path == "" {
		path = "/"
	}
	query, err := canonicalQuery(r.URL.RawQuery, presigned)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString(r.Method)
	b.WriteByte('\n')
	b.WriteString(path)
	b.WriteByte('\n')
	b.WriteString(query)
	b.WriteByte('\n')
	for _, h := range signedHeaders {
		var vals []string
		switch h {
		case "host":
			vals = []string{r.Host}
		case "content-length":
			vals = r.Header.Values("Content-Length")
			if len(vals) == 0 && r.ContentLength >= 0 {
				vals = []string{strconv.FormatInt(r.ContentLength, 10)}
			}
		case "transfer-encoding":
			vals = r.TransferEncoding
		default:
			vals = r.Header.Values(h)
		}
		if len(vals) == 0 {
			return "", refuse(http.StatusForbidden, CodeSignatureDoesNotMatch, "a signed header is missing from the request")
		}
		vals = slices.Clone(vals)
		for i, v := range vals {
			vals[i] = strings.Join(strings.Fields(v), " ")
		}
		b.WriteString(h)
		b.WriteByte(':')
		b.WriteString(strings.Join(vals, ","))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString(strings.Join(signedHeaders, ";"))
	b.WriteByte('\n')
	b.WriteString(payloadHash)
	return b.String(), nil
}

// canonicalQuery decodes every name and value, escapes them as SigV4
// does and sorts them; a presigned URL's X-Amz-Signature is left out.
func canonicalQuery(raw string, presigned bool) (string, error) {
	if raw == "" {
		return "", nil
	}
	type kv struct{ k, v string }
	var pairs []kv
	for _, p := range strings.Split(raw, "&") {
		if p == "" {
			continue
		}
		k, v, _ := strings.Cut(p, "=")
		dk, err1 := url.PathUnescape(k)
		dv, err2 := url.PathUnescape(v)
		if err1 != nil || err2 != nil {
			return "", refuse(http.StatusBadRequest, CodeInvalidRequest, "the query string is not well escaped")
		}
		if presigned && dk == "X-Amz-Signature" {
			continue
		}
		pairs = append(pairs, kv{Escape(dk), Escape(dv)})
	}
	slices.SortFunc(pairs, func(a, b kv) int {
		if c := strings.Compare(a.k, b.k); c != 0 {
			return c
		}
		return strings.Compare(a.v, b.v)
	})
	parts := make([]string, len(pairs))
	for i, p := range pairs {
		parts[i] = p.k + "=" + p.v
	}
	return strings.Join(parts, "&"), nil
}

// Escape escapes s as SigV4 does: every byte but A-Z a-z 0-9 - _ . ~.
func Escape(s string) string { return escape(s, false) }

// EscapePath escapes s as S3 paths are: as Escape, keeping '/'.
func EscapePath(s string) string { return escape(s, true) }

func escape(s string, path bool) string {
	const hexd = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' || (path && c == '/') {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexd[c>>4])
		b.WriteByte(hexd[c&15])
	}
	return b.String()
}

// IsHexSHA256 reports whether h is a hex SHA-256 digest (a signed payload).
func IsHexSHA256(h string) bool {
	if len(h) != 64 {
		return false
	}
	_, err := hex.DecodeString(h)
	return err == nil && strings.ToLower(h) == h
}

func errorf(code, format string, a ...any) *Error {
	return refuse(http.StatusBadRequest, code, fmt.Sprintf(format, a...))
}
