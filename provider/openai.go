package provider

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/aicred/aicred"
)

// OpenAI keys carry the marker "T3BlbkFJ" (base64 of "OpenAI") in the
// middle of the body; every rule checks it exactly.
const openaiMarker = "T3BlbkFJ"

func init() {
	models := &Liveness{
		BaseURL: "https://api.openai.com", Path: "/v1/models", Auth: Bearer,
		Live: []int{200}, Dead: []int{401, 403}, LiveBody: []string{`"data"`},
	}
	me := &Liveness{
		BaseURL: "https://api.openai.com", Path: "/v1/me", Auth: Bearer,
		Live: []int{200}, Dead: []int{401},
	}
	projectBody := func(g *Gen) string {
		n := []int{74, 58}[g.IntN(2)]
		return g.URL64(n) + openaiMarker + g.URL64(n)
	}
	projectPattern := func(prefix string) string {
		return prefix + `(?:[A-Za-z0-9_-]{74}` + openaiMarker + `[A-Za-z0-9_-]{74}|[A-Za-z0-9_-]{58}` + openaiMarker +
			`[A-Za-z0-9_-]{58}|[A-Za-z0-9]{20}` + openaiMarker + `[A-Za-z0-9]{20})`
	}
	keyTrace := &Trace{BaseURL: openaiAPI, Docs: openaiModelsDocs, Run: openaiKeyTrace}
	// A project or service-account key is replaced by a new service
	// account in the same project (the Admin API issues no user keys).
	projectRotation := &Rotation{
		BaseURL: openaiAPI, Docs: openaiAdminDocs, AdminKind: "openai/admin-key",
		Create: openaiCreateServiceAccount, Revoke: openaiRevokeProjectKey,
	}
	register(&Provider{
		ID: "openai", Name: "OpenAI", Category: ModelAPI,
		RevokeURL: "https://platform.openai.com/api-keys",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "OpenAI user API key (legacy)",
				Capabilities: caps(aicred.CapInference, aicred.CapFilesData, aicred.CapFineTuning, aicred.CapBilling),
				Liveness:     me,
				Trace:        keyTrace,
				Rule: Rule{
					Description: "Legacy OpenAI secret key: sk- + 20 + T3BlbkFJ + 20 alphanumerics",
					Keywords:    []string{openaiMarker},
					Pattern:     `sk-[A-Za-z0-9]{20}` + openaiMarker + `[A-Za-z0-9]{20}`,
					MinEntropy:  3,
					Examples: func(g *Gen) []Example {
						k := "sk-" + g.Alnum(20) + openaiMarker + g.Alnum(20)
						return append(assign("OPENAI_API_KEY", k),
							Ex(`client = OpenAI(api_key="`+k+`")`, k),
							Ex(`"source": ["openai.api_key = \"`+k+`\"\n"]`, k))
					},
					Negatives: func(g *Gen) []string {
						return []string{
							"sk-" + g.Alnum(20) + "T3BlbkFj" + g.Alnum(20),   // marker case differs
							"sk-" + g.Alnum(19) + openaiMarker + g.Alnum(20), // body too short
							"xsk-" + g.Alnum(20) + openaiMarker + g.Alnum(20) + "q",
							"sk-" + g.Alnum(48),
						}
					},
				},
			},
			{
				ID: "project-key", Name: "OpenAI project API key",
				Capabilities: caps(aicred.CapInference, aicred.CapFilesData, aicred.CapFineTuning, aicred.CapBilling),
				Liveness:     models,
				Trace:        keyTrace,
				Rotation:     projectRotation,
				Rule: Rule{
					Description: "OpenAI project key: sk-proj- + body with the T3BlbkFJ marker",
					Keywords:    []string{"sk-proj-"},
					Pattern:     projectPattern("sk-proj-"),
					MinEntropy:  3,
					Examples: func(g *Gen) []Example {
						k := "sk-proj-" + projectBody(g)
						k2 := "sk-proj-" + g.Alnum(20) + openaiMarker + g.Alnum(20)
						return append(assign("OPENAI_API_KEY", k), Ex("key: "+k2, k2))
					},
					Negatives: func(g *Gen) []string {
						return []string{
							"sk-proj-" + g.URL64(74) + g.URL64(82),                // no marker
							"sk-proj-" + g.URL64(73) + openaiMarker + g.URL64(74), // wrong length
							"sk-proj-" + g.URL64(58) + openaiMarker + g.URL64(58) + "Z",
						}
					},
				},
			},
			{
				ID: "service-account-key", Name: "OpenAI service account key",
				Capabilities: caps(aicred.CapInference, aicred.CapFilesData, aicred.CapFineTuning, aicred.CapBilling),
				Liveness:     models,
				Trace:        keyTrace,
				Rotation:     projectRotation,
				Rule: Rule{
					Description: "OpenAI service account key: sk-svcacct- (or sk-service-) + project-key body",
					Keywords:    []string{"sk-svcacct-", "sk-service-"},
					Pattern:     projectPattern(`sk-(?:svcacct|service)-`),
					MinEntropy:  3,
					Examples: func(g *Gen) []Example {
						k := "sk-svcacct-" + projectBody(g)
						k2 := "sk-service-" + projectBody(g)
						return append(assign("OPENAI_API_KEY", k), Ex(`token = "`+k2+`"`, k2))
					},
					Negatives: func(g *Gen) []string {
						return []string{"sk-svcacct-" + g.URL64(160), "sk-svcacct-" + g.URL64(20)}
					},
				},
			},
			{
				ID: "admin-key", Name: "OpenAI admin API key",
				RevokeURL:    "https://platform.openai.com/settings/organization/admin-keys",
				Capabilities: caps(aicred.CapKeyAdmin, aicred.CapOrgAdmin, aicred.CapBilling),
				Liveness: &Liveness{
					BaseURL: "https://api.openai.com", Path: "/v1/organization/admin_api_keys", Auth: Bearer,
					Live: []int{200}, Dead: []int{401}, NoPermission: []int{403},
				},
				Trace: &Trace{BaseURL: openaiAPI, Docs: openaiAdminDocs, Run: openaiAdminTrace},
				Rule: Rule{
					Description: "OpenAI admin key: sk-admin- + 58 + T3BlbkFJ + 58",
					Keywords:    []string{"sk-admin-"},
					Pattern:     `sk-admin-[A-Za-z0-9_-]{58}` + openaiMarker + `[A-Za-z0-9_-]{58}`,
					MinEntropy:  3,
					Examples: func(g *Gen) []Example {
						k := "sk-admin-" + g.URL64(58) + openaiMarker + g.URL64(58)
						return assign("OPENAI_ADMIN_KEY", k)
					},
					Negatives: func(g *Gen) []string {
						return []string{"sk-admin-" + g.URL64(58) + "T3BlbkFX" + g.URL64(58)}
					},
				},
			},
			{
				ID: "none-key", Name: "OpenAI key with no project (sk-None-)",
				Capabilities: caps(aicred.CapInference, aicred.CapFilesData, aicred.CapFineTuning, aicred.CapBilling),
				Liveness:     me,
				Trace:        keyTrace,
				Rule: Rule{
					Description: "OpenAI sk-None- key",
					Keywords:    []string{"sk-None-"},
					Pattern:     `sk-None-(?:[A-Za-z0-9_-]{74}` + openaiMarker + `[A-Za-z0-9_-]{74}|[A-Za-z0-9]{48})`,
					MinEntropy:  3,
					Examples: func(g *Gen) []Example {
						k := "sk-None-" + g.Alnum(48)
						return assign("OPENAI_API_KEY", k)
					},
					Negatives: func(g *Gen) []string { return []string{"sk-None-" + g.Alnum(47)} },
				},
			},
			{
				ID: "named-key", Name: "OpenAI project or service account key (named, or another body length)",
				Capabilities: caps(aicred.CapInference, aicred.CapFilesData, aicred.CapFineTuning, aicred.CapBilling),
				Liveness:     models,
				Trace:        keyTrace,
				Rule: Rule{
					// The shape every OpenAI key shares, sk- + name + body
					// around the base64 of "OpenAI": service account keys
					// named after the account or project (sk-<name>-...) and
					// bodies of lengths other than 20, 58 and 74. The shapes
					// of the kinds above stay theirs (Validate).
					Description: "OpenAI key: sk- + optional name + body with the T3BlbkFJ marker, of a length or name the other kinds do not take",
					Keywords:    []string{openaiMarker},
					// One run, which Go's regexp matches fast; Validate
					// places the marker (16 to 200 characters each side).
					Pattern:    `sk-[A-Za-z0-9_-]{40,408}`,
					MinEntropy: 3.5,
					Validate:   validOpenAINamed,
					Examples: func(g *Gen) []Example {
						k := "sk-svcacct-" + g.URL64(40) + openaiMarker + g.URL64(40)
						k2 := "sk-" + g.Lower(6) + "-" + g.Lower(5) + "-" + g.URL64(74) + openaiMarker + g.URL64(74)
						k3 := "sk-svcacct-" + g.URL64(88) + openaiMarker + g.URL64(88)
						return append(assign("OPENAI_API_KEY", k),
							Ex(`client = OpenAI(api_key="`+k2+`")`, k2),
							Ex("openai:\n  key: "+k3+"\n", k3))
					},
					Negatives: func(g *Gen) []string {
						return []string{
							"sk-" + g.Lower(8) + "-" + g.URL64(40) + "T3BlbkFX" + g.URL64(40),   // no marker
							"sk-" + g.Lower(8) + "-" + g.URL64(40) + openaiMarker + g.URL64(10), // too short after it
							"task-" + g.URL64(40) + openaiMarker + g.URL64(40),                  // not sk-
							"sk-" + g.Lower(8) + "-" + strings.Repeat("a", 40) + openaiMarker + strings.Repeat("b", 40),
						}
					},
				},
			},
		},
	})
}

// openaiKnownShape matches the keys the other OpenAI kinds take, which the
// named-key kind leaves to them. The reference for openaiKnown.
var openaiKnownShape = regexp.MustCompile(`^(?:sk-(?:proj|svcacct|service|admin|None)-(?:[A-Za-z0-9_-]{74}` + openaiMarker +
	`[A-Za-z0-9_-]{74}|[A-Za-z0-9_-]{58}` + openaiMarker + `[A-Za-z0-9_-]{58}|[A-Za-z0-9]{20}` + openaiMarker + `[A-Za-z0-9]{20})|sk-[A-Za-z0-9]{20}` +
	openaiMarker + `[A-Za-z0-9]{20})$`)

// openaiKnown is openaiKnownShape.MatchString by hand: the scanner asks it
// of every key that holds the marker, where the regexp's backtracker spent
// some 3 µs on a 164-character project key.
func openaiKnown(s string) bool {
	body, ok := strings.CutPrefix(s, "sk-")
	if !ok {
		return false
	}
	if openaiMarkerAround(body, 20, false) {
		return true
	}
	for _, name := range []string{"proj-", "svcacct-", "service-", "admin-", "None-"} {
		if rest, ok := strings.CutPrefix(body, name); ok {
			return openaiMarkerAround(rest, 74, true) || openaiMarkerAround(rest, 58, true) || openaiMarkerAround(rest, 20, false)
		}
	}
	return false
}

// openaiMarkerAround reports whether s is n characters, the marker and n
// characters: alphanumerics, and with urlSafe also _ and -.
func openaiMarkerAround(s string, n int, urlSafe bool) bool {
	if len(s) != 2*n+len(openaiMarker) || s[n:n+len(openaiMarker)] != openaiMarker {
		return false
	}
	for i := 0; i < len(s); i++ {
		if i == n {
			i += len(openaiMarker) - 1
			continue
		}
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || urlSafe && (c == '_' || c == '-')) {
			return false
		}
	}
	return true
}

// validOpenAINamed wants the marker with 16 to 200 characters on each
// side after "sk-", in a shape the other kinds do not take.
func validOpenAINamed(s string) bool {
	body := strings.TrimPrefix(s, "sk-")
	i := strings.Index(body, openaiMarker)
	if i < 16 || i > 200 {
		return false
	}
	if after := len(body) - i - len(openaiMarker); after < 16 || after > 200 {
		return false
	}
	return !openaiKnown(s)
}

const (
	openaiAPI = "https://api.openai.com"
	// openaiModelsDocs documents GET /v1/models and the openai-organization
	// response header ("Debugging requests").
	openaiModelsDocs = "https://platform.openai.com/docs/api-reference/models/list"
	// openaiAdminDocs documents the Administration endpoints: projects,
	// users, admin API keys, project API keys and project service accounts.
	openaiAdminDocs = "https://platform.openai.com/docs/api-reference/administration"
)

func openaiAuth(s aicred.Secret) map[string]string {
	return map[string]string{"Authorization": "Bearer " + s.Reveal()}
}

// openaiKeyTrace lists the models an inference key can use. OpenAI
// documents no read-only call that names a project key's project; the
// openai-organization header on every answer names its organization.
func openaiKeyTrace(ctx context.Context, c *http.Client, base string, secret aicred.Secret, _ map[string]string) (*Reach, error) {
	var list struct {
		Data []struct {
			ID      string `json:"id"`
			OwnedBy string `json:"owned_by"`
		} `json:"data"`
	}
	h, err := apiCall{provider: "openai", name: "list models", method: http.MethodGet,
		url: joinURL(base, "/v1/models"), path: "/v1/models", header: openaiAuth(secret)}.do(ctx, c, &list)
	r := &Reach{}
	if err != nil {
		note, err := noteFor("models", err)
		if err != nil {
			return nil, err
		}
		r.Notes = append(r.Notes, note)
		return r, nil
	}
	r.Account = h.Get("Openai-Organization")
	r.Scopes = []string{"inference"}
	for _, m := range list.Data {
		r.Resources = append(r.Resources, Resource{Type: "model", ID: m.ID, Access: "use"})
	}
	r.Notes = append(r.Notes, fmt.Sprintf("models: %d usable", len(list.Data)))
	return r, nil
}

// openaiList reads every page (up to maxPages) of an Administration list
// endpoint: ?limit=100&after=<last_id> while has_more.
func openaiList[T any](ctx context.Context, c *http.Client, base string, admin aicred.Secret, name, path string, each func(T)) error {
	return listPages(ctx, c, apiCall{provider: "openai", name: name, method: http.MethodGet,
		url: joinURL(base, path), path: path, header: openaiAuth(admin)}, "after", 100, each)
}

type openaiProject struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Status string `json:"status"`
}

type openaiProjectKey struct {
	ID            string `json:"id"`
	Name          string `json:"name"`
	RedactedValue string `json:"redacted_value"`
	Owner         struct {
		Type           string `json:"type"`
		ServiceAccount *struct {
			ID string `json:"id"`
		} `json:"service_account"`
	} `json:"owner"`
}

// openaiAdminTrace tells what an admin key reaches: the organization's
// projects, its users and its admin keys (names and ids; never the
// redacted key values).
func openaiAdminTrace(ctx context.Context, c *http.Client, base string, secret aicred.Secret, _ map[string]string) (*Reach, error) {
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
	err := openaiList(ctx, c, base, secret, "list projects", "/v1/organization/projects", func(p openaiProject) {
		r.Resources = append(r.Resources, Resource{Type: "project", ID: p.ID, Name: p.Name, Access: "admin"})
	})
	if err := step("projects", err); err != nil {
		return nil, err
	}
	err = openaiList(ctx, c, base, secret, "list users", "/v1/organization/users", func(u struct {
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
	err = openaiList(ctx, c, base, secret, "list admin API keys", "/v1/organization/admin_api_keys", func(k struct {
		ID            string `json:"id"`
		Name          string `json:"name"`
		RedactedValue string `json:"redacted_value"`
	}) {
		r.Resources = append(r.Resources, Resource{Type: "admin-key", ID: k.ID, Name: k.Name, Access: "admin"})
		if redactedMatch(k.RedactedValue, secret.Reveal()) {
			r.Principal = "admin key " + k.ID
			if k.Name != "" {
				r.Principal += " (" + k.Name + ")"
			}
		}
	})
	if err := step("admin API keys", err); err != nil {
		return nil, err
	}
	if reached {
		r.Scopes = []string{"organization admin"}
	}
	return r, nil
}

// openaiFindProjectKey finds the project API key whose redacted_value
// fits secret (the shown head begins it, the shown tail of at least four
// characters ends it) across the organization's projects, or only in
// projectID when it is known. It refuses when no key or more than one
// key fits: a wrong match would delete someone else's key.
func openaiFindProjectKey(ctx context.Context, c *http.Client, base string, admin, secret aicred.Secret, projectID string) (string, openaiProjectKey, error) {
	projects := []string{projectID}
	if projectID == "" {
		projects = nil
		if err := openaiList(ctx, c, base, admin, "list projects", "/v1/organization/projects", func(p openaiProject) {
			if p.Status != "archived" {
				projects = append(projects, p.ID)
			}
		}); err != nil {
			return "", openaiProjectKey{}, err
		}
	}
	type hit struct {
		project string
		key     openaiProjectKey
	}
	var hits []hit
	for _, p := range projects {
		path := "/v1/organization/projects/" + url.PathEscape(p) + "/api_keys"
		if err := openaiList(ctx, c, base, admin, "list project API keys", path, func(k openaiProjectKey) {
			if redactedMatch(k.RedactedValue, secret.Reveal()) {
				hits = append(hits, hit{p, k})
			}
		}); err != nil {
			return "", openaiProjectKey{}, err
		}
	}
	switch len(hits) {
	case 0:
		return "", openaiProjectKey{}, errOpenAIKeyNotFound
	case 1:
		return hits[0].project, hits[0].key, nil
	}
	return "", openaiProjectKey{}, fmt.Errorf("openai: %d project API keys fit the key's redacted value; give the key id and project id", len(hits))
}

var errOpenAIKeyNotFound = errors.New("openai: no project API key in the organization fits the key's redacted value")

// openaiCreateServiceAccount creates a service account in the old key's
// project; OpenAI answers with the account's API key, shown only this
// once. The account is named aicred-rotation-<fingerprint of the old
// key>, so one left behind by an interrupted rotation can be recognised
// (its key was never recorded and cannot be read again: delete it). It
// takes the project's member role; a restricted key's permissions are not
// exposed by the Admin API and are not carried over.
func openaiCreateServiceAccount(ctx context.Context, c *http.Client, base string, admin aicred.Secret, old RotationTarget) (*Replacement, error) {
	project := old.Attrs["project_id"]
	if project == "" {
		p, _, err := openaiFindProjectKey(ctx, c, base, admin, old.Secret, "")
		if err != nil {
			return nil, err
		}
		project = p
	}
	var sa struct {
		ID     string `json:"id"`
		Name   string `json:"name"`
		Role   string `json:"role"`
		APIKey struct {
			ID    string `json:"id"`
			Value string `json:"value"`
		} `json:"api_key"`
	}
	path := "/v1/organization/projects/" + url.PathEscape(project) + "/service_accounts"
	if _, err := (apiCall{provider: "openai", name: "create project service account", method: http.MethodPost,
		url: joinURL(base, path), path: "/v1/organization/projects/{project_id}/service_accounts",
		header: openaiAuth(admin), body: map[string]string{"name": rotationName(old.Secret.Fingerprint().Short())},
	}).do(ctx, c, &sa); err != nil {
		return nil, err
	}
	if sa.ID == "" || sa.APIKey.Value == "" {
		return nil, errors.New("openai: create project service account: the answer holds no service account id or API key")
	}
	attrs := map[string]string{"project_id": project, "service_account_id": sa.ID, "kind": "service-account-key"}
	if old.ID != "" {
		attrs["replaces_id"] = old.ID
	}
	return &Replacement{Secret: aicred.NewSecret(sa.APIKey.Value), ID: sa.APIKey.ID, Attrs: attrs}, nil
}

// openaiRevokeProjectKey deletes a project API key. The key id and project
// come from the target, or are found by the key's redacted value. A key
// already deleted (404) counts as revoked. When OpenAI refuses to delete a
// service account's key on its own (as it once documented), the service
// account is deleted instead, with its keys.
func openaiRevokeProjectKey(ctx context.Context, c *http.Client, base string, admin aicred.Secret, target RotationTarget) error {
	project, id, saID := target.Attrs["project_id"], target.ID, target.Attrs["service_account_id"]
	if project == "" || id == "" {
		p, k, err := openaiFindProjectKey(ctx, c, base, admin, target.Secret, project)
		if err != nil {
			return err
		}
		project, id = p, k.ID
		if k.Owner.Type == "service_account" && k.Owner.ServiceAccount != nil {
			saID = k.Owner.ServiceAccount.ID
		}
	}
	path := "/v1/organization/projects/" + url.PathEscape(project) + "/api_keys/" + url.PathEscape(id)
	var del struct {
		Deleted bool `json:"deleted"`
	}
	_, err := apiCall{provider: "openai", name: "delete project API key", method: http.MethodDelete,
		url: joinURL(base, path), path: "/v1/organization/projects/{project_id}/api_keys/{key_id}",
		header: openaiAuth(admin)}.do(ctx, c, &del)
	var ce *CallError
	switch {
	case err == nil && !del.Deleted:
		return errors.New("openai: delete project API key: the answer does not say deleted")
	case err == nil, isNotFound(err):
		return nil
	case errors.As(err, &ce) && ce.Status == http.StatusBadRequest && saID != "":
		path := "/v1/organization/projects/" + url.PathEscape(project) + "/service_accounts/" + url.PathEscape(saID)
		_, err := apiCall{provider: "openai", name: "delete project service account", method: http.MethodDelete,
			url: joinURL(base, path), path: "/v1/organization/projects/{project_id}/service_accounts/{service_account_id}",
			header: openaiAuth(admin)}.do(ctx, c, nil)
		if err == nil || isNotFound(err) {
			return nil
		}
		return err
	}
	return err
}
