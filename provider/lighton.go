package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "lighton", Name: "LightOn (Paradigm)", Category: ModelAPI,
		RevokeURL: "https://www.lighton.ai",
		Kinds: []*Kind{{
			ID: "api-key", Name: "LightOn Paradigm API key",
			Capabilities: caps(aicred.CapInference),
			Liveness: &Liveness{
				BaseURL: "https://paradigm.lighton.ai", Path: "/api/v2/models", Auth: Bearer,
				Live: []int{200}, Dead: []int{401, 403}, LiveBody: []string{`"object"`},
			},
			Rule: Rule{
				// "paradigm" alone is an English word; only variable-style names
				// count, and a high entropy floor keeps out long identifiers.
				Description:   "LightOn Paradigm API key: 40 to 80 url-safe characters after a LightOn or Paradigm key name",
				Keywords:      []string{"lighton", "paradigm_api", "paradigm-api", "paradigm_key"},
				ContextWindow: 48,
				Pattern:       `[A-Za-z0-9_-]{40,80}`,
				MinEntropy:    4.3,
				Examples: func(g *Gen) []Example {
					k := g.Alnum(64)
					return append(assign("PARADIGM_API_KEY", k),
						Ex("export LIGHTON_API_KEY="+k, k))
				},
				Negatives: func(g *Gen) []string {
					return []string{
						"API_KEY=" + g.Alnum(64),
						"PARADIGM_API_KEY=" + g.Alnum(39),
						"PARADIGM_API_KEY=" + g.Alnum(81),
						"LIGHTON_MODEL=lighton_paradigm_large_language_model_v2_instruct",
					}
				},
			},
		}},
	})
}
