package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "tavily", Name: "Tavily", Category: AgentTools,
		RevokeURL: "https://app.tavily.com/home",
		Kinds: []*Kind{{
			ID: "api-key", Name: "Tavily API key",
			Capabilities: caps(aicred.CapSearch, aicred.CapBilling),
			Liveness: &Liveness{
				BaseURL: "https://api.tavily.com", Path: "/usage", Auth: Bearer,
				Live: []int{200}, Dead: []int{401, 403},
			},
			Rule: Rule{
				// Older keys are tvly- + 32 alphanumerics; newer ones name the
				// environment (tvly-dev-, tvly-prod-).
				Description: "Tavily API key: tvly- (optionally dev- or prod-) + 20 to 40 alphanumerics",
				Keywords:    []string{"tvly-"},
				Pattern:     `tvly-(?:dev-|prod-)?[A-Za-z0-9]{20,40}`,
				MinEntropy:  3,
				Examples: func(g *Gen) []Example {
					k := "tvly-" + g.Alnum(32)
					k2 := "tvly-dev-" + g.Alnum(32)
					return append(assign("TAVILY_API_KEY", k),
						Ex(notebook(`tavily = TavilyClient(api_key="`+k2+`")`), k2),
						Ex("export TAVILY_API_KEY=tvly-prod-"+k[5:], "tvly-prod-"+k[5:]))
				},
				Negatives: func(g *Gen) []string {
					return []string{"tvly-" + g.Alnum(19), "tvly-" + g.Alnum(41), "tvly-test-" + g.Alnum(32), "tvly-" + g.Chars("ab", 32)}
				},
			},
		}},
	})
}
