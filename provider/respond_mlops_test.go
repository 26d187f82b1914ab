package provider

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/aicred/aicred"
)

// Deep traces of the MLOps and observability providers, against local
// servers answering as each provider documents its API. Every server
// checks the credential arrives where the provider takes it, that the
// call only reads, and answers 401 to anything else.

// mlopsServer serves path with answer when authorized(r) holds.
func mlopsServer(t testing.TB, method, path string, authorized func(*http.Request) bool, answers map[string]string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !authorized(r) {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"Invalid credentials"}`))
			return
		}
		body, ok := answers[r.URL.Path]
		if !ok || r.Method != method && !(method == "" && r.Method == http.MethodGet) {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func traceOf(t *testing.T, provider, kind string) *Trace {
	t.Helper()
	k, ok := LookupKind(provider, kind)
	if !ok || k.Trace == nil || k.Trace.Run == nil || k.Trace.Docs == "" || k.Trace.BaseURL == "" {
		t.Fatalf("%s/%s has no complete deep trace", provider, kind)
	}
	return k.Trace
}

func hasResource(r *Reach, typ, name, access string) bool {
	return slices.ContainsFunc(r.Resources, func(x Resource) bool {
		return x.Type == typ && x.Name == name && (access == "" || x.Access == access)
	})
}

func TestTraceHuggingFace(t *testing.T) {
	g := NewGen(11)
	tok := "hf_" + g.Letters(34)
	// As documented by whoami-v2: a fine-grained token of user "jdoe",
	// member of two organizations.
	fine := `{"type":"user","id":"6412a1b2c3","name":"jdoe","fullname":"J. Doe","email":"j@example.com","emailVerified":true,
	 "orgs":[{"type":"org","id":"64aa","name":"acme-ml","fullname":"Acme ML","roleInOrg":"admin"},
	         {"type":"org","id":"64bb","name":"research","fullname":"Research","roleInOrg":"read"}],
	 "auth":{"type":"access_token","accessToken":{"displayName":"ci-upload","role":"fineGrained","createdAt":"2025-01-02T03:04:05.000Z",
	   "fineGrained":{"canReadGatedRepos":true,"global":["discussion.write","post.write"],
	     "scoped":[{"entity":{"_id":"64aa","type":"org","name":"acme-ml"},"permissions":["repo.content.read","repo.write"]},
	               {"entity":{"_id":"65cc","type":"model","name":"acme-ml/llama-ft"},"permissions":["repo.content.read"]}]}}}}`
	classic := `{"type":"user","id":"6412a1b2c3","name":"jdoe","orgs":[],"auth":{"type":"access_token","accessToken":{"displayName":"laptop","role":"write"}}}`
	tr := traceOf(t, "huggingface", "access-token")
	if k, _ := LookupKind("huggingface", "org-token"); k.Trace != tr {
		t.Fatal("the organization token kind does not share the whoami trace")
	}
	auth := func(r *http.Request) bool { return r.Header.Get("Authorization") == "Bearer "+tok }
	for _, tc := range []struct {
		name, answer string
		check        func(t *testing.T, r *Reach)
	}{
		{"fine-grained", fine, func(t *testing.T, r *Reach) {
			if r.Principal != "user jdoe" {
				t.Errorf("principal %q", r.Principal)
			}
			for _, s := range []string{"role:fineGrained", "discussion.write", "canReadGatedRepos", "org:acme-ml:repo.write", "model:acme-ml/llama-ft:repo.content.read"} {
				if !slices.Contains(r.Scopes, s) {
					t.Errorf("scope %q missing from %v", s, r.Scopes)
				}
			}
			if !hasResource(r, "organization", "acme-ml", "admin") || !hasResource(r, "organization", "research", "read") ||
				!hasResource(r, "org", "acme-ml", "write") || !hasResource(r, "model", "acme-ml/llama-ft", "read") {
				t.Errorf("resources %+v", r.Resources)
			}
		}},
		{"classic write", classic, func(t *testing.T, r *Reach) {
			if !slices.Contains(r.Scopes, "role:write") || len(r.Resources) != 0 {
				t.Errorf("scopes %v resources %v", r.Scopes, r.Resources)
			}
			if !strings.Contains(strings.Join(r.Notes, "\n"), "classic write token") {
				t.Errorf("notes %v", r.Notes)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := mlopsServer(t, http.MethodGet, "/api/whoami-v2", auth, map[string]string{"/api/whoami-v2": tc.answer})
			r, err := tr.Run(context.Background(), srv.Client(), srv.URL, aicred.NewSecret(tok), nil)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, r)
			noSecretIn(t, r, tok)
		})
	}
	t.Run("revoked", func(t *testing.T) {
		srv := mlopsServer(t, http.MethodGet, "/api/whoami-v2", auth, map[string]string{"/api/whoami-v2": fine})
		other := "hf_" + g.Letters(34)
		r, err := tr.Run(context.Background(), srv.Client(), srv.URL, aicred.NewSecret(other), nil)
		if err != nil || len(r.Notes) != 1 || !strings.Contains(r.Notes[0], "HTTP 401") || r.Principal != "" {
			t.Fatalf("%+v, %v", r, err)
		}
	})
}

func TestTraceWandb(t *testing.T) {
	key := NewGen(12).Hex(40)
	// As the GraphQL API answers the viewer query: data.viewer.
	answer := `{"data":{"viewer":{"id":"VXNlcjox","username":"jdoe","entity":"jdoe","admin":false,
	  "teams":{"edges":[{"node":{"id":"RW50aXR5OjE=","name":"jdoe"}},{"node":{"id":"RW50aXR5OjI=","name":"acme-research"}}]}}}}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || u != "api" || p != key {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var q struct{ Query string }
		if r.Method != http.MethodPost || r.URL.Path != "/graphql" || json.NewDecoder(r.Body).Decode(&q) != nil ||
			!strings.HasPrefix(q.Query, "query ") || strings.Contains(q.Query, "mutation") || !strings.Contains(q.Query, "teams") {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		_, _ = w.Write([]byte(answer))
	}))
	defer srv.Close()
	tr := traceOf(t, "wandb", "api-key")
	r, err := tr.Run(context.Background(), srv.Client(), srv.URL, aicred.NewSecret(key), nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Principal != "user jdoe" || r.Account != "jdoe" || !hasResource(r, "entity", "jdoe", "write") || !hasResource(r, "team", "acme-research", "") ||
		hasResource(r, "team", "jdoe", "") {
		t.Fatalf("%+v", r)
	}
	noSecretIn(t, r, key)
	r, err = tr.Run(context.Background(), srv.Client(), srv.URL, aicred.NewSecret(NewGen(13).Hex(40)), nil)
	if err != nil || r.Principal != "" || !strings.Contains(r.Notes[0], "401") {
		t.Fatalf("wrong key: %+v, %v", r, err)
	}
	// A GraphQL error with no viewer (W&B answers 200 with errors).
	srv2 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"data":{"viewer":null},"errors":[{"message":"permission denied"}]}`))
	}))
	defer srv2.Close()
	r, err = tr.Run(context.Background(), srv2.Client(), srv2.URL, aicred.NewSecret(key), nil)
	if err != nil || r.Principal != "" || !strings.Contains(strings.Join(r.Notes, " "), "permission denied") {
		t.Fatalf("no viewer: %+v, %v", r, err)
	}
}

func TestTraceReplicate(t *testing.T) {
	tok := "r8_" + NewGen(14).Alnum(37)
	srv := mlopsServer(t, http.MethodGet, "/v1/account", func(r *http.Request) bool { return r.Header.Get("Authorization") == "Bearer "+tok },
		map[string]string{"/v1/account": `{"type":"organization","username":"acme","name":"Acme Corp, Inc.","github_url":"https://github.com/acme"}`})
	r, err := traceOf(t, "replicate", "api-token").Run(context.Background(), srv.Client(), srv.URL, aicred.NewSecret(tok), nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Principal != "organization acme" || r.Account != "acme" || !hasResource(r, "account", "Acme Corp, Inc.", "write") {
		t.Fatalf("%+v", r)
	}
	noSecretIn(t, r, tok)
}

func TestTraceLangfuse(t *testing.T) {
	g := NewGen(15)
	pk, sk := "pk-lf-"+g.UUID(), "sk-lf-"+g.UUID()
	srv := mlopsServer(t, http.MethodGet, "/api/public/projects", func(r *http.Request) bool {
		u, p, ok := r.BasicAuth()
		return ok && u == pk && p == sk
	}, map[string]string{"/api/public/projects": `{"data":[{"id":"cm4abc123","name":"chatbot-prod","metadata":{},"retentionDays":30}]}`})
	tr := traceOf(t, "langfuse", "secret-key")
	for _, tc := range []struct {
		name   string
		secret string
		hints  map[string]string
	}{
		{"pair on one line", pk + ":" + sk, nil},
		{"pair as an env file", "LANGFUSE_PUBLIC_KEY=x\n" + pk + "\n" + sk + "\n", nil},
		{"secret key with the public key as hint", sk, map[string]string{"public_key": pk}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := tr.Run(context.Background(), srv.Client(), srv.URL, aicred.NewSecret(tc.secret), tc.hints)
			if err != nil {
				t.Fatal(err)
			}
			if r.Account != "project chatbot-prod" || !hasResource(r, "project", "chatbot-prod", "write") {
				t.Fatalf("%+v", r)
			}
			noSecretIn(t, r, sk)
			noSecretIn(t, r, pk)
		})
	}
	r, err := tr.Run(context.Background(), srv.Client(), srv.URL, aicred.NewSecret(sk), nil)
	if err != nil || len(r.Resources) != 0 || !strings.Contains(r.Notes[0], "key pair") {
		t.Fatalf("half a pair: %+v, %v", r, err)
	}
	// Only Langfuse Cloud region hosts are taken from a hint: a planted
	// host name would otherwise receive the key pair.
	for h, ok := range map[string]bool{"us.cloud.langfuse.com": true, "cloud.langfuse.com": true,
		"127.0.0.1:1": false, "cloud.langfuse.com.evil.example": false, "evil.example/cloud.langfuse.com": false} {
		if langfuseHostRE.MatchString(h) != ok {
			t.Errorf("host hint %q accepted = %v", h, !ok)
		}
	}
}

func TestTraceLangSmith(t *testing.T) {
	key := "lsv2_sk_" + NewGen(16).Hex(32) + "_" + NewGen(17).Hex(10)
	srv := mlopsServer(t, http.MethodGet, "", func(r *http.Request) bool { return r.Header.Get("X-API-Key") == key }, map[string]string{
		"/api/v1/orgs/current": `{"id":"0f1e2d3c-0000-4000-8000-000000000001","display_name":"Acme","is_personal":false,"created_at":"2024-05-01T00:00:00Z"}`,
		"/api/v1/workspaces": `[{"id":"1a2b3c4d-0000-4000-8000-000000000002","organization_id":"0f1e2d3c-0000-4000-8000-000000000001","created_at":"2024-05-01T00:00:00Z",
		   "display_name":"prod-agents","is_personal":false,"is_deleted":false,"tenant_handle":"prod","read_only":false,"role_name":"Admin","permissions":["projects:read","projects:create"]},
		  {"id":"1a2b3c4d-0000-4000-8000-000000000003","organization_id":"0f1e2d3c-0000-4000-8000-000000000001","created_at":"2024-05-01T00:00:00Z",
		   "display_name":"old","is_personal":false,"is_deleted":true}]`,
	})
	tr := traceOf(t, "langsmith", "service-key")
	if k, _ := LookupKind("langsmith", "api-key"); k.Trace != tr {
		t.Fatal("personal access tokens do not share the trace")
	}
	r, err := tr.Run(context.Background(), srv.Client(), srv.URL, aicred.NewSecret(key), nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Account != "Acme" || !hasResource(r, "organization", "Acme", "") || !hasResource(r, "workspace", "prod-agents", "Admin") ||
		hasResource(r, "workspace", "old", "") || !slices.Contains(r.Scopes, "role:Admin") || !slices.Contains(r.Scopes, "projects:create") {
		t.Fatalf("%+v", r)
	}
	noSecretIn(t, r, key)
	r, err = tr.Run(context.Background(), srv.Client(), srv.URL, aicred.NewSecret(key+"0"), nil)
	if err != nil || len(r.Resources) != 0 || !strings.Contains(r.Notes[0], "401") {
		t.Fatalf("wrong key: %+v, %v", r, err)
	}
}

func noSecretIn(t *testing.T, r *Reach, secret string) {
	t.Helper()
	b, _ := json.Marshal(r)
	if strings.Contains(string(b), secret) {
		t.Fatalf("the reach holds the secret: %s", b)
	}
}

// FuzzMLOpsTraceAnswers: whatever a provider answers, the traces neither
// panic nor return the credential.
func FuzzMLOpsTraceAnswers(f *testing.F) {
	for _, s := range []string{`{}`, `[]`, `null`, `{"data":{"viewer":{"teams":{"edges":[{}]}}}}`, `{"auth":{"accessToken":{"fineGrained":{"scoped":[{}]}}}}`,
		`{"data":[{"organization":{}}]}`, `[{"is_deleted":false,"permissions":null}]`, `{"type":1}`} {
		f.Add(s)
	}
	g := NewGen(18)
	secrets := map[string]string{
		"huggingface": "hf_" + g.Letters(34), "wandb": g.Hex(40), "replicate": "r8_" + g.Alnum(37),
		"langfuse": "pk-lf-" + g.UUID() + ":sk-lf-" + g.UUID(), "langsmith": "lsv2_pt_" + g.Hex(32) + "_" + g.Hex(10),
	}
	f.Fuzz(func(t *testing.T, answer string) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(answer)) }))
		defer srv.Close()
		for p, secret := range secrets {
			for _, k := range mustProvider(t, p).Kinds {
				if k.Trace == nil {
					continue
				}
				r, err := k.Trace.Run(context.Background(), srv.Client(), srv.URL, aicred.NewSecret(secret), nil)
				if err != nil {
					if strings.Contains(err.Error(), secret) {
						t.Fatal("an error holds the secret")
					}
					continue
				}
				for _, half := range strings.Split(secret, ":") {
					noSecretIn(t, r, half)
				}
			}
		}
	})
}

func mustProvider(t *testing.T, id string) *Provider {
	p, ok := Lookup(id)
	if !ok {
		t.Fatalf("no provider %s", id)
	}
	return p
}
