package respond

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/provider"
)

// adminAPI is a local server answering as a provider's key-management API
// documents it: POST /v1/admin/keys creates a key in a project and answers
// {"id", "value"} (the only time the value is shown), GET /v1/admin/keys
// lists {"id", "redacted_value", "status"}, DELETE /v1/admin/keys/{id}
// revokes one (404 for an unknown id), every admin call authenticated by
// "Authorization: Bearer ADMIN"; GET /v1/models answers 200 for a live key
// and 401 for a revoked or unknown one.
type adminAPI struct {
	srv *httptest.Server
	gen *provider.Gen

	mu      sync.Mutex
	keys    map[string]*apiKey // by value
	admins  map[string]bool
	created int
	// failCreate answers 500 to that many create calls; ignoreRevoke
	// answers 200 to revocations without revoking.
	failCreate   int
	ignoreRevoke bool
	calls        []string
}

type apiKey struct {
	id, project string
	revoked     bool
}

func newAdminAPI(t testing.TB, seed uint64) *adminAPI {
	a := &adminAPI{gen: provider.NewGen(seed), keys: map[string]*apiKey{}, admins: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/admin/keys", func(w http.ResponseWriter, r *http.Request) {
		if !a.admin(w, r) {
			return
		}
		var body struct {
			Project string `json:"project"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Project == "" {
			apiError(w, http.StatusBadRequest, "project is required")
			return
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.failCreate > 0 {
			a.failCreate--
			apiError(w, http.StatusInternalServerError, "internal error")
			return
		}
		v, id := a.newKeyLocked(body.Project)
		a.created++
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]string{"id": id, "value": v, "project": body.Project})
	})
	mux.HandleFunc("GET /v1/admin/keys", func(w http.ResponseWriter, r *http.Request) {
		if !a.admin(w, r) {
			return
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		type item struct {
			ID       string `json:"id"`
			Redacted string `json:"redacted_value"`
			Project  string `json:"project"`
			Status   string `json:"status"`
		}
		var out []item
		for v, k := range a.keys {
			st := "active"
			if k.revoked {
				st = "revoked"
			}
			out = append(out, item{ID: k.id, Redacted: v[:4] + "..." + v[len(v)-4:], Project: k.project, Status: st})
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"data": out})
	})
	mux.HandleFunc("DELETE /v1/admin/keys/{id}", func(w http.ResponseWriter, r *http.Request) {
		if !a.admin(w, r) {
			return
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		for _, k := range a.keys {
			if k.id == r.PathValue("id") {
				if !a.ignoreRevoke {
					k.revoked = true
				}
				w.Header().Set("Content-Type", "application/json")
				_ = json.NewEncoder(w).Encode(map[string]any{"id": k.id, "deleted": true})
				return
			}
		}
		apiError(w, http.StatusNotFound, "no such key")
	})
	mux.HandleFunc("GET /v1/models", func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		k := a.keys[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
		a.mu.Unlock()
		if k == nil || k.revoked {
			apiError(w, http.StatusUnauthorized, "invalid api key")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"object":"list","data":[{"id":"gpt-4o-mini","object":"model"}]}`))
	})
	a.srv = httptest.NewServer(mux)
	t.Cleanup(a.srv.Close)
	return a
}

func apiError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"message": msg}})
}

func (a *adminAPI) admin(w http.ResponseWriter, r *http.Request) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls = append(a.calls, r.Method+" "+r.URL.Path)
	tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	if k := a.keys[tok]; a.admins[tok] || (k != nil && !k.revoked && k.project == "self") {
		return true
	}
	apiError(w, http.StatusUnauthorized, "admin key required")
	return false
}

func (a *adminAPI) newKeyLocked(project string) (value, id string) {
	value = "tk-" + a.gen.Alnum(40)
	id = fmt.Sprintf("key_%d", len(a.keys)+1)
	a.keys[value] = &apiKey{id: id, project: project}
	return value, id
}

// newKey makes a key at the provider (as a person at its console would).
func (a *adminAPI) newKey(project string) aicred.Secret {
	a.mu.Lock()
	defer a.mu.Unlock()
	v, _ := a.newKeyLocked(project)
	return aicred.NewSecret(v)
}

func (a *adminAPI) newAdmin() aicred.Secret {
	a.mu.Lock()
	defer a.mu.Unlock()
	v := "tka-" + a.gen.Alnum(40)
	a.admins[v] = true
	return aicred.NewSecret(v)
}

// live reports whether the provider accepts s.
func (a *adminAPI) live(s aicred.Secret) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	k := a.keys[s.Reveal()]
	return k != nil && !k.revoked
}

func (a *adminAPI) createdCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.created
}

// The rotation of the test kind, written against the API above as a
// provider file writes one against its provider's documentation.
func testRotation(selfAdmin bool) *provider.Rotation {
	r := &provider.Rotation{
		Docs:      "local admin API (adminAPI)",
		SelfAdmin: selfAdmin,
		Create: func(ctx context.Context, c *http.Client, base string, admin aicred.Secret, old provider.RotationTarget) (*provider.Replacement, error) {
			project := old.Attrs["project"]
			if project == "" {
				project = "proj_1"
			}
			if selfAdmin {
				project = "self"
			}
			body, _ := json.Marshal(map[string]string{"project": project})
			var out struct{ ID, Value, Project string }
			if err := call(ctx, c, "POST", base+"/v1/admin/keys", admin, string(body), &out); err != nil {
				return nil, err
			}
			return &provider.Replacement{Secret: aicred.NewSecret(out.Value), ID: out.ID, Attrs: map[string]string{"project": out.Project}}, nil
		},
		Revoke: func(ctx context.Context, c *http.Client, base string, admin aicred.Secret, t provider.RotationTarget) error {
			id := t.ID
			if id == "" { // look it up by its redacted value
				var list struct {
					Data []struct {
						ID       string `json:"id"`
						Redacted string `json:"redacted_value"`
					} `json:"data"`
				}
				if err := call(ctx, c, "GET", base+"/v1/admin/keys", admin, "", &list); err != nil {
					return err
				}
				v := t.Secret.Reveal()
				for _, k := range list.Data {
					if k.Redacted == v[:4]+"..."+v[len(v)-4:] {
						id = k.ID
					}
				}
				if id == "" {
					return nil // gone already
				}
			}
			err := call(ctx, c, "DELETE", base+"/v1/admin/keys/"+id, admin, "", nil)
			if aicred.KindOf(err) == aicred.ErrNotFound {
				return nil
			}
			return err
		},
	}
	if !selfAdmin {
		r.AdminKind = "testprov/admin-key"
	}
	return r
}

func call(ctx context.Context, c *http.Client, method, url string, admin aicred.Secret, body string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+admin.Reveal())
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return aicred.Errorf(aicred.ErrNotFound, "%s %s: 404", method, req.URL.Path)
	case resp.StatusCode >= 300:
		return fmt.Errorf("%s %s: status %d", method, req.URL.Path, resp.StatusCode)
	case out != nil:
		return json.NewDecoder(resp.Body).Decode(out)
	}
	return nil
}

// testKinds returns a lookup with the test provider's key kind (with or
// without a rotation, self-managed or with an admin kind) and admin kind,
// their liveness checks pointed at a's server by their base URL.
func testKinds(a *adminAPI, rot *provider.Rotation) func(string, string) (*provider.Kind, bool) {
	p := &provider.Provider{ID: "testprov", Name: "Test provider", RevokeURL: "https://console.testprov.example/keys"}
	live := &provider.Liveness{BaseURL: "https://api.testprov.example", Path: "/v1/models", Auth: provider.Auth{Scheme: "Bearer"}}
	key := provider.NewCustomKind(p, &provider.Kind{ID: "api-key", Name: "API key", Liveness: live, Rotation: rot})
	admin := provider.NewCustomKind(p, &provider.Kind{ID: "admin-key", Name: "admin key"})
	return func(pid, kid string) (*provider.Kind, bool) {
		switch {
		case pid == "testprov" && kid == "api-key":
			return key, true
		case pid == "testprov" && kid == "admin-key":
			return admin, true
		}
		return provider.LookupKind(pid, kid)
	}
}
