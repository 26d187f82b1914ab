package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "brave-search", Name: "Brave Search API", Category: AgentTools,
		RevokeURL: "https://api-dashboard.search.brave.com/app/keys",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "Brave Search API key",
				Capabilities: caps(aicred.CapSearch, aicred.CapBilling),
				Rule: simpleRule(simple{Desc: "Brave Search API key: BSA + 27 URL-safe characters after a Brave name", Env: "BRAVE_API_KEY", Keywords: []string{"brave"}, Pattern: `BSA[A-Za-z0-9_-]{27}`, Gen: func(g *Gen) string { return "BSA" + g.URL64(27) }, Neg: func(g *Gen) []string { return []string{"BRAVE_API_KEY=BSA" + g.URL64(26)} }, Entropy: 3.5, Extra: func(g *Gen, k string) []Example {
					return []Example{Ex(`curl https://api.search.brave.com/res/v1/web/search?q=go -H "X-Subscription-Token: `+k+`"`, k)}
				}}),
			},
		},
	})
}
