package provider

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/aicred/aicred"
)

func TestOpenAIKeyTrace(t *testing.T) {
	g := NewGen(21)
	key := "sk-proj-" + g.URL64(74) + openaiMarker + g.URL64(74)
	srv := newFake(t, "Authorization", "Bearer "+key, map[string]route{
		"GET /v1/models": func(w http.ResponseWriter, r *http.Request, _ []byte) {
			w.Header().Set("openai-organization", "org-demo")
			w.Write([]byte(`{"object":"list","data":[{"id":"gpt-4o","object":"model","created":1686935002,"owned_by":"openai"},{"id":"ft:gpt-4o:acme::x","object":"model","created":1,"owned_by":"acme"}]}`))
		},
	})
	r, err := openaiKeyTrace(context.Background(), srv.Client(), srv.URL, aicred.NewSecret(key), nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Account != "org-demo" || len(r.Resources) != 2 || r.Resources[1].ID != "ft:gpt-4o:acme::x" || !reflect.DeepEqual(r.Scopes, []string{"inference"}) {
		t.Fatalf("reach %+v", r)
	}
	noSecret(t, "reach", r, key)

	dead := "sk-proj-" + g.URL64(74) + openaiMarker + g.URL64(74)
	r, err = openaiKeyTrace(context.Background(), srv.Client(), srv.URL, aicred.NewSecret(dead), nil)
	if err != nil || len(r.Notes) != 1 || !strings.Contains(r.Notes[0], "401") || len(r.Scopes) != 0 {
		t.Fatalf("refused key: %+v %v, want a note", r, err)
	}
	broken := newFake(t, "", "", map[string]route{"GET /v1/models": jsonRoute(503, map[string]any{"error": map[string]string{"type": "server_error"}})})
	if _, err := openaiKeyTrace(context.Background(), broken.Client(), broken.URL, aicred.NewSecret(key), nil); err == nil {
		t.Fatal("a 503 is no reach: want an error")
	}
}

// openaiAdminFake answers the Administration endpoints for one admin key,
// with a project holding keys whose redacted values are given.
func openaiAdminFake(t *testing.T, admin string, projects map[string][]map[string]any) *fake {
	routes := map[string]route{}
	var plist []map[string]any
	for id, keys := range projects {
		plist = append(plist, map[string]any{"id": id, "object": "organization.project", "name": "Project " + id, "created_at": 1711471533, "archived_at": nil, "status": "active"})
		// Two pages, to exercise the cursor.
		first, rest := keys, []map[string]any{}
		if len(keys) > 1 {
			first, rest = keys[:1], keys[1:]
		}
		path := "/v1/organization/projects/" + id + "/api_keys"
		routes["GET "+path] = func(w http.ResponseWriter, r *http.Request, _ []byte) {
			if r.URL.Query().Get("limit") != "100" {
				t.Errorf("list %s without limit=100", path)
			}
			page, more := first, len(rest) > 0
			if r.URL.Query().Get("after") != "" {
				page, more = rest, false
			}
			last := ""
			if len(page) > 0 {
				last, _ = page[len(page)-1]["id"].(string)
			}
			json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": page, "first_id": "", "last_id": last, "has_more": more})
		}
	}
	routes["GET /v1/organization/projects"] = jsonRoute(200, map[string]any{"object": "list", "data": plist, "has_more": false})
	return newFake(t, "Authorization", "Bearer "+admin, routes)
}

func projectKey(id, redacted, ownerType, saID string) map[string]any {
	owner := map[string]any{"type": ownerType}
	if saID != "" {
		owner["service_account"] = map[string]any{"id": saID, "name": "bot", "role": "member", "created_at": 1}
	} else {
		owner["user"] = map[string]any{"id": "user_abc", "name": "First Last", "email": "user@example.com", "role": "owner"}
	}
	return map[string]any{"object": "organization.project.api_key", "redacted_value": redacted, "name": "My API Key",
		"created_at": 1711471533, "last_used_at": 1711471534, "id": id, "owner": owner}
}

func TestOpenAIAdminTrace(t *testing.T) {
	g := NewGen(22)
	admin := "sk-admin-" + g.URL64(58) + openaiMarker + g.URL64(58)
	srv := newFake(t, "Authorization", "Bearer "+admin, map[string]route{
		"GET /v1/organization/projects": jsonRoute(200, map[string]any{"object": "list", "has_more": false, "data": []map[string]any{
			{"id": "proj_abc", "object": "organization.project", "name": "Project example", "created_at": 1711471533, "status": "active"}}}),
		"GET /v1/organization/users": jsonRoute(200, map[string]any{"object": "list", "has_more": false, "data": []map[string]any{
			{"object": "organization.user", "id": "user_abc", "name": "First Last", "email": "user@example.com", "role": "owner", "added_at": 1711471533}}}),
		"GET /v1/organization/admin_api_keys": jsonRoute(403, map[string]any{"error": map[string]string{"type": "insufficient_permissions"}}),
	})
	r, err := openaiAdminTrace(context.Background(), srv.Client(), srv.URL, aicred.NewSecret(admin), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []Resource{{Type: "project", ID: "proj_abc", Name: "Project example", Access: "admin"}, {Type: "user", ID: "user_abc", Name: "First Last", Access: "owner"}}
	if !reflect.DeepEqual(r.Resources, want) || len(r.Notes) != 1 || !strings.Contains(r.Notes[0], "admin API keys: access denied (HTTP 403)") {
		t.Fatalf("reach %+v", r)
	}
	noSecret(t, "reach", r, admin)

	// The admin key finds itself among the admin keys by its redacted value.
	srv2 := newFake(t, "Authorization", "Bearer "+admin, map[string]route{
		"GET /v1/organization/projects": jsonRoute(200, map[string]any{"object": "list", "data": []any{}}),
		"GET /v1/organization/users":    jsonRoute(200, map[string]any{"object": "list", "data": []any{}}),
		"GET /v1/organization/admin_api_keys": jsonRoute(200, map[string]any{"object": "list", "data": []map[string]any{
			{"object": "organization.admin_api_key", "id": "key_abc", "name": "Main Admin Key", "redacted_value": "sk-admin..." + admin[len(admin)-4:], "created_at": 1}}}),
	})
	r, err = openaiAdminTrace(context.Background(), srv2.Client(), srv2.URL, aicred.NewSecret(admin), nil)
	if err != nil || r.Principal != "admin key key_abc (Main Admin Key)" {
		t.Fatalf("reach %+v %v", r, err)
	}
	noSecret(t, "reach", r, admin, admin[len(admin)-4:])
}

func TestOpenAIRotation(t *testing.T) {
	g := NewGen(23)
	admin := aicred.NewSecret("sk-admin-" + g.URL64(58) + openaiMarker + g.URL64(58))
	old := "sk-proj-" + g.URL64(74) + openaiMarker + g.URL64(74)
	other := "sk-proj-" + g.URL64(74) + openaiMarker + g.URL64(74)
	newKey := "sk-svcacct-" + g.URL64(74) + openaiMarker + g.URL64(74)
	redact := func(k string) string { return k[:8] + "..." + k[len(k)-4:] }
	ctx := context.Background()

	srv := openaiAdminFake(t, admin.Reveal(), map[string][]map[string]any{
		"proj_a": {projectKey("key_other", redact(other), "user", "")},
		"proj_b": {projectKey("key_x", "sk-proj-...zzzz", "user", ""), projectKey("key_old", redact(old), "user", "")},
	})
	var createBody string
	srv.add("POST /v1/organization/projects/proj_b/service_accounts", func(w http.ResponseWriter, r *http.Request, body []byte) {
		createBody = string(body)
		if r.Header.Get("Content-Type") != "application/json" {
			t.Error("create without a JSON body")
		}
		json.NewEncoder(w).Encode(map[string]any{"object": "organization.project.service_account", "id": "svc_acct_abc", "name": "x", "role": "member", "created_at": 1711471533,
			"api_key": map[string]any{"object": "organization.project.service_account.api_key", "value": newKey, "name": "Secret Key", "created_at": 1711471533, "id": "key_new"}})
	})
	rep, err := openaiCreateServiceAccount(ctx, srv.Client(), srv.URL, admin, RotationTarget{Secret: aicred.NewSecret(old)})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Secret.Reveal() != newKey || rep.ID != "key_new" || rep.Attrs["project_id"] != "proj_b" || rep.Attrs["service_account_id"] != "svc_acct_abc" {
		t.Fatalf("replacement %+v", rep.Attrs)
	}
	var body map[string]string
	if json.Unmarshal([]byte(createBody), &body) != nil || body["name"] != "aicred-rotation-"+aicred.NewSecret(old).Fingerprint().Short() {
		t.Fatalf("create body %q", createBody)
	}

	// Revoke finds the key by its redacted value and deletes it; again, the
	// key is gone (404) and that is success.
	deleted := 0
	srv.add("DELETE /v1/organization/projects/proj_b/api_keys/key_old", func(w http.ResponseWriter, r *http.Request, _ []byte) {
		deleted++
		if deleted > 1 {
			w.WriteHeader(404)
			w.Write([]byte(`{"error":{"message":"No such API key","type":"invalid_request_error"}}`))
			return
		}
		w.Write([]byte(`{"object":"organization.project.api_key.deleted","id":"key_old","deleted":true}`))
	})
	target := RotationTarget{Secret: aicred.NewSecret(old)}
	if err := openaiRevokeProjectKey(ctx, srv.Client(), srv.URL, admin, target); err != nil {
		t.Fatal(err)
	}
	target.ID, target.Attrs = "key_old", map[string]string{"project_id": "proj_b"}
	if err := openaiRevokeProjectKey(ctx, srv.Client(), srv.URL, admin, target); err != nil || deleted != 2 {
		t.Fatalf("revoke again: %v (%d deletes), want success", err, deleted)
	}

	// Ambiguous: two keys fit; nothing is deleted.
	amb := openaiAdminFake(t, admin.Reveal(), map[string][]map[string]any{
		"proj_a": {projectKey("key_1", redact(old), "user", "")},
		"proj_b": {projectKey("key_2", redact(old), "user", "")},
	})
	err = openaiRevokeProjectKey(ctx, amb.Client(), amb.URL, admin, RotationTarget{Secret: aicred.NewSecret(old)})
	if err == nil || !strings.Contains(err.Error(), "2 project API keys fit") {
		t.Fatalf("ambiguous: %v", err)
	}
	for _, c := range amb.calls() {
		if strings.HasPrefix(c, "DELETE") {
			t.Fatalf("ambiguous match deleted: %s", c)
		}
	}
	// A service account's key that OpenAI will not delete on its own: the
	// service account goes.
	sa := openaiAdminFake(t, admin.Reveal(), map[string][]map[string]any{"proj_a": {projectKey("key_sa", redact(old), "service_account", "svc_acct_1")}})
	sa.add("DELETE /v1/organization/projects/proj_a/api_keys/key_sa", jsonRoute(400, map[string]any{"error": map[string]string{"type": "invalid_request_error"}}))
	sa.add("DELETE /v1/organization/projects/proj_a/service_accounts/svc_acct_1",
		jsonRoute(200, map[string]any{"object": "organization.project.service_account.deleted", "id": "svc_acct_1", "deleted": true}))
	if err := openaiRevokeProjectKey(ctx, sa.Client(), sa.URL, admin, RotationTarget{Secret: aicred.NewSecret(old)}); err != nil {
		t.Fatal(err)
	}
	// The wrong admin key: an error naming the call, no secret.
	wrong := aicred.NewSecret("sk-admin-" + g.URL64(58) + openaiMarker + g.URL64(58))
	_, err = openaiCreateServiceAccount(ctx, srv.Client(), srv.URL, wrong, RotationTarget{Secret: aicred.NewSecret(old), Attrs: map[string]string{"project_id": "proj_b"}})
	if !isDenied(err) || !strings.Contains(err.Error(), "create project service account") {
		t.Fatalf("wrong admin: %v", err)
	}
	noSecret(t, "error", err, wrong.Reveal(), old, admin.Reveal())
}

func TestAnthropicKeyTrace(t *testing.T) {
	g := NewGen(31)
	key := "sk-ant-api03-" + g.URL64(93) + "AA"
	srv := newFake(t, "x-api-key", key, map[string]route{
		"GET /v1/models": func(w http.ResponseWriter, r *http.Request, _ []byte) {
			if r.Header.Get("anthropic-version") != anthropicVersion {
				w.WriteHeader(400)
				return
			}
			w.Write([]byte(`{"data":[{"type":"model","id":"claude-sonnet-4-5","display_name":"Claude Sonnet 4.5","created_at":"2025-09-29T00:00:00Z"}],"has_more":false,"first_id":"claude-sonnet-4-5","last_id":"claude-sonnet-4-5"}`))
		},
	})
	r, err := anthropicKeyTrace(context.Background(), srv.Client(), srv.URL, aicred.NewSecret(key), nil)
	if err != nil || len(r.Resources) != 1 || r.Resources[0].Name != "Claude Sonnet 4.5" || r.Scopes[0] != "inference" {
		t.Fatalf("reach %+v %v", r, err)
	}
	noSecret(t, "reach", r, key)
}

func anthropicKeyJSON(id, name, hint, status string) map[string]any {
	return map[string]any{"id": id, "type": "api_key", "name": name, "workspace_id": "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ",
		"created_at": "2024-10-30T23:58:27.427722Z", "created_by": map[string]string{"id": "user_01", "type": "user"},
		"partial_key_hint": hint, "status": status}
}

func TestAnthropicAdminTrace(t *testing.T) {
	g := NewGen(32)
	admin := "sk-ant-admin01-" + g.URL64(93) + "AA"
	other := "sk-ant-api03-" + g.URL64(93) + "AA"
	hint := other[:16] + "..." + other[len(other)-4:]
	srv := newFake(t, "x-api-key", admin, map[string]route{
		"GET /v1/organizations/me": jsonRoute(200, map[string]string{"id": "org_1", "type": "organization", "name": "Acme"}),
		"GET /v1/organizations/workspaces": jsonRoute(200, map[string]any{"has_more": false, "data": []map[string]any{
			{"id": "wrkspc_1", "type": "workspace", "name": "Prod", "created_at": "2024-10-30T23:58:27Z", "archived_at": nil, "display_color": "#6C5BB9"}}}),
		"GET /v1/organizations/api_keys": jsonRoute(200, map[string]any{"has_more": false, "data": []map[string]any{anthropicKeyJSON("apikey_1", "Developer Key", hint, "active")}}),
		"GET /v1/organizations/users":    jsonRoute(403, map[string]any{"type": "error", "error": map[string]string{"type": "permission_error", "message": "no"}}),
	})
	r, err := anthropicAdminTrace(context.Background(), srv.Client(), srv.URL, aicred.NewSecret(admin), nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Account != "Acme (org_1)" || len(r.Resources) != 3 || r.Resources[2].Name != "Developer Key (active, workspace wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ)" ||
		len(r.Notes) != 1 || !strings.HasPrefix(r.Notes[0], "users: access denied") {
		t.Fatalf("reach %+v", r)
	}
	noSecret(t, "reach", r, admin, hint, other[:16])
}

func TestAnthropicRevoke(t *testing.T) {
	g := NewGen(33)
	admin := aicred.NewSecret("sk-ant-admin01-" + g.URL64(93) + "AA")
	old := "sk-ant-api03-" + g.URL64(93) + "AA"
	hint := func(k string) string { return k[:16] + "..." + k[len(k)-4:] }
	ctx := context.Background()
	var status string
	srv := newFake(t, "x-api-key", admin.Reveal(), map[string]route{
		"GET /v1/organizations/api_keys": func(w http.ResponseWriter, r *http.Request, _ []byte) {
			if r.URL.Query().Get("after_id") == "" {
				json.NewEncoder(w).Encode(map[string]any{"has_more": true, "last_id": "apikey_x", "data": []map[string]any{
					anthropicKeyJSON("apikey_x", "x", hint("sk-ant-api03-"+g.URL64(93)+"AA"), "active")}})
				return
			}
			json.NewEncoder(w).Encode(map[string]any{"has_more": false, "last_id": "apikey_old", "data": []map[string]any{anthropicKeyJSON("apikey_old", "ci", hint(old), "active")}})
		},
		"POST /v1/organizations/api_keys/apikey_old": func(w http.ResponseWriter, r *http.Request, body []byte) {
			var b map[string]string
			if r.Header.Get("anthropic-version") != anthropicVersion || json.Unmarshal(body, &b) != nil || b["status"] != "inactive" || len(b) != 1 {
				w.WriteHeader(400)
				return
			}
			status = "inactive"
			json.NewEncoder(w).Encode(anthropicKeyJSON("apikey_old", "ci", hint(old), status))
		},
	})
	if err := anthropicDeactivateKey(ctx, srv.Client(), srv.URL, admin, RotationTarget{Secret: aicred.NewSecret(old)}); err != nil || status != "inactive" {
		t.Fatalf("revoke: %v (status %q)", err, status)
	}
	// Again, by id: harmless. A key that no longer exists: success.
	if err := anthropicDeactivateKey(ctx, srv.Client(), srv.URL, admin, RotationTarget{ID: "apikey_old"}); err != nil {
		t.Fatal(err)
	}
	if err := anthropicDeactivateKey(ctx, srv.Client(), srv.URL, admin, RotationTarget{ID: "apikey_gone"}); err != nil {
		t.Fatalf("revoke of a missing key: %v, want success", err)
	}
	// No key fits the hint: refused, nothing changed.
	stranger := "sk-ant-api03-" + g.URL64(93) + "AA"
	err := anthropicDeactivateKey(ctx, srv.Client(), srv.URL, admin, RotationTarget{Secret: aicred.NewSecret(stranger)})
	if err == nil || !strings.Contains(err.Error(), "no API key") {
		t.Fatalf("unknown key: %v", err)
	}
	noSecret(t, "error", err, stranger, admin.Reveal())
	// An API key in place of the admin key: 401, naming the call.
	err = anthropicDeactivateKey(ctx, srv.Client(), srv.URL, aicred.NewSecret(old), RotationTarget{ID: "apikey_old"})
	if !isDenied(err) || !strings.Contains(err.Error(), "update API key status") {
		t.Fatalf("wrong admin: %v", err)
	}
	noSecret(t, "error", err, old)
	k, _ := LookupKind("anthropic", "api-key")
	if k.Rotation.Create != nil || k.Rotation.Revoke == nil {
		t.Fatal("Anthropic's Admin API creates no keys: Create must be nil, Revoke set")
	}
}

func TestPineconeTrace(t *testing.T) {
	g := NewGen(34)
	key := "pcsk_" + g.Alnum(5) + "_" + g.Alnum(63)
	srv := newFake(t, "Api-Key", key, map[string]route{
		"GET /indexes": func(w http.ResponseWriter, r *http.Request, _ []byte) {
			if r.Header.Get("X-Pinecone-Api-Version") != pineconeAPIVersion {
				w.WriteHeader(400)
				return
			}
			w.Write([]byte(`{"indexes":[{"name":"docs","dimension":1536,"metric":"cosine","host":"docs-abc123.svc.aped-4627-b74a.pinecone.io","spec":{"serverless":{"cloud":"aws","region":"us-east-1"}},"status":{"ready":true,"state":"Ready"},"deletion_protection":"disabled","vector_type":"dense"}]}`))
		},
	})
	r, err := pineconeTrace(context.Background(), srv.Client(), srv.URL, aicred.NewSecret(key), nil)
	want := []Resource{{Type: "index", ID: "docs-abc123.svc.aped-4627-b74a.pinecone.io", Name: "docs (Ready)"}}
	if err != nil || !reflect.DeepEqual(r.Resources, want) {
		t.Fatalf("reach %+v %v", r, err)
	}
	noSecret(t, "reach", r, key)
	denied := newFake(t, "", "", map[string]route{"GET /indexes": jsonRoute(403, map[string]any{"error": map[string]string{"code": "FORBIDDEN", "message": "no"}, "status": 403})})
	r, err = pineconeTrace(context.Background(), denied.Client(), denied.URL, aicred.NewSecret(key), nil)
	if err != nil || len(r.Notes) != 1 || !strings.Contains(r.Notes[0], "indexes: access denied") {
		t.Fatalf("denied: %+v %v", r, err)
	}
}
