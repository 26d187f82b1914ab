package httpapi

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/grantcache"
	"github.com/aicred/aicred/provider"
	"github.com/aicred/aicred/sqlite"
)

// keyServer publishes ECDSA keys as GitHub's public-keys endpoint does.
type keyServer struct {
	mu      sync.Mutex
	keys    map[string]*ecdsa.PrivateKey
	down    bool
	fetches atomic.Int32
}

func (k *keyServer) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	k.fetches.Add(1)
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.down {
		http.Error(w, "down", http.StatusBadGateway)
		return
	}
	type pk struct {
		ID      string `json:"key_identifier"`
		Key     string `json:"key"`
		Current bool   `json:"is_current"`
	}
	var doc struct {
		PublicKeys []pk `json:"public_keys"`
	}
	for id, priv := range k.keys {
		der, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
		doc.PublicKeys = append(doc.PublicKeys, pk{ID: id, Key: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), Current: true})
	}
	_ = json.NewEncoder(w).Encode(doc)
}

func (k *keyServer) set(keys map[string]*ecdsa.PrivateKey, down bool) {
	k.mu.Lock()
	k.keys, k.down = keys, down
	k.mu.Unlock()
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func sign(t *testing.T, k *ecdsa.PrivateKey, body []byte) string {
	t.Helper()
	sum := sha256.Sum256(body)
	sig, err := ecdsa.SignASN1(rand.Reader, k, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

func alertBody(tokens ...string) []byte {
	var a []githubAlert
	for _, tok := range tokens {
		a = append(a, githubAlert{Token: tok, Type: "aicred_workload_token", URL: "https://github.com/o/r/blob/abc/app.env", Source: "content"})
	}
	b, _ := json.Marshal(a)
	return b
}

func postGitHub(h http.Handler, keyID, sig string, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/aicred/v1/leaks", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if keyID != "" {
		req.Header.Set(GitHubKeyIDHeader, keyID)
	}
	req.Header.Set(GitHubSignatureHeader, sig)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

type leakFixture struct {
	st    aicred.Store
	cache *grantcache.Cache
	who   http.Handler
}

func newLeakFixture(t *testing.T) *leakFixture {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "aicred.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c := grantcache.New(st, quiet)
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return &leakFixture{st: st, cache: c, who: WhoAmI(c, quiet)}
}

func (f *leakFixture) issue(t *testing.T, id, class string, scope ...string) string {
	t.Helper()
	prefix := provider.TokenPrefixWorkload
	if class == aicred.TokenAdmin {
		prefix = provider.TokenPrefixAdmin
	}
	tok := provider.FormatToken(prefix, provider.NewGen(uint64(len(id))*7919+uint64(id[len(id)-1])).Chars(provider.Alnum, provider.TokenRandomLen))
	g := &aicred.Grant{ID: id, TokenHash: aicred.HashToken(tok), Class: class, Issuer: "cli", Subject: "ci",
		Scope: scope, ExpiresAt: time.Now().Add(time.Hour)}
	if err := f.st.IssueGrant(context.Background(), g); err != nil {
		t.Fatal(err)
	}
	return tok
}

// refused waits for the grant cache to refuse tok at whoami (the revocation
// reaches it through the store's feed).
func (f *leakFixture) refused(t *testing.T, tok string) bool {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if get(f.who, "/aicred/v1/whoami", tok).Code == http.StatusUnauthorized {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

// TestLeaksGitHub: a correctly signed GitHub partner alert revokes the
// aicred tokens it carries (the gateway's token check refuses them),
// answers the documented feedback with hashed tokens, and ignores tokens
// that are not ours; a refused alert revokes nothing.
func TestLeaksGitHub(t *testing.T) {
	f := newLeakFixture(t)
	leaked := f.issue(t, "tok_leaked", aicred.TokenWorkload)
	bystander := f.issue(t, "tok_bystander", aicred.TokenWorkload)
	foreign := token(provider.TokenPrefixWorkload, 99)

	keyA, keyB, keyOther := newKey(t), newKey(t), newKey(t)
	ks := &keyServer{keys: map[string]*ecdsa.PrivateKey{"ka": keyA}}
	srv := httptest.NewServer(ks)
	defer srv.Close()
	now := time.Now()
	var clockMu sync.Mutex
	clock := func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return now }
	advance := func(d time.Duration) { clockMu.Lock(); now = now.Add(d); clockMu.Unlock() }
	keys := &GitHubKeys{URL: srv.URL, Client: srv.Client(), TTL: time.Hour, MinRefetch: time.Minute, Now: clock}
	h := &Leaks{Tokens: f.cache, GitHub: keys, Log: quiet, MaxBody: 64 << 10}

	if code := get(f.who, "/aicred/v1/whoami", leaked).Code; code != http.StatusOK {
		t.Fatalf("whoami before the leak: %d", code)
	}

	// Refusals first: none may revoke anything.
	good := alertBody(bystander)
	huge := alertBody(strings.Repeat("x", 70<<10))
	refusals := []struct {
		name, keyID, sig string
		body             []byte
		code             int
	}{
		{"bad signature", "ka", sign(t, keyOther, good), good, http.StatusUnauthorized},
		{"signature of another body", "ka", sign(t, keyA, alertBody(leaked)), good, http.StatusUnauthorized},
		{"signature not base64", "ka", "%%%", good, http.StatusUnauthorized},
		{"no key id", "", sign(t, keyA, good), good, http.StatusUnauthorized},
		{"unknown key id", "kz", sign(t, keyA, good), good, http.StatusUnauthorized},
		{"malformed body", "ka", sign(t, keyA, []byte(`{"token":1}`)), []byte(`{"token":1}`), http.StatusBadRequest},
		{"empty array", "ka", sign(t, keyA, []byte(`[]`)), []byte(`[]`), http.StatusBadRequest},
		{"huge body", "ka", sign(t, keyA, huge), huge, http.StatusRequestEntityTooLarge},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			rec := postGitHub(h, tc.keyID, tc.sig, tc.body)
			if rec.Code != tc.code {
				t.Fatalf("got %d %s, want %d", rec.Code, rec.Body, tc.code)
			}
		})
	}
	// The unknown key id cost one refetch; a second one within MinRefetch
	// costs none.
	before := ks.fetches.Load()
	postGitHub(h, "ky", sign(t, keyA, good), good)
	if ks.fetches.Load() != before {
		t.Errorf("an unknown key id refetched the keys within MinRefetch")
	}

	// A valid alert: ours revoked, the others labelled false positives.
	body := alertBody(leaked, foreign, "not-a-token")
	rec := postGitHub(h, "ka", sign(t, keyA, body), body)
	if rec.Code != http.StatusOK {
		t.Fatalf("valid alert: %d %s", rec.Code, rec.Body)
	}
	for _, tok := range []string{leaked, foreign} {
		if strings.Contains(rec.Body.String(), tok) {
			t.Fatalf("the answer echoes a token")
		}
	}
	var fb []githubFeedback
	if err := json.Unmarshal(rec.Body.Bytes(), &fb); err != nil || len(fb) != 3 {
		t.Fatalf("feedback %s: %v", rec.Body, err)
	}
	want := []githubFeedback{
		{aicred.HashToken(leaked), "aicred_workload_token", LabelTruePositive},
		{aicred.HashToken(foreign), "aicred_workload_token", LabelFalsePositive},
		{aicred.HashToken("not-a-token"), "aicred_workload_token", LabelFalsePositive},
	}
	for i := range want {
		if fb[i] != want[i] {
			t.Errorf("feedback %d = %+v, want %+v", i, fb[i], want[i])
		}
	}
	if !f.refused(t, leaked) {
		t.Fatal("the leaked token is still accepted")
	}
	g, err := f.st.LookupGrant(context.Background(), aicred.HashToken(leaked))
	if err != nil || g.RevokeReason != "leaked: github content https://github.com/o/r/blob/abc/app.env" {
		t.Fatalf("revocation reason %q (%v)", g.RevokeReason, err)
	}
	// Sent again (GitHub retries): still a true positive, nothing new.
	if rec := postGitHub(h, "ka", sign(t, keyA, body), body); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), LabelTruePositive) {
		t.Fatalf("retry: %d %s", rec.Code, rec.Body)
	}

	// GitHub rotates its key: once the cache is stale, alerts signed by
	// the withdrawn key are refused, the new key's accepted.
	ks.set(map[string]*ecdsa.PrivateKey{"kb": keyB}, false)
	advance(2 * time.Hour)
	if rec := postGitHub(h, "ka", sign(t, keyA, good), good); rec.Code != http.StatusUnauthorized {
		t.Fatalf("stale key: %d %s", rec.Code, rec.Body)
	}
	// The key server goes down and the cache goes stale: fail closed.
	ks.set(nil, true)
	advance(2 * time.Hour)
	if rec := postGitHub(h, "kb", sign(t, keyB, good), good); rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("keys unavailable: %d %s", rec.Code, rec.Body)
	}
	if code := get(f.who, "/aicred/v1/whoami", bystander).Code; code != http.StatusOK {
		t.Fatalf("a refused alert revoked the bystander: whoami %d", code)
	}
	// Not configured: refused.
	if rec := postGitHub(&Leaks{Tokens: f.cache, Log: quiet}, "kb", sign(t, keyB, good), good); rec.Code != http.StatusForbidden {
		t.Fatalf("unconfigured: %d", rec.Code)
	}
}

// TestLeaksAicredFormat: an admin with scope write reports tokens; they are
// revoked; nobody else can.
func TestLeaksAicredFormat(t *testing.T) {
	f := newLeakFixture(t)
	leaked := f.issue(t, "tok_w1", aicred.TokenWorkload)
	writeTok := f.issue(t, "tok_admw", aicred.TokenAdmin, "write")
	readTok := f.issue(t, "tok_admr", aicred.TokenAdmin, "read")
	h := &Leaks{Tokens: f.cache, Admin: &Admin{Store: f.st, Log: quiet}, Log: quiet}
	body := `{"tokens":["` + leaked + `","` + token(provider.TokenPrefixWorkload, 5) + `"],"where":"ci job 7"}`
	for _, tc := range []struct {
		name, tok, body string
		code            int
	}{
		{"no token", "", body, http.StatusUnauthorized},
		{"workload token", leaked, body, http.StatusUnauthorized},
		{"read scope", readTok, body, http.StatusForbidden},
		{"malformed", writeTok, `{"tokens":"x"}`, http.StatusBadRequest},
		{"unknown field", writeTok, `{"tokens":["x"],"tok":1}`, http.StatusBadRequest},
		{"empty", writeTok, `{"tokens":[]}`, http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if rec := post(h, "/aicred/v1/leaks", tc.tok, tc.body); rec.Code != tc.code {
				t.Fatalf("got %d %s, want %d", rec.Code, rec.Body, tc.code)
			}
		})
	}
	if code := get(f.who, "/aicred/v1/whoami", leaked).Code; code != http.StatusOK {
		t.Fatalf("refused reports revoked the token: %d", code)
	}
	rec := post(h, "/aicred/v1/leaks", writeTok, body)
	if rec.Code != http.StatusOK || strings.Contains(rec.Body.String(), leaked) {
		t.Fatalf("report: %d %s", rec.Code, rec.Body)
	}
	var out struct {
		Results []struct {
			Status  string `json:"status"`
			GrantID string `json:"grant_id"`
		} `json:"results"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || len(out.Results) != 2 ||
		out.Results[0].Status != "revoked" || out.Results[0].GrantID != "tok_w1" || out.Results[1].Status != "unknown" {
		t.Fatalf("results %s (%v)", rec.Body, err)
	}
	if !f.refused(t, leaked) {
		t.Fatal("the reported token is still accepted")
	}
	evs, err := f.st.ListAudit(context.Background(), 1, 100)
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, e := range evs {
		if e.Action == aicred.ActionTokenRevoked && e.Data["value"] == "tok_w1" {
			found = true
		}
		b, _ := json.Marshal(e)
		if strings.Contains(string(b), leaked) || strings.Contains(string(b), aicred.HashToken(leaked)) {
			t.Fatalf("audit record %s holds the token or its hash", e.Action)
		}
	}
	if !found {
		t.Errorf("no token.revoked record for tok_w1")
	}
}

func FuzzParseGitHubAlert(f *testing.F) {
	f.Add([]byte(`[{"token":"a","type":"t","url":"u","source":"content"}]`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"token":"a"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		alerts, err := ParseGitHubAlert(data, 10)
		if err == nil && (len(alerts) == 0 || len(alerts) > 10) {
			t.Fatalf("accepted %d matches", len(alerts))
		}
		if err != nil && len(data) > 8 && strings.Contains(err.Error(), string(data)) {
			t.Fatalf("the error quotes the body")
		}
	})
}

func FuzzParseGitHubKeys(f *testing.F) {
	f.Add([]byte(`{"public_keys":[{"key_identifier":"a","key":"-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----","is_current":true}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		keys, err := ParseGitHubKeys(data)
		if err == nil && len(keys) == 0 {
			t.Fatal("no error and no key")
		}
	})
}
