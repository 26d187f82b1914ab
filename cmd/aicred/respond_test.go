package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/provider"
)

// keyAPI is a local server answering as a provider's key-management API
// documents it: POST /v1/admin/keys {"project"} creates a key and answers
// {"id","value"} once; GET /v1/admin/keys lists {"id","redacted_value"};
// DELETE /v1/admin/keys/{id} revokes (404 when unknown); every admin call
// takes "Authorization: Bearer ADMIN". GET /v1/models answers 200 with a
// model list for a live key, 401 for a revoked or unknown one (as OpenAI's
// does).
type keyAPI struct {
	srv        *httptest.Server
	gen        *provider.Gen
	mu         sync.Mutex
	keys       map[string]string // value -> id
	revoked    map[string]bool   // by value
	admins     map[string]bool
	failRevoke int
}

func newKeyAPI(t *testing.T) *keyAPI {
	a := &keyAPI{gen: provider.NewGen(91), keys: map[string]string{}, revoked: map[string]bool{}, admins: map[string]bool{}}
	mux := http.NewServeMux()
	auth := func(w http.ResponseWriter, r *http.Request) bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		if !a.admins[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")] {
			http.Error(w, `{"error":{"message":"admin key required"}}`, http.StatusUnauthorized)
			return false
		}
		return true
	}
	mux.HandleFunc("POST /v1/admin/keys", func(w http.ResponseWriter, r *http.Request) {
		if !auth(w, r) {
			return
		}
		s := a.newKey()
		a.mu.Lock()
		id := a.keys[s.Reveal()]
		a.mu.Unlock()
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]string{"id": id, "value": s.Reveal()})
	})
	mux.HandleFunc("GET /v1/admin/keys", func(w http.ResponseWriter, r *http.Request) {
		if !auth(w, r) {
			return
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		var out []map[string]string
		for v, id := range a.keys {
			out = append(out, map[string]string{"id": id, "redacted_value": v[:8] + "..." + v[len(v)-4:]})
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"data": out})
	})
	mux.HandleFunc("DELETE /v1/admin/keys/{id}", func(w http.ResponseWriter, r *http.Request) {
		if !auth(w, r) {
			return
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.failRevoke > 0 {
			a.failRevoke--
			http.Error(w, `{"error":{"message":"internal error"}}`, http.StatusInternalServerError)
			return
		}
		for v, id := range a.keys {
			if id == r.PathValue("id") {
				a.revoked[v] = true
				_ = json.NewEncoder(w).Encode(map[string]any{"id": id, "deleted": true})
				return
			}
		}
		http.Error(w, `{"error":{"message":"no such key"}}`, http.StatusNotFound)
	})
	mux.HandleFunc("GET /v1/models", func(w http.ResponseWriter, r *http.Request) {
		v := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		a.mu.Lock()
		_, ok := a.keys[v]
		ok = ok && !a.revoked[v]
		a.mu.Unlock()
		if !ok {
			http.Error(w, `{"error":{"message":"Incorrect API key provided"}}`, http.StatusUnauthorized)
			return
		}
		_, _ = w.Write([]byte(`{"object":"list","data":[{"id":"gpt-4o-mini"}]}`))
	})
	a.srv = httptest.NewServer(mux)
	t.Cleanup(a.srv.Close)
	return a
}

// newKey makes an OpenAI-shaped project key at the provider.
func (a *keyAPI) newKey() aicred.Secret {
	a.mu.Lock()
	defer a.mu.Unlock()
	v := "sk-proj-" + a.gen.Alnum(74) + "T3BlbkFJ" + a.gen.Alnum(74)
	a.keys[v] = fmt.Sprintf("key_%d", len(a.keys)+1)
	return aicred.NewSecret(v)
}

func (a *keyAPI) newAdmin() aicred.Secret {
	a.mu.Lock()
	defer a.mu.Unlock()
	v := "sk-admin-" + a.gen.Alnum(58) + "T3BlbkFJ" + a.gen.Alnum(58)
	a.admins[v] = true
	return aicred.NewSecret(v)
}

func (a *keyAPI) live(s aicred.Secret) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	_, ok := a.keys[s.Reveal()]
	return ok && !a.revoked[s.Reveal()]
}

// withKeyAPIRotation makes the catalog's openai/project-key rotate through
// the key API above (the provider file's own rotation, where there is
// one, is written against OpenAI's documentation; this one against the
// local server's).
func withKeyAPIRotation(t *testing.T) {
	base, ok := provider.LookupKind("openai", "project-key")
	if !ok {
		t.Fatal("no openai/project-key")
	}
	k := *base
	do := func(ctx context.Context, c *http.Client, method, url string, admin aicred.Secret, body string, out any) error {
		req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+admin.Reveal())
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode == http.StatusNotFound {
			return nil // gone already
		}
		if resp.StatusCode >= 300 {
			return fmt.Errorf("%s %s: status %d", method, req.URL.Path, resp.StatusCode)
		}
		if out != nil {
			return json.NewDecoder(resp.Body).Decode(out)
		}
		return nil
	}
	k.Rotation = &provider.Rotation{
		AdminKind: "openai/admin-key",
		Create: func(ctx context.Context, c *http.Client, base string, admin aicred.Secret, _ provider.RotationTarget) (*provider.Replacement, error) {
			var out struct{ ID, Value string }
			if err := do(ctx, c, "POST", base+"/v1/admin/keys", admin, `{"project":"proj_1"}`, &out); err != nil {
				return nil, err
			}
			return &provider.Replacement{Secret: aicred.NewSecret(out.Value), ID: out.ID}, nil
		},
		Revoke: func(ctx context.Context, c *http.Client, base string, admin aicred.Secret, t provider.RotationTarget) error {
			id := t.ID
			if id == "" {
				var list struct {
					Data []struct {
						ID       string `json:"id"`
						Redacted string `json:"redacted_value"`
					} `json:"data"`
				}
				if err := do(ctx, c, "GET", base+"/v1/admin/keys", admin, "", &list); err != nil {
					return err
				}
				v := t.Secret.Reveal()
				for _, e := range list.Data {
					if e.Redacted == v[:8]+"..."+v[len(v)-4:] {
						id = e.ID
					}
				}
			}
			return do(ctx, c, "DELETE", base+"/v1/admin/keys/"+id, admin, "", nil)
		},
	}
	prev := respondLookup
	respondLookup = func(p, kind string) (*provider.Kind, bool) {
		if p == "openai" && kind == "project-key" {
			return &k, true
		}
		return provider.LookupKind(p, kind)
	}
	t.Cleanup(func() { respondLookup = prev })
}

type cliResult struct {
	code           int
	stdout, stderr string
}

func cli(stdin string, args ...string) cliResult {
	var out, errb bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return cliResult{code, out.String(), errb.String()}
}

// rotate, resume, rollback, revoke and replace from the command line,
// against a local key-management API, and no secret in any output or in
// the store's files.
func TestCredentialRespondCLI(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "config"))
	t.Setenv("AICRED_MASTER_KEY", "")
	store := filepath.Join(dir, "aicred.db")
	t.Setenv("AICRED_STORE", store)
	api := newKeyAPI(t)
	withKeyAPIRotation(t)
	base := "--base-url=openai=" + api.srv.URL

	old, admin := api.newKey(), api.newAdmin()
	secrets := []aicred.Secret{old, admin}
	var outputs []string
	do := func(want int, stdin string, args ...string) cliResult {
		t.Helper()
		r := cli(stdin, args...)
		outputs = append(outputs, r.stdout, r.stderr)
		if r.code != want {
			t.Fatalf("aicred %s: exit %d, want %d\n%s%s", strings.Join(args, " "), r.code, want, r.stdout, r.stderr)
		}
		return r
	}
	do(0, old.Reveal(), "credential", "add", "--provider", "openai", "--kind", "project-key", "--id", "hc_main")
	do(0, admin.Reveal(), "credential", "add", "--provider", "openai", "--kind", "admin-key", "--id", "hc_admin")

	// Refusals: no admin credential, a secret where an id belongs.
	r := do(2, "", "credential", "rotate", "hc_main", base)
	if !strings.Contains(r.stderr, "--admin HELD_ID") {
		t.Fatal(r.stderr)
	}
	do(2, "", "credential", "rotate", "hc_main", "--resume", "--rollback")
	do(2, "", "credential", "rotate", "hc_main", "--base-url", "openai")

	// A full rotation.
	r = do(0, "", "credential", "rotate", "hc_main", "--admin", "hc_admin", base)
	if !strings.Contains(r.stdout, ": done") || api.live(old) {
		t.Fatalf("rotation:\n%s", r.stdout)
	}
	cur := heldNow(t, api, old)
	secrets = append(secrets, cur)
	if !api.live(cur) {
		t.Fatal("new key dead")
	}

	// The provider fails to revoke: the rotation stops at switched, says
	// how to go on, and resumes.
	api.failRevoke = 1
	r = do(2, "", "credential", "rotate", "hc_main", "--admin", "hc_admin", base)
	if !strings.Contains(r.stdout, ": switched") || !strings.Contains(r.stdout, "--resume") || !strings.Contains(r.stderr, "status 500") {
		t.Fatalf("stopped rotation:\n%s%s", r.stdout, r.stderr)
	}
	r = do(0, "", "credential", "rotate", "hc_main", "--resume", base)
	if !strings.Contains(r.stdout, ": done") || api.live(cur) {
		t.Fatalf("resumed:\n%s", r.stdout)
	}
	cur2 := heldNow(t, api, cur)
	secrets = append(secrets, cur2)

	// Again, rolled back this time (json).
	api.failRevoke = 1
	do(2, "", "credential", "rotate", "hc_main", "--admin", "hc_admin", base)
	r = do(0, "", "credential", "rotate", "hc_main", "--rollback", "--format", "json", base)
	var out struct {
		Rotation aicred.Rotation `json:"rotation"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || out.Rotation.State != aicred.RotationRolledBack {
		t.Fatalf("rollback: %v\n%s", err, r.stdout)
	}
	if heldNow(t, api, aicred.Secret{}).Reveal() != cur2.Reveal() || !api.live(cur2) {
		t.Fatal("rollback did not restore the key")
	}

	// Revoke at the provider.
	r = do(0, "", "credential", "revoke", "hc_main", "--admin", "hc_admin", "--reason", "leaked in CI logs", base)
	if !strings.Contains(r.stdout, "at the provider") || !strings.Contains(r.stdout, "liveness: dead") || api.live(cur2) {
		t.Fatalf("revoke:\n%s", r.stdout)
	}

	// Guided: a replacement made at the console, from stdin; the old one
	// is still live, so the console URL is printed.
	repl := api.newKey()
	secrets = append(secrets, repl)
	do(0, repl.Reveal(), "credential", "add", "--provider", "openai", "--kind", "service-account-key", "--id", "hc_svc")
	next := api.newKey()
	secrets = append(secrets, next)
	r = do(0, next.Reveal(), "credential", "replace", "hc_svc", base, "--reason", "quarterly rotation")
	if !strings.Contains(r.stdout, "STILL LIVE") || !strings.Contains(r.stdout, "https://platform.openai.com") {
		t.Fatalf("replace:\n%s", r.stdout)
	}
	r = do(2, "", "credential", "replace", "hc_svc", base)
	if !strings.Contains(r.stderr, "no secret on input") {
		t.Fatal(r.stderr)
	}

	// The audit log names each cause.
	r = do(0, "", "audit", "export")
	for _, want := range []string{"rotation.step", "rotation.failed", "credential.revoked", "leaked in CI logs", "credential.replaced", "quarterly rotation"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("audit log lacks %q", want)
		}
	}
	do(0, "", "audit", "verify")

	// Canary: no secret in any output, nor in the store's files.
	var files []byte
	for _, s := range []string{"", "-wal", "-shm"} {
		b, _ := os.ReadFile(store + s)
		files = append(files, b...)
	}
	all := strings.Join(outputs, "\n")
	for _, s := range secrets {
		if strings.Contains(all, s.Reveal()) || bytes.Contains(files, []byte(s.Reveal())) {
			t.Fatal("a secret was written in the clear")
		}
	}
}

// heldNow returns the key the provider knows whose fingerprint hc_main
// holds (read through the CLI's JSON listing: fingerprints only).
func heldNow(t *testing.T, api *keyAPI, _ aicred.Secret) aicred.Secret {
	t.Helper()
	r := cli("", "credential", "list", "--format", "json")
	var out struct {
		Held []aicred.HeldCredential `json:"held"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatal(err)
	}
	for _, h := range out.Held {
		if h.ID != "hc_main" {
			continue
		}
		api.mu.Lock()
		defer api.mu.Unlock()
		for v := range api.keys {
			if aicred.NewSecret(v).Fingerprint() == h.Fingerprint {
				return aicred.NewSecret(v)
			}
		}
	}
	t.Fatal("held key unknown to the provider")
	return aicred.Secret{}
}
