package provider

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/aicred/aicred"
)

func init() {
	// The Anthropic Messages API wants a version header on every call.
	version := map[string]string{"anthropic-version": "2023-06-01"}
	register(&Provider{
		ID: "anthropic", Name: "Anthropic", Category: ModelAPI,
		RevokeURL: "https://console.anthropic.com/settings/keys",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "Anthropic API key",
				Capabilities: caps(aicred.CapInference, aicred.CapFilesData, aicred.CapBilling),
				Liveness: &Liveness{
					BaseURL: "https://api.anthropic.com", Path: "/v1/models", Auth: HeaderAuth("x-api-key"), Header: version,
					Live: []int{200}, Dead: []int{401, 403},
				},
				Trace: &Trace{BaseURL: anthropicAPI, Docs: anthropicModelsDocs, Run: anthropicKeyTrace},
				// The Admin API cannot create API keys (they are made in the
				// Console); it can set a key's status, so revoke is an API
				// call and creation a guided step.
				Rotation: &Rotation{
					BaseURL: anthropicAPI, Docs: anthropicAdminDocs, AdminKind: "anthropic/admin-key",
					Revoke: anthropicDeactivateKey,
				},
				Rule: Rule{
					Description: "Anthropic API key: sk-ant-api03- + 93 url64 + fixed suffix AA (108 characters)",
					Keywords:    []string{"sk-ant-api"},
					Pattern:     `sk-ant-api03-[A-Za-z0-9_-]{93}AA`,
					MinEntropy:  3,
					Examples: func(g *Gen) []Example {
						k := "sk-ant-api03-" + g.URL64(93) + "AA"
						return append(assign("ANTHROPIC_API_KEY", k),
							Ex(`client = anthropic.Anthropic(api_key="`+k+`")`, k),
							Ex(`{"cell_type":"code","source":["key = \"`+k+`\"\n"]}`, k))
					},
					Negatives: func(g *Gen) []string {
						return []string{
							"sk-ant-api03-" + g.URL64(93) + "BB", // suffix must be AA
							"sk-ant-api03-" + g.URL64(92) + "AA",
							"sk-ant-admin01-" + g.URL64(93) + "AA",
							"sk-ant-api03-" + g.URL64(93) + "AAx",
						}
					},
				},
			},
			{
				ID: "admin-key", Name: "Anthropic Admin API key",
				RevokeURL:    "https://console.anthropic.com/settings/admin-keys",
				Capabilities: caps(aicred.CapOrgAdmin, aicred.CapKeyAdmin),
				Liveness: &Liveness{
					BaseURL: "https://api.anthropic.com", Path: "/v1/organizations/me", Auth: HeaderAuth("x-api-key"), Header: version,
					Live: []int{200}, Dead: []int{401, 403}, LiveBody: []string{`"id"`},
				},
				Trace: &Trace{BaseURL: anthropicAPI, Docs: anthropicAdminDocs, Run: anthropicAdminTrace},
				Rule: Rule{
					Description: "Anthropic admin key: sk-ant-admin01- + 93 url64 + AA",
					Keywords:    []string{"sk-ant-admin"},
					Pattern:     `sk-ant-admin01-[A-Za-z0-9_-]{93}AA`,
					MinEntropy:  3,
					Examples: func(g *Gen) []Example {
						return assign("ANTHROPIC_ADMIN_KEY", "sk-ant-admin01-"+g.URL64(93)+"AA")
					},
					Negatives: func(g *Gen) []string {
						return []string{"sk-ant-admin01-" + g.URL64(93) + "AB", "sk-ant-admin02-" + g.URL64(93) + "AA"}
					},
				},
			},
			{
				ID: "oauth-token", Name: "Anthropic OAuth access token (Claude subscription)",
				RevokeURL:    "https://claude.ai/settings",
				Capabilities: caps(aicred.CapInference, aicred.CapBilling),
				// The only known check is a billable Messages call; aicred does not make it.
				Rule: Rule{
					Description: "Anthropic OAuth access token: sk-ant-oat01- + at least 40 url64",
					Keywords:    []string{"sk-ant-oat"},
					Pattern:     `sk-ant-oat01-[A-Za-z0-9_-]{40,200}`,
					MinEntropy:  3,
					Examples: func(g *Gen) []Example {
						return assign("CLAUDE_CODE_OAUTH_TOKEN", "sk-ant-oat01-"+g.URL64(95)+"AA")
					},
					Negatives: func(g *Gen) []string { return []string{"sk-ant-oat01-" + g.URL64(30)} },
				},
			},
			{
				ID: "oauth-refresh-token", Name: "Anthropic OAuth refresh token",
				RevokeURL:    "https://claude.ai/settings",
				Capabilities: caps(aicred.CapInference, aicred.CapBilling),
				Rule: Rule{
					Description: "Anthropic OAuth refresh token: sk-ant-ort01- + at least 40 url64",
					Keywords:    []string{"sk-ant-ort"},
					Pattern:     `sk-ant-ort01-[A-Za-z0-9_-]{40,200}`,
					MinEntropy:  3,
					Examples: func(g *Gen) []Example {
						return assign("REFRESH_TOKEN", "sk-ant-ort01-"+g.URL64(95)+"AA")
					},
					Negatives: func(g *Gen) []string { return []string{"sk-ant-ort01-" + g.URL64(39)} },
				},
			},
		},
	})
}

const (
	anthropicAPI        = "https://api.anthropic.com"
	anthropicVersion    = "2023-06-01"
	anthropicModelsDocs = "https://docs.anthropic.com/en/api/models-list"
	// anthropicAdminDocs documents the Admin API: organization, workspaces,
	// users and API keys (list, get, update: no create).
	anthropicAdminDocs = "https://docs.anthropic.com/en/api/administration-api"
)

func anthropicHeader(s aicred.Secret) map[string]string {
	return map[string]string{"x-api-key": s.Reveal(), "anthropic-version": anthropicVersion}
}

// anthropicList reads every page (up to maxPages) of a list endpoint:
// ?limit=N&after_id=<last_id> while has_more.
func anthropicList[T any](ctx context.Context, c *http.Client, base string, secret aicred.Secret, name, path string, limit int, each func(T)) error {
	return listPages(ctx, c, apiCall{provider: "anthropic", name: name, method: http.MethodGet,
		url: joinURL(base, path), path: path, header: anthropicHeader(secret)}, "after_id", limit, each)
}

// anthropicKeyTrace lists the models an API key can call.
func anthropicKeyTrace(ctx context.Context, c *http.Client, base string, secret aicred.Secret, _ map[string]string) (*Reach, error) {
	r := &Reach{}
	n := 0
	err := anthropicList(ctx, c, base, secret, "list models", "/v1/models", 1000, func(m struct {
		ID          string `json:"id"`
		DisplayName string `json:"display_name"`
	}) {
		n++
		r.Resources = append(r.Resources, Resource{Type: "model", ID: m.ID, Name: m.DisplayName, Access: "use"})
	})
	if err != nil {
		note, err := noteFor("models", err)
		if err != nil {
			return nil, err
		}
		r.Notes = append(r.Notes, note)
		return r, nil
	}
	r.Scopes = []string{"inference"}
	r.Notes = append(r.Notes, fmt.Sprintf("models: %d usable", n))
	return r, nil
}

type anthropicAPIKey struct {
	ID             string  `json:"id"`
	Name           string  `json:"name"`
	Status         string  `json:"status"`
	WorkspaceID    *string `json:"workspace_id"`
	PartialKeyHint string  `json:"partial_key_hint"`
}

// anthropicAdminTrace tells what an Admin API key reaches: its
// organization, workspaces, API keys (name, id, status, workspace; never
// the key hint) and users.
func anthropicAdminTrace(ctx context.Context, c *http.Client, base string, secret aicred.Secret, _ map[string]string) (*Reach, error) {
	r := &Reach{}
	reached := false
	step := func(what string, err error) error {
		if err == nil {
			reached = true
			return nil
		}
		note, err := noteFor(what, err)
		if err == nil {
			r.Notes = append(r.Notes, note)
		}
		return err
	}
	var org struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	_, err := apiCall{provider: "anthropic", name: "get organization", method: http.MethodGet,
		url: joinURL(base, "/v1/organizations/me"), path: "/v1/organizations/me", header: anthropicHeader(secret)}.do(ctx, c, &org)
	if err := step("organization", err); err != nil {
		return nil, err
	}
	if org.ID != "" {
		r.Account = org.Name + " (" + org.ID + ")"
		r.Resources = append(r.Resources, Resource{Type: "organization", ID: org.ID, Name: org.Name, Access: "admin"})
	}
	err = anthropicList(ctx, c, base, secret, "list workspaces", "/v1/organizations/workspaces", 100, func(w struct {
		ID         string  `json:"id"`
		Name       string  `json:"name"`
		ArchivedAt *string `json:"archived_at"`
	}) {
		name := w.Name
		if w.ArchivedAt != nil {
			name += " (archived)"
		}
		r.Resources = append(r.Resources, Resource{Type: "workspace", ID: w.ID, Name: name, Access: "admin"})
	})
	if err := step("workspaces", err); err != nil {
		return nil, err
	}
	err = anthropicList(ctx, c, base, secret, "list API keys", "/v1/organizations/api_keys", 1000, func(k anthropicAPIKey) {
		name := k.Name + " (" + k.Status
		if k.WorkspaceID != nil {
			name += ", workspace " + *k.WorkspaceID
		}
		r.Resources = append(r.Resources, Resource{Type: "api-key", ID: k.ID, Name: name + ")", Access: "admin"})
	})
	if err := step("API keys", err); err != nil {
		return nil, err
	}
	err = anthropicList(ctx, c, base, secret, "list users", "/v1/organizations/users", 100, func(u struct {
		ID    string `json:"id"`
		Name  string `json:"name"`
		Email string `json:"email"`
		Role  string `json:"role"`
	}) {
		name := u.Name
		if name == "" {
			name = u.Email
		}
		r.Resources = append(r.Resources, Resource{Type: "user", ID: u.ID, Name: name, Access: u.Role})
	})
	if err := step("users", err); err != nil {
		return nil, err
	}
	if reached {
		r.Scopes = []string{"organization admin"}
	}
	return r, nil
}

// anthropicFindKey finds the API key whose partial_key_hint fits secret
// (the hint's head begins the key, its tail of at least four characters
// ends it). It refuses when none or more than one fits.
func anthropicFindKey(ctx context.Context, c *http.Client, base string, admin, secret aicred.Secret) (string, error) {
	var ids []string
	if err := anthropicList(ctx, c, base, admin, "list API keys", "/v1/organizations/api_keys", 1000, func(k anthropicAPIKey) {
		if redactedMatch(k.PartialKeyHint, secret.Reveal()) {
			ids = append(ids, k.ID)
		}
	}); err != nil {
		return "", err
	}
	switch len(ids) {
	case 0:
		return "", errors.New("anthropic: no API key in the organization fits the key's hint")
	case 1:
		return ids[0], nil
	}
	return "", fmt.Errorf("anthropic: %d API keys fit the key's hint; give the key id", len(ids))
}

// anthropicDeactivateKey sets an API key's status to inactive (Update API
// Key). The key id comes from the target or is found by its hint. A key
// already gone (404) or archived counts as revoked; setting inactive again
// is harmless.
func anthropicDeactivateKey(ctx context.Context, c *http.Client, base string, admin aicred.Secret, target RotationTarget) error {
	id := target.ID
	if id == "" {
		var err error
		if id, err = anthropicFindKey(ctx, c, base, admin, target.Secret); err != nil {
			return err
		}
	}
	var k anthropicAPIKey
	_, err := apiCall{provider: "anthropic", name: "update API key status", method: http.MethodPost,
		url: joinURL(base, "/v1/organizations/api_keys/"+url.PathEscape(id)), path: "/v1/organizations/api_keys/{api_key_id}",
		header: anthropicHeader(admin), body: map[string]string{"status": "inactive"}}.do(ctx, c, &k)
	switch {
	case isNotFound(err):
		return nil
	case err != nil:
		// An archived key cannot change status; archived keys are dead.
		var ce *CallError
		if errors.As(err, &ce) && ce.Status == http.StatusBadRequest {
			var cur anthropicAPIKey
			if _, gerr := (apiCall{provider: "anthropic", name: "get API key", method: http.MethodGet,
				url: joinURL(base, "/v1/organizations/api_keys/"+url.PathEscape(id)), path: "/v1/organizations/api_keys/{api_key_id}",
				header: anthropicHeader(admin)}).do(ctx, c, &cur); gerr == nil && cur.Status == "archived" {
				return nil
			}
		}
		return err
	case k.Status != "" && k.Status != "inactive" && k.Status != "archived":
		return fmt.Errorf("anthropic: update API key status: the key is still %s", k.Status)
	}
	return nil
}
