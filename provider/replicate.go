package provider

import (
	"context"
	"net/http"
	"strings"

	"github.com/aicred/aicred"
)

// replicateAccount is GET /v1/account as documented at
// https://replicate.com/docs/reference/http#account.get: the account the
// token belongs to, a user or an organization.
type replicateAccount struct {
	Type      string `json:"type"` // "user" or "organization"
	Username  string `json:"username"`
	Name      string `json:"name"`
	GithubURL string `json:"github_url"`
}

// traceReplicate reads the account the token acts for. Read-only.
func traceReplicate(ctx context.Context, c *http.Client, base string, secret aicred.Secret, _ map[string]string) (*Reach, error) {
	var a replicateAccount
	status, err := mlopsTraceCall(ctx, c, http.MethodGet, strings.TrimRight(base, "/")+"/v1/account", nil,
		func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+secret.Reveal()) }, &a)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return &Reach{Notes: []string{mlopsRefused("Replicate", "account", status)}}, nil
	}
	r := &Reach{Principal: strings.TrimSpace(a.Type + " " + a.Username), Account: a.Username}
	r.Resources = append(r.Resources, Resource{Type: "account", ID: a.Username, Name: a.Name, Access: "write"})
	r.Notes = append(r.Notes, "a Replicate API token acts with its account's full rights: runs models and deployments billed to it, reads its predictions (inputs and outputs) and trainings")
	return r, nil
}

func init() {
	register(&Provider{
		ID: "replicate", Name: "Replicate", Category: ModelAPI,
		RevokeURL: "https://replicate.com/account/api-tokens",
		Kinds: []*Kind{{
			ID: "api-token", Name: "Replicate API token",
			// A token also reads past predictions: their inputs and outputs.
			Capabilities: caps(aicred.CapInference, aicred.CapFineTuning, aicred.CapFilesData, aicred.CapBilling),
			Liveness: &Liveness{
				BaseURL: "https://api.replicate.com", Path: "/v1/account", Auth: Bearer,
				Live: []int{200}, Dead: []int{401, 403}, LiveBody: []string{`"username"`},
			},
			Trace: &Trace{
				BaseURL: "https://api.replicate.com",
				Docs:    "https://replicate.com/docs/reference/http#account.get (GET /v1/account: type, username, name)",
				Run:     traceReplicate,
			},
			Rule: Rule{
				Description: "Replicate API token: r8_ + 37 url-safe characters (40 characters)",
				Keywords:    []string{"r8_"},
				Pattern:     `r8_[A-Za-z0-9_-]{37}`,
				MinEntropy:  3,
				Examples: func(g *Gen) []Example {
					k := "r8_" + g.Alnum(37)
					return append(assign("REPLICATE_API_TOKEN", k),
						Ex(notebook(`client = replicate.Client(api_token="`+k+`")`), k),
						Ex(curl("https://api.replicate.com/v1/account", "Authorization", "Token "+k), k))
				},
				Negatives: func(g *Gen) []string {
					return append(nearMisses(g, "r8_", Alnum, 37),
						"r8_"+g.Alnum(20)+"?"+g.Alnum(16), // '?' inside the body
						"r9_"+g.Alnum(37),
					)
				},
			},
		}},
	})
}
