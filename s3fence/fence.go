// Package s3fence serves an S3-compatible endpoint in front of object
// stores. A workload signs its requests, with an unmodified S3 client,
// using the key pair derived for its aicred token; the fence verifies
// that signature (sigv4), checks the role's storage scope (bucket, key
// prefix, operation), re-signs with the held key and streams the bodies
// both ways. It also vends temporary AWS credentials through STS
// AssumeRole with a session policy cut to the role's scope (vend.go).
package s3fence

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/broker"
	"github.com/aicred/aicred/sigv4"
)

// A Store is one upstream object store the fence serves, path-style.
type Store struct {
	// Name is what roles' storage scopes and the fence's paths use.
	Name string
	// Endpoint is the store's S3 base URL (https://s3.eu-west-1.amazonaws.com,
	// http://minio.internal:9000); requests go to Endpoint/bucket/key.
	Endpoint string
	// Region the held key signs for (default us-east-1).
	Region string
	// Credential is the held credential (an AWS key pair,
	// "ACCESS_KEY_ID:SECRET[:SESSION_TOKEN]") the fence signs with.
	Credential string
	// STSEndpoint and RoleARN enable vending: AssumeRole of RoleARN, with
	// the held key, at STSEndpoint (default https://sts.REGION.amazonaws.com).
	STSEndpoint string
	RoleARN     string
	// ExternalID is passed to AssumeRole when the role's trust policy asks.
	ExternalID string
}

// HeldStore reads held credentials; aicred.Store satisfies it.
type HeldStore interface {
	GetHeldCredential(ctx context.Context, id string) (*aicred.HeldCredential, error)
}

// Opener decrypts a held credential's sealed blob; seal.Keyring does.
type Opener interface {
	Open(blob, aad []byte) (aicred.Secret, error)
}

// A UsageRecorder stores usage records (gateway.Recorders, a
// gateway.StoreRecorder ...).
type UsageRecorder interface {
	RecordUsage(ctx context.Context, r aicred.UsageRecord) error
}

// Config wires a Fence.
type Config struct {
	Keys   *Keys
	Tokens broker.TokenStore // a grantcache.Cache in production
	// Roles finds a token's role: its storage scopes are read at each
	// request, so a configuration change applies at once.
	Roles  func(name string) (*broker.Role, bool)
	Held   HeldStore
	Opener Opener
	Stores []Store
	Usage  UsageRecorder
	// PathPrefix is where the S3 API is mounted ("/s3/"); a store is
	// served at PathPrefix + name, path-style.
	PathPrefix string
	// KeyTTL bounds how long a decrypted held key stays in memory
	// (default 5 minutes).
	KeyTTL time.Duration
	// UpstreamTimeout bounds the wait for a store's response headers
	// (default 5 minutes).
	UpstreamTimeout time.Duration
	// MaxDeleteBody bounds a DeleteObjects request (default 2 MiB).
	MaxDeleteBody int64
	Transport     http.RoundTripper
	Log           *slog.Logger
	Now           func() time.Time
}

// Fence is the S3 endpoint; it is an http.Handler.
type Fence struct {
	cfg    Config
	stores map[string]*store
	client *http.Client
	signer *v4.Signer

	mu   sync.Mutex
	held map[string]heldKey
	// dropped counts forgetHeld calls: a key read from the store while
	// one happened may be the old one, so it is used but not cached.
	dropped uint64
}

type store struct {
	Store
	base *url.URL
}

type heldKey struct {
	creds   aws.Credentials
	expires time.Time
}

// Unit is the usage unit of the fence's records: bytes moved.
const Unit = aicred.UnitByte

// Provider is the usage records' provider field for the S3 API.
const Provider = "s3"

// New checks cfg. Errors: ErrInvalid.
func New(cfg Config) (*Fence, error) {
	switch {
	case cfg.Keys == nil || cfg.Tokens == nil || cfg.Roles == nil || cfg.Held == nil || cfg.Opener == nil:
		return nil, aicred.Errorf(aicred.ErrInvalid, "s3 fence: keys, tokens, roles, held store and opener are required")
	case !strings.HasPrefix(cfg.PathPrefix, "/") || !strings.HasSuffix(cfg.PathPrefix, "/"):
		return nil, aicred.Errorf(aicred.ErrInvalid, "s3 fence: the path prefix must start and end with '/'")
	}
	if cfg.KeyTTL <= 0 {
		cfg.KeyTTL = 5 * time.Minute
	}
	if cfg.UpstreamTimeout <= 0 {
		cfg.UpstreamTimeout = 5 * time.Minute
	}
	if cfg.MaxDeleteBody <= 0 {
		cfg.MaxDeleteBody = 2 << 20
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Transport == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.ResponseHeaderTimeout = cfg.UpstreamTimeout
		// Bodies pass as they are: no transparent decompression.
		t.DisableCompression = true
		cfg.Transport = t
	}
	f := &Fence{cfg: cfg, stores: map[string]*store{}, held: map[string]heldKey{},
		client: &http.Client{Transport: cfg.Transport, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		signer: v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })}
	for _, s := range cfg.Stores {
		if s.Name == "" || strings.ContainsAny(s.Name, "/ ") {
			return nil, aicred.Errorf(aicred.ErrInvalid, "s3 fence: store %q: bad name", s.Name)
		}
		if _, dup := f.stores[s.Name]; dup {
			return nil, aicred.Errorf(aicred.ErrInvalid, "s3 fence: store %q named twice", s.Name)
		}
		u, err := url.Parse(s.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" {
			return nil, aicred.Errorf(aicred.ErrInvalid, "s3 fence: store %q: endpoint must be an absolute http(s) URL without user or query", s.Name)
		}
		u.Path = strings.TrimSuffix(u.Path, "/")
		u.RawPath = ""
		if s.Credential == "" {
			return nil, aicred.Errorf(aicred.ErrInvalid, "s3 fence: store %q names no held credential", s.Name)
		}
		if s.Region == "" {
			s.Region = "us-east-1"
		}
		f.stores[s.Name] = &store{Store: s, base: u}
	}
	return f, nil
}

// s3Error answers an S3 XML error.
func s3Error(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	type errorBody struct {
		XMLName  xml.Name `xml:"Error"`
		Code     string   `xml:"Code"`
		Message  string   `xml:"Message"`
		Resource string   `xml:"Resource,omitempty"`
	}
	io.WriteString(w, xml.Header)
	xml.NewEncoder(w).Encode(errorBody{Code: code, Message: "aicred s3 fence: " + msg, Resource: r.URL.Path})
}

func writeErr(w http.ResponseWriter, r *http.Request, err error) {
	var se *sigv4.Error
	if errors.As(err, &se) {
		s3Error(w, r, se.Status, se.Code, se.Message)
		return
	}
	s3Error(w, r, http.StatusInternalServerError, "InternalError", "internal error")
}

// request is one S3 request on its way through the fence.
type request struct {
	store  *store
	bucket string
	key    string
	hasKey bool
	act    action
	grant  *aicred.Grant
	signed *sigv4.Signed
	sigKey []byte
}

// ServeHTTP serves PathPrefix + "STORE/BUCKET[/KEY]".
func (f *Fence) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := f.cfg.Now()
	req, err := f.admit(r)
	if err != nil {
		f.refused(r, req, err)
		writeErr(w, r, err)
		return
	}
	f.forward(w, r, req, start)
}

func deny(code, msg string) error {
	return &sigv4.Error{Status: http.StatusForbidden, Code: code, Message: msg}
}

func bad(code, msg string) error {
	return &sigv4.Error{Status: http.StatusBadRequest, Code: code, Message: msg}
}

// admit authenticates, classifies and authorizes r.
func (f *Fence) admit(r *http.Request) (*request, error) {
	req := &request{}
	raw := r.URL.EscapedPath()
	if r.RequestURI != "" && !strings.HasPrefix(r.RequestURI, "http") {
		raw, _, _ = strings.Cut(r.RequestURI, "?")
	}
	rest, ok := strings.CutPrefix(raw, f.cfg.PathPrefix)
	if !ok {
		return req, bad("InvalidURI", "not an S3 path")
	}
	parts := strings.SplitN(rest, "/", 3)
	if req.store = f.stores[parts[0]]; req.store == nil {
		return req, &sigv4.Error{Status: http.StatusNotFound, Code: "NoSuchBucket", Message: "no such store"}
	}
	if len(parts) < 2 || parts[1] == "" {
		return req, deny(sigv4.CodeAccessDenied, "listing buckets is not allowed")
	}
	req.bucket = parts[1]
	if !broker.ValidBucket(req.bucket) {
		return req, bad("InvalidBucketName", "the bucket name is not valid")
	}
	if len(parts) == 3 && parts[2] != "" {
		k, err := url.PathUnescape(parts[2])
		if err != nil {
			return req, bad("InvalidURI", "the key is not well escaped")
		}
		if slices.ContainsFunc(strings.Split(k, "/"), func(s string) bool { return s == "." || s == ".." }) {
			return req, bad("InvalidURI", "a key with '.' or '..' segments is refused")
		}
		req.key, req.hasKey = k, true
	}

	// Authenticate: the signature, then the grant its key names.
	s, err := sigv4.Parse(r, "s3")
	if err != nil {
		return req, err
	}
	if err := s.CheckTime(f.cfg.Now()); err != nil {
		return req, err
	}
	hash, secret, ok := f.cfg.Keys.Open(s.Credential.AccessKeyID)
	if !ok {
		return req, deny(sigv4.CodeInvalidAccessKeyID, "the access key id does not exist in our records")
	}
	g, err := f.cfg.Tokens.LookupGrant(r.Context(), hash)
	if err != nil {
		if aicred.KindOf(err) == aicred.ErrNotFound {
			return req, deny(sigv4.CodeInvalidAccessKeyID, "the access key id does not exist in our records")
		}
		return req, &sigv4.Error{Status: http.StatusServiceUnavailable, Code: "ServiceUnavailable", Message: "token lookup failed"}
	}
	switch now := f.cfg.Now(); {
	case g.Class != aicred.TokenWorkload:
		return req, deny(sigv4.CodeInvalidAccessKeyID, "not a workload token's key")
	case !g.RevokedAt.IsZero():
		return req, deny(sigv4.CodeInvalidAccessKeyID, "the token of this key was revoked")
	case !now.Before(g.ExpiresAt):
		return req, deny("ExpiredToken", "the token of this key has expired")
	}
	key, err := s.Verify(r, secret)
	if err != nil {
		return req, err
	}
	req.grant, req.signed, req.sigKey = g, s, key

	// Authorize: the call, then the role's scope.
	q := r.URL.Query()
	act, ok := classify(r, q, req.bucket, req.key, req.hasKey)
	if !ok {
		return req, &sigv4.Error{Status: http.StatusNotImplemented, Code: sigv4.CodeNotImplemented, Message: "this S3 call is not served by the fence"}
	}
	req.act = act
	role, ok := f.cfg.Roles(g.Role)
	if !ok {
		return req, deny(sigv4.CodeAccessDenied, "the token's role is gone")
	}
	name := req.store.Name
	switch {
	case act.bucketOnly:
		if !slices.ContainsFunc(role.Storage, func(sc broker.StorageScope) bool { return sc.Store == name && sc.Bucket == req.bucket }) {
			return req, deny(sigv4.CodeAccessDenied, "the role does not reach this bucket")
		}
	case act.deleteMany:
		// Checked against the body's keys in forward.
	default:
		if !role.StorageAllows(name, req.bucket, act.key, act.op) {
			return req, deny(sigv4.CodeAccessDenied, fmt.Sprintf("the role does not allow %s here (%s)", act.op, act.name))
		}
	}
	if src := r.Header.Get("X-Amz-Copy-Source"); src != "" {
		b, k, ok := copySource(src)
		if !ok {
			return req, bad("InvalidArgument", "x-amz-copy-source is malformed")
		}
		if !role.StorageAllows(name, b, k, broker.StorageRead) {
			return req, deny(sigv4.CodeAccessDenied, "the role does not allow reading the copy source")
		}
	}
	return req, nil
}

func (f *Fence) refused(r *http.Request, req *request, err error) {
	attrs := []any{"err", err.Error(), "method", r.Method}
	if req != nil && req.grant != nil {
		attrs = append(attrs, "token_id", req.grant.ID, "role", req.grant.Role)
	}
	if req != nil && req.act.name != "" {
		attrs = append(attrs, "action", req.act.name, "bucket", req.bucket)
	}
	f.cfg.Log.Info("s3 request refused", attrs...)
}

// dropHeaders never pass to the store: the client's signature, what the
// fence decodes, and hop-by-hop headers.
var dropHeaders = set("Authorization", "X-Amz-Date", "X-Amz-Content-Sha256", "X-Amz-Security-Token",
	"X-Amz-Decoded-Content-Length", "X-Amz-Trailer", "Content-Length", "Host", "Connection", "Keep-Alive",
	"Proxy-Authorization", "Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade", "Expect")

// forward re-signs the request for the store and streams both bodies.
func (f *Fence) forward(w http.ResponseWriter, r *http.Request, req *request, start time.Time) {
	creds, err := f.heldKey(r.Context(), req.store.Credential)
	if err != nil {
		f.cfg.Log.Error("s3 fence: held key unusable", "store", req.store.Name, "credential", req.store.Credential, "err", err)
		s3Error(w, r, http.StatusBadGateway, "InternalError", "the store's held credential is unusable")
		return
	}
	body, length, err := req.signed.Body(r, req.sigKey)
	if err != nil {
		writeErr(w, r, err)
		return
	}
	counted := &counter{r: body}
	var upBody io.Reader = counted
	if req.act.deleteMany {
		buf, err := f.checkDeleteMany(r, req, counted)
		if err != nil {
			f.refused(r, req, err)
			writeErr(w, r, err)
			return
		}
		upBody, length = bytes.NewReader(buf), int64(len(buf))
	}

	u := *req.store.base
	u.Path = u.Path + "/" + req.bucket
	u.RawPath = u.Path
	if req.hasKey {
		u.Path += "/" + req.key
		u.RawPath = req.store.base.EscapedPath() + "/" + req.bucket + "/" + sigv4.EscapePath(req.key)
	}
	u.RawQuery = upstreamQuery(r.URL.Query())
	out, err := http.NewRequestWithContext(r.Context(), r.Method, u.String(), nil)
	if err != nil {
		s3Error(w, r, http.StatusBadRequest, "InvalidURI", "cannot build the upstream request")
		return
	}
	for k, vs := range r.Header {
		if dropHeaders[k] {
			continue
		}
		out.Header[k] = slices.Clone(vs)
	}
	payload := sigv4.UnsignedPayload
	if sigv4.IsHexSHA256(req.signed.PayloadHash) && !req.act.deleteMany {
		payload = req.signed.PayloadHash
	}
	switch req.signed.PayloadHash {
	case sigv4.StreamingSigned, sigv4.StreamingUnsignedTrail:
		// The fence decoded aws-chunked: the store gets the plain bytes.
		ce := slices.DeleteFunc(strings.Split(r.Header.Get("Content-Encoding"), ","), func(s string) bool {
			return strings.TrimSpace(s) == "aws-chunked" || strings.TrimSpace(s) == ""
		})
		out.Header.Del("Content-Encoding")
		if len(ce) > 0 {
			out.Header.Set("Content-Encoding", strings.Join(ce, ","))
		}
		if r.Header.Get("X-Amz-Trailer") != "" {
			out.Header.Del("X-Amz-Sdk-Checksum-Algorithm") // checked here; the trailer is not passed on
		}
	}
	if r.Method == http.MethodPut || r.Method == http.MethodPost {
		out.Body = io.NopCloser(upBody)
		out.ContentLength = length
		if length == 0 {
			out.Body = http.NoBody
		}
	}
	out.Header.Set("X-Amz-Content-Sha256", payload)
	if err := f.signer.SignHTTP(r.Context(), creds, out, payload, "s3", req.store.Region, f.cfg.Now()); err != nil {
		s3Error(w, r, http.StatusInternalServerError, "InternalError", "cannot sign the upstream request")
		return
	}
	resp, err := f.client.Do(out)
	rec := f.record(r, req, start)
	if err != nil {
		var se *sigv4.Error
		if errors.As(err, &se) {
			// The body failed its check: the store never saw all of it.
			rec.Status, rec.Outcome = se.Status, "refused_body"
			f.usage(r, rec, counted.n, 0)
			writeErr(w, r, se)
			return
		}
		status, outcome := http.StatusBadGateway, aicred.OutcomeUnreachable
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			status, outcome = http.StatusGatewayTimeout, aicred.OutcomeTimeout
		}
		if r.Context().Err() != nil {
			outcome = aicred.OutcomeClientClosed
		}
		rec.Status, rec.Outcome = status, outcome
		f.usage(r, rec, counted.n, 0)
		f.cfg.Log.Warn("s3 fence: store unreachable", "store", req.store.Name, "err", err)
		s3Error(w, r, status, "ServiceUnavailable", "the store did not answer")
		return
	}
	defer resp.Body.Close()
	for k, vs := range resp.Header {
		if k == "Connection" || k == "Keep-Alive" || k == "Transfer-Encoding" || k == "Trailer" || k == "Upgrade" {
			continue
		}
		w.Header()[k] = vs
	}
	w.WriteHeader(resp.StatusCode)
	n, copyErr := io.Copy(w, resp.Body)
	rec.Status, rec.Outcome = resp.StatusCode, aicred.OutcomeOK
	if resp.StatusCode >= 400 {
		rec.Outcome = aicred.OutcomeUpstreamError
	}
	if copyErr != nil {
		rec.Outcome = aicred.OutcomeClientClosed
	}
	rec.UpstreamRequestID = resp.Header.Get("X-Amz-Request-Id")
	f.usage(r, rec, counted.n, n)
}

// upstreamQuery re-encodes the query without the presign parameters.
func upstreamQuery(q url.Values) string {
	keys := make([]string, 0, len(q))
	for k := range q {
		if !presignParams[k] {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		for _, v := range q[k] {
			parts = append(parts, sigv4.Escape(k)+"="+sigv4.Escape(v))
		}
	}
	return strings.Join(parts, "&")
}

// checkDeleteMany reads a DeleteObjects body (bounded, its signature
// checked by reading it to the end) and checks every key it names.
func (f *Fence) checkDeleteMany(r *http.Request, req *request, body io.Reader) ([]byte, error) {
	buf, err := io.ReadAll(io.LimitReader(body, f.cfg.MaxDeleteBody+1))
	if err != nil {
		return nil, err
	}
	if int64(len(buf)) > f.cfg.MaxDeleteBody {
		return nil, bad("MaxMessageLengthExceeded", "the delete request is too large")
	}
	var d struct {
		Objects []struct {
			Key string `xml:"Key"`
		} `xml:"Object"`
	}
	if err := xml.Unmarshal(buf, &d); err != nil || len(d.Objects) == 0 {
		return nil, bad("MalformedXML", "the delete request is not a Delete document")
	}
	role, ok := f.cfg.Roles(req.grant.Role)
	if !ok {
		return nil, deny(sigv4.CodeAccessDenied, "the token's role is gone")
	}
	for _, o := range d.Objects {
		if !role.StorageAllows(req.store.Name, req.bucket, o.Key, broker.StorageDelete) {
			return nil, deny(sigv4.CodeAccessDenied, "the role does not allow deleting every key named")
		}
	}
	return buf, nil
}

// record starts the usage record of a forwarded request.
func (f *Fence) record(r *http.Request, req *request, start time.Time) aicred.UsageRecord {
	g := req.grant
	ip, _, _ := net.SplitHostPort(r.RemoteAddr)
	return aicred.UsageRecord{
		Time: start, TokenID: g.ID, CredentialID: req.store.Credential, Workload: g.Issuer + " " + g.Subject,
		Role: g.Role, Environment: g.Environment, Provider: Provider, Model: req.store.Name + "/" + req.bucket,
		Operation: req.act.name, SourceIP: ip, UserAgent: r.UserAgent(),
	}
}

func (f *Fence) usage(r *http.Request, rec aicred.UsageRecord, in, out int64) {
	rec.Usage = aicred.Usage{Units: in + out, Unit: Unit}
	rec.Latency = f.cfg.Now().Sub(rec.Time)
	if f.cfg.Usage == nil {
		return
	}
	if err := f.cfg.Usage.RecordUsage(context.WithoutCancel(r.Context()), rec); err != nil {
		f.cfg.Log.Error("s3 fence: usage not recorded", "token_id", rec.TokenID, "err", err)
	}
}

// counter counts the bytes read through it.
type counter struct {
	r io.Reader
	n int64
}

func (c *counter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// heldKey opens the store's held AWS key pair, cached for KeyTTL (and
// dropped sooner by WatchHeldKeys). A suspended, revoked or expired held
// credential is never used.
func (f *Fence) heldKey(ctx context.Context, id string) (aws.Credentials, error) {
	now := f.cfg.Now()
	f.mu.Lock()
	k, ok := f.held[id]
	dropped := f.dropped
	f.mu.Unlock()
	if ok && now.Before(k.expires) {
		return k.creds, nil
	}
	h, err := f.cfg.Held.GetHeldCredential(ctx, id)
	if err != nil {
		return aws.Credentials{}, err
	}
	if !h.Usable(now) {
		status := h.Status
		if status == "" || status == aicred.HeldActive {
			status = "expired"
		}
		return aws.Credentials{}, aicred.Errorf(aicred.ErrInvalid, "held credential %s is %s", id, status)
	}
	s, err := f.cfg.Opener.Open(h.Sealed, h.AAD())
	if err != nil {
		return aws.Credentials{}, err
	}
	creds, ok := keyPair(s.Reveal())
	if !ok {
		return aws.Credentials{}, aicred.Errorf(aicred.ErrInvalid, "held credential %s is not an AWS key pair (ACCESS_KEY_ID:SECRET[:SESSION_TOKEN])", id)
	}
	f.mu.Lock()
	if f.dropped == dropped {
		f.held[id] = heldKey{creds: creds, expires: now.Add(f.cfg.KeyTTL)}
	}
	f.mu.Unlock()
	return creds, nil
}

// A RevocationWatcher delivers every revocation made by any process
// sharing the store; aicred.Store and grantcache.Cache satisfy it.
type RevocationWatcher interface {
	WatchRevocations(ctx context.Context, fn func(aicred.Revocation)) error
}

// WatchHeldKeys makes the fence drop a cached held key as soon as any
// process sharing the store changes its secret (rotation, replacement),
// its status (suspension, revocation) or withdraws it: the next request
// reads the held credential again, so no server signs with an old or
// suspended key for the rest of KeyTTL. It subscribes until ctx ends.
func (f *Fence) WatchHeldKeys(ctx context.Context, w RevocationWatcher) error {
	return w.WatchRevocations(ctx, func(r aicred.Revocation) {
		if r.By == aicred.RevokeHeldKey || r.By == aicred.RevokeCredential {
			f.forgetHeld(r.Value)
		}
	})
}

// forgetHeld drops the cached key of held credential id.
func (f *Fence) forgetHeld(id string) {
	f.mu.Lock()
	delete(f.held, id)
	f.dropped++
	f.mu.Unlock()
}

// keyPair splits a held AWS key pair, as the gateway's Bedrock surface does.
func keyPair(secret string) (aws.Credentials, bool) {
	parts := strings.Split(secret, ":")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return aws.Credentials{}, false
	}
	c := aws.Credentials{AccessKeyID: parts[0], SecretAccessKey: parts[1], Source: "aicred-held"}
	if len(parts) == 3 {
		c.SessionToken = parts[2]
	}
	return c, true
}
