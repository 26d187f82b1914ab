package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "stability", Name: "Stability AI", Category: ModelAPI,
		RevokeURL: "https://platform.stability.ai/account/keys",
		Kinds: []*Kind{{
			ID: "api-key", Name: "Stability AI API key",
			Capabilities: caps(aicred.CapInference, aicred.CapBilling),
			Liveness: &Liveness{
				BaseURL: "https://api.stability.ai", Path: "/v1/user/account", Auth: Bearer,
				Live: []int{200}, Dead: []int{401}, LiveBody: []string{`"id"`, `"email"`},
			},
			Rule: Rule{
				// sk- + 48 alphanumerics is shared with other providers.
				Description:   "Stability AI API key: sk- + 48 alphanumerics after a Stability name",
				Keywords:      []string{"stability", "dreamstudio"},
				ContextWindow: 48,
				Pattern:       `sk-[A-Za-z0-9]{48}`,
				MinEntropy:    3.5,
				Examples: func(g *Gen) []Example {
					k := "sk-" + g.Alnum(48)
					return append(assign("STABILITY_API_KEY", k),
						Ex(notebook(`stability_api = client.StabilityInference(key="`+k+`")`), k),
						Ex(curl("https://api.stability.ai/v1/user/account", "Authorization", "Bearer "+k), k))
				},
				Negatives: func(g *Gen) []string {
					return []string{
						"API_KEY=sk-" + g.Alnum(48),
						"STABILITY_API_KEY=sk-" + g.Alnum(47),
						"STABILITY_API_KEY=sk-" + g.Alnum(49),
						"stability " + g.Alnum(60) + "\nkey = sk-" + g.Alnum(48),
					}
				},
			},
		}},
	})
}
