package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "baseten", Name: "Baseten", Category: Compute,
		RevokeURL: "https://app.baseten.co/settings/api_keys",
		Kinds: []*Kind{{
			ID: "api-key", Name: "Baseten API key",
			Capabilities: caps(aicred.CapInference, aicred.CapCompute),
			// No liveness check is known, and the shape comes from one
			// unattributed copy of a Kingfisher rule.
			Rule: Rule{
				Description:   "Baseten API key: 8 alphanumerics + . + 32 alphanumerics after a Baseten name (shape unverified)",
				Keywords:      []string{"baseten"},
				ContextWindow: 48,
				Pattern:       `[A-Za-z0-9]{8}\.[A-Za-z0-9]{32}`,
				MinEntropy:    3.5,
				Examples: func(g *Gen) []Example {
					k := g.Alnum(8) + "." + g.Alnum(32)
					return append(assign("BASETEN_API_KEY", k),
						Ex(curl("https://api.baseten.co/v1/models", "Authorization", "Api-Key "+k), k))
				},
				Negatives: func(g *Gen) []string {
					return []string{
						"API_KEY=" + g.Alnum(8) + "." + g.Alnum(32),
						"BASETEN_API_KEY=" + g.Alnum(7) + "." + g.Alnum(32),
						"BASETEN_API_KEY=" + g.Alnum(8) + "." + g.Alnum(33),
					}
				},
			},
		}},
	})
}
