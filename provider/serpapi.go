package provider

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/aicred/aicred"
)

// serpAPIProbe reads the account endpoint, which SerpApi documents as free
// (it does not count against the search quota). The key travels in the
// query string, as SerpApi requires.
func serpAPIProbe(ctx context.Context, c *http.Client, base string, f *aicred.Finding) (aicred.Verification, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		strings.TrimRight(base, "/")+"/account.json?api_key="+url.QueryEscape(f.Secret.Reveal()), nil)
	if err != nil {
		return aicred.Unknown, "bad base URL", err
	}
	status, _, err := probeDo(c, req)
	if err != nil {
		return unreachable(err)
	}
	switch status {
	case http.StatusOK:
		return aicred.Live, "SerpApi returned the account", nil
	case http.StatusUnauthorized, http.StatusForbidden:
		return aicred.Dead, "SerpApi refused the key", nil
	}
	return aicred.Unknown, answered(status), nil
}

func init() {
	register(&Provider{
		ID: "serpapi", Name: "SerpApi", Category: AgentTools,
		RevokeURL: "https://serpapi.com/manage-api-key",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "SerpApi API key",
				Capabilities: caps(aicred.CapSearch, aicred.CapBilling),
				Liveness:     &Liveness{BaseURL: "https://serpapi.com", Probe: serpAPIProbe},
				Rule:         simpleRule(simple{Desc: "SerpApi API key: 64 hex after a SerpApi name", Env: "SERPAPI_API_KEY", Keywords: []string{"serpapi"}, Set: Hex, N: 64}),
			},
		},
	})
}
