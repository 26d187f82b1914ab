package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/provider"
	"github.com/aicred/aicred/respond"
	"github.com/aicred/aicred/sqlite"
)

// fakeOpenAI is a local server answering as OpenAI documents its API: the
// Administration API for project API keys and service accounts
// (https://platform.openai.com/docs/api-reference/administration:
// GET /v1/organization/projects, GET .../projects/{id}/api_keys with
// redacted_value and owner, POST .../projects/{id}/service_accounts
// answering the account with its api_key value, DELETE
// .../projects/{id}/api_keys/{key_id} answering deleted), every admin call
// authenticated by an admin key; GET /v1/models 200 for a live key and 401
// for a deleted or unknown one; POST /v1/chat/completions for live keys,
// remembering which key each call carried.
type fakeOpenAI struct {
	t   testing.TB
	srv *httptest.Server
	gen *provider.Gen

	mu      sync.Mutex
	keys    map[string]*oaiKey // by value
	admin   string
	used    []string // the key of each chat call
	seq     int
	deadAt  map[string]time.Time
	onDeath func(value string)
}

type oaiKey struct {
	id, sa string
	dead   bool
}

const fakeProject = "proj_e2e"

func newFakeOpenAI(t testing.TB, seed uint64) *fakeOpenAI {
	f := &fakeOpenAI{t: t, gen: provider.NewGen(seed), keys: map[string]*oaiKey{}, deadAt: map[string]time.Time{}}
	f.admin = "sk-admin-" + f.gen.URL64(58) + "T3BlbkFJ" + f.gen.URL64(58)
	mux := http.NewServeMux()
	list := func(w http.ResponseWriter, data any) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": data, "has_more": false})
	}
	mux.HandleFunc("GET /v1/organization/projects", func(w http.ResponseWriter, r *http.Request) {
		if f.adminOK(w, r) {
			list(w, []map[string]string{{"object": "organization.project", "id": fakeProject, "name": "e2e", "status": "active"}})
		}
	})
	mux.HandleFunc("GET /v1/organization/projects/{project}/api_keys", func(w http.ResponseWriter, r *http.Request) {
		if !f.adminOK(w, r) {
			return
		}
		f.mu.Lock()
		var out []map[string]any
		for v, k := range f.keys {
			if k.dead {
				continue
			}
			owner := map[string]any{"type": "user", "user": map[string]string{"id": "user_1"}}
			if k.sa != "" {
				owner = map[string]any{"type": "service_account", "service_account": map[string]string{"id": k.sa}}
			}
			out = append(out, map[string]any{"object": "organization.project.api_key", "id": k.id, "name": "key",
				"redacted_value": v[:11] + "..." + v[len(v)-4:], "owner": owner})
		}
		f.mu.Unlock()
		list(w, out)
	})
	mux.HandleFunc("POST /v1/organization/projects/{project}/service_accounts", func(w http.ResponseWriter, r *http.Request) {
		if !f.adminOK(w, r) {
			return
		}
		var body struct {
			Name string `json:"name"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Name == "" || r.PathValue("project") != fakeProject {
			oaiError(w, http.StatusBadRequest, "name is required")
			return
		}
		f.mu.Lock()
		f.seq++
		sa := fmt.Sprintf("svc_acct_%d", f.seq)
		v := "sk-svcacct-" + f.gen.URL64(74) + "T3BlbkFJ" + f.gen.URL64(74)
		k := &oaiKey{id: fmt.Sprintf("key_sa%d", f.seq), sa: sa}
		f.keys[v] = k
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"object": "organization.project.service_account", "id": sa, "name": body.Name,
			"role": "member", "created_at": time.Now().Unix(),
			"api_key": map[string]any{"object": "organization.project.service_account.api_key", "value": v, "name": "Secret Key", "id": k.id}})
	})
	mux.HandleFunc("DELETE /v1/organization/projects/{project}/api_keys/{id}", func(w http.ResponseWriter, r *http.Request) {
		if !f.adminOK(w, r) {
			return
		}
		f.mu.Lock()
		var died string
		for v, k := range f.keys {
			if k.id == r.PathValue("id") && !k.dead {
				k.dead, died = true, v
				f.deadAt[v] = time.Now()
			}
		}
		cb := f.onDeath
		f.mu.Unlock()
		if died == "" {
			oaiError(w, http.StatusNotFound, "no such key")
			return
		}
		if cb != nil {
			cb(died)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"object": "organization.project.api_key.deleted", "id": r.PathValue("id"), "deleted": true})
	})
	mux.HandleFunc("GET /v1/models", func(w http.ResponseWriter, r *http.Request) {
		if !f.liveAuth(r) {
			oaiError(w, http.StatusUnauthorized, "Incorrect API key provided")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"object":"list","data":[{"id":"gpt-4o-mini","object":"model","owned_by":"system"}]}`))
	})
	mux.HandleFunc("POST /v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !f.liveAuth(r) {
			oaiError(w, http.StatusUnauthorized, "Incorrect API key provided")
			return
		}
		f.mu.Lock()
		f.used = append(f.used, strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
		f.mu.Unlock()
		openAIChat(w, r, body)
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func oaiError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": msg, "type": "invalid_request_error", "code": nil}})
}

func (f *fakeOpenAI) adminOK(w http.ResponseWriter, r *http.Request) bool {
	if r.Header.Get("Authorization") != "Bearer "+f.admin {
		oaiError(w, http.StatusUnauthorized, "admin key required")
		return false
	}
	return true
}

func (f *fakeOpenAI) liveAuth(r *http.Request) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := f.keys[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
	return k != nil && !k.dead
}

// newProjectKey makes a project key (as a person at the console would).
func (f *fakeOpenAI) newProjectKey() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	v := "sk-proj-" + f.gen.URL64(74) + "T3BlbkFJ" + f.gen.URL64(74)
	f.keys[v] = &oaiKey{id: fmt.Sprintf("key_p%d", f.seq)}
	return v
}

func (f *fakeOpenAI) dead(v string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := f.keys[v]
	return k == nil || k.dead
}

func (f *fakeOpenAI) lastUsed() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.used) == 0 {
		return ""
	}
	return f.used[len(f.used)-1]
}

// liveKeys are the values of the keys that work.
func (f *fakeOpenAI) liveKeys() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for v, k := range f.keys {
		if !k.dead {
			out = append(out, v)
		}
	}
	return out
}

const policyRoleYAML = `  - name: sdk-e2e
    providers: [openai]
    credentials: [hc_e2e_openai]
    models: ["gpt-4o-mini*"]
    operations: [chat]
    ttl: 10m
    budget: {per_token_usd: 1000, per_workload_daily_usd: 10000}`

// TestRespondEndToEnd is issue 11's "Done when": aicred serve holds an
// OpenAI project key behind its gateway (pointed at a local OpenAI that
// also answers the Admin API); aicred watch runs on a git repository and
// a log with the policy "rotate" for OpenAI; the held key is leaked into a
// file of the repository and an aicred token into the log. The token is
// refused by the gateway, the held key rotated (the old one dead at the
// provider, the gateway serving the new one), and aicred trace on the old
// fingerprint tells the whole story in every format.
func TestRespondEndToEnd(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "config"))
	t.Setenv("AICRED_MASTER_KEY", "")
	store := filepath.Join(dir, "aicred.db")
	t.Setenv("AICRED_STORE", store)
	oai := newFakeOpenAI(t, 77)
	oldKey := oai.newProjectKey()
	for _, c := range []struct{ kind, id, key string }{
		{"project-key", "hc_e2e_openai", oldKey},
		{"admin-key", "hc_openai_admin", oai.admin},
	} {
		r := runCLI(t, c.key+"\n", "credential", "add", "--provider", "openai", "--kind", c.kind, "--id", c.id, "--env", "prod")
		if r.code != exitOK {
			t.Fatalf("credential add: %d %s", r.code, r.stderr)
		}
	}
	is := newIssuer(t, dir)
	addr := freeAddr(t)
	cfgPath := filepath.Join(dir, "aicred.yaml")
	writeConfig(t, cfgPath, fmt.Sprintf(`listen: %s
store: %q
log:
  format: json
gateway:
  upstreams:
    openai: %s
    anthropic: off
respond:
  base_urls:
    openai: %s
  rules:
    - name: rotate-openai
      provider: openai
      kind: project-key
      environment: "prod*"
      action: rotate
      admin: hc_openai_admin
issuers:
  - name: ci
    type: oidc
    issuer: %s
    audiences: [aicred]
    jwks_file: %s
roles:
%s
policies:
  - name: sdk-e2e
    issuer: ci
    role: sdk-e2e
    claims:
      sub: repo:acme/agent:ref:refs/heads/main
`, addr, store, oai.srv.URL, oai.srv.URL, is.url, is.jwksFile, policyRoleYAML))

	sctx, stopServe := context.WithCancel(context.Background())
	defer stopServe()
	served := make(chan result, 1)
	var serveErr lockedBuffer
	go func() {
		var out lockedBuffer
		code := run(sctx, []string{"serve", "--config", cfgPath}, strings.NewReader(""), &out, &serveErr)
		served <- result{code, out.String(), serveErr.String()}
	}()
	base := "http://" + addr
	waitServing(t, base, served)
	exchange := func() string {
		form := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"},
			"subject_token":      {is.workloadJWT(t, "repo:acme/agent:ref:refs/heads/main")},
			"subject_token_type": {"urn:ietf:params:oauth:token-type:jwt"}}
		code, body := httpDo(t, "POST", base+"/oauth/token", "", strings.NewReader(form.Encode()))
		var tr struct {
			AccessToken string `json:"access_token"`
		}
		if err := json.Unmarshal([]byte(body), &tr); code != http.StatusOK || err != nil {
			t.Fatalf("token exchange: %d", code)
		}
		return tr.AccessToken
	}
	chat := func(tok string) int {
		code, _ := httpDo(t, "POST", base+"/openai/v1/chat/completions", tok,
			strings.NewReader(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`))
		return code
	}
	tok := exchange()
	if code := chat(tok); code != http.StatusOK || oai.lastUsed() != oldKey {
		t.Fatalf("chat before the leak: %d", code)
	}

	// The watched repository and log.
	repo := filepath.Join(dir, "repo")
	writeFile(t, filepath.Join(repo, "README.md"), "hello\n")
	gitIn(t, repo, "init", "-q")
	gitIn(t, repo, "add", "-A")
	gitIn(t, repo, "commit", "-q", "-m", "init")
	logPath := filepath.Join(dir, "logs", "app.log")
	writeFile(t, logPath, "started\n")
	wctx, stopWatch := context.WithCancel(context.Background())
	defer stopWatch()
	var wout, werr syncBuffer
	watched := make(chan int, 1)
	// watch's --config is the scan configuration: the server's (with
	// respond:) comes from AICRED_CONFIG.
	t.Setenv(envConfig, cfgPath)
	go func() {
		watched <- run(wctx, []string{"watch", repo, "--git", "--log", logPath,
			"--debounce", "10ms", "--log-poll", "20ms", "--git-poll", "100ms"}, strings.NewReader(""), &wout, &werr)
	}()
	time.Sleep(300 * time.Millisecond) // the watches are in place

	obs, err := sqlite.Open(context.Background(), store)
	if err != nil {
		t.Fatal(err)
	}
	defer obs.Close()

	// The leaks.
	oldFP := aicred.FingerprintOf([]byte(oldKey))
	start := time.Now()
	writeFile(t, filepath.Join(repo, "config", "openai.env"), "OPENAI_API_KEY="+oldKey+"\n")
	lf, err := os.OpenFile(logPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(lf, "auth: Bearer %s\n", tok)
	lf.Close()

	var recorded, refused, revoked time.Duration
	deadline := start.Add(30 * time.Second)
	for recorded == 0 || refused == 0 || revoked == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("after 30s: recorded %v, token refused %v, key revoked %v\nwatch: %s", recorded, refused, revoked, werr.String())
		}
		select {
		case code := <-watched:
			t.Fatalf("watch ended: %d %s", code, werr.String())
		default:
		}
		if recorded == 0 && len(sightingsOf(obs, oldKey)) > 0 {
			recorded = time.Since(start)
		}
		if refused == 0 && chat(tok) == http.StatusUnauthorized {
			refused = time.Since(start)
		}
		if revoked == 0 && oai.dead(oldKey) {
			revoked = time.Since(start)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("from the leaks: finding recorded %v, token refused by the gateway %v, held key revoked at the provider %v", recorded, refused, revoked)
	// Generous bounds: this is a correctness test on a shared machine; the
	// benchmark measures.
	if recorded > 10*time.Second || refused > 10*time.Second || revoked > 20*time.Second {
		t.Errorf("too slow: recorded %v, refused %v, revoked %v", recorded, refused, revoked)
	}

	// The gateway serves the new key on the next call.
	live := oai.liveKeys()
	var newKey string
	for _, v := range live {
		if strings.HasPrefix(v, "sk-svcacct-") {
			newKey = v
		}
	}
	if newKey == "" || len(live) != 1 {
		t.Fatalf("%d live keys at the provider, want the rotated one alone", len(live))
	}
	tok2 := exchange()
	if code := chat(tok2); code != http.StatusOK || oai.lastUsed() != newKey {
		t.Fatalf("chat after the rotation: %d, new key used %v", code, oai.lastUsed() == newKey)
	}

	stopWatch()
	select {
	case code := <-watched:
		if code != exitOK {
			t.Fatalf("watch exit %d: %s", code, werr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("watch did not stop")
	}

	// aicred trace on the old fingerprint tells the story.
	r := runCLI(t, "", "--store", store, "trace", string(oldFP), "--no-live", "--format", "json")
	if r.code != exitOK {
		t.Fatalf("trace: %d %s", r.code, r.stderr)
	}
	var rep respond.TraceReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Sightings) == 0 || rep.Sightings[0].Path != "config/openai.env" {
		t.Fatalf("trace sightings %+v", rep.Sightings)
	}
	if len(rep.Held) != 1 || rep.Held[0].ID != "hc_e2e_openai" || rep.Usage.Total.Requests < 2 {
		t.Fatalf("trace held %+v, gateway requests %d", rep.Held, rep.Usage.Total.Requests)
	}
	var rotationID string
	acts := map[string]bool{}
	for _, e := range rep.Audit {
		acts[e.Action] = true
		if e.Action == respond.ActionRespond && e.Data["action"] == "rotate" {
			if e.Data["outcome"] != respond.OutcomeDone || e.Data["rule"] != "rotate-openai" || e.Data["where"] != "config/openai.env:1" {
				t.Fatalf("respond.action %+v", e.Data)
			}
			rotationID = e.Data["rotation"]
		}
		if e.Action == aicred.ActionRotationStep && e.Data["to"] == string(aicred.RotationRevokedOld) {
			acts["revoked_old"] = true
		}
	}
	for _, want := range []string{ActionLeakDetected, respond.ActionRespond, aicred.ActionRotationStarted, aicred.ActionHeldRotated, "revoked_old"} {
		if !acts[want] {
			t.Errorf("trace audit lacks %s (has %v)", want, acts)
		}
	}
	if rotationID == "" {
		t.Fatal("no rotation named in the respond.action record")
	}
	forms := append(secretForms(oldKey, newKey, oai.admin), tok, tok2)
	for _, format := range []string{"text", "json", "md", "html"} {
		r := runCLI(t, "", "--store", store, "trace", string(oldFP), "--no-live", "--format", format)
		if r.code != exitOK {
			t.Fatalf("trace --format %s: %d %s", format, r.code, r.stderr)
		}
		for _, want := range []string{"config/openai.env", "hc_e2e_openai", rotationID, respond.ActionRespond, "rotation", "leak.detected"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("trace --format %s does not tell %q", format, want)
			}
		}
		assertNoLeak(t, "trace "+format, forms, r.stdout, r.stderr)
	}
	stopServe()
	res := <-served
	assertNoLeak(t, "serve and watch output", forms, res.stdout, res.stderr, wout.String(), werr.String())
}
