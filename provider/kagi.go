package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "kagi", Name: "Kagi", Category: AgentTools,
		RevokeURL: "https://kagi.com/settings?p=api",
		Kinds: []*Kind{{
			ID: "api-key", Name: "Kagi API key",
			Capabilities: caps(aicred.CapSearch, aicred.CapBilling),
			// The only known check runs a real, paid search: none is made.
			Rule: Rule{
				Description:   "Kagi API key: 11 url-safe characters + . + 43 url-safe characters, after a Kagi name",
				Keywords:      []string{"kagi"},
				ContextWindow: 48,
				Pattern:       `[A-Za-z0-9_-]{11}\.[A-Za-z0-9_-]{43}`,
				MinEntropy:    4,
				Examples: func(g *Gen) []Example {
					k := g.URL64(11) + "." + g.URL64(43)
					return append(assign("KAGI_API_KEY", k),
						Ex(curl("https://kagi.com/api/v0/search?q=x", "Authorization", "Bot "+k), k))
				},
				Negatives: func(g *Gen) []string {
					return []string{
						"API_KEY=" + g.URL64(11) + "." + g.URL64(43),
						"KAGI_API_KEY=" + g.Alnum(10) + "." + g.Alnum(43),
						"KAGI_API_KEY=" + g.Alnum(11) + "." + g.Alnum(44),
					}
				},
			},
		}},
	})
}
