package s3fence_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/broker"
	"github.com/aicred/aicred/gateway"
	"github.com/aicred/aicred/provider"
	"github.com/aicred/aicred/s3fence"
	"github.com/aicred/aicred/seal"
	"github.com/aicred/aicred/sigv4"
)

// heldMap is the held credentials, changed by tests while the fence
// reads them.
type heldMap struct {
	mu sync.Mutex
	m  map[string]*aicred.HeldCredential
}

func (m *heldMap) GetHeldCredential(_ context.Context, id string) (*aicred.HeldCredential, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	h, ok := m.m[id]
	if !ok {
		return nil, aicred.Errorf(aicred.ErrNotFound, "no held credential %s", id)
	}
	c := *h
	return &c, nil
}

func (m *heldMap) put(h *aicred.HeldCredential) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.m[h.ID] = h
}

// checkedStore is a real S3 implementation (gofakes3) behind a check that
// verifies the SigV4 signature of every request with the held key, as
// S3 would: a request the fence signed wrongly is refused and reported.
type checkedStore struct {
	t             testing.TB
	akid, secret  string
	backend       http.Handler
	mu            sync.Mutex
	calls         int
	payloadHashes []string
	badSignatures int
	aborted       int
}

func (c *checkedStore) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	c.calls++
	c.mu.Unlock()
	c.mu.Lock()
	akid, secret := c.akid, c.secret
	c.mu.Unlock()
	s, err := sigv4.Parse(r, "s3")
	if err == nil && s.Credential.AccessKeyID != akid {
		err = &sigv4.Error{Status: 403, Code: "InvalidAccessKeyId", Message: "not the held key"}
	}
	if err == nil {
		_, err = s.Verify(r, secret)
	}
	if err != nil {
		c.mu.Lock()
		c.badSignatures++
		c.mu.Unlock()
		c.t.Errorf("upstream: %s %s: signature check failed: %v", r.Method, r.URL.Path, err)
		http.Error(w, "bad signature", http.StatusForbidden)
		return
	}
	c.mu.Lock()
	c.payloadHashes = append(c.payloadHashes, s.PayloadHash)
	c.mu.Unlock()
	if sigv4.IsHexSHA256(s.PayloadHash) {
		// As S3 does: the body must hash to the signed digest.
		body, err := io.ReadAll(r.Body)
		if err != nil {
			// The sender aborted the body: nothing is stored.
			c.mu.Lock()
			c.aborted++
			c.mu.Unlock()
			return
		}
		sum := sha256.Sum256(body)
		if hex.EncodeToString(sum[:]) != s.PayloadHash {
			c.t.Errorf("upstream: %s %s: body does not match x-amz-content-sha256", r.Method, r.URL.Path)
			http.Error(w, "bad digest", http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	c.backend.ServeHTTP(w, r)
}

// rotate makes the store take another key pair, as IAM does once the old
// key is deleted.
func (c *checkedStore) rotate(akid, secret string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.akid, c.secret = akid, secret
}

func (c *checkedStore) Calls() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls
}

type fixture struct {
	gen      *provider.Gen
	upstream *checkedStore
	upSrv    *httptest.Server
	tokens   *broker.MemoryTokenStore
	roles    map[string]*broker.Role
	fence    *s3fence.Fence
	srv      *httptest.Server
	usage    *gateway.MemoryRecorder
	keys     *s3fence.Keys
	held     *heldMap
	ring     *seal.Keyring
	heldAKID string
	heldSec  string

	mu          sync.Mutex
	clientModes []string // x-amz-content-sha256 of each request the fence got
}

// trainerRole reads datasets/train/ and writes models/runs/.
func trainerRole() *broker.Role {
	return &broker.Role{Name: "trainer", Storage: []broker.StorageScope{
		{Store: "main", Bucket: "datasets", Prefix: "train/", Operations: []broker.StorageOp{broker.StorageList, broker.StorageRead}},
		{Store: "main", Bucket: "models", Prefix: "runs/", Operations: []broker.StorageOp{broker.StorageList, broker.StorageRead, broker.StorageWrite, broker.StorageDelete}},
	}}
}

type fixtureOpts struct {
	tls     bool
	backend gofakes3.Backend
	mod     func(*s3fence.Config)
}

func newFixture(t testing.TB, o fixtureOpts) *fixture {
	t.Helper()
	g := provider.NewGen(7)
	f := &fixture{gen: g, usage: &gateway.MemoryRecorder{}, held: &heldMap{m: map[string]*aicred.HeldCredential{}}, roles: map[string]*broker.Role{"trainer": trainerRole()}}
	f.heldAKID = "AKIA" + g.UpperNum(16)
	f.heldSec = g.Alnum(40)
	be := o.backend
	if be == nil {
		be = s3mem.New()
	}
	for _, b := range []string{"datasets", "models", "secrets"} {
		if err := be.CreateBucket(b); err != nil {
			t.Fatal(err)
		}
	}
	f.upstream = &checkedStore{t: t, akid: f.heldAKID, secret: f.heldSec, backend: gofakes3.New(be, gofakes3.WithTimeSkewLimit(0)).Server()}
	f.upSrv = httptest.NewServer(f.upstream)
	t.Cleanup(f.upSrv.Close)

	master := make([]byte, seal.KeySize)
	rand.Read(master)
	ring, err := seal.NewKeyring(master)
	if err != nil {
		t.Fatal(err)
	}
	f.ring = ring
	f.addHeld(t, "hc_s3", f.heldAKID+":"+f.heldSec)
	server := make([]byte, s3fence.KeySize)
	rand.Read(server)
	f.keys, err = s3fence.NewKeys(server)
	if err != nil {
		t.Fatal(err)
	}
	f.tokens = broker.NewMemoryTokenStore(nil)
	cfg := s3fence.Config{
		Keys: f.keys, Tokens: f.tokens, Held: f.held, Opener: ring, Usage: validating{t, f.usage}, PathPrefix: "/s3/",
		Roles:  func(name string) (*broker.Role, bool) { r, ok := f.roles[name]; return r, ok },
		Stores: []s3fence.Store{{Name: "main", Endpoint: f.upSrv.URL, Region: "eu-west-1", Credential: "hc_s3"}},
	}
	if o.mod != nil {
		o.mod(&cfg)
	}
	f.fence, err = s3fence.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/s3/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.clientModes = append(f.clientModes, r.Header.Get("X-Amz-Content-Sha256"))
		f.mu.Unlock()
		f.fence.ServeHTTP(w, r)
	}))
	mux.Handle("POST /aicred/v1/s3/credentials", f.fence.Credentials())
	mux.Handle("POST /aicred/v1/s3/vend", f.fence.Vend())
	if o.tls {
		f.srv = httptest.NewTLSServer(mux)
	} else {
		f.srv = httptest.NewServer(mux)
	}
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fixture) addHeld(t testing.TB, id, secret string) {
	s := aicred.NewSecret(secret)
	h := &aicred.HeldCredential{ID: id, Provider: "aws", Kind: "access-key-id", Fingerprint: s.Fingerprint()}
	var err error
	h.Sealed, h.KeyID, err = f.ring.Seal(s, h.AAD())
	if err != nil {
		t.Fatal(err)
	}
	f.held.put(h)
}

// issue stores a workload grant of role trainer and returns its token.
func (f *fixture) issue(t testing.TB, ttl time.Duration) (token, id string) {
	token = provider.FormatToken(provider.TokenPrefixWorkload, f.gen.Alnum(provider.TokenRandomLen))
	id = "tok_" + f.gen.Hex(24)
	err := f.tokens.IssueGrant(context.Background(), &aicred.Grant{
		ID: id, TokenHash: aicred.HashToken(token), Class: aicred.TokenWorkload,
		Issuer: "https://issuer.test", Subject: "job-train-1", Role: "trainer",
		Scope: []string{"chat"}, Credentials: []string{"hc_s3"}, ExpiresAt: time.Now().Add(ttl),
	})
	if err != nil {
		t.Fatal(err)
	}
	return token, id
}

// pair asks the credentials endpoint for the token's S3 key pair.
func (f *fixture) pair(t testing.TB, token string) s3fence.ProcessCredentials {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/aicred/v1/s3/credentials", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var pc s3fence.ProcessCredentials
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("credentials: %d %s", resp.StatusCode, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(&pc); err != nil {
		t.Fatal(err)
	}
	return pc
}

// client is an unmodified AWS SDK S3 client pointed at the fence.
func (f *fixture) client(t testing.TB, pc s3fence.ProcessCredentials) *s3.Client {
	return s3.New(s3.Options{
		Region: "eu-west-1", BaseEndpoint: aws.String(f.srv.URL + "/s3/main"), UsePathStyle: true,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: pc.AccessKeyID, SecretAccessKey: pc.SecretAccessKey}, nil
		}),
		HTTPClient: f.srv.Client(),
	})
}

// validating checks each record as a store would before keeping it.
type validating struct {
	t testing.TB
	r *gateway.MemoryRecorder
}

func (v validating) RecordUsage(ctx context.Context, r aicred.UsageRecord) error {
	if err := r.Validate(); err != nil {
		v.t.Errorf("usage record a store would refuse: %v", err)
		return err
	}
	return v.r.RecordUsage(ctx, r)
}
