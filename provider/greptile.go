package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "greptile", Name: "Greptile", Category: AgentTools,
		RevokeURL: "https://app.greptile.com/settings/api",
		Kinds: []*Kind{{
			ID: "api-key", Name: "Greptile API key",
			Capabilities: caps(aicred.CapInference, aicred.CapFilesData),
			// No liveness check is documented.
			Rule: Rule{
				Description:   "Greptile API key: 48 base64 characters after a Greptile name",
				Keywords:      []string{"greptile"},
				ContextWindow: 48,
				Pattern:       `[A-Za-z0-9+/]{48}`,
				Boundary:      "A-Za-z0-9+/_-",
				MinEntropy:    4,
				Examples: func(g *Gen) []Example {
					k := g.B64(48)
					return append(assign("GREPTILE_API_KEY", k),
						Ex(curl("https://api.greptile.com/v2/query", "Authorization", "Bearer "+k), k))
				},
				Negatives: func(g *Gen) []string {
					return []string{"API_KEY=" + g.B64(48), "GREPTILE_API_KEY=" + g.B64(47), "GREPTILE_API_KEY=" + g.B64(49)}
				},
			},
		}},
	})
}
