package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "moonshot", Name: "Moonshot AI (Kimi)", Category: ModelAPI,
		RevokeURL: "https://platform.moonshot.ai/console/api-keys",
		Kinds: []*Kind{{
			ID: "api-key", Name: "Moonshot (Kimi) API key",
			Capabilities: caps(aicred.CapInference, aicred.CapBilling),
			Liveness: &Liveness{
				BaseURL: "https://api.moonshot.ai", Path: "/v1/models", Auth: Bearer,
				Live: []int{200}, Dead: []int{401, 403}, LiveBody: []string{`"data"`},
			},
			Rule: Rule{
				// sk- + 48 is shared with Stability, SiliconFlow, Braintrust and
				// legacy OpenAI: only the name before it says Moonshot.
				Description:   "Moonshot (Kimi) API key: sk- + 48 url-safe characters after a Kimi or Moonshot name",
				Keywords:      []string{"moonshot", "kimi"},
				ContextWindow: 48,
				Pattern:       `sk-[A-Za-z0-9_-]{48}`,
				MinEntropy:    3.5,
				Examples: func(g *Gen) []Example {
					k := "sk-" + g.Alnum(48)
					return append(assign("MOONSHOT_API_KEY", k),
						Ex("export KIMI_API_KEY="+k, k),
						Ex(notebook(`client = OpenAI(base_url="https://api.moonshot.ai/v1", api_key="`+k+`")`), k))
				},
				Negatives: func(g *Gen) []string {
					return []string{
						"API_KEY=sk-" + g.Alnum(48),
						"MOONSHOT_API_KEY=sk-" + g.Alnum(49),
						"MOONSHOT_API_KEY=sk-" + g.Alnum(47),
						"moonshot " + g.Alnum(60) + "\nkey = sk-" + g.Alnum(48),
					}
				},
			},
		}},
	})
}
