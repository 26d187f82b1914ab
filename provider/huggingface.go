package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/aicred/aicred"
)

// maxTraceBody bounds a deep trace's answer: a whoami of a member of many
// organizations or a long project list is larger than a liveness answer.
const maxTraceBody = 1 << 20

// mlopsTraceCall makes one read-only call of a deep trace and decodes a
// 2xx JSON answer into v. It returns the status; a non-2xx answer is a
// result (nil error, v untouched), an unreachable provider or an
// undecodable answer an error. Errors never hold the request's headers,
// where the credential travels.
func mlopsTraceCall(ctx context.Context, c *http.Client, method, url string, body []byte, auth func(*http.Request), v any) (int, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, fmt.Errorf("trace: bad base URL: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	auth(req)
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, fmt.Errorf("trace: %s %s: %w", method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxTraceBody))
		return resp.StatusCode, nil
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxTraceBody+1))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("trace: %s %s: read answer: %w", method, req.URL.Path, err)
	}
	if len(data) > maxTraceBody {
		return resp.StatusCode, fmt.Errorf("trace: %s %s: answer larger than %d bytes", method, req.URL.Path, maxTraceBody)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return resp.StatusCode, fmt.Errorf("trace: %s %s: answer is not the documented JSON: %w", method, req.URL.Path, err)
	}
	return resp.StatusCode, nil
}

// mlopsRefused is the note for a trace call the provider refused.
func mlopsRefused(provider, what string, status int) string {
	switch status {
	case http.StatusUnauthorized:
		return fmt.Sprintf("%s: %s refused the credential (HTTP 401): revoked or invalid", what, provider)
	case http.StatusForbidden:
		return fmt.Sprintf("%s: %s denied access (HTTP 403)", what, provider)
	}
	return fmt.Sprintf("%s: %s answered HTTP %d", what, provider, status)
}

// hfWhoami is the part of GET /api/whoami-v2 a trace reads, as documented
// by the Hub API (https://huggingface.co/docs/hub/api, "GET
// /api/whoami-v2") and typed by huggingface.js (packages/hub,
// who-am-i.ts): the account, its organizations with the account's role in
// each, and the token's role and, for a fine-grained token, its global
// permissions and scoped permissions per entity.
type hfWhoami struct {
	Type     string `json:"type"` // "user", "org" (a deprecated org token), "app"
	ID       string `json:"id"`
	Name     string `json:"name"`
	Fullname string `json:"fullname"`
	Orgs     []struct {
		ID        string `json:"id"`
		Name      string `json:"name"`
		RoleInOrg string `json:"roleInOrg"`
	} `json:"orgs"`
	Auth struct {
		Type        string `json:"type"`
		AccessToken *struct {
			DisplayName string `json:"displayName"`
			Role        string `json:"role"` // "read", "write", "fineGrained"
			FineGrained *struct {
				CanReadGatedRepos bool     `json:"canReadGatedRepos"`
				Global            []string `json:"global"`
				Scoped            []struct {
					Entity struct {
						ID   string `json:"_id"`
						Type string `json:"type"`
						Name string `json:"name"`
					} `json:"entity"`
					Permissions []string `json:"permissions"`
				} `json:"scoped"`
			} `json:"fineGrained"`
		} `json:"accessToken"`
	} `json:"auth"`
}

// hfAccess maps Hub permissions to a Resource access level.
func hfAccess(perms []string) string {
	access := ""
	for _, p := range perms {
		switch {
		case strings.HasSuffix(p, ".manage") || strings.HasSuffix(p, ".admin"):
			return "admin"
		case strings.HasSuffix(p, ".write"):
			access = "write"
		case strings.HasSuffix(p, ".read") && access == "":
			access = "read"
		}
	}
	return access
}

// traceHuggingFace asks whoami-v2 who the token acts as, its role or
// fine-grained scopes, and the organizations it reaches. Read-only.
func traceHuggingFace(ctx context.Context, c *http.Client, base string, secret aicred.Secret, _ map[string]string) (*Reach, error) {
	var w hfWhoami
	status, err := mlopsTraceCall(ctx, c, http.MethodGet, strings.TrimRight(base, "/")+"/api/whoami-v2", nil,
		func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+secret.Reveal()) }, &w)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return &Reach{Notes: []string{mlopsRefused("Hugging Face", "whoami-v2", status)}}, nil
	}
	r := &Reach{Principal: strings.TrimSpace(w.Type + " " + w.Name)}
	if w.Type == "org" {
		r.Account = w.Name
	}
	for _, o := range w.Orgs {
		access := "member"
		if o.RoleInOrg != "" {
			access = o.RoleInOrg
		}
		r.Resources = append(r.Resources, Resource{Type: "organization", ID: o.ID, Name: o.Name, Access: access})
	}
	at := w.Auth.AccessToken
	if at == nil {
		r.Notes = append(r.Notes, "the answer names no access token role (auth type "+w.Auth.Type+")")
		return r, nil
	}
	if at.DisplayName != "" {
		r.Notes = append(r.Notes, "token name: "+at.DisplayName)
	}
	r.Scopes = append(r.Scopes, "role:"+at.Role)
	switch at.Role {
	case "write":
		// A classic write token acts with the account's full rights,
		// including on every organization it belongs to.
		r.Notes = append(r.Notes, "a classic write token: read and write on every repository the account and its organizations can write")
	case "read":
		r.Notes = append(r.Notes, "a classic read token: reads every repository the account can read, private and gated ones included")
	}
	if fg := at.FineGrained; fg != nil {
		r.Scopes = append(r.Scopes, fg.Global...)
		if fg.CanReadGatedRepos {
			r.Scopes = append(r.Scopes, "canReadGatedRepos")
		}
		for _, sc := range fg.Scoped {
			name := sc.Entity.Name
			if name == "" {
				name = sc.Entity.ID
			}
			for _, p := range sc.Permissions {
				r.Scopes = append(r.Scopes, sc.Entity.Type+":"+name+":"+p)
			}
			r.Resources = append(r.Resources, Resource{Type: sc.Entity.Type, ID: sc.Entity.ID, Name: sc.Entity.Name, Access: hfAccess(sc.Permissions)})
		}
	}
	return r, nil
}

func init() {
	whoami := &Liveness{
		BaseURL: "https://huggingface.co", Path: "/api/whoami-v2", Auth: Bearer,
		Live: []int{200}, Dead: []int{401, 403},
	}
	trace := &Trace{
		BaseURL: "https://huggingface.co",
		Docs:    "https://huggingface.co/docs/hub/api (GET /api/whoami-v2: account, orgs with roleInOrg, auth.accessToken role and fineGrained scopes)",
		Run:     traceHuggingFace,
	}
	// Scanners disagree on the body: gitleaks says 34 letters, TruffleHog
	// and Kingfisher 34 alphanumerics. The wider set is kept; the length is
	// exact. '_' counts as part of a word (default Boundary), so identifiers
	// such as _call_hf_processor never match.
	register(&Provider{
		ID: "huggingface", Name: "Hugging Face", Category: MLOps,
		RevokeURL: "https://huggingface.co/settings/tokens",
		Kinds: []*Kind{
			{
				ID: "access-token", Name: "Hugging Face user access token",
				Capabilities: caps(aicred.CapModelRegistry, aicred.CapFilesData, aicred.CapInference),
				Liveness:     whoami,
				Trace:        trace,
				Rule: Rule{
					Description: "Hugging Face access token: hf_ + 34 letters or digits (37 characters)",
					Keywords:    []string{"hf_"},
					Pattern:     `hf_[A-Za-z0-9]{34}`,
					MinEntropy:  3,
					Examples: func(g *Gen) []Example {
						k := "hf_" + g.Letters(34)
						k2 := "hf_" + g.Alnum(34)
						return append(assign("HF_TOKEN", k),
							Ex("huggingface-cli login --token "+k, k),
							Ex(notebook(`login(token="`+k+`")`), k),
							Ex(`pipe = pipeline("text-generation", token='`+k2+`')`, k2),
							Ex(curl("https://huggingface.co/api/whoami-v2", "Authorization", "Bearer "+k), k))
					},
					Negatives: func(g *Gen) []string {
						return append(nearMisses(g, "hf_", Letters, 34),
							"_call_hf_"+g.Letters(34),           // '_' glues it to an identifier
							"model.hf_"+g.Letters(30)+"_config", // a field, not a token
							"hf-"+g.Letters(34),
						)
					},
				},
			},
			{
				ID: "org-token", Name: "Hugging Face organization API token (deprecated)",
				Capabilities: caps(aicred.CapModelRegistry, aicred.CapFilesData, aicred.CapInference),
				Liveness:     whoami,
				Trace:        trace,
				Rule: Rule{
					Description: "Hugging Face organization token: api_org_ + 34 letters or digits",
					Keywords:    []string{"api_org_"},
					Pattern:     `api_org_[A-Za-z0-9]{34}`,
					MinEntropy:  3,
					Examples: func(g *Gen) []Example {
						k := "api_org_" + g.Letters(34)
						return append(assign("HUGGINGFACE_ORG_TOKEN", k), Ex(notebook(`HfApi(token="`+k+`")`), k))
					},
					Negatives: func(g *Gen) []string {
						return append(nearMisses(g, "api_org_", Letters, 34), "my_api_org_"+g.Letters(34))
					},
				},
			},
		},
	})
}
