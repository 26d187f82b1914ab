package provider

import (
	"context"
	"net/http"
	"strings"

	"github.com/aicred/aicred"
)

// langsmithWorkspace is one element of GET /api/v1/workspaces ("List
// Workspaces: get all workspaces visible to this auth in the current
// org"), TenantForUser in the LangSmith API reference
// (https://api.smith.langchain.com/redoc#tag/workspaces); organization
// management by API key is described at
// https://docs.smith.langchain.com/administration/how_to_guides/organization_management/manage_organization_by_api.
type langsmithWorkspace struct {
	ID             string   `json:"id"`
	OrganizationID string   `json:"organization_id"`
	DisplayName    string   `json:"display_name"`
	TenantHandle   string   `json:"tenant_handle"`
	IsPersonal     bool     `json:"is_personal"`
	IsDeleted      bool     `json:"is_deleted"`
	ReadOnly       bool     `json:"read_only"`
	RoleName       string   `json:"role_name"`
	Permissions    []string `json:"permissions"`
}

// langsmithOrg is GET /api/v1/orgs/current (Organization in the same
// reference).
type langsmithOrg struct {
	ID          string `json:"id"`
	DisplayName string `json:"display_name"`
	IsPersonal  bool   `json:"is_personal"`
}

// traceLangSmith reads the key's organization and the workspaces it sees,
// with the key in X-API-Key. Read-only.
func traceLangSmith(ctx context.Context, c *http.Client, base string, secret aicred.Secret, _ map[string]string) (*Reach, error) {
	base = strings.TrimRight(base, "/")
	auth := func(r *http.Request) { r.Header.Set("X-API-Key", secret.Reveal()) }
	r := &Reach{}
	var org langsmithOrg
	status, err := mlopsTraceCall(ctx, c, http.MethodGet, base+"/api/v1/orgs/current", nil, auth, &org)
	if err != nil {
		return nil, err
	}
	if status == http.StatusUnauthorized {
		r.Notes = append(r.Notes, mlopsRefused("LangSmith", "organization", status))
		return r, nil
	}
	if status == http.StatusOK {
		r.Account = strings.TrimSpace(org.DisplayName)
		r.Resources = append(r.Resources, Resource{Type: "organization", ID: org.ID, Name: org.DisplayName})
	} else {
		r.Notes = append(r.Notes, mlopsRefused("LangSmith", "organization", status))
	}
	var ws []langsmithWorkspace
	status, err = mlopsTraceCall(ctx, c, http.MethodGet, base+"/api/v1/workspaces", nil, auth, &ws)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		r.Notes = append(r.Notes, mlopsRefused("LangSmith", "workspaces", status))
		return r, nil
	}
	roles := map[string]bool{}
	for _, w := range ws {
		if w.IsDeleted {
			continue
		}
		access := w.RoleName
		if w.ReadOnly {
			access = "read"
		}
		r.Resources = append(r.Resources, Resource{Type: "workspace", ID: w.ID, Name: w.DisplayName, Access: access})
		if w.RoleName != "" && !roles[w.RoleName] {
			roles[w.RoleName] = true
			r.Scopes = append(r.Scopes, "role:"+w.RoleName)
		}
		for _, p := range w.Permissions {
			if !roles[p] {
				roles[p] = true
				r.Scopes = append(r.Scopes, p)
			}
		}
	}
	return r, nil
}

func init() {
	trace := &Trace{
		BaseURL: "https://api.smith.langchain.com",
		Docs:    "https://api.smith.langchain.com/redoc#tag/workspaces (GET /api/v1/workspaces, GET /api/v1/orgs/current; X-API-Key)",
		Run:     traceLangSmith,
	}
	key := func(kind string) func(g *Gen) string {
		return func(g *Gen) string { return "lsv2_" + kind + "_" + g.Hex(32) + "_" + g.Hex(10) }
	}
	negatives := func(kind string) func(g *Gen) []string {
		return func(g *Gen) []string {
			p := "lsv2_" + kind + "_"
			return []string{
				p + g.Hex(31) + "_" + g.Hex(10),
				p + g.Hex(32) + "_" + g.Hex(11),
				p + g.Hex(32) + "-" + g.Hex(10),
				p + g.Chars(Upper, 32) + "_" + g.Hex(10),
				"lsv1_" + kind + "_" + g.Hex(32) + "_" + g.Hex(10),
			}
		}
	}
	register(&Provider{
		ID: "langsmith", Name: "LangSmith (LangChain)", Category: Observability,
		RevokeURL: "https://smith.langchain.com/settings",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "LangSmith personal access token",
				Capabilities: caps(aicred.CapTracing, aicred.CapFilesData),
				Trace:        trace,
				Liveness: &Liveness{
					BaseURL: "https://api.smith.langchain.com", Path: "/api/v1/api-key/current", Auth: HeaderAuth("X-API-Key"),
					Live: []int{200}, Dead: []int{401, 403},
				},
				Rule: Rule{
					Description: "LangSmith personal access token: lsv2_pt_ + 32 hex + _ + 10 hex (51 characters)",
					Keywords:    []string{"lsv2_pt_"},
					Pattern:     `lsv2_pt_[0-9a-f]{32}_[0-9a-f]{10}`,
					MinEntropy:  3,
					Examples: func(g *Gen) []Example {
						k := key("pt")(g)
						return append(assign("LANGSMITH_API_KEY", k),
							Ex("export LANGCHAIN_API_KEY="+k, k),
							Ex(notebook(`os.environ["LANGCHAIN_API_KEY"] = "`+k+`"`), k))
					},
					Negatives: negatives("pt"),
				},
			},
			{
				ID: "service-key", Name: "LangSmith service key",
				Capabilities: caps(aicred.CapTracing, aicred.CapFilesData, aicred.CapOrgAdmin),
				Trace:        trace,
				Liveness: &Liveness{
					BaseURL: "https://api.smith.langchain.com", Path: "/api/v1/orgs/current", Auth: HeaderAuth("X-API-Key"),
					Live: []int{200}, Dead: []int{401, 403},
				},
				Rule: Rule{
					Description: "LangSmith service key: lsv2_sk_ + 32 hex + _ + 10 hex (51 characters)",
					Keywords:    []string{"lsv2_sk_"},
					Pattern:     `lsv2_sk_[0-9a-f]{32}_[0-9a-f]{10}`,
					MinEntropy:  3,
					Examples: func(g *Gen) []Example {
						k := key("sk")(g)
						return append(assign("LANGSMITH_API_KEY", k),
							Ex(curl("https://api.smith.langchain.com/api/v1/orgs/current", "X-API-Key", k), k))
					},
					Negatives: negatives("sk"),
				},
			},
		},
	})
}
